import { describe, expect, test } from "bun:test";
import ipaddr from "ipaddr.js";
import type { Cidr } from "../src/detect/source-types.ts";
import type { DnsRecord } from "../src/dns/record.ts";
import type { Change } from "../src/plan/changes.ts";
import type { DomainDesire, Protection } from "../src/plan/desired.ts";
import {
  findDrifts,
  planDeregister,
  planUpdate,
  type UpdatePlanInput,
} from "../src/plan/update-plan.ts";
import { toBatch } from "../src/providers/cloudflare/apply.ts";
import { cloudflareStyle } from "../src/providers/cloudflare/records.ts";
import {
  canonicalIp,
  formatHeartbeat,
  heartbeatName,
  parseHeartbeat,
  parseHeartbeatName,
} from "../src/registry/heartbeat.ts";
import { makeRecords } from "./support/records.ts";

const ME = "web-01";
const OTHER = "web-02";
const NOW = 1_700_000_000;
const INT = "internal.example.com";
const EXT = "external.example.com";
const CIDRS: Cidr[] = ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"].map((c) => ipaddr.parseCIDR(c));

const { record, nextId } = makeRecords(NOW, { proxied: false });

const address = (ip: string, domain = INT): DnsRecord =>
  record(domain, ip.includes(":") ? "AAAA" : "A", ip);

/** A heartbeat of `owner` last written `ageSeconds` ago (by the provider's clock and its own). */
function heartbeat(ip: string, owner: string, domain = INT, ageSeconds = 60): DnsRecord {
  return record(
    heartbeatName(ip, domain),
    "TXT",
    formatHeartbeat(NOW - ageSeconds, owner),
    ageSeconds,
  );
}

/** An address published by `owner`: its heartbeat and its A/AAAA. */
const published = (ip: string, owner: string, domain = INT, ageSeconds = 60): DnsRecord[] => [
  heartbeat(ip, owner, domain, ageSeconds),
  address(ip, domain),
];

const want = (domain: string, addresses: string[], protect: Protection[] = []): DomainDesire => ({
  domain,
  addresses,
  protect,
});

function input(
  desired: DomainDesire[],
  records: DnsRecord[],
  overrides: Partial<UpdatePlanInput> = {},
): UpdatePlanInput {
  return {
    desired,
    records,
    instanceId: ME,
    now: NOW,
    ttl: 120,
    style: cloudflareStyle({ ttl: 120, proxied: false }),
    ...overrides,
  };
}

/** One line per operation, in plan order: what a reader of `--dry-run` would check. */
const show = (ops: Change[]): string[] =>
  ops.map((op) => `${op.kind} ${op.record.type} ${op.record.name} ${op.record.content}`);

const fresh = formatHeartbeat(NOW, ME);
const hbName = heartbeatName;

/** Applies changes the way a provider would; replacing or deleting a missing record fails. */
function applyOps(records: DnsRecord[], ops: Change[]): DnsRecord[] {
  let zone = [...records];
  const find = (ref: string): DnsRecord => {
    const found = zone.find((r) => r.ref === ref);
    if (!found) throw new Error(`81044 record ${ref} does not exist`);
    return found;
  };
  for (const op of ops) {
    if (op.kind === "delete") {
      find(op.record.ref);
      zone = zone.filter((r) => r.ref !== op.record.ref);
    } else if (op.kind === "replace") {
      const replaced = { ...find(op.before.ref), ...op.record, modifiedAt: NOW };
      zone = zone.map((r) => (r.ref === op.before.ref ? replaced : r));
    } else {
      zone.push({ ref: nextId(), ...op.record, createdAt: NOW, modifiedAt: NOW });
    }
  }
  return zone;
}

const isRefresh = (op: Change): boolean =>
  op.kind === "replace" && op.record.type === "TXT" && op.reason.startsWith("refresh heartbeat");

