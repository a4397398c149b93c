import { summarize } from "../detect/detect.ts";
import type { Detection } from "../detect/source-types.ts";
import type { DomainView } from "../engine/reader.ts";
import type { ProviderClock } from "../providers/provider.ts";
import { type Entry, splitInstances } from "../registry/classify.ts";

export interface StatusReport {
  instanceId: string;
  thresholdSeconds: number;
  domains: {
    domain: string;
    serverTime: string;
    /**
     * Whose clock ages are on: the provider's (ProviderClock.id, "cloudflare"), or "local" when
     * the read came without it.
     */
    clock: string;
    addresses: {
      address: string;
      type: Entry["type"];
      owner: string | null;
      /** Every instance with a readable heartbeat here (several when hosts share the address). */
      owners: string[];
      ageSeconds: number | null;
      state: Entry["state"];
      mine: boolean;
      /** Records here that cleanup would delete now (a stale address, or a dead sharer's heartbeat). */
      cleanup: number;
      skewSeconds: number | null;
      reason: string;
      /** Set when an owner's fresh heartbeats carry several timestamps (a shared INSTANCE_ID?). */
      conflict: string | null;
    }[];
  }[];
  detected: Detection;
}

export interface ReportSettings {
  instanceId: string;
  thresholdSeconds: number;
  /** ProviderClock.id of the provider read; undefined when it never tells the time. */
  clock: string | undefined;
}

/**
 * The report `dynip status` prints, from the reader's views (in their order) and this host's
 * detection. Pure; never throws.
 */
export function buildReport(
  views: DomainView[],
  detection: Detection,
  { instanceId, thresholdSeconds, clock }: ReportSettings,
): StatusReport {
  const split = splitInstances(views, thresholdSeconds);
  const conflictOf = (e: Entry): string | null => {
    const reasons = e.owners.flatMap((owner) => {
      const stamps = split.get(owner);
      return stamps
        ? [
            `instance ${owner} wrote its fresh heartbeats at ${stamps.length} different times ` +
              `(${stamps.join(", ")}): two hosts may use INSTANCE_ID=${owner}, or one of its ` +
              "detection sources is failing",
          ]
        : [];
    });
    return reasons.length > 0 ? reasons.join("; ") : null;
  };
  return {
    instanceId,
    thresholdSeconds,
    domains: views.map((view) => ({
      domain: view.domain,
      serverTime: new Date(view.serverNow * 1000).toISOString(),
      clock: view.dated && clock !== undefined ? clock : "local",
      addresses: view.entries.map((e) => ({
        address: e.ip,
        type: e.type,
        owner: e.owner ?? null,
        owners: [...e.owners],
        ageSeconds: e.ageSeconds ?? null,
        state: e.state,
        mine: e.owners.includes(instanceId),
        cleanup: e.toDelete.length,
        skewSeconds: e.skewSeconds ?? null,
        reason: e.reason,
        conflict: conflictOf(e),
      })),
    })),
    detected: detection,
  };
}

/**
 * `--check`: anything but fresh needs a human (or the cleanup service), and so does a fresh
 * address beside an expired heartbeat (some host sharing it stopped beating), an instance
 * whose heartbeats disagree (a shared INSTANCE_ID), and ages not on the provider's clock.
 */
export function needsAttention(report: StatusReport): boolean {
  return report.domains.some(
    (d) =>
      d.clock === "local" ||
      d.addresses.some((a) => a.state !== "fresh" || a.cleanup > 0 || a.conflict !== null),
  );
}

/** `45s`, `3m05s`, `2h07m`, `3d4h` (rounded, negative as 0); `-` for null. */
export function formatAge(seconds: number | null): string {
  if (seconds === null) return "-";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** Columns padded to their widest cell. Loops, not Math.max(...): a zone has 100,000 rows. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

/** OWNER at most 40 characters wide: many hosts sharing one address end in `+N`. */
const OWNER_WIDTH = 40;

function ownersColumn(owners: string[], owner: string | null): string {
  if (owners.length === 0) return owner ?? "-";
  let shown = "";
  for (const [i, name] of owners.entries()) {
    const next = shown ? `${shown},${name}` : name;
    const rest = owners.length - i - 1;
    const tail = rest > 0 ? `,+${rest}` : "";
    if (`${next}${tail}`.length > OWNER_WIDTH && shown) return `${shown},+${owners.length - i}`;
    shown = next;
  }
  return shown.length > OWNER_WIDTH ? `${shown.slice(0, OWNER_WIDTH - 1)}…` : shown;
}

/**
 * The human view: one table per managed domain, `*` on this host's own addresses. `clock`
 * words the times (the provider's ProviderClock; undefined when it tells none).
 */
export function renderReport(report: StatusReport, clock: ProviderClock | undefined): string {
  const lines: string[] = [];
  const absent = clock ? clock.absent : "the provider tells no time";
  for (const d of report.domains) {
    const time =
      d.clock !== "local" && clock
        ? `${clock.owner} time ${d.serverTime}`
        : `local time ${d.serverTime}: ${absent}, so cleanup judges nothing here`;
    lines.push(`${d.domain}  (threshold ${report.thresholdSeconds}s, ${time})`);
    if (d.addresses.length === 0) {
      lines.push("  no addresses", "");
      continue;
    }
    const rows = [["", "ADDRESS", "TYPE", "OWNER", "AGE", "STATE", "NOTE"]];
    for (const a of d.addresses) {
      const skew = a.skewSeconds === null ? "" : `clock skew ${formatAge(a.skewSeconds)}`;
      const quiet = a.state === "fresh" && a.cleanup === 0;
      const note = [quiet ? "" : a.reason, skew, a.conflict ?? ""].filter(Boolean).join("; ");
      rows.push([
        a.mine ? "*" : "",
        a.address,
        a.type,
        ownersColumn(a.owners, a.owner),
        formatAge(a.ageSeconds),
        a.state,
        note,
      ]);
    }
    for (const line of table(rows)) lines.push(` ${line}`);
    lines.push("");
  }
  lines.push(`this host (${report.instanceId}, * above):`);
  for (const line of summarize(report.detected)) lines.push(`  ${line}`);
  return `${lines.join("\n")}\n`;
}
