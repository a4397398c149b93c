/**
 * The counters `dynip cleanup` exposes on /metrics, rendered by hand in the Prometheus text
 * format 0.0.4: a handful of counters does not justify a client library.
 */

export type CycleOutcome = "success" | "failure";
export type DeletedType = "A" | "AAAA" | "TXT";

export interface Metrics {
  /**
   * Counts a finished cycle; a success also becomes the last success time. `blocker` is why a
   * failed cycle cannot succeed until a person acts (a rejected token): health fails at once.
   */
  cycle(result: CycleOutcome, at: Date, blocker?: string): void;
  /** Why the last cycle failed in a way only a person can fix; undefined after a success. */
  blocker(): string | undefined;
  deleted(count: number, type: DeletedType): void;
  /** Records whose deletion the brake held back in a domain's last cycle (0 to clear). */
  held(domain: string, records: number): void;
  /** Domains where the last cycle held deletions, with the record counts. */
  heldNow(): Map<string, number>;
  /** Shaped like `ClientOptions.onRequest`: a null status or an error means no answer came. */
  request(info: { method: string; status: number | null; error?: string }): void;
  lastSuccess(): Date | undefined;
  /** Prometheus text exposition format 0.0.4. */
  render(): string;
}

type Labels = Record<string, string>;

interface MetricFamily {
  name: string;
  /** Fixed text without backslash or line feed, so it needs no escaping. */
  help: string;
  type: "counter" | "gauge";
  /** Samples by their rendered label set, so equal labels add up. */
  samples: Map<string, number>;
}

/** Fresh counters, every series present from the start at 0. */
export function createMetrics(): Metrics {
  const cycles = family("dynip_cleanup_cycles_total", "counter", "Cleanup cycles by result.");
  const deleted = family("dynip_records_deleted_total", "counter", "DNS records deleted by type.");
  const requests = family(
    "dynip_api_requests_total",
    "counter",
    "Requests to the DNS provider (retries included) by method and status; status is error when no answer or a failure came.",
  );
  const errors = family(
    "dynip_api_errors_total",
    "counter",
    "Requests to the DNS provider that got no answer, an HTTP status of 400 or more, or a failed DNS answer.",
  );
  // Zero samples from the start, so rate() and alerts see the series before the first event.
  for (const result of ["success", "failure"]) add(cycles, { result }, 0);
  for (const type of ["A", "AAAA", "TXT"]) add(deleted, { type }, 0);
  add(errors, {}, 0);
  let last: Date | undefined;
  let blocked: string | undefined;
  const heldRecords = new Map<string, number>();

  return {
    cycle(result, at, blocker) {
      add(cycles, { result }, 1);
      if (result === "success") last = at;
      blocked = result === "success" ? undefined : (blocker ?? blocked);
    },
    blocker: () => blocked,
    deleted(count, type) {
      if (!Number.isInteger(count) || count < 0) {
        throw new RangeError(`deleted count must be a non-negative integer, got ${count}`);
      }
      add(deleted, { type }, count);
    },
    held(domain, records) {
      heldRecords.set(domain, records);
    },
    heldNow: () => new Map([...heldRecords].filter(([, records]) => records > 0)),
    request({ method, status, error }) {
      const failed = status === null || error !== undefined;
      add(requests, { method, status: failed ? "error" : String(status) }, 1);
      if (failed || status >= 400) add(errors, {}, 1);
    },
    lastSuccess: () => last,
    render() {
      const gauges = [
        gauge(
          "dynip_last_success_timestamp_seconds",
          "Unix time of the last successful cleanup cycle; 0 before the first.",
          last === undefined ? 0 : last.getTime() / 1000,
        ),
        gauge("dynip_up", "1 while the cleanup process is running.", 1),
      ];
      const held = family(
        "dynip_cleanup_held_records",
        "gauge",
        "Records whose deletion the mass-deletion brake held back in the last cycle, by domain.",
      );
      for (const [domain, records] of heldRecords) add(held, { domain }, records);
      if (heldRecords.size > 0) gauges.push(held);
      return [cycles, deleted, requests, errors, ...gauges].map(renderFamily).join("");
    },
  };
}

function family(name: string, type: MetricFamily["type"], help: string): MetricFamily {
  return { name, help, type, samples: new Map() };
}

function gauge(name: string, help: string, value: number): MetricFamily {
  const result = family(name, "gauge", help);
  add(result, {}, value);
  return result;
}

function add(target: MetricFamily, labels: Labels, amount: number): void {
  const key = renderLabels(labels);
  target.samples.set(key, (target.samples.get(key) ?? 0) + amount);
}

function renderFamily({ name, help, type, samples }: MetricFamily): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  return `${lines.join("\n")}\n`;
}

function renderLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabel(value)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed (format 0.0.4). */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}
