import type { DnsRecord, RecordInput } from "../cloudflare/types.ts";
import {
  canonicalIp,
  formatHeartbeat,
  heartbeatAge,
  heartbeatName,
  parseHeartbeat,
  parseHeartbeatName,
} from "../heartbeat.ts";
import { canonical, isPublic } from "../ip/cidr.ts";
import { type DomainDesire, isProtected } from "./desired.ts";
import type { Operation } from "./types.ts";

/**
 * How old another instance's heartbeat must be before this instance, which publishes the
 * same address (two hosts behind one NAT), takes it over. Half the default
 * STALE_THRESHOLD_SECONDS (900): the survivor adopts the address well before cleanup would
 * call it stale, while a live owner, refreshing every pass, is never overtaken.
 */
export const DEFAULT_ADOPT_AFTER_SECONDS = 450;

export interface UpdatePlanInput {
  desired: DomainDesire[];
  /** Every record read for the managed names (`D` and `_heartbeat-*.D`), any type. */
  records: DnsRecord[];
  instanceId: string;
  /** Unix seconds on this host, written into heartbeats. */
  now: number;
  ttl: number;
  /** CF_PROXIED; applies to public addresses only (Cloudflare refuses to proxy the rest). */
  proxied: boolean;
  /** Unix seconds on Cloudflare's clock; without it no heartbeat is old enough to adopt. */
  serverNow?: number;
  adoptAfterSeconds?: number;
}

/** Everything but the desired set: what each step of planning needs. */
type Settings = Omit<UpdatePlanInput, "desired">;

export type DeregisterPlanInput = Settings & { domains: string[] };

/** A heartbeat TXT record and the instance it names; no owner when unparsable. */
interface Claim {
  record: DnsRecord;
  owner: string | undefined;
}

/** The records of one domain that dynip may touch, by canonical address. */
interface DomainRecords {
  addresses: Map<string, DnsRecord[]>;
  claims: Map<string, Claim[]>;
}

/** Same order as Cloudflare runs a batch, so single calls and batches behave alike. */
const KIND_ORDER = { delete: 0, patch: 1, create: 2 } as const;

export function planUpdate(input: UpdatePlanInput): Operation[] {
  return plan(input.desired, input, "no longer on this host");
}

/** Deletes every address and heartbeat this instance owns in the given domains. */
export function planDeregister(input: DeregisterPlanInput): Operation[] {
  const desired = input.domains.map((domain) => ({ domain, addresses: [], protect: [] }));
  return plan(desired, input, "withdrawn on deregistration");
}

function plan(desired: DomainDesire[], input: Settings, gone: string): Operation[] {
  const ops = desired.flatMap((desire) => {
    const domain = desire.domain.toLowerCase();
    const zone = index(domain, input.records);
    const wanted = new Set(desire.addresses.map(canonical));
    const seen = new Set([...zone.addresses.keys(), ...zone.claims.keys()]);
    return [
      ...[...wanted].flatMap((ip) => publish(ip, domain, zone, input)),
      ...[...seen]
        .filter((ip) => !wanted.has(ip) && !isProtected(ip, desire.protect))
        .flatMap((ip) => withdraw(ip, zone, input.instanceId, gone)),
    ];
  });
  return ops.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
}

/** A/AAAA at exactly `domain`, and heartbeats whose names decode to an address of it. */
function index(domain: string, records: DnsRecord[]): DomainRecords {
  const zone: DomainRecords = { addresses: new Map(), claims: new Map() };
  for (const record of records) {
    const name = record.name.toLowerCase();
    if (name === domain && (record.type === "A" || record.type === "AAAA")) {
      const ip = canonicalIp(record.content);
      if (ip) append(zone.addresses, ip, record);
    } else if (record.type === "TXT") {
      const ip = parseHeartbeatName(name, domain);
      const owner = parseHeartbeat(record.content)?.instanceId;
      if (ip) append(zone.claims, ip, { record, owner });
    }
  }
  return zone;
}

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  map.set(key, [...(map.get(key) ?? []), value]);
}

function addressType(ip: string): "A" | "AAAA" {
  return ip.includes(":") ? "AAAA" : "A";
}

