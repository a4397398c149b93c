/**
 * Properties of the update planner and of cleanup after updates (issue 6), with fast-check
 * over random zones (several instances, garbage, look-alikes), detections (failures
 * included) and clocks. The oracles below are written from docs/records.md, docs/detection.md and docs/ownership.md, not from the planner.
 *
 * Fixed seed by default. Run longer with random seeds:
 *   DYNIP_SEED=random DYNIP_ROUNDS=5000 bun test tests/property.test.ts
 * (DYNIP_ROUNDS is the number of runs per property; fast-check prints the seed and the
 * shrunk counterexample of a failure, and DYNIP_SEED=<n> replays it.)
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import type { Cidr, Detection, SourceResult } from "../src/detect/source-types.ts";
import type { DnsRecord } from "../src/dns/record.ts";
import type { Change } from "../src/plan/changes.ts";
import { planCleanup } from "../src/plan/cleanup-plan.ts";
import { buildDesired, type ManagedDomains } from "../src/plan/desired.ts";
import {
  findConflicts,
  planDeregister,
  planUpdate,
  type UpdatePlanInput,
} from "../src/plan/update-plan.ts";
import { classify } from "../src/registry/classify.ts";
import {
  canonicalIp,
  formatHeartbeat,
  heartbeatName,
  parseHeartbeat,
  parseHeartbeatName,
} from "../src/registry/heartbeat.ts";
import { roundsFromEnv, seedFromEnv } from "./support/invariants.ts";
import { makeRecords } from "./support/records.ts";

const RUNS = { seed: seedFromEnv(), numRuns: roundsFromEnv(300) };
const INSTANCES = ["web-01", "web-02", "web-03"] as const;
const INT = "internal.example.com";
const EXT = "external.example.com";
const V6 = "v6.example.com";
const CMB = "all.example.com";
const THRESHOLD = 900;
const NOW = 1_700_000_000;
const CIDRS: Cidr[] = ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"].map((c) => ipaddr.parseCIDR(c));
const INTERNAL_IPS = ["10.0.0.1", "10.0.0.2", "192.168.1.10", "fd00::1"];
const PUBLIC_V4 = ["203.0.113.9", "198.51.100.7"];
const PUBLIC_V6 = ["2001:db8::1", "2001:db8::2"];
const ALL_IPS = [...INTERNAL_IPS, ...PUBLIC_V4, ...PUBLIC_V6];

const typeOf = (ip: string) => (ip.includes(":") ? "AAAA" : "A");
const inCidrs = (ip: string) => {
  const address = ipaddr.parse(ip);
  return CIDRS.some(([net, bits]) => address.kind() === net.kind() && address.match(net, bits));
};

interface Draft {
  name: string;
  type: string;
  content: string;
  age: number;
}

// ---- arbitraries ----------------------------------------------------------------------

const domain = fc.constantFrom(INT, EXT, V6, CMB);
const ip = fc.constantFrom(...ALL_IPS);
const instance = fc.constantFrom(...INSTANCES);
const age = fc.integer({ min: 0, max: 3 * THRESHOLD });

/** dynip's own records: a heartbeat of some instance, mostly with its address beside it. */
const published = fc
  .record({ domain, ip, owner: instance, age, withAddress: fc.boolean(), quoted: fc.boolean() })
  .map((p): Draft[] => {
    const text = formatHeartbeat(NOW - p.age, p.owner);
    const beat: Draft = {
      name: heartbeatName(p.ip, p.domain),
      type: "TXT",
      content: p.quoted ? text : text.slice(1, -1),
      age: p.age,
    };
    const address: Draft = { name: p.domain, type: typeOf(p.ip), content: p.ip, age: p.age };
    return p.withAddress ? [beat, address] : [beat];
  });

