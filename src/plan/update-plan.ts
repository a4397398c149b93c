import { canonical, recordTypeOf } from "../detect/cidr.ts";
import { type AddressStyle, type DnsRecord, type RecordData, ttlStyle } from "../dns/record.ts";
import { indexDomain } from "../registry/classify.ts";
import { formatHeartbeat, heartbeatName, parseHeartbeat } from "../registry/heartbeat.ts";
import { type Change, inApplyOrder, stillAsRead } from "./changes.ts";
import { type DomainDesire, isProtected } from "./desired.ts";

export interface UpdatePlanInput {
  desired: DomainDesire[];
  /** Every record read for the managed names (`D` and `_heartbeat-*.D`), any type. */
  records: DnsRecord[];
  instanceId: string;
  /** Unix seconds on this host, written into heartbeats. */
  now: number;
  /** RECORD_TTL in seconds, for heartbeats (and addresses, without `style`). */
  ttl: number;
  /** How the provider wants address records (Provider.style); default ttlStyle(ttl). */
  style?: AddressStyle;
  /** RECORD_COMMENT, given to every record this host creates; none when undefined. */
  comment?: string;
  /**
   * Refs of heartbeat records that name this instance but that another host wrote, as a
   * long-lived updater knows (it remembers what it wrote): hosts sharing one INSTANCE_ID.
   */
  foreign?: ReadonlySet<string>;
  /**
   * Re-assert the record of every address this instance publishes with a `verify` replacement
   * (name, type, content and TTL as read; no back-end settings): a long-lived updater planning
   * from its cache learns this way, in the same request as its refreshes, that a record was
   * deleted (the provider answers a race) or edited by hand (content and TTL are put back),
   * without reading the zone. Every sharer of an address verifies it, not only its writer: the
   * writer the cache names may be dead, or another host may have become the writer since.
   */
  verify?: boolean;
}

/**
 * A heartbeat naming this instance that another host evidently wrote: two hosts share one
 * INSTANCE_ID. Such a heartbeat's address is never withdrawn (it is the other host's), and
 * the updater warns.
 */
export interface Conflict {
  domain: string;
  ip: string;
  /** True when this host publishes the address too (its heartbeat was rewritten by the other). */
  published: boolean;
  /** One sentence for the warning. */
  reason: string;
}

/** Everything but the desired set: what each step of planning needs. */
type Settings = Omit<UpdatePlanInput, "desired">;

export type DeregisterPlanInput = Settings & { domains: string[] };

/** A heartbeat TXT record and the instance and time it names; neither when unparsable. */
interface Claim {
  record: DnsRecord;
  owner: string | undefined;
  timestamp: number | undefined;
}

/** The records of one domain that dynip may touch, by canonical address (see indexDomain). */
interface DomainRecords {
  addresses: Map<string, DnsRecord[]>;
  claims: Map<string, Claim[]>;
}

/**
 * The changes that bring this instance's records in `input.desired` domains to what it
 * detected (docs/ownership.md, "Updating"): its heartbeat created or refreshed for every
 * address it publishes, address records created or brought to the provider's style (by one
 * writer per shared address), and what it published but no longer has withdrawn, unless a
 * failed source could have produced it, another instance still beats there, or another host
 * shares this INSTANCE_ID. In inApplyOrder; within a kind, domain by domain as desired,
 * a heartbeat before its address, an address deletion before its heartbeat's. Pure; throws
 * only on a bug (an instance id or time formatHeartbeat refuses).
 */
export function planUpdate(input: UpdatePlanInput): Change[] {
  return plan(input.desired, input, "no longer on this host");
}

/**
 * Deletes every address and heartbeat this instance owns in the given domains, with the same
 * rules for sharers and conflicts as planUpdate. In inApplyOrder. Pure.
 */
export function planDeregister(input: DeregisterPlanInput): Change[] {
  return plan(withdrawAll(input.domains), input, "withdrawn on deregistration");
}

