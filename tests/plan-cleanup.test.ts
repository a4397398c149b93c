import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { DnsRecord } from "../src/dns/record.ts";
import type { Change } from "../src/plan/changes.ts";
import { planCleanup } from "../src/plan/cleanup-plan.ts";
import { toBatch } from "../src/providers/cloudflare/apply.ts";
import { classify, confirmDeletions, type Entry } from "../src/registry/classify.ts";
import {
  canonicalIp,
  formatHeartbeat,
  heartbeatName,
  parseHeartbeat,
  parseHeartbeatName,
} from "../src/registry/heartbeat.ts";
import { makeRecords } from "./support/records.ts";

const D = "internal.example.com";
const NOW = 1_700_000_000;
const THRESHOLD = 900;

const { record } = makeRecords(NOW);

const address = (ip: string, age = 60): DnsRecord =>
  record(D, ip.includes(":") ? "AAAA" : "A", ip, age);

const heartbeat = (ip: string, age: number, owner = "web-01"): DnsRecord =>
  record(heartbeatName(ip, D), "TXT", formatHeartbeat(NOW - age, owner), age);

const entries = (records: DnsRecord[], serverNow = NOW): Entry[] =>
  classify({ domain: D, records, serverNow, thresholdSeconds: THRESHOLD });

const show = (ops: Change[]): string[] =>
  ops.map((op) => `${op.kind} ${op.record.type} ${op.record.name} ${op.record.content}`);

describe("planCleanup", () => {
  test("deletes stale, past-grace and old orphan records: addresses first, then heartbeats", () => {
    const zone = [
      address("10.0.0.1"), // fresh
      heartbeat("10.0.0.1", 60),
      address("10.0.0.2"), // stale, twice
      address("10.0.0.2"),
      heartbeat("10.0.0.2", 1000, "dead-01"),
      heartbeat("10.0.0.2", 2000, "dead-02"),
      address("10.0.0.3", 30), // missing, within grace
      address("fd00::3", 5000), // missing, past grace
      heartbeat("10.0.0.4", 1000), // old orphan
      heartbeat("10.0.0.5", 100), // fresh orphan
      record(heartbeatName("10.0.0.6", D), "TXT", "junk", 9000), // unparsable orphan
    ];
    const ops = planCleanup(entries(zone));
    const hb2 = heartbeatName("10.0.0.2", D);
    expect(show(ops)).toEqual([
      `delete A ${D} 10.0.0.2`,
      `delete A ${D} 10.0.0.2`,
      `delete TXT ${hb2} ${zone[4]?.content}`,
      `delete TXT ${hb2} ${zone[5]?.content}`,
      `delete TXT ${heartbeatName("10.0.0.4", D)} ${zone[8]?.content}`,
      `delete AAAA ${D} fd00::3`,
    ]);
    expect(ops.map((op) => (op.kind === "delete" ? op.record.ref : ""))).toEqual(
      [2, 3, 4, 5, 8, 7].map((i) => zone[i]?.ref ?? "?"),
    );
    expect(toBatch(ops)).toEqual({
      deletes: ops.map((op) => ({ id: op.kind === "delete" ? op.record.ref : "" })),
      patches: [],
      puts: [],
      posts: [],
    });
  });

  test("reasons carry the classifier's reason", () => {
    const ops = planCleanup(entries([address("10.0.0.2"), heartbeat("10.0.0.2", 1203)]));
    const why = "heartbeat 1203 s old (threshold 900 s)";
    expect(ops.map((op) => op.reason)).toEqual([
      `stale address 10.0.0.2 at ${D}: ${why}`,
      `heartbeat of stale 10.0.0.2 at ${D}: ${why}`,
    ]);
    const orphan = planCleanup(entries([heartbeat("10.0.0.4", 1000)]));
    expect(orphan.map((op) => op.reason)).toEqual([
      `orphan heartbeat 10.0.0.4 at ${D}: heartbeat without address 1000 s old (threshold 900 s)`,
    ]);
  });

  test("a dead sharer's heartbeat goes alone: the address and the live heartbeat stay", () => {
    const zone = [
      address("203.0.113.5"),
      heartbeat("203.0.113.5", 60, "host-a"),
      heartbeat("203.0.113.5", 1200, "host-b"),
    ];
    const ops = planCleanup(entries(zone));
    expect(show(ops)).toEqual([
      `delete TXT ${heartbeatName("203.0.113.5", D)} ${zone[2]?.content}`,
    ]);
    expect(ops[0]?.reason).toBe(
      `expired heartbeat of host-b beside fresh 203.0.113.5 at ${D}: heartbeat 60 s old ` +
        "(threshold 900 s); 1 expired heartbeat(s) of host-b (1200 s) beside it",
    );
  });

  test("nothing to delete in a healthy zone", () => {
    const zone = [address("10.0.0.1"), heartbeat("10.0.0.1", 899), address("10.0.0.2", 900)];
    expect(planCleanup(entries(zone))).toEqual([]);
  });
});

