import { recordTypeOf, sortAddresses } from "../detect/cidr.ts";
import type { DnsRecord } from "../dns/record.ts";
import { append } from "../util/multimap.ts";
import {
  canonicalIp,
  type Heartbeat,
  heartbeatAge,
  parseHeartbeat,
  parseHeartbeatName,
} from "./heartbeat.ts";

/**
 * The one judgement `dynip cleanup` and `dynip status` share (docs/ownership.md), so that
 * status never calls fresh what cleanup would delete, or the other way round.
 */
export type State = "fresh" | "stale" | "missing" | "orphan";

export interface Entry {
  domain: string;
  /** Canonical: dotted quad, or RFC 5952 IPv6. */
  ip: string;
  /** For orphans: the family the heartbeat name encodes. */
  type: "A" | "AAAA";
  /** A/AAAA records at exactly `domain` with this content (usually one). */
  addresses: DnsRecord[];
  /** Every TXT record at `_heartbeat-<ip>.<domain>`, parsable or not. */
  heartbeats: DnsRecord[];
  /** Instance id in the freshest parsable heartbeat. */
  owner?: string;
  /** Every instance with a parsable heartbeat here (hosts sharing the address), freshest first. */
  owners: readonly string[];
  /**
   * Heartbeat age in seconds on the provider's clock; for `missing`, the age of the address
   * record.
   * Undefined when no timestamp could be read.
   */
  ageSeconds?: number;
  state: State;
  /** Cleanup deletes something here: exactly the records in `toDelete`. */
  delete: boolean;
  /**
   * Past the threshold (stale, missing past grace, old orphan): every address and every
   * parsable heartbeat, addresses first. Otherwise only the parsable heartbeats older than the
   * threshold, left by hosts that shared the address and died, so that dead sharers do not pile
   * up. A TXT at the heartbeat name that does not parse as a heartbeat is never in it: dynip
   * always writes parsable content, so such a record is someone else's.
   */
  toDelete: readonly DnsRecord[];
  /** |content timestamp - modifiedAt| of the deciding heartbeat in seconds, when above 60. */
  skewSeconds?: number;
  reason: string;
}

export interface ClassifyInput {
  domain: string;
  /** Records read for the managed names; anything that is not ours is ignored. */
  records: DnsRecord[];
  /** Unix seconds on the provider's clock when the records were read (DomainRead.now). */
  serverNow: number;
  thresholdSeconds: number;
}

/** A larger gap between a heartbeat's timestamp and its modifiedAt is reported (docs/ownership.md). */
const SKEW_REPORT_SECONDS = 60;

type Found = Pick<Entry, "domain" | "ip" | "type" | "addresses" | "heartbeats">;

/** A parsable heartbeat and its age on the provider's clock. */
interface Beat {
  record: DnsRecord;
  heartbeat: Heartbeat;
  age: number;
}

/** The records of one domain that are dynip's to judge, by canonical address. */
export interface DomainIndex {
  /** A/AAAA records at exactly the domain whose content is an address of their type. */
  addresses: Map<string, DnsRecord[]>;
  /** TXT records, parsable or not, at heartbeat names of the domain (parseHeartbeatName). */
  heartbeats: Map<string, DnsRecord[]>;
}

/**
 * Sorts a domain's records into what dynip may touch; everything else (other names, other
 * types, look-alike heartbeat names, an A record holding an IPv6 address) is left out. Lists
 * keep the order of `records`. `domain` in any case. Pure; never throws.
 */
export function indexDomain(domain: string, records: readonly DnsRecord[]): DomainIndex {
  const lower = domain.toLowerCase();
  const index: DomainIndex = { addresses: new Map(), heartbeats: new Map() };
  for (const record of records) {
    // Cheap tests first: cleanup indexes every record of a zone of 100,000.
    if (record.type === "TXT") {
      const named = parseHeartbeatName(record.name, lower);
      if (named) append(index.heartbeats, named, record);
    } else {
      const ip = addressOf(record, lower);
      if (ip) append(index.addresses, ip, record);
    }
  }
  return index;
}

/** One entry per address of `domain` seen as A/AAAA or heartbeat; A before AAAA, numeric order. */
export function classify(input: ClassifyInput): Entry[] {
  const domain = input.domain.toLowerCase();
  const { addresses, heartbeats } = indexDomain(domain, input.records);
  const ips = sortAddresses([...addresses.keys(), ...heartbeats.keys()]);
  const none: DnsRecord[] = [];
  return ips.map((ip) =>
    judge(
      {
        domain,
        ip,
        type: recordTypeOf(ip),
        addresses: addresses.get(ip) ?? none,
        heartbeats: heartbeats.get(ip) ?? none,
      },
      input,
    ),
  );
}