/** The desired set of a deregistration: nothing, anywhere. */
export function withdrawAll(domains: readonly string[]): DomainDesire[] {
  return domains.map((domain) => ({ domain, addresses: [], protect: [] }));
}

function plan(desired: DomainDesire[], input: Settings, gone: string): Change[] {
  const zones = indexAll(desired, input.records);
  const conflicting = new Set(conflictsIn(desired, zones, input).map((c) => `${c.domain} ${c.ip}`));
  const ops = desired.flatMap((desire) => {
    const domain = desire.domain.toLowerCase();
    const zone = zones.get(domain) as DomainRecords;
    const wanted = new Set(desire.addresses.map(canonical));
    const seen = new Set([...zone.addresses.keys(), ...zone.claims.keys()]);
    const mayWithdraw = (ip: string) =>
      !wanted.has(ip) && !isProtected(ip, desire.protect) && !conflicting.has(`${domain} ${ip}`);
    return [
      ...[...wanted].flatMap((ip) => publish(ip, domain, zone, input)),
      ...[...seen]
        .filter(mayWithdraw)
        .flatMap((ip) => withdraw(ip, domain, zone, input.instanceId, gone)),
    ];
  });
  return inApplyOrder(ops);
}

/**
 * Heartbeats naming this instance that another host wrote, by either of two signs:
 * - the engine knows it did not write the record (`foreign`, long-lived updaters only);
 * - a heartbeat at an address this host no longer publishes is newer than every heartbeat this
 *   host still keeps. One host writes all its heartbeats in one pass with one timestamp, so its
 *   own leftover of an address it lost is never newer than the rest; a newer one was written
 *   after this host's last pass, by someone else. With no heartbeat of its own left to compare
 *   with (a one-shot host whose records the other host deleted), this sign cannot be read, and
 *   the heartbeat is withdrawn as an address change requires.
 * Ordered by domain as desired, then by address as found. Pure; never throws.
 */
export function findConflicts(input: UpdatePlanInput): Conflict[] {
  return conflictsIn(input.desired, indexAll(input.desired, input.records), input);
}

function conflictsIn(
  desired: DomainDesire[],
  zones: Map<string, DomainRecords>,
  input: Settings,
): Conflict[] {
  const foreign = input.foreign ?? new Set<string>();
  const mine = (claims: Claim[] | undefined) =>
    (claims ?? []).filter((c) => c.owner === input.instanceId);
  // The newest timestamp among this host's own heartbeats of addresses it still publishes.
  let reference: number | undefined;
  for (const desire of desired) {
    const zone = zones.get(desire.domain.toLowerCase()) as DomainRecords;
    for (const ip of desire.addresses.map(canonical)) {
      for (const claim of mine(zone.claims.get(ip))) {
        if (foreign.has(claim.record.ref) || claim.timestamp === undefined) continue;
        reference = Math.max(reference ?? claim.timestamp, claim.timestamp);
      }
    }
  }
  return desired.flatMap((desire) => {
    const domain = desire.domain.toLowerCase();
    const zone = zones.get(domain) as DomainRecords;
    const wanted = new Set(desire.addresses.map(canonical));
    return [...zone.claims].flatMap(([ip, claims]): Conflict[] => {
      const own = mine(claims);
      const published = wanted.has(ip);
      if (own.some((c) => foreign.has(c.record.ref))) {
        const reason = published
          ? "its heartbeat, which names this instance, was rewritten by another host"
          : "its heartbeat names this instance, but another host wrote it";
        return [{ domain, ip, published, reason }];
      }
      if (published || isProtected(ip, desire.protect) || reference === undefined) return [];
      const newer = own.find((c) => c.timestamp !== undefined && c.timestamp > reference);
      if (!newer) return [];
      const reason = `its heartbeat names this instance and is newer (${newer.timestamp}) than this host's own latest heartbeat (${reference}), so another host wrote it`;
      return [{ domain, ip, published, reason }];
    });
  });
}

