import type { Entry } from "../registry/classify.ts";

/**
 * The mass-deletion brake of `dynip cleanup`, modelled on the Kubernetes node lifecycle
 * controller, which stops evicting pods when a whole zone looks unhealthy: when many hosts
 * seem to die at once, when no host is beating at all, or when cleanup itself cannot reach the
 * API reliably, the likelier story is an outage (a rate limit shared by every host, a network
 * partition, the API down) that stopped the heartbeats of live hosts. Cleanup then holds the
 * address deletions, so an outage deletes nothing, while a deliberate scale-down is still
 * cleaned up once the hold has passed.
 */

/** Below this many addresses in a domain the share of deletions says little: no ratio check. */
export const BRAKE_MIN_ADDRESSES = 4;

export interface BrakeInput {
  /** Every entry of the domain as classified from the full read. */
  entries: readonly Entry[];
  /** The entries still deletable after the confirming read, each with its fresh age. */
  deletable: readonly Entry[];
  /** CLEANUP_MAX_DELETE_RATIO: the brake engages when more than this share of addresses would go. */
  maxDeleteRatio: number;
  /**
   * CLEANUP_BRAKE_HOLD_SECONDS: under the share rule, an address goes once it has been stale
   * (its heartbeat older than the threshold) for longer than this; under the silence rule, once
   * this cleanup has itself watched the domain silent for longer than this.
   */
  holdSeconds: number;
  /** STALE_THRESHOLD_SECONDS. */
  thresholdSeconds: number;
  /**
   * Seconds since cleanup last saw an API request rate limited (429 or a nearly spent budget),
   * fail with 5xx or get no answer; undefined when it never did (in the life of this process).
   */
  troubleAgoSeconds?: number;
  /** Seconds this process has watched the domain silent, cycle after cycle; 0 when it just began. */
  silentForSeconds: number;
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
  /** True when the domain is silent (see isSilent): the caller keeps watching it. */
  silent: boolean;
}

/** An entry whose deletion takes an address out of DNS (not only a heartbeat). */
export function entryRemovesAddress(entry: Entry): boolean {
  return entry.toDelete.some((record) => record.type !== "TXT");
}

/**
 * Seconds since the freshest parsable heartbeat in the domain was written, whoever wrote it;
 * undefined when there is none.
 */
export function freshestHeartbeatAge(entries: readonly Entry[]): number | undefined {
  // A loop, not Math.min(...ages): a zone's entries can outnumber a call's arguments.
  let freshest: number | undefined;
  for (const e of entries) {
    if (e.owners.length === 0 || e.ageSeconds === undefined) continue;
    if (freshest === undefined || e.ageSeconds < freshest) freshest = e.ageSeconds;
  }
  return freshest;
}

/**
 * A domain holding addresses where no host has beaten for more than half the threshold (or
 * where no heartbeat is readable at all). Hosts beat every update interval, and the threshold is
 * 2-3 intervals, so in a living fleet someone always beat within half of it: silence means the
 * writers cannot write (an outage), or every host is gone at once, which cleanup cannot tell
 * apart.
 */
export function isSilent(entries: readonly Entry[], thresholdSeconds: number): boolean {
  if (!entries.some((e) => e.addresses.length > 0)) return false;
  const freshest = freshestHeartbeatAge(entries);
  return freshest === undefined || freshest > thresholdSeconds / 2;
}

/**
 * Decides which deletions may go. Three rules engage the brake:
 * - silence (isSilent): every address deletion is held, whatever its age, until this cleanup
 *   has watched the silence for longer than the hold (a `--once` run never has);
 * - cleanup's own API trouble within the threshold: every address deletion is held, whatever
 *   its age, while the trouble lasts;
 * - more than `maxDeleteRatio` of the domain's addresses going at once (domains with at least
 *   BRAKE_MIN_ADDRESSES addresses): an address goes only once stale for longer than the hold,
 *   and one without a readable heartbeat (stale since when, nobody knows) does not go.
 * Heartbeat-only deletions (old orphans, a dead sharer's heartbeat beside a fresh one) always
 * go: they never take an address out of DNS, and a live host writes its heartbeat again on its
 * next pass. `force` releases everything. Pure; never throws.
 */
export function applyBrake(input: BrakeInput): BrakeDecision {
  const { thresholdSeconds: threshold, holdSeconds: hold } = input;
  const addresses = input.entries.filter((e) => e.addresses.length > 0).length;
  const removing = input.deletable.filter(entryRemovesAddress);
  const silent = isSilent(input.entries, threshold);
  const reasons: string[] = [];
  let holdAll = false;
  if (silent) {
    const freshest = freshestHeartbeatAge(input.entries);
    reasons.push(
      freshest === undefined
        ? "no heartbeat at all is readable here"
        : `no host has beaten here for ${freshest} s, more than half of STALE_THRESHOLD_SECONDS=${threshold}`,
    );
    holdAll ||= input.silentForSeconds <= hold;
  }
  const ago = input.troubleAgoSeconds;
  if (ago !== undefined && ago <= threshold) {
    reasons.push(
      `cleanup itself was rate limited or saw API errors ${Math.round(ago)} s ago, within ` +
        `STALE_THRESHOLD_SECONDS=${threshold}`,
    );
    holdAll = true;
  }
  const ratio =
    addresses >= BRAKE_MIN_ADDRESSES && removing.length > input.maxDeleteRatio * addresses;
  if (ratio) {
    reasons.push(
      `${removing.length} of ${addresses} addresses would go at once, more than ` +
        `CLEANUP_MAX_DELETE_RATIO=${input.maxDeleteRatio}`,
    );
  }
  if (reasons.length === 0 || removing.length === 0) {
    return { release: [...input.deletable], held: [], silent };
  }
  const reason = `${reasons.join("; ")}: this looks like an outage rather than deaths`;
  if (input.force) return { release: [...input.deletable], held: [], reason, silent };
  const staleLongEnough = (e: Entry) =>
    e.owners.length > 0 && e.ageSeconds !== undefined && e.ageSeconds - threshold > hold;
  const held = removing.filter((e) => holdAll || !staleLongEnough(e));
  const holding = new Set(held);
  return { release: input.deletable.filter((e) => !holding.has(e)), held, reason, silent };
}
