import { describe, expect, test } from "bun:test";
import type { DnsRecord } from "../src/dns/record.ts";
import { classify, type Entry, indexDomain } from "../src/registry/classify.ts";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
import { makeRecords } from "./support/records.ts";

const D = "internal.example.com";
const NOW = 1_700_000_000;
const THRESHOLD = 900;
const YEAR = 365 * 24 * 3600;

const { record } = makeRecords(NOW);

const address = (ip: string, created = 60): DnsRecord =>
  record(D, ip.includes(":") ? "AAAA" : "A", ip, { created });

/** A heartbeat whose content was written `contentAge` ago by the host's clock. */
function heartbeat(
  ip: string,
  modified: number | string,
  { owner = "web-01", contentAge = typeof modified === "number" ? modified : 60 } = {},
): DnsRecord {
  const content = formatHeartbeat(NOW - contentAge, owner);
  return record(heartbeatName(ip, D), "TXT", content, { created: 5000, modified });
}

const garbage = (ip: string, modified = 60): DnsRecord =>
  record(heartbeatName(ip, D), "TXT", '"not a heartbeat"', { modified });

const run = (records: DnsRecord[]): Entry[] =>
  classify({ domain: D, records, serverNow: NOW, thresholdSeconds: THRESHOLD });

/** What status shows and cleanup acts on, one line per entry. */
const summary = (entries: Entry[]): string[] =>
  entries.map(
    (e) => `${e.type} ${e.ip} ${e.state} ${e.delete ? "delete" : "keep"} ${e.ageSeconds}`,
  );

describe("classify: one address", () => {
  const ip = "10.0.0.1";
  test.each([
    ["fresh heartbeat", [address(ip), heartbeat(ip, 60)], "A 10.0.0.1 fresh keep 60"],
    ["stale heartbeat", [address(ip), heartbeat(ip, 1203)], "A 10.0.0.1 stale delete 1203"],
    [
      "exactly the threshold is fresh",
      [address(ip), heartbeat(ip, 900)],
      "A 10.0.0.1 fresh keep 900",
    ],
    ["one past the threshold", [address(ip), heartbeat(ip, 901)], "A 10.0.0.1 stale delete 901"],
    ["no heartbeat, within grace", [address(ip, 30)], "A 10.0.0.1 missing keep 30"],
    ["no heartbeat, grace boundary", [address(ip, 900)], "A 10.0.0.1 missing keep 900"],
    ["no heartbeat, past grace", [address(ip, 1300)], "A 10.0.0.1 missing delete 1300"],
    ["unparsable, within grace", [address(ip, 30), garbage(ip)], "A 10.0.0.1 missing keep 30"],
    ["unparsable, past grace", [address(ip, 1300), garbage(ip)], "A 10.0.0.1 missing delete 1300"],
    [
      "unreadable created_on",
      [record(D, "A", ip, { created: "yesterday" })],
      "A 10.0.0.1 missing keep undefined",
    ],
    ["orphan, fresh", [heartbeat(ip, 60)], "A 10.0.0.1 orphan keep 60"],
    ["orphan, old", [heartbeat(ip, 1000)], "A 10.0.0.1 orphan delete 1000"],
    ["orphan, exactly the threshold", [heartbeat(ip, 900)], "A 10.0.0.1 orphan keep 900"],
    ["unparsable orphan, however old", [garbage(ip, 50_000)], "A 10.0.0.1 orphan keep 50000"],
    [
      "future modified_on counts as 0",
      [address(ip), heartbeat(ip, -300)],
      "A 10.0.0.1 fresh keep 0",
    ],
    ["future created_on counts as 0", [address(ip, -300)], "A 10.0.0.1 missing keep 0"],
    [
      "unreadable modified_on: content timestamp, old",
      [address(ip), heartbeat(ip, "garbage", { contentAge: 1000 })],
      "A 10.0.0.1 stale delete 1000",
    ],
    [
      "unreadable modified_on: content timestamp, fresh",
      [address(ip), heartbeat(ip, "", { contentAge: 100 })],
      "A 10.0.0.1 fresh keep 100",
    ],
    [
      "IPv6 with _heartbeat-2001-db8--1",
      [address("2001:db8::1"), heartbeat("2001:db8::1", 60)],
      "AAAA 2001:db8::1 fresh keep 60",
    ],
    [
      "IPv6 content in another spelling",
      [record(D, "AAAA", "2001:DB8:0::1"), heartbeat("2001:db8::1", 2000)],
      "AAAA 2001:db8::1 stale delete 2000",
    ],
  ])("%s", (_name, records, expected) => {
    expect(summary(run(records))).toEqual([expected]);
  });

  test("the IPv6 heartbeat name is the one docs/records.md spells", () => {
    const [entry] = run([record(`_heartbeat-2001-db8--1.${D}`, "TXT", formatHeartbeat(NOW, "a"))]);
    expect(entry).toMatchObject({ ip: "2001:db8::1", type: "AAAA", state: "orphan", owner: "a" });
  });

  test.each([
    ["fresh", [address(ip), heartbeat(ip, 12)], "heartbeat 12 s old (threshold 900 s)"],
    ["stale", [address(ip), heartbeat(ip, 1203)], "heartbeat 1203 s old (threshold 900 s)"],
    ["grace", [address(ip, 30)], "no heartbeat, address 30 s old (grace period 900 s)"],
    ["missing", [address(ip, 1300)], "no heartbeat, address 1300 s old (threshold 900 s)"],
    [
      "unparsable",
      [address(ip, 1300), garbage(ip)],
      "unparsable heartbeat, address 1300 s old (threshold 900 s)",
    ],
    ["orphan", [heartbeat(ip, 1000)], "heartbeat without address 1000 s old (threshold 900 s)"],
    [
      "unparsable orphan",
      [garbage(ip)],
      "unparsable heartbeat without address: not recognisably dynip's, never deleted",
    ],
    [
      "stale beside garbage",
      [address(ip), heartbeat(ip, 1000), garbage(ip)],
      "heartbeat 1000 s old (threshold 900 s); 1 unparsable heartbeat(s) at this name",
    ],
  ])("reason: %s", (_name, records, reason) => {
    expect(run(records).map((e) => e.reason)).toEqual([reason]);
  });
});

