import type { DomainView } from "./cleanup.ts";
import { summarize } from "./ip/detect.ts";
import type { Detection } from "./ip/types.ts";
import type { Entry } from "./plan/classify.ts";

export interface StatusReport {
  instanceId: string;
  thresholdSeconds: number;
  domains: {
    domain: string;
    serverTime: string;
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
    }[];
  }[];
  detected: Detection;
}

export function buildReport(
  views: DomainView[],
  detection: Detection,
  instanceId: string,
  thresholdSeconds: number,
): StatusReport {
  return {
    instanceId,
    thresholdSeconds,
    domains: views.map((view) => ({
      domain: view.domain,
      serverTime: new Date(view.serverNow * 1000).toISOString(),
      addresses: view.entries.map((e) => ({
        address: e.ip,
        type: e.type,
        owner: e.owner ?? null,
        owners: e.owners,
        ageSeconds: e.ageSeconds ?? null,
        state: e.state,
        mine: e.owners.includes(instanceId),
        cleanup: e.toDelete.length,
        skewSeconds: e.skewSeconds ?? null,
        reason: e.reason,
      })),
    })),
    detected: detection,
  };
}

/**
 * `--check`: anything but fresh needs a human (or the cleanup service), and so does a fresh
 * address beside an expired heartbeat: some host sharing it stopped beating.
 */
export function needsAttention(report: StatusReport): boolean {
  return report.domains.some((d) => d.addresses.some((a) => a.state !== "fresh" || a.cleanup > 0));
}

export function formatAge(seconds: number | null): string {
  if (seconds === null) return "-";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400)
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

/** The human view: one table per managed domain, `*` on this host's own addresses. */
export function renderReport(report: StatusReport): string {
  const lines: string[] = [];
  for (const d of report.domains) {
    lines.push(
      `${d.domain}  (threshold ${report.thresholdSeconds}s, Cloudflare time ${d.serverTime})`,
    );
    if (d.addresses.length === 0) {
      lines.push("  no addresses", "");
      continue;
    }
    const rows = [["", "ADDRESS", "TYPE", "OWNER", "AGE", "STATE", "NOTE"]];
    for (const a of d.addresses) {
      const skew = a.skewSeconds === null ? "" : `clock skew ${formatAge(a.skewSeconds)}`;
      const quiet = a.state === "fresh" && a.cleanup === 0;
      const note = quiet ? skew : [a.reason, skew].filter(Boolean).join("; ");
      rows.push([
        a.mine ? "*" : "",
        a.address,
        a.type,
        a.owners.length > 0 ? a.owners.join(",") : (a.owner ?? "-"),
        formatAge(a.ageSeconds),
        a.state,
        note,
      ]);
    }
    lines.push(...table(rows).map((l) => ` ${l}`), "");
  }
  lines.push(`this host (${report.instanceId}, * above):`);
  for (const line of summarize(report.detected)) lines.push(`  ${line}`);
  return `${lines.join("\n")}\n`;
}