/**
 * What may still be deleted after the re-read just before deleting: entries deletable in
 * both reads (matched by domain and address), keeping only the records that were to be
 * deleted both times. A heartbeat refreshed in between makes the entry fresh, so its address
 * stays (and a dead sharer's heartbeat beside it still goes); a record created in between was
 * never judged, so it stays; a record another replica deleted in between is simply gone from
 * the second read.
 */
export function confirmDeletions(before: Entry[], after: Entry[]): Entry[] {
  const doomed = new Map(
    before.filter((e) => e.delete).map((e) => [key(e), new Set(e.toDelete.map((r) => r.ref))]),
  );
  return after.flatMap((entry) => {
    const earlier = doomed.get(key(entry));
    if (!entry.delete || earlier === undefined) return [];
    const toDelete = entry.toDelete.filter((r) => earlier.has(r.ref));
    return toDelete.length > 0 ? [{ ...entry, toDelete }] : [];
  });
}

function key(entry: Entry): string {
  return `${entry.domain} ${entry.ip}`;
}

/** The canonical address of an A/AAAA at exactly `domain`; a type/content mismatch is not ours. */
function addressOf(record: DnsRecord, domain: string): string | undefined {
  if (record.type !== "A" && record.type !== "AAAA") return undefined;
  if (record.name !== domain && record.name.toLowerCase() !== domain) return undefined;
  const ip = canonicalIp(record.content);
  return ip && recordTypeOf(ip) === record.type ? ip : undefined;
}

/** Shared empty lists: most of a large zone's entries delete nothing (Entry lists are readonly). */
const NO_RECORDS: readonly DnsRecord[] = Object.freeze([]);
const NO_BEATS: readonly Beat[] = Object.freeze([]);
const NO_OWNERS: readonly string[] = Object.freeze([]);

function judge(found: Found, input: ClassifyInput): Entry {
  const beats = parsable(found.heartbeats, input.serverNow);
  const latest = beats[0];
  if (latest) return judgeHeartbeat(found, beats, latest, input.thresholdSeconds);
  if (found.addresses.length > 0) return judgeMissing(found, input);
  // A heartbeat-shaped name alone does not prove dynip wrote it: dynip always writes
  // parsable content, so this TXT is someone else's or damaged. Reported, never deleted.
  return {
    ...found,
    owners: NO_OWNERS,
    ageSeconds: youngest(found.heartbeats.map((r) => heartbeatAge(r, input.serverNow))),
    state: "orphan",
    delete: false,
    toDelete: NO_RECORDS,
    reason: "unparsable heartbeat without address: not recognisably dynip's, never deleted",
  };
}

/** The parsable heartbeats, freshest first; ages below 0 (clock differences) count as 0. */
function parsable(records: DnsRecord[], serverNow: number): Beat[] {
  const beats: Beat[] = [];
  for (const record of records) {
    const heartbeat = parseHeartbeat(record.content);
    if (heartbeat === undefined) continue;
    // As heartbeatAge: the provider's modification time, else the content's timestamp.
    const age = Math.max(0, serverNow - (record.modifiedAt ?? heartbeat.timestamp));
    beats.push({ record, heartbeat, age });
  }
  if (beats.length > 1) beats.sort((a, b) => a.age - b.age);
  return beats;
}

/**
 * The freshest heartbeat decides the address. When it is fresh, heartbeats beside it that
 * are older than the threshold belong to hosts that shared the address and died: they go alone.
 * Written for the common case of one heartbeat, which allocates little: cleanup judges every
 * address of a large zone.
 */