describe("classify: host clock skew", () => {
  const ip = "192.168.1.10";
  test("content years old but modified_on fresh: fresh, skew reported", () => {
    const [entry] = run([address(ip), heartbeat(ip, 30, { contentAge: 3 * YEAR })]);
    expect(entry).toMatchObject({ state: "fresh", delete: false, ageSeconds: 30 });
    expect(entry?.skewSeconds).toBe(3 * YEAR - 30);
  });

  test("content fresh but modified_on old: stale, skew reported", () => {
    const [entry] = run([address(ip), heartbeat(ip, 1000, { contentAge: 10 })]);
    expect(entry).toMatchObject({ state: "stale", delete: true, ageSeconds: 1000 });
    expect(entry?.skewSeconds).toBe(990);
  });

  test.each([
    ["agreeing clocks", 0],
    ["exactly 60 s apart", 60],
  ])("no skew reported for %s", (_name, gap) => {
    const [entry] = run([address(ip), heartbeat(ip, 100, { contentAge: 100 + gap })]);
    expect(entry?.skewSeconds).toBeUndefined();
  });

  test("61 s apart is reported", () => {
    const [entry] = run([address(ip), heartbeat(ip, 100, { contentAge: 39 })]);
    expect(entry?.skewSeconds).toBe(61);
  });
});

