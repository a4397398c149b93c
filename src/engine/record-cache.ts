import type { DnsRecord } from "../dns/record.ts";

/** The managed records by domain (lower-case), as read or as left by the last write. */
export type RecordsByDomain = Map<string, DnsRecord[]>;

/** A long-lived updater reads the domains again at least every this many passes. */
export const FULL_READ_EVERY = 12;

/**
 * The updater's memory of the records between passes. A pass whose plan only refreshes
 * heartbeats plans from it and sends one request; a plan that changes anything reads afresh
 * first. After a change, or every FULL_READ_EVERY passes, the next pass reads again: a host
 * that raced this one may have changed what the cache believes.
 */
export function createRecordCache(fullReadEvery = FULL_READ_EVERY) {
  let records: RecordsByDomain | undefined;
  let passes = 0;
  return {
    /** The records to plan from, or undefined when a full read is due. */
    current(): RecordsByDomain | undefined {
      return passes < fullReadEvery ? records : undefined;
    },
    /** A full read was made. */
    wasRead(): void {
      passes = 0;
    },
    /** The records after a pass that wrote `changedSet` (false when it only refreshed). */
    store(after: RecordsByDomain, changedSet: boolean): void {
      records = after;
      passes = changedSet ? fullReadEvery : passes + 1;
    },
    /** Forgets everything: a write failed, and what landed is not known for sure. */
    clear(): void {
      records = undefined;
    },
  };
}
