import type { Entry } from "./classify.ts";

/**
 * The mass-deletion brake of `dynip cleanup`, modelled on the Kubernetes node lifecycle
 * controller, which stops evicting pods when a whole zone looks unhealthy: when many hosts
 * seem to die at once, or cleanup itself cannot reach the API reliably, the likelier story is
 * an outage (a rate limit shared by every host, a network partition) that stopped the
 * heartbeats of live hosts. Cleanup then holds the address deletions until the addresses have
 * stayed stale for much longer than the threshold, so an outage shorter than that hold deletes
 * nothing, while a deliberate scale-down is still cleaned up once the hold has passed.
 */

/** Below this many addresses in a domain the share of deletions says little: no ratio check. */
export const BRAKE_MIN_ADDRESSES = 4;

export interface BrakeInput {
  /** Every entry of the domain as classified from the full read (for the address count). */
  entries: readonly Entry[];
  /** The entries still deletable after the confirming read, each with its fresh age. */
  deletable: readonly Entry[];
  /** CLEANUP_MAX_DELETE_RATIO: the brake engages when more than this share of addresses would go. */
  maxDeleteRatio: number;
  /** CLEANUP_BRAKE_HOLD_SECONDS: while braked, only addresses stale for longer than this go. */
  holdSeconds: number;
  /** STALE_THRESHOLD_SECONDS: the window in which cleanup's own API trouble engages the brake. */
  thresholdSeconds: number;
  /**
   * Seconds since cleanup last saw an API request rate limited (429 or a nearly spent budget),
   * fail with 5xx or get no answer; undefined when it never did (in the life of this process).
   */
  troubleAgoSeconds?: number;
  /** `cleanup --once --force`: the operator knows; nothing is held, the reason still reported. */
  force: boolean;
}

export interface BrakeDecision {
  /** Entries to delete now: all of them when the brake is off or forced. */
  release: Entry[];
  /** Address deletions held back (each entry whole: addresses and heartbeats stay together). */
  held: Entry[];
  /** Why the brake engaged, in one sentence; undefined when it did not. */
  reason?: string;
}

/** An entry whose deletion takes an address out of DNS (not only a heartbeat). */
export function removesAddress(entry: Entry): boolean {
  return entry.toDelete.some((record) => record.type !== "TXT");
}

/**
 * Decides which deletions may go. Heartbeat-only deletions (old orphans, a dead sharer's
 * heartbeat beside a fresh one) always go: they never take an address out of DNS, and a live
 * host writes its heartbeat again on its next pass. Pure; never throws.
 */
export function applyBrake(input: BrakeInput): BrakeDecision {
  const addresses = input.entries.filter((e) => e.addresses.length > 0).length;
  const removing = input.deletable.filter(removesAddress);
  const reasons: string[] = [];
  if (addresses >= BRAKE_MIN_ADDRESSES && removing.length > input.maxDeleteRatio * addresses) {
    reasons.push(
      `${removing.length} of ${addresses} addresses would go at once, more than ` +
        `CLEANUP_MAX_DELETE_RATIO=${input.maxDeleteRatio}`,
    );
  }
  const ago = input.troubleAgoSeconds;
  if (ago !== undefined && ago <= input.thresholdSeconds) {
    reasons.push(
      `cleanup itself was rate limited or saw API errors ${Math.round(ago)} s ago, within ` +
        `STALE_THRESHOLD_SECONDS=${input.thresholdSeconds}`,
    );
  }
  if (reasons.length === 0) return { release: [...input.deletable], held: [] };
  const reason = `${reasons.join("; ")}: this looks like an outage rather than deaths`;
  if (input.force) return { release: [...input.deletable], held: [], reason };
  const held = removing.filter((e) => (e.ageSeconds ?? 0) <= input.holdSeconds);
  return { release: input.deletable.filter((e) => !held.includes(e)), held, reason };
}
