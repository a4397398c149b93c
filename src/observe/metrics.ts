/**
 * What `dynip update` and `dynip cleanup` expose on /metrics (docs/operations.md, "Health and
 * metrics"), rendered by hand in the Prometheus text format 0.0.4: a handful of counters does
 * not justify a client library.
 */
import type { Entry, State } from "../registry/classify.ts";

export type CycleOutcome = "success" | "failure";
export type DeletedType = "A" | "AAAA" | "TXT";
/** The changes an updater counts: records created, rewritten (not refreshes), deleted. */
export type ChangeAction = "create" | "update" | "delete";

export interface Metrics {
  /**
   * Counts a finished cleanup cycle or update pass; a success also becomes the last success
   * time and ends a run of failures. `blocker` is why a failure cannot end until a person acts
   * (a rejected token): health fails at once.
   */
  cycle(result: CycleOutcome, at: Date, blocker?: string): void;
  /** Why the last cycle failed in a way only a person can fix; undefined after a success. */
  blocker(): string | undefined;
  /** Cycles or passes failed since the last success. */
  consecutiveFailures(): number;
  /** Cleanup: records deleted. Throws a RangeError for a count that is not a whole number ≥ 0. */
  deleted(count: number, type: DeletedType): void;
  /** Cleanup: records whose deletion the brake held back in a domain's last cycle (0 to clear). */
  held(domain: string, records: number): void;
  /** Cleanup: domains where the last cycle held deletions, with the record counts. */
  heldNow(): Map<string, number>;
  /** Cleanup: the entries of a domain by state, as its last judged read found them. */
  addresses(domain: string, states: Readonly<Record<State, number>>): void;
  /** Cleanup: a domain's late addresses (`lateAddresses`) at its last judged read. */
  late(domain: string, count: number): void;
  /** Update: records changed by a pass (heartbeat refreshes are counted by `refreshed`). */
  changes(action: ChangeAction, count: number): void;
  /** Update: heartbeats refreshed. */
  refreshed(count: number): void;
  /** Update: the addresses this host publishes at a domain after its last pass. */
  published(domain: string, count: number): void;
  /** A provider request, as RequestInfo says it: a null status or an error is a failure. */
  request(info: { method: string; status: number | null; error?: string }): void;
  lastSuccess(): Date | undefined;
  /**
   * The health server says how to know whether /healthz answers 200 now; from then on `render`
   * shows it as `dynip_healthy` (1 or 0). Without a health server there is no such family.
   */
  healthFrom(healthy: () => boolean): void;
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

const STATES: State[] = ["fresh", "stale", "missing", "orphan"];

/**
 * How many of a domain's entries are late: addresses cleanup keeps for now (fresh, or missing
 * within its grace) whose age (the heartbeat's; for an address without one, the address
 * record's) is more than half of `thresholdSeconds`. So, while CLEANUP_INTERVAL_SECONDS is at
 * most half the threshold, at least one cycle counts a dying host late before any may delete
 * its address: an alert on it leads the deletion by a cleanup interval or more. Heartbeats
 * without an address and unknown ages (an RFC 2136 address without heartbeat) never count.
 * Pure.
 */
export function lateAddresses(entries: readonly Entry[], thresholdSeconds: number): number {
  return entries.filter(
    (e) =>
      (e.state === "fresh" || (e.state === "missing" && !e.delete)) &&
      e.ageSeconds !== undefined &&
      e.ageSeconds > thresholdSeconds / 2,
  ).length;
}

/**
 * Fresh counters for `command` (default cleanup), every series present from the start at 0
 * except per-domain gauges, which appear with the first pass or cycle that knows the domain.
 */
export function createMetrics(command: "update" | "cleanup" = "cleanup"): Metrics {
  const cleanup = command === "cleanup";
  const what = cleanup ? "cleanup cycle" : "update pass";
  const loops = cleanup
    ? family("dynip_cleanup_cycles_total", "counter", "Cleanup cycles by result.")
    : family("dynip_update_passes_total", "counter", "Update passes by result.");
  const deleted = family("dynip_records_deleted_total", "counter", "DNS records deleted by type.");
  const changed = family(
    "dynip_update_changes_total",
    "counter",
    "Records an update pass created, rewrote or deleted (heartbeat refreshes not included).",
  );
  const refreshes = family("dynip_heartbeats_refreshed_total", "counter", "Heartbeats refreshed.");
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
  for (const result of ["success", "failure"]) add(loops, { result }, 0);
  if (cleanup) for (const type of ["A", "AAAA", "TXT"]) add(deleted, { type }, 0);
  else {
    for (const action of ["create", "update", "delete"]) add(changed, { action }, 0);
    add(refreshes, {}, 0);
  }
  add(errors, {}, 0);
  let last: Date | undefined;
  let blocked: string | undefined;
  let failures = 0;
  const heldRecords = new Map<string, number>();
  const states = new Map<string, Readonly<Record<State, number>>>();
  const lateByDomain = new Map<string, number>();
  let healthy: (() => boolean) | undefined;
  const publishedAddresses = new Map<string, number>();
  const whole = (count: number, kind: string) => {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`${kind} count must be a non-negative integer, got ${count}`);
    }
  };

  return {
    cycle(result, at, blocker) {
      add(loops, { result }, 1);
      if (result === "success") last = at;
      failures = result === "success" ? 0 : failures + 1;
      blocked = result === "success" ? undefined : (blocker ?? blocked);
    },
    blocker: () => blocked,
    consecutiveFailures: () => failures,
    deleted(count, type) {
      whole(count, "deleted");
      add(deleted, { type }, count);
    },
    held(domain, records) {
      heldRecords.set(domain, records);
    },
    heldNow: () => new Map([...heldRecords].filter(([, records]) => records > 0)),
    addresses(domain, counts) {
      states.set(domain, counts);
    },
    late(domain, count) {
      whole(count, "late");
      lateByDomain.set(domain, count);
    },
    changes(action, count) {
      whole(count, "change");
      add(changed, { action }, count);
    },
    refreshed(count) {
      whole(count, "refresh");
      add(refreshes, {}, count);
    },
    published(domain, count) {
      publishedAddresses.set(domain, count);
    },
    request({ method, status, error }) {
      const failed = status === null || error !== undefined;
      add(requests, { method, status: failed ? "error" : String(status) }, 1);
      if (failed || status >= 400) add(errors, {}, 1);
    },
    lastSuccess: () => last,
    healthFrom(source) {
      healthy = source;
    },
    render() {
      const gauges = [
        gauge(
          "dynip_last_success_timestamp_seconds",
          `Unix time of the last successful ${what}; 0 before the first.`,
          last === undefined ? 0 : last.getTime() / 1000,
        ),
        gauge(
          "dynip_up",
          `Always 1 in an answer from the ${command} process: for absent() and joins; dynip_healthy says whether it works.`,
          1,
        ),
      ];
      if (healthy !== undefined) {
        gauges.push(
          gauge(
            "dynip_healthy",
            "1 while /healthz answers 200, 0 while it answers 503.",
            healthy() ? 1 : 0,
          ),
        );
      }
      if (cleanup) {
        gauges.push(
          ...byDomain(
            "dynip_cleanup_held_records",
            "Records whose deletion the mass-deletion brake held back in the last cycle, by domain.",
            heldRecords,
          ),
        );
      }
      if (states.size > 0) {
        const byState = family(
          "dynip_addresses",
          "gauge",
          "Addresses by domain and state (fresh, stale, missing, orphan) as the last judged read found them.",
        );
        for (const [domain, counts] of states) {
          for (const state of STATES) add(byState, { domain, state }, counts[state]);
        }
        gauges.push(byState);
      }
      gauges.push(
        ...byDomain(
          "dynip_late_addresses",
          "Addresses not yet stale whose heartbeat is older than half of STALE_THRESHOLD_SECONDS, by domain, at the last judged read.",
          lateByDomain,
        ),
        ...byDomain(
          "dynip_published_addresses",
          "Addresses this host publishes, by domain, after its last pass.",
          publishedAddresses,
        ),
      );
      const counters = cleanup
        ? [loops, deleted, requests, errors]
        : [loops, changed, refreshes, requests, errors];
      return [...counters, ...gauges].map(renderFamily).join("");
    },
  };
}

function family(name: string, type: MetricFamily["type"], help: string): MetricFamily {
  return { name, help, type, samples: new Map() };
}

/**
 * A gauge with one sample per domain of `values`, in their order; none at all while `values`
 * is empty, so a series appears once there is something to say.
 */
function byDomain(name: string, help: string, values: Map<string, number>): MetricFamily[] {
  if (values.size === 0) return [];
  const result = family(name, "gauge", help);
  for (const [domain, value] of values) add(result, { domain }, value);
  return [result];
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
