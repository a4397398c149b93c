/**
 * Invariants the fault, concurrency and bad-input suites check against the fake's records,
 * written from docs/records.md, docs/ownership.md and docs/safety.md rather than from the planners, plus the seeded randomness they share.
 *
 * Randomised suites take `DYNIP_SEED=<n>` (or `DYNIP_SEED=random`) and `DYNIP_ROUNDS=<n>`
 * from the environment; without them they run a fixed seed and their default length.
 */
import type { CloudflareRecord } from "../../src/providers/cloudflare/api-types.ts";
import { canonicalIp, parseHeartbeat, parseHeartbeatName } from "../../src/registry/heartbeat.ts";

export const DEFAULT_SEED = 20_260_101;

/** The seed of this run: fixed unless DYNIP_SEED says otherwise. */
export function seedFromEnv(): number {
  const raw = process.env.DYNIP_SEED?.trim();
  if (!raw) return DEFAULT_SEED;
  if (raw === "random") return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`DYNIP_SEED must be an integer or "random"`);
  return seed;
}

/** DYNIP_ROUNDS scales a suite's length; `fallback` when unset. */
export function roundsFromEnv(fallback: number): number {
  const rounds = Number(process.env.DYNIP_ROUNDS ?? fallback);
  return Number.isInteger(rounds) && rounds > 0 ? rounds : fallback;
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new Error("pick from an empty list");
      return item;
    },
    chance: (p: number) => next() < p,
  };
}

export type Random = ReturnType<typeof createRandom>;

/** Everything dynip keeps for one address at one domain. */
export interface Slot {
  key: string;
  domain: string;
  ip: string;
  addresses: CloudflareRecord[];
  heartbeats: CloudflareRecord[];
  /** Instance ids named by parsable heartbeats. */
  owners: Set<string>;
}

const slotKey = (domain: string, ip: string) => `${domain} ${ip}`;

/** A/AAAA at exactly a managed domain, and heartbeats whose names decode, grouped by address. */
export function slots(records: CloudflareRecord[], domains: readonly string[]): Map<string, Slot> {
  const out = new Map<string, Slot>();
  const slotOf = (domain: string, ip: string): Slot => {
    const key = slotKey(domain, ip);
    const found = out.get(key);
    if (found) return found;
    const made: Slot = { key, domain, ip, addresses: [], heartbeats: [], owners: new Set() };
    out.set(key, made);
    return made;
  };
  for (const record of records) {
    for (const domain of domains) {
      const ip = addressAt(record, domain);
      if (ip) slotOf(domain, ip).addresses.push(record);
      const named = record.type === "TXT" ? parseHeartbeatName(record.name, domain) : undefined;
      if (named) {
        const slot = slotOf(domain, named);
        slot.heartbeats.push(record);
        const owner = parseHeartbeat(record.content)?.instanceId;
        if (owner) slot.owners.add(owner);
      }
    }
  }
  return out;
}

function addressAt(record: CloudflareRecord, domain: string): string | undefined {
  if (record.name.toLowerCase() !== domain) return undefined;
  if (record.type !== "A" && record.type !== "AAAA") return undefined;
  return canonicalIp(record.content);
}

/** Age in seconds of the freshest parsable heartbeat, on the fake's clock (modified_on). */
export function freshestAge(slot: Slot, nowMs: number): number | undefined {
  const ages = slot.heartbeats
    .filter((r) => parseHeartbeat(r.content) !== undefined)
    .map((r) => (nowMs - Date.parse(r.modified_on)) / 1000);
  return ages.length === 0 ? undefined : Math.min(...ages);
}

/** Slots with an address and a heartbeat no older than the threshold: cleanup must keep them. */
export function freshSlots(
  records: CloudflareRecord[],
  domains: readonly string[],
  nowMs: number,
  thresholdSeconds: number,
): Slot[] {
  return [...slots(records, domains).values()].filter((slot) => {
    const age = freshestAge(slot, nowMs);
    return slot.addresses.length > 0 && age !== undefined && age <= thresholdSeconds;
  });
}