function judgeHeartbeat(found: Found, beats: Beat[], latest: Beat, threshold: number): Entry {
  const old = latest.age > threshold;
  const orphan = found.addresses.length === 0;
  const expired = old || beats.length === 1 ? NO_BEATS : beats.filter((b) => b.age > threshold);
  const unparsable = found.heartbeats.length - beats.length;
  const subject = orphan ? "heartbeat without address" : "heartbeat";
  let reason = `${subject} ${latest.age} s old (threshold ${threshold} s)`;
  if (expired.length > 0) {
    reason += `; ${expired.length} expired heartbeat(s) of ${describeBeats(expired)} beside it`;
  }
  if (unparsable > 0) reason += `; ${unparsable} unparsable heartbeat(s) at this name`;
  // Past the threshold: the addresses and the parsable heartbeats, in the order read.
  const readable =
    unparsable === 0
      ? found.heartbeats
      : found.heartbeats.filter((r) => beats.some((b) => b.record === r));
  const toDelete = old
    ? [...found.addresses, ...readable]
    : expired.length > 0
      ? expired.map((b) => b.record)
      : NO_RECORDS;
  const owners: string[] = [];
  for (const beat of beats) {
    if (!owners.includes(beat.heartbeat.instanceId)) owners.push(beat.heartbeat.instanceId);
  }
  const skewSeconds = skew(latest);
  return {
    domain: found.domain,
    ip: found.ip,
    type: found.type,
    addresses: found.addresses,
    heartbeats: found.heartbeats,
    owner: latest.heartbeat.instanceId,
    owners,
    ageSeconds: latest.age,
    state: orphan ? "orphan" : old ? "stale" : "fresh",
    delete: toDelete.length > 0,
    toDelete,
    ...(skewSeconds === undefined ? {} : { skewSeconds }),
    reason,
  };
}

function describeBeats(beats: readonly Beat[]): string {
  return beats.map((b) => `${b.heartbeat.instanceId} (${b.age} s)`).join(", ");
}

/** How far the writing host's clock is from the provider's, when it matters enough to report. */
function skew({ record, heartbeat }: Beat): number | undefined {
  if (record.modifiedAt === undefined) return undefined;
  const gap = Math.abs(heartbeat.timestamp - record.modifiedAt);
  return gap > SKEW_REPORT_SECONDS ? gap : undefined;
}

/**
 * No usable heartbeat: the address is judged by its own age, so a host that is writing its
 * records right now is not caught between its address and its heartbeat. With several
 * records, the youngest decides; an unreadable creation time keeps the address.
 */
function judgeMissing(found: Found, input: ClassifyInput): Entry {
  const { serverNow, thresholdSeconds: threshold } = input;
  const ages = found.addresses.map((r) =>
    r.createdAt === undefined ? undefined : serverNow - r.createdAt,
  );
  const age = ages.includes(undefined) ? undefined : youngest(ages);
  const what = found.heartbeats.length > 0 ? "unparsable heartbeat" : "no heartbeat";
  const old = age !== undefined && age > threshold;
  const reason =
    age === undefined
      ? `${what}, address creation time unreadable: kept`
      : `${what}, address ${age} s old (${old ? "threshold" : "grace period"} ${threshold} s)`;
  const toDelete = old ? [...found.addresses] : NO_RECORDS;
  return {
    ...found,
    owners: NO_OWNERS,
    ageSeconds: age,
    state: "missing",
    delete: old,
    toDelete,
    reason,
  };
}

/** The smallest known age, floored at 0; undefined when none is known. */
function youngest(ages: (number | undefined)[]): number | undefined {
  const known = ages.filter((age) => age !== undefined);
  return known.length === 0 ? undefined : Math.max(0, Math.min(...known));
}

/** The domains of one read, as `instanceTimestamps` needs them. */
export interface ClassifiedDomain {
  entries: Entry[];
  /** Unix seconds the entries were judged at. */
  serverNow: number;
}

/**
 * Instances whose fresh heartbeats carry more than one timestamp, with those timestamps in
 * ascending order. One host writes all its heartbeats in one pass with one timestamp, so two
 * timestamps mean two hosts share the INSTANCE_ID, or one host keeps some heartbeats unrefreshed
 * because a detection source is failing (its pass then exits 1). Across all the domains given;
 * only heartbeats no older than the threshold count. Pure; never throws.
 */
export function splitInstances(
  domains: readonly ClassifiedDomain[],
  thresholdSeconds: number,
): Map<string, number[]> {
  const stamps = new Map<string, Set<number>>();
  for (const { entries, serverNow } of domains) {
    for (const beat of entries.flatMap((e) => parsable(e.heartbeats, serverNow))) {
      if (beat.age > thresholdSeconds) continue;
      const id = beat.heartbeat.instanceId;
      stamps.set(id, (stamps.get(id) ?? new Set()).add(beat.heartbeat.timestamp));
    }
  }
  return new Map(
    [...stamps]
      .filter(([, set]) => set.size > 1)
      .map(([id, set]) => [id, [...set].sort((a, b) => a - b)]),
  );
}
