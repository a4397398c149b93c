import type { DnsRecord } from "../cloudflare/types.ts";
import type { Entry } from "./classify.ts";
import type { Operation } from "./types.ts";

/**
 * Deletes for every deletable entry: its addresses first, then its heartbeats, so that
 * whatever part of the batch lands, no address is ever left without its heartbeat.
 */
export function planCleanup(entries: Entry[]): Operation[] {
  return entries.filter((entry) => entry.delete).flatMap(deletions);
}

function deletions(entry: Entry): Operation[] {
  const what = entry.state === "orphan" ? "orphan heartbeat" : `heartbeat of ${entry.state}`;
  const remove = (record: DnsRecord, reason: string): Operation => ({
    kind: "delete",
    id: record.id,
    record,
    reason,
  });
  return [
    ...entry.addresses.map((r) =>
      remove(r, `${entry.state} address ${entry.ip} at ${entry.domain}: ${entry.reason}`),
    ),
    ...entry.heartbeats.map((r) =>
      remove(r, `${what} ${entry.ip} at ${entry.domain}: ${entry.reason}`),
    ),
  ];
}