/** Fresh addresses of `before` that are gone in `after`, unless owned by an `allowed` instance. */
export function freshDeleted(
  before: Slot[],
  after: CloudflareRecord[],
  domains: readonly string[],
  allowed: ReadonlySet<string> = new Set(),
): string[] {
  const now = slots(after, domains);
  return before
    .filter((slot) => ![...slot.owners].some((o) => allowed.has(o)))
    .filter((slot) => (now.get(slot.key)?.addresses.length ?? 0) === 0)
    .map((slot) => `fresh address deleted: ${slot.key} (owner ${[...slot.owners].join(",")})`);
}

/**
 * Records created, changed or deleted between two reads that were not one of `allowed`'s to
 * touch. Ownership is judged on the state BEFORE the change only, so taking a record over
 * (rewriting another instance's heartbeat with one's own) is caught: a changed or deleted
 * heartbeat must have named an allowed instance, and a changed or deleted address must have
 * had parsable heartbeats of allowed instances only. A created heartbeat must name an
 * allowed instance, a created address must have such a heartbeat beside it afterwards.
 * Records that belong to no heartbeat (bystanders, look-alikes, unparsable heartbeats)
 * therefore never change at all.
 */
export function foreignChanges(
  before: CloudflareRecord[],
  after: CloudflareRecord[],
  domains: readonly string[],
  allowed: ReadonlySet<string>,
): string[] {
  const was = new Map(before.map((r) => [r.id, r]));
  const is = new Map(after.map((r) => [r.id, r]));
  const mayTouch = ownedBy(before, domains, allowed);
  const mayCreate = ownedBy(after, domains, allowed);
  const changed = [...new Set([...was.keys(), ...is.keys()])].filter((id) => {
    const a = was.get(id);
    const b = is.get(id);
    return !a || !b || a.content !== b.content || a.name !== b.name || a.type !== b.type;
  });
  return changed.flatMap((id) => {
    const existed = was.has(id);
    if ((existed ? mayTouch : mayCreate).has(id)) return [];
    const r = was.get(id) ?? is.get(id);
    const what = existed ? (is.has(id) ? "changed" : "deleted") : "created";
    const view = slots(existed ? before : after, domains);
    const slot = [...view.values()].find((x) =>
      [...x.addresses, ...x.heartbeats].some((y) => y.id === id),
    );
    const who = slot ? [...slot.owners].join(",") : "";
    return [`${what} ${r?.type} ${r?.name} ${r?.content} (owners then: {${who}})`];
  });
}

/** Ids of the heartbeats naming an allowed instance, and of addresses only they carry. */
function ownedBy(
  records: CloudflareRecord[],
  domains: readonly string[],
  allowed: ReadonlySet<string>,
): Set<string> {
  const ids = new Set<string>();
  for (const slot of slots(records, domains).values()) {
    for (const r of slot.heartbeats) {
      const owner = parseHeartbeat(r.content)?.instanceId;
      if (owner && allowed.has(owner)) ids.add(r.id);
    }
    const owners = [...slot.owners];
    if (owners.length > 0 && owners.every((o) => allowed.has(o))) {
      for (const r of slot.addresses) ids.add(r.id);
    }
  }
  return ids;
}

/** Two A/AAAA with the same content at a domain, or two heartbeats of one instance at one name. */
export function duplicates(records: CloudflareRecord[], domains: readonly string[]): string[] {
  return [...slots(records, domains).values()].flatMap((slot) => {
    const perOwner = new Map<string, number>();
    for (const r of slot.heartbeats) {
      const owner = parseHeartbeat(r.content)?.instanceId;
      if (owner) perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
    }
    return [
      ...(slot.addresses.length > 1 ? [`${slot.addresses.length} addresses ${slot.key}`] : []),
      ...[...perOwner]
        .filter(([, n]) => n > 1)
        .map(([owner, n]) => `${n} heartbeats of ${owner} ${slot.key}`),
    ];
  });
}

/** Missing pieces of `instance`'s publication of `ip` on every domain (empty when complete). */
export function incomplete(
  records: CloudflareRecord[],
  domains: readonly string[],
  ip: string,
  instance: string,
): string[] {
  const view = slots(records, domains);
  return domains.flatMap((domain) => {
    const slot = view.get(slotKey(domain, ip));
    if (!slot || slot.addresses.length === 0) return [`no address ${domain} ${ip}`];
    if (!slot.owners.has(instance)) return [`no heartbeat of ${instance} for ${domain} ${ip}`];
    return [];
  });
}

/** A JavaScript stack frame: expected failures are reported in one line, never with a stack. */
export const STACK_TRACE = /\n\s+at /;