/** Heartbeat first, then the address, so an address never exists without its heartbeat. */
function publish(ip: string, domain: string, zone: DomainRecords, input: Settings): Operation[] {
  const ops: Operation[] = [];
  const heartbeat = claimHeartbeat(ip, domain, zone.claims.get(ip) ?? [], input);
  if (heartbeat) ops.push(heartbeat);
  // An existing record with other proxied/ttl settings is left as is: it may be shared,
  // and instances with different settings must not rewrite it back and forth.
  if (!zone.addresses.has(ip)) {
    const record: RecordInput = {
      name: domain,
      type: addressType(ip),
      content: ip,
      ttl: input.ttl,
      proxied: input.proxied && isPublic(ip),
    };
    ops.push({ kind: "create", record, reason: `new address ${ip}` });
  }
  return ops;
}

/**
 * Creates, refreshes or adopts the heartbeat of an address this instance publishes.
 * Another instance's heartbeat is left alone while it is fresh: both hosts have the address,
 * and one heartbeat per address is enough to keep it from cleanup.
 */
function claimHeartbeat(
  ip: string,
  domain: string,
  claims: Claim[],
  input: Settings,
): Operation | undefined {
  const content = formatHeartbeat(input.now, input.instanceId);
  const others =
    claims.length > 1 ? `; ${claims.length - 1} other heartbeat(s) at this name left alone` : "";
  const refresh = (claim: Claim, why: string): Operation => ({
    kind: "patch",
    id: claim.record.id,
    record: { name: claim.record.name, type: "TXT", content, ttl: input.ttl },
    reason: `${why}${others}`,
  });
  const own = claims.find((c) => c.owner === input.instanceId);
  if (own) return refresh(own, `refresh heartbeat of ${ip}`);
  const garbage = claims.find((c) => c.owner === undefined);
  if (garbage) return refresh(garbage, `adopt unparsable heartbeat of ${ip}`);
  if (claims.length === 0) {
    const record: RecordInput = {
      name: heartbeatName(ip, domain),
      type: "TXT",
      content,
      ttl: input.ttl,
    };
    return { kind: "create", record, reason: `heartbeat for ${ip}` };
  }
  const stale = staleClaim(claims, input);
  if (!stale) return undefined;
  const silent = `silent for ${stale.age} s`;
  return refresh(stale.claim, `adopt heartbeat of ${ip} from ${stale.claim.owner}, ${silent}`);
}

/** The first of the other instances' heartbeats to adopt, when none of them is fresh. */
function staleClaim(claims: Claim[], input: Settings): { claim: Claim; age: number } | undefined {
  const { serverNow, adoptAfterSeconds = DEFAULT_ADOPT_AFTER_SECONDS } = input;
  if (serverNow === undefined) return undefined;
  const aged = claims.map((claim) => ({ claim, age: heartbeatAge(claim.record, serverNow) ?? 0 }));
  return aged.every((c) => c.age > adoptAfterSeconds) ? aged[0] : undefined;
}

/**
 * Removes an address this instance owns and no longer has: the address first, then its
 * heartbeat. When another instance's heartbeat also names it, that host still publishes it:
 * only this instance's heartbeat goes.
 */
function withdraw(ip: string, zone: DomainRecords, instanceId: string, gone: string): Operation[] {
  const claims = zone.claims.get(ip) ?? [];
  const own = claims.filter((c) => c.owner === instanceId);
  if (own.length === 0) return [];
  const sharers = [
    ...new Set(claims.flatMap((c) => (c.owner && c.owner !== instanceId ? [c.owner] : []))),
  ];
  const ops: Operation[] = [];
  if (sharers.length === 0) {
    for (const record of zone.addresses.get(ip) ?? []) {
      ops.push({ kind: "delete", id: record.id, record, reason: `address ${ip} ${gone}` });
    }
  }
  const why =
    sharers.length === 0
      ? `heartbeat of ${ip}, ${gone}`
      : `heartbeat of ${ip}, ${gone}; address kept for ${sharers.join(", ")}`;
  for (const { record } of own) ops.push({ kind: "delete", id: record.id, record, reason: why });
  return ops;
}