describe("planUpdate", () => {
  test("empty zone: a heartbeat, then its address, per desired address per domain", () => {
    const ops = planUpdate(
      input([want(INT, ["192.168.1.10", "fd00::10"]), want(EXT, ["203.0.113.7"])], []),
    );
    expect(show(ops)).toEqual([
      `create TXT _heartbeat-192-168-1-10.${INT} ${fresh}`,
      `create A ${INT} 192.168.1.10`,
      `create TXT _heartbeat-fd00--10.${INT} ${fresh}`,
      `create AAAA ${INT} fd00::10`,
      `create TXT _heartbeat-203-0-113-7.${EXT} ${fresh}`,
      `create A ${EXT} 203.0.113.7`,
    ]);
    expect(ops.map((op) => op.reason)).toContain("new address 192.168.1.10");
    expect(ops.every((op) => op.record.ttl === 120)).toBe(true);
  });

  test("steady state: one refresh patch per heartbeat, nothing else", () => {
    const records = [...published("192.168.1.10", ME), ...published("203.0.113.7", ME, EXT, 300)];
    const ops = planUpdate(
      input([want(INT, ["192.168.1.10"]), want(EXT, ["203.0.113.7"])], records),
    );
    expect(ops.map((op) => op.kind)).toEqual(["replace", "replace"]);
    expect(ops.map((op) => (op.kind === "replace" ? op.before.ref : undefined))).toEqual([
      records[0]?.ref,
      records[2]?.ref,
    ]);
    expect(ops.map((op) => op.record)).toEqual([
      { name: hbName("192.168.1.10", INT), type: "TXT", content: fresh, ttl: 120 },
      { name: hbName("203.0.113.7", EXT), type: "TXT", content: fresh, ttl: 120 },
    ]);
    expect(ops.every(isRefresh)).toBe(true);
  });

  test("moved address: the old one and its heartbeat go, the new one comes", () => {
    const old = published("192.168.1.10", ME);
    const ops = planUpdate(input([want(INT, ["192.168.1.20"])], old));
    expect(show(ops)).toEqual([
      `delete A ${INT} 192.168.1.10`,
      `delete TXT ${hbName("192.168.1.10", INT)} ${old[0]?.content}`,
      `create TXT ${hbName("192.168.1.20", INT)} ${fresh}`,
      `create A ${INT} 192.168.1.20`,
    ]);
    expect(ops[0]?.reason).toBe("address 192.168.1.10 no longer on this host");
    expect(ops.slice(0, 2).map((op) => (op.kind === "delete" ? op.record.ref : undefined))).toEqual(
      [old[1]?.ref, old[0]?.ref],
    );
  });

  test("heartbeat refresh comes before the address it belongs to", () => {
    const ops = planUpdate(input([want(INT, ["192.168.1.10"])], [heartbeat("192.168.1.10", ME)]));
    expect(show(ops)).toEqual([
      `replace TXT ${hbName("192.168.1.10", INT)} ${fresh}`,
      `create A ${INT} 192.168.1.10`,
    ]);
  });

  test("an address without a heartbeat that this host has gets one", () => {
    const ops = planUpdate(input([want(INT, ["192.168.1.10"])], [address("192.168.1.10")]));
    expect(show(ops)).toEqual([`create TXT ${hbName("192.168.1.10", INT)} ${fresh}`]);
  });

  test("a successful detection that finds nothing deletes every record of this instance", () => {
    const records = [
      ...published("192.168.1.10", ME),
      ...published("fd00::10", ME),
      heartbeat("192.168.1.30", ME), // a heartbeat whose address is already gone
      address("192.168.1.40"), // a second A with the same content as one of ours
    ];
    records.push({ ...address("192.168.1.10"), ref: "duplicate" });
    const ops = planUpdate(input([want(INT, [])], records));
    expect(show(ops)).toEqual([
      `delete A ${INT} 192.168.1.10`,
      `delete A ${INT} 192.168.1.10`,
      `delete TXT ${hbName("192.168.1.10", INT)} ${records[0]?.content}`,
      `delete AAAA ${INT} fd00::10`,
      `delete TXT ${hbName("fd00::10", INT)} ${records[2]?.content}`,
      `delete TXT ${hbName("192.168.1.30", INT)} ${records[4]?.content}`,
    ]);
  });

  const internalFailed: Protection = { source: "internal", cidrs: CIDRS, addresses: [] };
  const ipv4Failed: Protection = { source: "ipv4", outside: CIDRS };
  test.each([
    [
      "internal failed keeps internal addresses",
      [internalFailed],
      ["192.168.1.10", "fd00::10"],
      ["203.0.113.7"],
    ],
    [
      "external IPv4 failed keeps public IPv4",
      [ipv4Failed],
      ["203.0.113.7"],
      ["192.168.1.10", "fd00::10"],
    ],
    [
      "both failed keep all",
      [internalFailed, ipv4Failed],
      ["192.168.1.10", "fd00::10", "203.0.113.7"],
      [],
    ],
  ])("failed detection: %s", (_, protect, kept, deleted) => {
    const records = ["192.168.1.10", "fd00::10", "203.0.113.7"].flatMap((ip) => published(ip, ME));
    const ops = planUpdate(input([want(INT, [], protect)], records));
    const touched = new Set(ops.map((op) => op.record.content.replace(/^"|,.*$/g, "")));
    for (const ip of kept) expect(touched.has(ip)).toBe(false);
    expect(ops.filter((op) => op.record.type !== "TXT").map((op) => op.record.content)).toEqual(
      deleted,
    );
    expect(ops.every((op) => op.kind === "delete")).toBe(true);
  });

  test("records of other instances are never touched, however old", () => {
    const records = [
      ...published("192.168.1.50", OTHER),
      ...published("192.168.1.51", OTHER, INT, 100_000),
      heartbeat("192.168.1.52", OTHER, INT, 100_000),
    ];
    expect(planUpdate(input([want(INT, ["192.168.1.10"])], records))).toHaveLength(2);
    expect(planUpdate(input([want(INT, [])], records))).toEqual([]);
  });

  describe("unparsable heartbeats", () => {
    const garbage = (): DnsRecord[] => [
      record(hbName("192.168.1.10", INT), "TXT", '"not a heartbeat"'),
      address("192.168.1.10"),
    ];

    test("left alone by an instance that has the address: its own heartbeat goes beside it", () => {
      const records = garbage();
      const ops = planUpdate(input([want(INT, ["192.168.1.10"])], records));
      expect(ops).toEqual([
        {
          kind: "create",
          record: { name: hbName("192.168.1.10", INT), type: "TXT", content: fresh, ttl: 120 },
          reason: "heartbeat for 192.168.1.10; 1 other heartbeat(s) at this name left alone",
        },
      ]);
    });

    test("left alone by an instance that does not", () => {
      expect(
        planUpdate(input([want(INT, ["192.168.1.20"])], garbage())).map((op) => op.record.content),
      ).not.toContain("192.168.1.10");
      expect(planUpdate(input([want(INT, [])], garbage()))).toEqual([]);
    });

    test("do not keep an address when its last instance leaves", () => {
      const records = [...garbage(), heartbeat("192.168.1.10", ME)];
      const ops = planUpdate(input([want(INT, [])], records));
      expect(show(ops)).toEqual([
        `delete A ${INT} 192.168.1.10`,
        `delete TXT ${hbName("192.168.1.10", INT)} ${records[2]?.content}`,
      ]);
    });
  });

  describe("two instances sharing one NAT'd address: one heartbeat each", () => {
    const ip = "203.0.113.7";

    test.each([
      ["fresh", 60],
      ["older than half the threshold", 500],
      ["older than the threshold", 100_000],
    ])("the other's heartbeat, %s: untouched, this instance creates its own", (_, age) => {
      const records = published(ip, OTHER, EXT, age);
      const ops = planUpdate(input([want(EXT, [ip])], records));
      expect(show(ops)).toEqual([`create TXT ${hbName(ip, EXT)} ${fresh}`]);
      expect(ops[0]?.reason).toContain("1 other heartbeat(s) at this name left alone");
    });

    test("each instance refreshes only its own heartbeat, whatever the other's age", () => {
      for (const age of [60, 500, 100_000]) {
        const records = [heartbeat(ip, OTHER, EXT, age), ...published(ip, ME, EXT)];
        const ops = planUpdate(input([want(EXT, [ip])], records));
        expect(ops.map((op) => (op.kind === "replace" ? op.before.ref : op.kind))).toEqual([
          records[1]?.ref ?? "?",
        ]);
        expect(ops[0]?.reason).toBe(
          `refresh heartbeat of ${ip}; 1 other heartbeat(s) at this name left alone`,
        );
      }
    });

    test("two instances publishing in turn end with a heartbeat each, then only refresh", () => {
      let zone: DnsRecord[] = [];
      for (const id of [ME, OTHER, ME, OTHER]) {
        zone = applyOps(zone, planUpdate(input([want(EXT, [ip])], zone, { instanceId: id })));
      }
      const owners = zone.map((r) => parseHeartbeat(r.content)?.instanceId ?? r.type);
      expect(owners.sort()).toEqual(["A", ME, OTHER]);
      for (const id of [ME, OTHER]) {
        const ops = planUpdate(input([want(EXT, [ip])], zone, { instanceId: id }));
        expect(ops).toHaveLength(1);
        expect(ops.every(isRefresh)).toBe(true);
      }
    });

    test.each([
      ["fresh", 60],
      ["stale (cleanup's job)", 100_000],
    ])("leaving keeps the address while the other's heartbeat is %s", (_, age) => {
      const records = [heartbeat(ip, OTHER, EXT, age), ...published(ip, ME, EXT)];
      const ops = planUpdate(input([want(EXT, [])], records));
      expect(show(ops)).toEqual([`delete TXT ${hbName(ip, EXT)} ${records[1]?.content}`]);
      expect(ops[0]?.reason).toContain(`address kept for ${OTHER}`);
    });

    test("the last sharer leaving deletes the address, then its heartbeat", () => {
      let zone = [heartbeat(ip, OTHER, EXT), ...published(ip, ME, EXT)];
      zone = applyOps(zone, planUpdate(input([want(EXT, [])], zone)));
      const ops = planUpdate(input([want(EXT, [])], zone, { instanceId: OTHER }));
      expect(show(ops)).toEqual([
        `delete A ${EXT} ${ip}`,
        `delete TXT ${hbName(ip, EXT)} ${zone[0]?.content}`,
      ]);
      expect(applyOps(zone, ops)).toEqual([]);
    });

    test.each([ME, OTHER])(
      "an instance without a heartbeat there (%s) moving away touches nothing",
      (mover) => {
        const owner = mover === ME ? OTHER : ME;
        const records = published(ip, owner, EXT);
        expect(planUpdate(input([want(EXT, [])], records, { instanceId: mover }))).toEqual([]);
      },
    );
  });

  describe("never touches what another instance (or nobody) owns", () => {
    /** Patches and deletes whose target was not this instance's before the plan. */
    function foreignTargets(records: DnsRecord[], ops: Change[]): string[] {
      const byRef = new Map(records.map((r) => [r.ref, r]));
      return ops.flatMap((op) => {
        if (op.kind === "create") return [];
        const ref = op.kind === "replace" ? op.before.ref : op.record.ref;
        const target = byRef.get(ref);
        if (!target) return [`${op.kind} of unknown ${ref}`];
        if (target.type === "TXT") {
          const owner = parseHeartbeat(target.content)?.instanceId;
          return owner === ME ? [] : [`${op.kind} of ${owner ?? "garbage"}'s ${target.name}`];
        }
        const ip = canonicalIp(target.content);
        const owners = records
          .filter((r) => r.type === "TXT" && ip && parseHeartbeatName(r.name, target.name) === ip)
          .flatMap((r) => parseHeartbeat(r.content)?.instanceId ?? []);
        const mine = owners.length > 0 && owners.every((o) => o === ME);
        return mine ? [] : [`${op.kind} of ${target.content} owned by {${owners.join(",")}}`];
      });
    }

    const ips = ["192.168.1.10", "192.168.1.11", "192.168.1.12", "192.168.1.13", "192.168.1.14"];
    const zone = (): DnsRecord[] => [
      // shared, the other fresh
      heartbeat(ips[0] ?? "", OTHER),
      ...published(ips[0] ?? "", ME),
      // shared, the other long dead
      heartbeat(ips[1] ?? "", OTHER, INT, 100_000),
      ...published(ips[1] ?? "", ME),
      // the other's alone, older than half the threshold
      ...published(ips[2] ?? "", OTHER, INT, 600),
      // garbage beside this instance's heartbeat
      record(hbName(ips[3] ?? "", INT), "TXT", "garbage"),
      ...published(ips[3] ?? "", ME),
      // garbage alone beside somebody's address
      record(hbName(ips[4] ?? "", INT), "TXT", '"1700000000"'),
      address(ips[4] ?? ""),
    ];
    const subsets = [[], ips, ...ips.map((ip) => [ip]), ips.slice(0, 2), ips.slice(2)];

    test.each(subsets.map((s) => [s.join(" ") || "nothing", s]))("desired: %s", (_, wanted) => {
      const records = zone();
      const ops = planUpdate(input([want(INT, wanted as string[])], records));
      expect(ops.length).toBeGreaterThan(0);
      expect(foreignTargets(records, ops)).toEqual([]);
    });

    test("deregistration", () => {
      const records = zone();
      const ops = planDeregister({ ...input([], records), domains: [INT] });
      // Only 192.168.1.13's address goes: the others still carry another instance's heartbeat.
      expect(ops.filter((op) => op.record.type === "A").map((op) => op.record.content)).toEqual([
        "192.168.1.13",
      ]);
      expect(ops.filter((op) => op.record.type === "TXT")).toHaveLength(3);
      expect(foreignTargets(records, ops)).toEqual([]);
    });
  });

  test("two heartbeats of this instance at one name: one is refreshed, the other deleted", () => {
    const records = [heartbeat("192.168.1.10", ME, INT, 300), ...published("192.168.1.10", ME)];
    const ops = planUpdate(input([want(INT, ["192.168.1.10"])], records));
    const ref = (op: Change) =>
      op.kind === "create" ? "" : op.kind === "replace" ? op.before.ref : op.record.ref;
    expect(ops.map((op) => `${op.kind} ${ref(op)}`)).toEqual([
      `delete ${records[1]?.ref}`,
      `replace ${records[0]?.ref}`,
    ]);
    expect(ops[0]?.reason).toBe("duplicate heartbeat of 192.168.1.10");
  });

  test("IPv6: AAAA records, dashed heartbeat names, content compared in canonical form", () => {
    const ops = planUpdate(input([want(INT, ["2606:4700::7"])], []));
    expect(show(ops)).toEqual([
      `create TXT _heartbeat-2606-4700--7.${INT} ${fresh}`,
      `create AAAA ${INT} 2606:4700::7`,
    ]);
    const stored = [
      heartbeat("2606:4700::7", ME),
      { ...address("2606:4700::7"), content: "2606:4700:0:0:0:0:0:7" },
    ];
    expect(planUpdate(input([want(INT, ["2606:4700::7"])], stored)).every(isRefresh)).toBe(true);
    expect(show(planUpdate(input([want(INT, [])], stored)))).toEqual([
      `delete AAAA ${INT} 2606:4700:0:0:0:0:0:7`,
      `delete TXT ${hbName("2606:4700::7", INT)} ${stored[0]?.content}`,
    ]);
  });

  test("look-alike names, other types and non-heartbeat TXT are never touched", () => {
    const mine = formatHeartbeat(NOW - 60, ME);
    const records = [
      record(`x${INT}`, "A", "192.168.1.10"),
      record(`_heartbeat-192-168-1-10.x${INT}`, "TXT", mine),
      record(`sub.${INT}`, "A", "192.168.1.11"),
      record(`_heartbeat-192-168-1-11.sub.${INT}`, "TXT", mine),
      record(`_heartbeat-x.${INT}`, "TXT", mine),
      record(`_heartbeat-192-168-001-012.${INT}`, "TXT", mine),
      record(INT, "TXT", '"v=spf1 -all"'),
      record(INT, "MX", "mail.example.com"),
      record(hbName("192.168.1.13", INT), "A", "192.168.1.13"),
      record(INT, "A", "not an address"),
    ];
    expect(planUpdate(input([want(INT, [])], records))).toEqual([]);
    const ops = planUpdate(input([want(INT, ["192.168.1.10"])], records));
    expect(ops.map((op) => op.kind)).toEqual(["create", "create"]);
  });

  test("domains are planned independently: the same address may stay in one and go in another", () => {
    const records = [...published("203.0.113.7", ME, INT), ...published("203.0.113.7", ME, EXT)];
    const ops = planUpdate(input([want(INT, []), want(EXT, ["203.0.113.7"])], records));
    expect(show(ops)).toEqual([
      `delete A ${INT} 203.0.113.7`,
      `delete TXT ${hbName("203.0.113.7", INT)} ${records[0]?.content}`,
      `replace TXT ${hbName("203.0.113.7", EXT)} ${fresh}`,
    ]);
  });

  test.each([
    ["public IPv4", "104.16.1.1", true],
    ["documentation IPv4", "203.0.113.77", false],
    ["private IPv4", "192.168.1.10", false],
    ["CGNAT IPv4", "100.64.0.1", false],
    ["global IPv6", "2606:4700::7", true],
    ["ULA IPv6", "fd00::10", false],
    ["documentation IPv6", "2001:db8::1", false],
  ])("CF_PROXIED applies to public addresses only: %s", (_, ip, publicAddress) => {
    for (const proxied of [true, false]) {
      const style = cloudflareStyle({ ttl: 120, proxied });
      const create = planUpdate(input([want(EXT, [ip])], [], { style })).find(
        (op) => op.record.type !== "TXT",
      );
      expect(create?.record.extra?.proxied).toBe(proxied && publicAddress);
    }
  });

  test.each([
    ["proxied, now not", { ttl: 1, proxied: true }, {}, "proxied true -> false, TTL 1 -> 120"],
    ["not proxied, now proxied", { proxied: false }, { proxied: true }, "proxied false -> true"],
    ["another TTL", { ttl: 300 }, {}, "TTL 300 -> 120"],
    ["proxied: its TTL is Cloudflare's", { ttl: 1, proxied: true }, { proxied: true }, undefined],
  ] as const)(
    "the sole owner brings its address to its settings: %s",
    (_n, was, settings, change) => {
      // As Cloudflare lists it: `proxied` in the record's extra settings.
      const { proxied: wasProxied, ...rest } = was as { ttl?: number; proxied?: boolean };
      const records = published("5.6.7.8", ME, EXT).map((r) =>
        r.type === "A" ? { ...r, ...rest, extra: { proxied: wasProxied ?? false } } : r,
      );
      const proxied = (settings as { proxied?: boolean }).proxied ?? false;
      const plan = input([want(EXT, ["5.6.7.8"])], records, {
        style: cloudflareStyle({ ttl: 120, proxied }),
      });
      const patches = planUpdate(plan).filter((op) => !isRefresh(op));
      expect(patches.map((op) => op.reason)).toEqual(change ? [`5.6.7.8 settings: ${change}`] : []);
      for (const op of patches) {
        expect(op).toMatchObject({ kind: "replace", before: { ref: records[1]?.ref } });
        expect(op.record).toEqual({
          name: EXT,
          type: "A",
          content: "5.6.7.8",
          ttl: 120,
          extra: { proxied },
        });
      }
      expect(findDrifts(plan)).toEqual([]);
    },
  );

  test("of hosts sharing an address, the lowest INSTANCE_ID keeps its settings; the others warn", () => {
    const shared = (other: string) => [
      heartbeat("5.6.7.8", other, EXT),
      ...published("5.6.7.8", ME, EXT).map((r) => (r.type === "A" ? { ...r, ttl: 300 } : r)),
    ];
    // ME (web-01) before web-02: ME writes, and nobody warns.
    const first = input([want(EXT, ["5.6.7.8"])], shared(OTHER));
    expect(
      planUpdate(first)
        .filter((op) => !isRefresh(op))
        .map((op) => op.reason),
    ).toEqual(["5.6.7.8 settings: TTL 300 -> 120"]);
    expect(findDrifts(first)).toEqual([]);
    // aaa-host before ME: ME leaves it, and says who keeps it.
    const second = input([want(EXT, ["5.6.7.8"])], shared("aaa-host"));
    expect(planUpdate(second).every(isRefresh)).toBe(true);
    expect(findDrifts(second)).toEqual([
      { domain: EXT, ip: "5.6.7.8", change: "TTL 300 -> 120", writer: "aaa-host" },
    ]);
  });

  test("RECORD_COMMENT goes on created records only", () => {
    const plan = input(
      [want(INT, ["192.168.1.10", "192.168.1.11"])],
      published("192.168.1.11", ME),
    );
    const ops = planUpdate({ ...plan, comment: "managed by dynip" });
    const comments = ops.map((op) => [op.kind, op.record.type, op.record.comment]);
    expect(comments).toEqual([
      ["replace", "TXT", undefined],
      ["create", "TXT", "managed by dynip"],
      ["create", "A", "managed by dynip"],
    ]);
  });

  test.each([
    ["empty zone", [] as DnsRecord[], ["192.168.1.10", "fd00::10"]],
    ["moved address", published("192.168.1.10", ME), ["192.168.1.20"]],
    ["address without heartbeat", [address("192.168.1.10")], ["192.168.1.10"]],
    ["heartbeat without address", [heartbeat("192.168.1.10", ME)], ["192.168.1.10"]],
    [
      "garbage heartbeat",
      [record(hbName("192.168.1.10", INT), "TXT", "x"), address("192.168.1.10")],
      ["192.168.1.10"],
    ],
    ["stale shared address", published("192.168.1.10", OTHER, INT, 5000), ["192.168.1.10"]],
    [
      "shared address with a heartbeat each",
      [heartbeat("192.168.1.10", OTHER), ...published("192.168.1.10", ME)],
      ["192.168.1.10"],
    ],
    [
      "duplicate own heartbeat",
      [heartbeat("192.168.1.10", ME, INT, 500), ...published("192.168.1.10", ME)],
      ["192.168.1.10"],
    ],
    [
      "a bit of everything",
      [
        ...published("192.168.1.10", ME),
        ...published("192.168.1.50", OTHER),
        heartbeat("192.168.1.30", ME),
      ],
      ["192.168.1.50", "fd00::10"],
    ],
  ])("idempotent: %s -> applied -> only refreshes", (_, records, addresses) => {
    const desired = [want(INT, addresses)];
    const after = applyOps(records, planUpdate(input(desired, records)));
    const again = planUpdate(input(desired, after));
    expect(again.length).toBeGreaterThan(0);
    expect(again.every(isRefresh)).toBe(true);
    expect(applyOps(after, again).length).toBe(after.length);
  });
});

describe("planDeregister", () => {
  test("deletes every address and heartbeat of this instance, and nothing else", () => {
    const mine = [...published("192.168.1.10", ME), ...published("203.0.113.7", ME, EXT)];
    const others = [...published("192.168.1.50", OTHER), record(INT, "TXT", '"v=spf1 -all"')];
    const shared = [heartbeat("198.51.100.1", OTHER, EXT), ...published("198.51.100.1", ME, EXT)];
    const ops = planDeregister({
      domains: [INT, EXT],
      records: [...mine, ...others, ...shared],
      instanceId: ME,
      now: NOW,
      ttl: 120,
    });
    expect(show(ops)).toEqual([
      `delete A ${INT} 192.168.1.10`,
      `delete TXT ${hbName("192.168.1.10", INT)} ${mine[0]?.content}`,
      `delete A ${EXT} 203.0.113.7`,
      `delete TXT ${hbName("203.0.113.7", EXT)} ${mine[2]?.content}`,
      `delete TXT ${hbName("198.51.100.1", EXT)} ${shared[1]?.content}`,
    ]);
    expect(ops[0]?.reason).toBe("address 192.168.1.10 withdrawn on deregistration");
  });
});

describe("toBatch", () => {
  test("maps operations to Cloudflare's batch lists, keeping their order", () => {
    const old = published("192.168.1.10", ME);
    const ops = planUpdate(
      input([want(INT, ["192.168.1.20", "192.168.1.30"])], [...old, heartbeat("192.168.1.20", ME)]),
    );
    const batch = toBatch(ops);
    expect(batch.deletes).toEqual([{ id: old[1]?.ref ?? "" }, { id: old[0]?.ref ?? "" }]);
    expect(batch.patches).toEqual([
      {
        id: expect.any(String),
        name: hbName("192.168.1.20", INT),
        type: "TXT",
        content: fresh,
        ttl: 120,
      },
    ]);
    expect(batch.puts).toEqual([]);
    expect(batch.posts.map((p) => `${p.type} ${p.content}`)).toEqual([
      "A 192.168.1.20",
      `TXT ${fresh}`,
      "A 192.168.1.30",
    ]);
  });
});