/** Records dynip must never touch, several of them shaped like its own (and naming "web-01"). */
const garbage = fc
  .record({ domain, ip, owner: instance, age })
  .chain(({ domain: d, ip: a, owner, age: t }) =>
    fc.constantFrom<Draft[]>(
      [{ name: `x${d}`, type: typeOf(a), content: a, age: t }],
      [{ name: `sub.${d}`, type: typeOf(a), content: a, age: t }],
      [
        {
          name: `${heartbeatName(a, d).split(".")[0]}.x${d}`,
          type: "TXT",
          content: `"1,${owner}"`,
          age: t,
        },
      ],
      [{ name: `_heartbeat-010-0-0-1.${d}`, type: "TXT", content: `"1,${owner}"`, age: t }],
      [{ name: `_heartbeat-x.${d}`, type: "TXT", content: `"1,${owner}"`, age: t }],
      [{ name: d, type: "MX", content: `mail.${d}`, age: t }],
      [{ name: d, type: "TXT", content: '"v=spf1 -all"', age: t }],
      [{ name: d, type: "A", content: "not-an-ip", age: t }],
      [{ name: d, type: "A", content: "010.0.0.1", age: t }],
      [{ name: heartbeatName(a, d), type: "TXT", content: '"junk"', age: t }],
      [{ name: heartbeatName(a, d), type: "CNAME", content: `x.${d}`, age: t }],
      // Someone else's address with no heartbeat at all.
      [{ name: d, type: typeOf(a), content: a, age: t }],
    ),
  );

const zone = fc
  .array(fc.oneof({ weight: 3, arbitrary: published }, { weight: 1, arbitrary: garbage }), {
    maxLength: 14,
  })
  .map((groups) => toRecords(groups.flat(), NOW));

/** Ids count from z0 in each zone. */
function toRecords(drafts: Draft[], now: number): DnsRecord[] {
  const { record } = makeRecords(now, { proxied: false });
  return drafts.map((d, i) => ({ ...record(d.name, d.type, d.content, d.age), id: `z${i}` }));
}

const source = (pool: string[], name: string): fc.Arbitrary<SourceResult> =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .subarray(pool)
        .map((addresses): SourceResult => ({ ok: true, source: name, addresses })),
    },
    {
      weight: 1,
      arbitrary: fc.constant<SourceResult>({ ok: false, source: name, error: "timed out" }),
    },
  );

const detection: fc.Arbitrary<Detection> = fc.record({
  internal: source(INTERNAL_IPS, "static"),
  ipv4: source(PUBLIC_V4, "http"),
  ipv6: source(PUBLIC_V6, "http"),
});

const domains: fc.Arbitrary<ManagedDomains> = fc
  .record({
    internal: fc.boolean(),
    external: fc.boolean(),
    ipv6: fc.boolean(),
    combined: fc.boolean(),
  })
  .filter((d) => d.internal || d.external || d.ipv6 || d.combined)
  .map((d) => ({
    ...(d.internal ? { internal: INT } : {}),
    ...(d.external ? { external: EXT } : {}),
    ...(d.ipv6 ? { ipv6: V6 } : {}),
    ...(d.combined ? { combined: CMB } : {}),
  }));

const scenario = fc.record({
  records: zone,
  me: instance,
  detection,
  domains,
  skew: fc.integer({ min: -120, max: 120 }),
});

type Scenario = {
  records: DnsRecord[];
  me: string;
  detection: Detection;
  domains: ManagedDomains;
  skew: number;
};

function inputOf(s: Scenario, records = s.records): UpdatePlanInput {
  return {
    desired: buildDesired(s.detection, s.domains, CIDRS, []),
    records,
    instanceId: s.me,
    now: NOW + s.skew,
    ttl: 120,
  };
}

// ---- oracles ----------------------------------------------------------------------------

/** Which detections feed a managed domain (docs/records.md, "Managed names"). */
function feeds(d: string, managed: ManagedDomains): (keyof Detection)[] {
  if (d === managed.combined) return ["internal", "ipv4", "ipv6"];
  if (d === managed.internal) return ["internal"];
  if (d === managed.external) return ["ipv4"];
  return ["ipv6"];
}