function indexAll(desired: DomainDesire[], records: DnsRecord[]): Map<string, DomainRecords> {
  return new Map(
    desired.map((d) => [d.domain.toLowerCase(), index(d.domain.toLowerCase(), records)]),
  );
}

/** The domain's addresses, and its heartbeats with the instance and time each names. */
function index(domain: string, records: DnsRecord[]): DomainRecords {
  const { addresses, heartbeats } = indexDomain(domain, records);
  const claims = new Map(
    [...heartbeats].map(([ip, list]) => [
      ip,
      list.map((record): Claim => {
        const heartbeat = parseHeartbeat(record.content);
        return { record, owner: heartbeat?.instanceId, timestamp: heartbeat?.timestamp };
      }),
    ]),
  );
  return { addresses, claims };
}

/** Heartbeat first, then the address, so an address never exists without its heartbeat. */
function publish(ip: string, domain: string, zone: DomainRecords, input: Settings): Change[] {
  const ops = ownHeartbeat(ip, domain, zone.claims.get(ip) ?? [], input);
  const style = styleOf(input);
  const existing = zone.addresses.get(ip) ?? [];
  if (existing.length === 0) {
    const record: RecordData = {
      name: domain,
      type: recordTypeOf(ip),
      content: ip,
      ...style.settings(ip),
      ...(input.comment ? { comment: input.comment } : {}),
    };
    ops.push({ kind: "create", record, reason: `new address ${ip}` });
    return ops;
  }
  // One writer per address brings the record to its settings: where hosts with different
  // settings share an address, each rewriting it would rewrite it back and forth.
  const writer = writerAt(ip, zone, input.instanceId) === input.instanceId;
  for (const before of existing) {
    const change = writer ? style.difference(before, ip) : undefined;
    if (change) {
      const record: RecordData = {
        name: before.name,
        type: recordTypeOf(ip),
        content: ip,
        ...style.settings(ip),
      };
      ops.push({ kind: "replace", before, record, reason: `${ip} settings: ${change}` });
    } else if (input.verify) {
      ops.push(verification(ip, before, writer));
    }
  }
  return ops;
}

/**
 * A `verify` replacement of an address record: its name, content and TTL as read, and no
 * back-end settings, so that a sharer whose cache is out of date cannot set back what the
 * address's writer has set since (Cloudflare's PATCH keeps the fields it is not sent; its schema
 * requires `ttl`, so the TTL is the one read).
 */
function verification(ip: string, before: DnsRecord, writer: boolean): Change {
  const record: RecordData = {
    name: before.name,
    type: recordTypeOf(ip),
    content: ip,
    ttl: before.ttl,
  };
  const reason = `confirm ${ip} is there`;
  return {
    kind: "replace",
    before,
    record,
    reason,
    verify: true,
    ...(writer ? { writer: true } : {}),
  };
}

function styleOf(input: Settings): AddressStyle {
  return input.style ?? ttlStyle(input.ttl);
}

/**
 * The instance that keeps the address record's settings: of every instance with a parsable
 * heartbeat at `ip` (and this one, about to write its own), the lowest id. Unparsable TXT
 * records there name no instance and do not count.
 */
function writerAt(ip: string, zone: DomainRecords, instanceId: string): string {
  const owners = (zone.claims.get(ip) ?? []).flatMap((c) => (c.owner ? [c.owner] : []));
  return [instanceId, ...owners].sort()[0] ?? instanceId;
}

/** An address this host publishes whose record differs from its style but is shared. */
export interface Drift {
  domain: string;
  ip: string;
  /** In words, as AddressStyle.difference says it: `proxied false -> true, TTL 300 -> 120`. */
  change: string;
  /** The sharer that keeps the record's settings (the lowest INSTANCE_ID there). */
  writer: string;
}

/**
 * Records of addresses this host publishes together with other hosts that differ from this
 * host's style (Provider.style: TTL, the back end's own settings), where another sharer keeps the record (see writerAt): left as
 * they are, and worth a warning once a pass. In desired order. Pure; never throws.
 */