describe("classify: several records for one address", () => {
  const ip = "10.0.0.1";
  test("duplicate A records with the same content are one entry and go together", () => {
    const records = [address(ip), address(ip), heartbeat(ip, 1000)];
    const entries = run(records);
    expect(summary(entries)).toEqual(["A 10.0.0.1 stale delete 1000"]);
    expect(entries[0]?.addresses.map((r) => r.ref)).toEqual(records.slice(0, 2).map((r) => r.ref));
  });

  test("the freshest parsable heartbeat decides, and names the owner", () => {
    const records = [
      address(ip),
      heartbeat(ip, 5000, { owner: "old" }),
      heartbeat(ip, 100, { owner: "new" }),
      heartbeat(ip, 2000, { owner: "older" }),
      garbage(ip, 1),
    ];
    const [entry] = run(records);
    expect(entry).toMatchObject({ state: "fresh", owner: "new", ageSeconds: 100 });
    expect(entry?.owners).toEqual(["new", "older", "old"]);
    expect(entry?.heartbeats).toHaveLength(4);
  });

  test("a fresh address loses only the expired heartbeats of dead sharers, never garbage", () => {
    const records = [
      address(ip),
      heartbeat(ip, 60, { owner: "alive" }),
      heartbeat(ip, 901, { owner: "dead-1" }),
      heartbeat(ip, 900, { owner: "just-in-time" }),
      heartbeat(ip, 5000, { owner: "dead-2" }),
      garbage(ip, 50_000),
    ];
    const [entry] = run(records);
    expect(summary(run(records))).toEqual(["A 10.0.0.1 fresh delete 60"]);
    expect(entry?.owner).toBe("alive");
    expect(entry?.toDelete.map((r) => r.ref)).toEqual([
      records[2]?.ref ?? "?",
      records[4]?.ref ?? "?",
    ]);
    expect(entry?.reason).toBe(
      "heartbeat 60 s old (threshold 900 s); 2 expired heartbeat(s) of dead-1 (901 s), " +
        "dead-2 (5000 s) beside it; 1 unparsable heartbeat(s) at this name",
    );
  });

  // Indices into [address, heartbeat of host-0, heartbeat of host-1].
  test.each([
    ["all fresh", [60, 900], "fresh", []],
    ["one sharer dead", [60, 1000], "fresh", [2]],
    ["all stale: the address goes with all of them", [1000, 2000], "stale", [0, 1, 2]],
  ])("shared address, %s", (_name, ages, state, doomed) => {
    const records = [
      address(ip),
      ...ages.map((age, i) => heartbeat(ip, age, { owner: `host-${i}` })),
    ];
    const [entry] = run(records);
    expect(entry?.state).toBe(state as Entry["state"]);
    expect(entry?.delete).toBe(doomed.length > 0);
    expect(entry?.toDelete.map((r) => r.ref)).toEqual(doomed.map((i) => records[i]?.ref ?? "?"));
  });

  test.each([
    ["freshest fresh: only the expired ones go", [100, 1000], [1]],
    ["freshest stale: all of them go", [1000, 2000], [0, 1]],
  ])("heartbeats without address, %s", (_name, ages, doomed) => {
    const records = ages.map((age, i) => heartbeat(ip, age, { owner: `host-${i}` }));
    const [entry] = run(records);
    expect(entry?.state).toBe("orphan");
    expect(entry?.owners).toEqual(["host-0", "host-1"]);
    expect(entry?.toDelete.map((r) => r.ref)).toEqual(doomed.map((i) => records[i]?.ref ?? "?"));
  });

  test("a stale address takes its parsable heartbeats with it, never a TXT that is no heartbeat", () => {
    const records = [address(ip), heartbeat(ip, 5000), heartbeat(ip, 1000), garbage(ip)];
    const [entry] = run(records);
    expect(entry).toMatchObject({ state: "stale", delete: true, ageSeconds: 1000 });
    expect(entry?.toDelete.map((r) => r.ref)).toEqual(records.slice(0, 3).map((r) => r.ref));
  });

  test("an address without heartbeat past grace goes alone; the unparsable TXT beside it stays", () => {
    const records = [address(ip, 1300), garbage(ip)];
    const [entry] = run(records);
    expect(entry).toMatchObject({ state: "missing", delete: true });
    expect(entry?.toDelete.map((r) => r.ref)).toEqual([records[0]?.ref ?? "?"]);
  });

  test("the youngest of duplicate addresses decides the grace period", () => {
    const entries = run([address(ip, 5000), address(ip, 30)]);
    expect(summary(entries)).toEqual(["A 10.0.0.1 missing keep 30"]);
  });
});