/** docs/detection.md, "Failed sources": a failed source's addresses at a domain it feeds. */
function protectedAt(d: string, address: string, s: Scenario): boolean {
  return feeds(d, s.domains).some((kind) => {
    if (s.detection[kind].ok) return false;
    if (kind === "internal") return inCidrs(address);
    return typeOf(address) === (kind === "ipv4" ? "A" : "AAAA") && !inCidrs(address);
  });
}

const managedList = (m: ManagedDomains) => Object.values(m).filter((d): d is string => !!d);

/** The managed domain and address a record stands for, when dynip may touch it at all. */
function slotOf(r: DnsRecord, managed: ManagedDomains): { d: string; ip: string } | undefined {
  for (const d of managedList(managed)) {
    if (r.name === d && (r.type === "A" || r.type === "AAAA")) {
      const a = canonicalIp(r.content);
      if (a) return { d, ip: a };
    }
    const named = r.type === "TXT" ? parseHeartbeatName(r.name, d) : undefined;
    if (named) return { d, ip: named };
  }
  return undefined;
}

function owners(records: DnsRecord[], d: string, address: string): string[] {
  return records
    .filter((r) => r.type === "TXT" && parseHeartbeatName(r.name, d) === address)
    .flatMap((r) => parseHeartbeat(r.content)?.instanceId ?? []);
}

function problems(s: Scenario, ops: Change[]): string[] {
  const out: string[] = [];
  const byRef = new Map(s.records.map((r) => [r.ref, r]));
  const desired = new Map(
    buildDesired(s.detection, s.domains, CIDRS, []).map((d) => [d.domain, d.addresses]),
  );
  ops.forEach((op, index) => {
    if (op.kind === "create") {
      const d = managedList(s.domains).find(
        (x) => op.record.name === x || parseHeartbeatName(op.record.name, x) !== undefined,
      );
      const a =
        d && (op.record.type === "TXT" ? parseHeartbeatName(op.record.name, d) : op.record.content);
      if (!d || !a || !desired.get(d)?.includes(a))
        out.push(`create outside the desired set: ${op.record.name}`);
      if (op.record.type === "TXT" && d && a && owners(s.records, d, a).includes(s.me))
        out.push(`second heartbeat of mine at ${op.record.name}`);
      if (op.record.type !== "TXT") {
        const beatFirst = ops
          .slice(0, index)
          .some(
            (o) =>
              o.kind !== "delete" &&
              o.record.name === heartbeatName(op.record.content, op.record.name),
          );
        const existing = d ? owners(s.records, d, op.record.content).length > 0 : false;
        if (!beatFirst && !existing)
          out.push(`address ${op.record.content} created before its heartbeat`);
      }
      return;
    }
    const ref = op.kind === "replace" ? op.before.ref : op.record.ref;
    const target = byRef.get(ref);
    const slot = target && slotOf(target, s.domains);
    if (!target || !slot) {
      out.push(`${op.kind} of a record outside the managed names: ${target?.name ?? ref}`);
      return;
    }
    const claim = target.type === "TXT" ? parseHeartbeat(target.content) : undefined;
    if (op.kind === "replace") {
      // docs/ownership.md, "Updating": another instance's heartbeat, or an unparsable one, is never written over.
      if (target.type !== "TXT" || claim?.instanceId !== s.me)
        out.push(`patched ${claim?.instanceId ?? "nobody"}'s ${target.name}`);
      if (op.record.content !== formatHeartbeat(NOW + s.skew, s.me))
        out.push("patch is not my heartbeat");
      return;
    }
    if (target.type === "TXT" && claim?.instanceId !== s.me)
      out.push(`deleted a heartbeat of ${claim?.instanceId}`);
    if (target.type !== "TXT") {
      const who = owners(s.records, slot.d, slot.ip);
      if (!who.includes(s.me) || who.some((o) => o !== s.me))
        out.push(`deleted ${slot.ip} owned by ${who}`);
      if (protectedAt(slot.d, slot.ip, s)) out.push(`deleted protected ${slot.ip} at ${slot.d}`);
      const beatBefore = ops
        .slice(0, index)
        .some(
          (o) =>
            o.kind === "delete" &&
            o.record.type === "TXT" &&
            slotOf(o.record, s.domains)?.ip === slot.ip &&
            slotOf(o.record, s.domains)?.d === slot.d,
        );
      if (beatBefore) out.push(`heartbeat of ${slot.ip} deleted before its address`);
    }
  });
  return out;
}

