import type { DnsRecord } from "../dns/record.ts";

/** The managed records by domain (lower-case), as read or as left by the last write. */
export type RecordsByDomain = Map<string, DnsRecord[]>;

/**
 * Every this many passes planned from the cache, a long-lived updater re-asserts its address
 * records in the refresh request (UpdatePlanInput.verify): a record deleted or edited by hand is
 * restored within this many passes, without reading the zone.
 */
export const VERIFY_EVERY = 12;

/**
 * A long-lived updater reads every domain afresh at least every this many passes (12 hours at
 * 5-minute passes), so that what only a read shows (a host that joined an address and now keeps
 * its settings, another host with this INSTANCE_ID, settings drift) is never out of date for
 * longer. Four domains cost 4 / 144 ≈ 0.03 requests a pass on average.
 */
export const FULL_READ_EVERY = 144;

/**
 * The updater's memory of the records between passes. A pass whose plan is only upkeep
 * (heartbeat refreshes, verifications) plans from it and sends one request; a plan that changes
 * anything reads afresh first. After a change, or a failed write (see `clear`), the next pass
 * reads again: a host that raced this one may have changed what the cache believes. Between
 * those, only every FULL_READ_EVERY-th pass reads; every VERIFY_EVERY-th pass proves the
 * records are still there instead.
 */
export function createRecordCache(verifyEvery = VERIFY_EVERY, fullReadEvery = FULL_READ_EVERY) {
  let records: RecordsByDomain | undefined;
  let passes = 0;
  return {
    /** The records to plan from, or undefined when a full read is due. */
    current(): RecordsByDomain | undefined {
      return passes < fullReadEvery ? records : undefined;
    },
    /** True when the pass about to plan from the cache should verify (the 12th, 24th, …). */
    verifyDue(): boolean {
      return (passes + 1) % verifyEvery === 0;
    },
    /** A full read was made. */
    wasRead(): void {
      passes = 0;
    },
    /**
     * The records after a pass; `changedSet` (it wrote more than upkeep) makes the next pass
     * read afresh.
     */
    store(after: RecordsByDomain, changedSet: boolean): void {
      records = changedSet ? undefined : after;
      passes += 1;
    },
    /** Forgets everything: a write failed, and what landed is not known for sure. */
    clear(): void {
      records = undefined;
    },
  };
}