describe("confirmDeletions", () => {
  const stale = (): DnsRecord[] => [address("10.0.0.1"), heartbeat("10.0.0.1", 2000)];
  const ids = (list: Entry[]): string[] => list.flatMap((e) => e.toDelete.map((r) => r.ref));

  test("unchanged between reads: everything stays deletable", () => {
    const zone = [...stale(), address("fd00::1", 5000), heartbeat("10.0.0.9", 3000)];
    const confirmed = confirmDeletions(entries(zone), entries(zone, NOW + 5));
    expect(ids(confirmed).sort()).toEqual(zone.map((r) => r.ref).sort());
  });

  test("a heartbeat refreshed between reads saves its address", () => {
    const zone = stale();
    const [addr, hb] = zone as [DnsRecord, DnsRecord];
    const refreshed = { ...hb, content: formatHeartbeat(NOW, "web-01"), modifiedAt: NOW };
    expect(confirmDeletions(entries(zone), entries([addr, refreshed]))).toEqual([]);
  });

  test("a heartbeat that appeared between reads saves a missing address", () => {
    const addr = address("10.0.0.1", 5000);
    const confirmed = confirmDeletions(entries([addr]), entries([addr, heartbeat("10.0.0.1", 0)]));
    expect(confirmed).toEqual([]);
  });

  test("a dead sharer's heartbeat is deleted only when expired in both reads", () => {
    const [addr, alive, dead] = [
      address("10.0.0.1"),
      heartbeat("10.0.0.1", 60, "alive"),
      heartbeat("10.0.0.1", 2000, "dead"),
    ];
    const zone = [addr, alive, dead];
    expect(ids(confirmDeletions(entries(zone), entries(zone, NOW + 5)))).toEqual([dead.ref]);
    // It came back between the reads: nothing goes.
    const back = { ...dead, content: formatHeartbeat(NOW, "dead"), modifiedAt: NOW };
    expect(confirmDeletions(entries(zone), entries([addr, alive, back]))).toEqual([]);
  });

  test("a stale address saved by a refresh between reads still loses the dead sharer", () => {
    const [addr, sleeper, dead] = [
      address("10.0.0.1"),
      heartbeat("10.0.0.1", 1000, "sleeper"),
      heartbeat("10.0.0.1", 2000, "dead"),
    ];
    const woke = { ...sleeper, content: formatHeartbeat(NOW, "sleeper"), modifiedAt: NOW };
    const before = entries([addr, sleeper, dead]);
    expect(before[0]?.state).toBe("stale");
    const confirmed = confirmDeletions(before, entries([addr, woke, dead]));
    expect(ids(confirmed)).toEqual([dead.ref]);
    expect(show(planCleanup(confirmed))).toEqual([
      `delete TXT ${heartbeatName("10.0.0.1", D)} ${dead.content}`,
    ]);
  });

  test("a fresh address whose last live heartbeat vanished between reads keeps its address", () => {
    const [addr, alive, dead] = [
      address("10.0.0.1"),
      heartbeat("10.0.0.1", 60, "alive"),
      heartbeat("10.0.0.1", 2000, "dead"),
    ];
    const after = entries([addr, dead]);
    expect(after[0]?.state).toBe("stale");
    expect(ids(confirmDeletions(entries([addr, alive, dead]), after))).toEqual([dead.ref]);
  });

  test("records another replica deleted between reads are not deleted again", () => {
    const zone = [...stale(), ...[address("10.0.0.2"), heartbeat("10.0.0.2", 2000)]];
    const before = entries(zone);
    // The other replica removed all of 10.0.0.2 and, so far, the address of 10.0.0.1.
    const confirmed = confirmDeletions(before, entries([zone[1] as DnsRecord]));
    expect(ids(confirmed)).toEqual([zone[1]?.ref ?? "?"]);
    expect(show(planCleanup(confirmed))).toEqual([
      `delete TXT ${heartbeatName("10.0.0.1", D)} ${zone[1]?.content}`,
    ]);
  });

  test("a record id that appeared between reads is not deleted", () => {
    const zone = stale();
    const newcomer = address("10.0.0.1");
    const confirmed = confirmDeletions(entries(zone), entries([...zone, newcomer]));
    expect(ids(confirmed).sort()).toEqual(zone.map((r) => r.ref).sort());
    expect(ids(confirmed)).not.toContain(newcomer.ref);
  });

  test("an entry deletable only in the second read waits for the next cycle", () => {
    const addr = address("10.0.0.1", 890);
    expect(entries([addr])[0]?.delete).toBe(false);
    expect(entries([addr], NOW + 20)[0]?.delete).toBe(true);
    expect(confirmDeletions(entries([addr]), entries([addr], NOW + 20))).toEqual([]);
  });

  test("entries are matched by domain as well as address", () => {
    const other = "external.example.com";
    const zone = stale();
    const elsewhere = zone.map((r) => ({ ...r, name: r.name.replace(D, other) }));
    const moved = classify({
      domain: other,
      records: elsewhere,
      serverNow: NOW,
      thresholdSeconds: THRESHOLD,
    });
    expect(moved[0]?.delete).toBe(true);
    expect(confirmDeletions(entries(zone), moved)).toEqual([]);
  });
});