/** The zone after a plan lands, as a provider would leave it. */
let created = 0;
function applyOps(records: DnsRecord[], ops: Change[], serverNow: number): DnsRecord[] {
  let out = records.map((r) => ({ ...r }));
  for (const op of ops) {
    if (op.kind === "delete") out = out.filter((r) => r.ref !== op.record.ref);
    else if (op.kind === "replace") {
      out = out.map((r) =>
        r.ref === op.before.ref ? { ...r, content: op.record.content, modifiedAt: serverNow } : r,
      );
    } else {
      created++;
      out.push({ ...op.record, ref: `n${created}`, createdAt: serverNow, modifiedAt: serverNow });
    }
  }
  return out;
}

// ---- properties -------------------------------------------------------------------------

describe("planUpdate on random zones", () => {
  test("touches only its own managed records, never a protected address, heartbeat before address", () => {
    const seen = { deletes: 0, besideOthers: 0, creates: 0 };
    fc.assert(
      fc.property(scenario, (s) => {
        const ops = planUpdate(inputOf(s));
        seen.deletes += ops.filter((o) => o.kind === "delete").length;
        seen.creates += ops.filter((o) => o.kind === "create").length;
        seen.besideOthers += ops.filter(
          (o) => o.record.type === "TXT" && o.reason.includes("other heartbeat(s)"),
        ).length;
        expect(problems(s, ops)).toEqual([]);
      }),
      RUNS,
    );
    // The zones must exercise every branch, or the property proves little.
    expect(seen.deletes).toBeGreaterThan(20);
    expect(seen.besideOthers).toBeGreaterThan(20);
    expect(seen.creates).toBeGreaterThan(100);
  });

  test("is idempotent: once its plan has landed, planning again only refreshes its heartbeats", () => {
    let checked = 0;
    fc.assert(
      fc.property(scenario, (s) => {
        // A heartbeat of this instance newer than its own (another host with the same id) is
        // kept while it stays newer; once this host has refreshed, that no longer holds.
        if (findConflicts(inputOf(s)).length > 0) return;
        checked++;
        const after = applyOps(s.records, planUpdate(inputOf(s)), NOW);
        const again = planUpdate(inputOf(s, after));
        const byRef = new Map(after.map((r) => [r.ref, r]));
        for (const op of again) {
          const target = op.kind === "replace" ? byRef.get(op.before.ref) : undefined;
          const mine = target && parseHeartbeat(target.content)?.instanceId === s.me;
          expect({ kind: op.kind, type: op.record.type, mine }).toEqual({
            kind: "replace",
            type: "TXT",
            mine: true,
          });
        }
      }),
      RUNS,
    );
    expect(checked).toBeGreaterThan(RUNS.numRuns / 2);
  });

  test("never withdraws a heartbeat of its own id that is newer than all its own published ones", () => {
    let conflicts = 0;
    fc.assert(
      fc.property(scenario, (s) => {
        const input = inputOf(s);
        const kept = findConflicts(input).filter((c) => !c.published);
        conflicts += kept.length;
        const names = new Set(kept.map((c) => heartbeatName(c.ip, c.domain)));
        for (const op of planUpdate(input)) {
          expect(op.kind === "delete" && names.has(op.record.name)).toBe(false);
        }
      }),
      RUNS,
    );
    expect(conflicts).toBeGreaterThan(5);
  });

  test("deregistration deletes exactly this instance's heartbeats and its unshared addresses", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const managed = managedList(s.domains);
        const ops = planDeregister({ ...inputOf(s), domains: managed });
        const noFailure: Detection = {
          internal: { ok: true, source: "none", addresses: [] },
          ipv4: { ok: true, source: "none", addresses: [] },
          ipv6: { ok: true, source: "none", addresses: [] },
        };
        expect(problems({ ...s, detection: noFailure }, ops)).toEqual([]);
        const after = applyOps(s.records, ops, NOW);
        const left = after.filter(
          (r) => slotOf(r, s.domains) && parseHeartbeat(r.content)?.instanceId === s.me,
        );
        expect(left.filter((r) => r.type === "TXT")).toEqual([]);
      }),
      RUNS,
    );
  });
});

