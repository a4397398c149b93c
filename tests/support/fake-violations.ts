/**
 * Requests to a fake Cloudflare API that broke Cloudflare's OpenAPI document
 * (`../shared/cloudflare-dns.openapi.json`), checked after every test of every file by
 * tests/support/preload.ts: a fake started in `beforeAll` or stopped within a test is checked
 * too, and no test file has to remember to look. Kept apart from the fake so that the files
 * without one do not load its schema validator.
 */

interface Watched {
  violations: string[];
  /** Stopped: dropped once its last violations are taken. */
  retired: boolean;
}

const watched = new Set<Watched>();

/** Watches a fake's violation list (the array itself, as the fake fills it); `retire` on stop. */
export function watchViolations(violations: string[]): { retire(): void } {
  const entry: Watched = { violations, retired: false };
  watched.add(entry);
  return {
    retire: () => {
      entry.retired = true;
    },
  };
}

/**
 * Every violation recorded since the last call, from every watched fake in the order they
 * started, taken out of their lists; stopped fakes are forgotten afterwards.
 */
export function takeViolations(): string[] {
  const taken: string[] = [];
  for (const entry of watched) {
    taken.push(...entry.violations.splice(0));
    if (entry.retired) watched.delete(entry);
  }
  return taken;
}
