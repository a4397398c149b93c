import type { DnsRecord } from "../dns/record.ts";
import type { Change } from "../plan/changes.ts";
import { ownerOf } from "../registry/heartbeat.ts";

/** Heartbeat contents sent lately that a long-lived updater remembers as its own. */
const SENT_KEPT = 256;

/**
 * What this process wrote, so a long-lived updater can tell its own heartbeats from those of
 * another host using the same INSTANCE_ID (docs/ownership.md, "Instance id conflicts"): the
 * heartbeats it wrote (ref -> content, as the provider answered each landed part, so also
 * when a later part failed), the contents it sent lately (a write whose answer was lost may
 * still have landed), and the provider's time of its first dated read.
 */
export function createOwnWrites(instanceId: string) {
  const written = new Map<string, string>();
  const sent = new Set<string>();
  let since: number | undefined;
  return {
    /** A read at `now` (provider's clock, unix seconds): the first one dated starts the watch. */
    read(now: number | undefined): void {
      if (now !== undefined) since ??= now;
    },
    /** Changes about to be sent: their heartbeat contents are remembered (the last 256). */
    sending(changes: readonly Change[]): void {
      for (const c of changes)
        if (c.kind !== "delete" && c.record.type === "TXT") sent.add(c.record.content);
      for (const old of [...sent].slice(0, Math.max(0, sent.size - SENT_KEPT))) sent.delete(old);
    },
    /**
     * Changes refused as a whole (a race: nothing of a refused request landed): contents no
     * landed part wrote are no longer a lost answer's, so a heartbeat with one of them that
     * shows up later was written by someone else.
     */
    refused(changes: readonly Change[]): void {
      const known = new Set(written.values());
      for (const c of changes) {
        if (c.kind !== "delete" && !known.has(c.record.content)) sent.delete(c.record.content);
      }
    },
    /** Changes that landed, with the records they wrote. */
    landed(changes: readonly Change[], records: readonly DnsRecord[]): void {
      for (const c of changes) {
        if (c.kind === "delete") written.delete(c.record.ref);
        if (c.kind === "replace") written.delete(c.before.ref);
      }
      for (const r of records) {
        if (ownerOf(r) === instanceId) {
          written.set(r.ref, r.content);
        }
      }
    },
    /**
     * Refs of heartbeats naming this instance that this process did not write, changed after
     * its first read: another host writes them. None before a dated read, and none where the
     * provider keeps no modification times. In the order given.
     */
    foreign(records: Iterable<DnsRecord>): Set<string> {
      const refs = new Set<string>();
      if (since === undefined) return refs;
      const known = new Set(written.values());
      for (const record of records) {
        if (ownerOf(record) !== instanceId || written.get(record.ref) === record.content) continue;
        // Sent, and no answer named the record that got it: this one, whose answer was lost.
        if (sent.has(record.content) && !known.has(record.content)) continue;
        if (record.modifiedAt !== undefined && record.modifiedAt > since) refs.add(record.ref);
      }
      return refs;
    },
  };
}