describe("cleanup after updates", () => {
  const live = fc.subarray([...INSTANCES], { minLength: 1 });
  /** Each live host: its own internal address, and all of them share one public IPv4 (NAT). */
  const homes: Record<string, string> = {
    "web-01": "10.0.0.1",
    "web-02": "10.0.0.2",
    "web-03": "192.168.1.10",
  };

  test("live hosts that just ran lose nothing to cleanup while the clock moves less than the threshold", () => {
    let deletions = 0;
    let expiredAlone = 0;
    fc.assert(
      fc.property(
        zone,
        live,
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: THRESHOLD }),
        (records, alive, rounds, gap) => {
          const domainsOf: ManagedDomains = { internal: INT, external: EXT, combined: CMB };
          let zoneNow = records;
          let now = NOW;
          // A few passes a minute apart, then silence for `gap` seconds.
          for (let round = 0; round < rounds; round++, now += 60) {
            for (const host of alive) {
              const detected: Detection = {
                internal: { ok: true, source: "static", addresses: [homes[host] ?? ""] },
                ipv4: { ok: true, source: "static", addresses: ["203.0.113.9"] },
                ipv6: { ok: true, source: "none", addresses: [] },
              };
              const ops = planUpdate({
                ...inputOf({
                  records: zoneNow,
                  me: host,
                  detection: detected,
                  domains: domainsOf,
                  skew: 0,
                }),
                now,
              });
              zoneNow = applyOps(zoneNow, ops, now);
            }
          }
          const serverNow = now - 60 + gap;
          const ops = managedList(domainsOf).flatMap((d) =>
            planCleanup(
              classify({ domain: d, records: zoneNow, serverNow, thresholdSeconds: THRESHOLD }),
            ),
          );
          deletions += ops.length;
          expiredAlone += ops.filter((op) => op.reason.startsWith("expired heartbeat")).length;
          const published = new Set([
            ...alive.flatMap((h) => [`${INT} ${homes[h]}`, `${CMB} ${homes[h]}`]),
            `${EXT} 203.0.113.9`,
            `${CMB} 203.0.113.9`,
          ]);
          for (const op of ops) {
            const slot = op.kind === "delete" ? slotOf(op.record, domainsOf) : undefined;
            if (!slot) throw new Error(`cleanup deletes an unmanaged ${op.record.name}`);
            // Every live host keeps its own heartbeat on each address it publishes, so no
            // address a live host publishes goes within the threshold, nor any heartbeat a live
            // host keeps there; a dead host's heartbeat beside a live one may go.
            // (A heartbeat naming a live host at an address it does not publish, newer than its
            // own, is another host's with the same id: the live host leaves it to cleanup.)
            const writer = parseHeartbeat(op.record.content)?.instanceId;
            const address = op.record.type !== "TXT";
            const publishedHere = published.has(`${slot.d} ${slot.ip}`);
            const writerPublishes =
              slot.ip === "203.0.113.9"
                ? slot.d !== INT
                : slot.ip === homes[writer ?? ""] && slot.d !== EXT;
            if (
              (address && publishedHere) ||
              (writer && alive.includes(writer as never) && writerPublishes)
            ) {
              throw new Error(`cleanup deletes live ${op.record.name} after ${gap} s`);
            }
          }
        },
      ),
      RUNS,
    );
    expect(deletions).toBeGreaterThan(50);
    // Dead hosts' heartbeats beside live ones: the case one heartbeat per instance creates.
    expect(expiredAlone).toBeGreaterThan(10);
  });
});
