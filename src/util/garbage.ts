/**
 * Garbage collection at the seams of large work. JavaScriptCore collects when the heap has
 * grown by about its own live size since the last collection, so a cleanup holding the
 * records of a 100,000-record zone would let as much garbage again pile up (pages of JSON,
 * their strings, the judgement's temporaries) before collecting, and the process's peak
 * memory, which a container's memory limit counts, would be twice what it needs. Calling
 * this between the pages of a large listing, after judging a large domain, before the first
 * deletion of a large cycle and between the requests of a large batch keeps the peak near the
 * live data (README, "Performance"). Small reads and writes never call it: they cost nothing.
 */

/** Records in one read from which its phases end with a collection. */
export const LARGE_READ = 10_000;

/**
 * A synchronous collection (Bun.gc): `full` (the default) of the whole heap, milliseconds for
 * tens of MiB; otherwise of young objects only, enough between requests whose garbage is all
 * young, and a fraction of the cost.
 */
export function collectGarbage(full = true): void {
  Bun.gc(full);
}
