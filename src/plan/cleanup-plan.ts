import type { DnsRecord } from "../dns/record.ts";
import type { Entry } from "../registry/classify.ts";
import { heartbeatName, ownerOf } from "../registry/heartbeat.ts";
import { type Change, stillAsRead } from "./changes.ts";

/**
 * Deletes what each deletable entry marks for deletion, entry by entry in the order given. The
 * classifier lists addresses before heartbeats, so whatever part of the changes lands, no
 * address is ever left without its heartbeat. An address deletion rests on its heartbeat RRset
 * being as judged (a prerequisite, kept where the provider can: docs/provider.md). Pure.
 */
export function planCleanup(entries: Entry[]): Change[] {
  return entries.filter((entry) => entry.delete).flatMap(deletions);
}

function deletions(entry: Entry): Change[] {
  const where = `${entry.ip} at ${entry.domain}: ${entry.reason}`;
  const onlyIf = [stillAsRead(heartbeatName(entry.ip, entry.domain), "TXT", entry.heartbeats)];
  return entry.toDelete.map((record): Change => {
    const reason = `${label(entry, record)} ${where}`;
    return record.type === "TXT"
      ? { kind: "delete", record, reason }
      : { kind: "delete", record, reason, onlyIf };
  });
}

function label(entry: Entry, record: DnsRecord): string {
  if (record.type !== "TXT") return `${entry.state} address`;
  if (entry.state === "orphan") return "orphan heartbeat";
  // A kept address loses only the heartbeats of hosts that shared it and died.
  if (entry.state === "fresh") {
    return `expired heartbeat of ${ownerOf(record)} beside fresh`;
  }
  return `heartbeat of ${entry.state}`;
}
