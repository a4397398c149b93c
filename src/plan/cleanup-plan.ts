import type { DnsRecord } from "../providers/cloudflare/types.ts";
import type { Entry } from "../registry/classify.ts";
import { parseHeartbeat } from "../registry/heartbeat.ts";
import type { Operation } from "./changes.ts";

/**
 * Deletes what each deletable entry marks for deletion. The classifier lists addresses
 * before heartbeats, so whatever part of the batch lands, no address is ever left without
 * its heartbeat.
 */
export function planCleanup(entries: Entry[]): Operation[] {
  return entries.filter((entry) => entry.delete).flatMap(deletions);
}

function deletions(entry: Entry): Operation[] {
  const where = `${entry.ip} at ${entry.domain}: ${entry.reason}`;
  return entry.toDelete.map((record) => ({
    kind: "delete",
    id: record.id,
    record,
    reason: `${label(entry, record)} ${where}`,
  }));
}

function label(entry: Entry, record: DnsRecord): string {
  if (record.type !== "TXT") return `${entry.state} address`;
  if (entry.state === "orphan") return "orphan heartbeat";
  // A kept address loses only the heartbeats of hosts that shared it and died.
  if (entry.state === "fresh") {
    return `expired heartbeat of ${parseHeartbeat(record.content)?.instanceId} beside fresh`;
  }
  return `heartbeat of ${entry.state}`;
}