describe("property: cleanup only ever deletes dynip's stale records", () => {
  const ips = ["10.0.0.1", "fd00::1", "2001:db8::1"];
  const foreignNames = [
    `x${D}`,
    `sub.${D}`,
    `_heartbeat-x.${D}`,
    `_heartbeat-010-0-0-1.${D}`,
    `_heartbeat-10-0-0-1.sub.${D}`,
    `_heartbeat-10-0-0-1.x${D}`,
  ];
  const age = fc.integer({ min: -120, max: 3000 });
  // Unix seconds, or none (a provider without times, or one it could not read).
  const stamp = fc.oneof(
    { weight: 9, arbitrary: age.map((a): number | undefined => NOW - a) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  const beat = fc
    .tuple(age, fc.constantFrom("web-01", "web-02"), fc.boolean())
    .map(([a, id, q]) => {
      const text = formatHeartbeat(NOW - a, id);
      return q ? text : text.slice(1, -1);
    });
  const junk = fc.constantFrom("2001:DB8::1", "::ffff:10.0.0.1", "v=spf1 -all", "junk", "");
  const content = fc.oneof(fc.constantFrom(...ips), beat, junk);
  const draft = (
    name: fc.Arbitrary<string>,
    type: fc.Arbitrary<string>,
    text: fc.Arbitrary<string>,
  ) =>
    fc
      .record({ name, type, content: text, createdAt: stamp, modifiedAt: stamp })
      .map(({ createdAt, modifiedAt, ...rest }) => ({
        ...rest,
        ...(createdAt === undefined ? {} : { createdAt }),
        ...(modifiedAt === undefined ? {} : { modifiedAt }),
      }));
  // Mostly dynip's own records, so addresses often have several heartbeats; some noise.
  const anyRecord = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(...ips, "2001:DB8::1")
        .chain((ip) =>
          draft(fc.constant(D), fc.constant(ip.includes(":") ? "AAAA" : "A"), fc.constant(ip)),
        ),
    },
    {
      weight: 4,
      arbitrary: fc
        .constantFrom(...ips)
        .chain((ip) =>
          draft(fc.constant(heartbeatName(ip, D)), fc.constant("TXT"), fc.oneof(beat, beat, junk)),
        ),
    },
    {
      weight: 2,
      arbitrary: draft(
        fc.constantFrom(D, ...foreignNames, ...ips.map((ip) => heartbeatName(ip, D))),
        fc.constantFrom("A", "AAAA", "TXT", "MX", "CNAME"),
        content,
      ),
    },
  );
  const zone = fc
    .array(anyRecord, { maxLength: 30 })
    .map((list): DnsRecord[] => list.map((r, i) => ({ ...r, ref: `p${i}`, ttl: 120 })));

  /** Oracle, written from docs/ownership.md ("Classification") rather than from the classifier. */
  const isManaged = (r: DnsRecord): boolean =>
    (r.name === D && (r.type === "A" || r.type === "AAAA")) ||
    (r.type === "TXT" && parseHeartbeatName(r.name, D) !== undefined);

  function freshestAge(ip: string, records: DnsRecord[]): number {
    const ages = records
      .filter((r) => r.type === "TXT" && parseHeartbeatName(r.name, D) === ip)
      .flatMap((r) => {
        const beat = parseHeartbeat(r.content);
        if (!beat) return [];
        return [NOW - (r.modifiedAt ?? beat.timestamp)];
      });
    return Math.min(...ages);
  }

  test("no foreign record targeted, no address with a live heartbeat deleted", () => {
    let deleted = 0;
    fc.assert(
      fc.property(zone, (records) => {
        const ops = planCleanup(entries(records));
        deleted += ops.length;
        const targets = ops.map((op) => (op.kind === "delete" ? op.record : undefined));
        for (const target of targets) {
          expect(target && records.includes(target) && isManaged(target)).toBe(true);
          if (target?.type === "A" || target?.type === "AAAA") {
            const ip = canonicalIp(target.content) ?? "?";
            expect(freshestAge(ip, records)).toBeGreaterThan(THRESHOLD);
          } else if (target) {
            // A heartbeat goes with its stale address or orphan group, or alone when it expired.
            const ip = parseHeartbeatName(target.name, D) ?? "?";
            const own = freshestAge(ip, [target]);
            expect(Math.max(own, freshestAge(ip, records))).toBeGreaterThan(THRESHOLD);
          }
        }
        expect(new Set(ops.map((op) => (op.kind === "delete" ? op.record.ref : ""))).size).toBe(
          ops.length,
        );
      }),
      { seed: 42, numRuns: 200 },
    );
    // The zones must actually exercise deletion, or the property proves nothing.
    expect(deleted).toBeGreaterThan(50);
  });
});