describe("classify: only dynip's names and types", () => {
  const ours = [address("10.0.0.1", 5000), heartbeat("10.0.0.1", 5000)];
  const foreign: [string, DnsRecord][] = [
    ["look-alike name", record(`x${D}`, "A", "10.0.0.1", { created: 5000 })],
    ["look-alike heartbeat", record(`_heartbeat-10-0-0-1.x${D}`, "TXT", ours[1]?.content ?? "")],
    ["sub-domain A", record(`sub.${D}`, "A", "10.0.0.1", { created: 5000 })],
    ["SPF TXT at D", record(D, "TXT", '"v=spf1 -all"', { created: 5000 })],
    ["_heartbeat-x", record(`_heartbeat-x.${D}`, "TXT", formatHeartbeat(0, "a"))],
    ["non-round-trip label", record(`_heartbeat-010-0-0-1.${D}`, "TXT", formatHeartbeat(0, "a"))],
    ["uncompressed IPv6 label", record(`_heartbeat-fd00-0-0-0-0-0-0-1.${D}`, "TXT", "")],
    ["heartbeat of a sub-domain", record(`_heartbeat-10-0-0-2.sub.${D}`, "TXT", "")],
    ["heartbeat name, type A", record(heartbeatName("10.0.0.3", D), "A", "10.0.0.3")],
    ["MX at D", record(D, "MX", "mail.example.com", { created: 5000 })],
    ["CNAME at D", record(D, "CNAME", "other.example.com", { created: 5000 })],
    ["A with IPv6 content", record(D, "A", "fd00::1", { created: 5000 })],
    ["AAAA with IPv4 content", record(D, "AAAA", "10.0.0.4", { created: 5000 })],
    ["A that is no address", record(D, "A", "10.0.0.256", { created: 5000 })],
    ["IPv4-mapped AAAA", record(D, "AAAA", "::ffff:10.0.0.5", { created: 5000 })],
  ];

  test.each(foreign)("%s is ignored", (_name, stranger) => {
    expect(run([stranger])).toEqual([]);
    const entries = run([...ours, stranger]);
    const seen = entries.flatMap((e) => [...e.addresses, ...e.heartbeats].map((r) => r.ref));
    expect(seen.sort()).toEqual(ours.map((r) => r.ref).sort());
  });

  test("names match whatever their case", () => {
    const records = [
      record(D.toUpperCase(), "A", "10.0.0.1"),
      record(heartbeatName("10.0.0.1", D).toUpperCase(), "TXT", formatHeartbeat(NOW, "a")),
    ];
    const entries = classify({
      domain: "Internal.Example.COM",
      records,
      serverNow: NOW,
      thresholdSeconds: THRESHOLD,
    });
    expect(summary(entries)).toEqual(["A 10.0.0.1 fresh keep 60"]);
    expect(entries[0]?.domain).toBe(D);
  });
});

test("entries: A before AAAA, each in numeric address order", () => {
  const ips = ["fd00::1", "10.0.0.10", "2001:db8::1", "9.0.0.1", "10.0.0.9", "2001:db8::0:10"];
  const entries = run(ips.map((ip) => address(ip)));
  expect(entries.map((e) => `${e.type} ${e.ip}`)).toEqual([
    "A 9.0.0.1",
    "A 10.0.0.9",
    "A 10.0.0.10",
    "AAAA 2001:db8::1",
    "AAAA 2001:db8::10",
    "AAAA fd00::1",
  ]);
});

describe("indexDomain: what is dynip's to judge, by address", () => {
  const at = (index: ReturnType<typeof indexDomain>) => ({
    addresses: Object.fromEntries([...index.addresses].map(([ip, list]) => [ip, list.length])),
    heartbeats: Object.fromEntries([...index.heartbeats].map(([ip, list]) => [ip, list.length])),
  });
  test.each([
    ["an address", [address("10.0.0.1")], { addresses: { "10.0.0.1": 1 }, heartbeats: {} }],
    [
      "an uncompressed IPv6 address, by its canonical form",
      [record(D, "AAAA", "fd00:0:0:0:0:0:0:1")],
      { addresses: { "fd00::1": 1 }, heartbeats: {} },
    ],
    [
      "a heartbeat and an unparsable TXT at its name",
      [heartbeat("10.0.0.1", 60), garbage("10.0.0.1")],
      { addresses: {}, heartbeats: { "10.0.0.1": 2 } },
    ],
    [
      "duplicates stay apart",
      [address("10.0.0.1"), address("10.0.0.1")],
      { addresses: { "10.0.0.1": 2 }, heartbeats: {} },
    ],
    [
      "an A holding an IPv6 address",
      [record(D, "A", "fd00::1")],
      { addresses: {}, heartbeats: {} },
    ],
    ["a TXT at the domain", [record(D, "TXT", '"v=spf1 -all"')], { addresses: {}, heartbeats: {} }],
    [
      "an A at a heartbeat name",
      [record(heartbeatName("10.0.0.1", D), "A", "10.0.0.1")],
      { addresses: {}, heartbeats: {} },
    ],
    ["a look-alike", [record(`x${D}`, "A", "10.0.0.1")], { addresses: {}, heartbeats: {} }],
  ] as [string, DnsRecord[], ReturnType<typeof at>][])("%s", (_, records, expected) => {
    expect(at(indexDomain(D, records))).toEqual(expected);
  });
});