export function findDrifts(input: UpdatePlanInput): Drift[] {
  const zones = indexAll(input.desired, input.records);
  return input.desired.flatMap((desire) => {
    const domain = desire.domain.toLowerCase();
    const zone = zones.get(domain) as DomainRecords;
    return [...new Set(desire.addresses.map(canonical))].flatMap((ip) => {
      const writer = writerAt(ip, zone, input.instanceId);
      if (writer === input.instanceId) return [];
      return (zone.addresses.get(ip) ?? []).flatMap((record) => {
        const change = styleOf(input).difference(record, ip);
        return change ? [{ domain, ip, change, writer }] : [];
      });
    });
  });
}

/**
 * Creates or refreshes this instance's own heartbeat of an address it publishes. Every
 * instance that publishes an address (hosts behind one NAT) keeps its own heartbeat at the
 * same name; their contents differ, so they are separate records of one TXT RRset. The
 * heartbeats of other instances, and unparsable ones, are never modified, however old: judging
 * another host dead is cleanup's job, done on the provider's clock from a fresh read, which a
 * long-lived updater planning from its cache cannot do.
 */
function ownHeartbeat(ip: string, domain: string, claims: Claim[], input: Settings): Change[] {
  const content = formatHeartbeat(input.now, input.instanceId);
  const own = claims.filter((c) => c.owner === input.instanceId);
  const others = claims.length - own.length;
  const beside = others > 0 ? `; ${others} other heartbeat(s) at this name left alone` : "";
  const [kept, ...extra] = own;
  if (!kept) {
    const record: RecordData = {
      name: heartbeatName(ip, domain),
      type: "TXT",
      content,
      ttl: input.ttl,
      ...(input.comment ? { comment: input.comment } : {}),
    };
    return [{ kind: "create", record, reason: `heartbeat for ${ip}${beside}` }];
  }
  // Two of our own at one name can only come from a write that landed twice; one is enough.
  const duplicates = extra.map(
    ({ record }): Change => ({ kind: "delete", record, reason: `duplicate heartbeat of ${ip}` }),
  );
  const refresh: Change = {
    kind: "replace",
    before: kept.record,
    record: { name: kept.record.name, type: "TXT", content, ttl: input.ttl },
    reason: `refresh heartbeat of ${ip}${beside}`,
  };
  return [...duplicates, refresh];
}

/**
 * Removes what this instance published for an address it no longer has: the address first,
 * then its own heartbeats. While another instance has a parsable heartbeat at that name,
 * fresh or stale, the address stays: that host still publishes it, or it died and cleanup
 * will remove the address with every heartbeat once the freshest of them is stale. The
 * address goes only while its heartbeat RRset is as read (a prerequisite): a sharer that
 * joined in between keeps it, where the provider can tell.
 */
function withdraw(
  ip: string,
  domain: string,
  zone: DomainRecords,
  instanceId: string,
  gone: string,
): Change[] {
  const claims = zone.claims.get(ip) ?? [];
  const own = claims.filter((c) => c.owner === instanceId);
  if (own.length === 0) return [];
  const sharers = [
    ...new Set(claims.flatMap((c) => (c.owner && c.owner !== instanceId ? [c.owner] : []))),
  ];
  const ops: Change[] = [];
  if (sharers.length === 0) {
    const onlyIf = [
      stillAsRead(
        heartbeatName(ip, domain),
        "TXT",
        claims.map((c) => c.record),
      ),
    ];
    for (const record of zone.addresses.get(ip) ?? []) {
      ops.push({ kind: "delete", record, reason: `address ${ip} ${gone}`, onlyIf });
    }
  }
  const why =
    sharers.length === 0
      ? `heartbeat of ${ip}, ${gone}`
      : `heartbeat of ${ip}, ${gone}; address kept for ${sharers.join(", ")}`;
  for (const { record } of own) ops.push({ kind: "delete", record, reason: why });
  return ops;
}
