import { describe, expect, test } from "bun:test";
import ipaddr from "ipaddr.js";
import type { Cidr, Detection, SourceResult } from "../src/detect/source-types.ts";
import {
  buildDesired,
  failedSources,
  isProtected,
  type ManagedDomains,
} from "../src/plan/desired.ts";

const CIDRS: Cidr[] = ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"].map((c) => ipaddr.parseCIDR(c));
const ALL = {
  internal: "int.example.com",
  external: "ext.example.com",
  ipv6: "v6.example.com",
  combined: "all.example.com",
} satisfies ManagedDomains;

const ok = (...addresses: string[]): SourceResult => ({ ok: true, source: "test", addresses });
const failed: SourceResult = { ok: false, source: "http", error: "timeout" };

function detection(overrides: Partial<Detection> = {}): Detection {
  return {
    internal: ok("192.168.1.10", "fd00::10"),
    ipv4: ok("203.0.113.7"),
    ipv6: ok("2606:4700::7"),
    ...overrides,
  };
}

describe("buildDesired", () => {
  test.each([
    ["internal", { internal: ALL.internal }, ["192.168.1.10", "fd00::10"]],
    ["external", { external: ALL.external }, ["203.0.113.7"]],
    ["ipv6", { ipv6: ALL.ipv6 }, ["2606:4700::7"]],
    [
      "combined",
      { combined: ALL.combined },
      ["192.168.1.10", "fd00::10", "203.0.113.7", "2606:4700::7"],
    ],
  ])("%s domain gets its sources' addresses", (_, domains, addresses) => {
    const [desire, ...rest] = buildDesired(detection(), domains, CIDRS, []);
    expect(rest).toEqual([]);
    expect(desire?.addresses).toEqual(addresses);
    expect(desire?.protect).toEqual([]);
  });

  test("one desire per configured domain, in a stable order", () => {
    const domains = buildDesired(detection(), ALL, CIDRS, []).map((d) => d.domain);
    expect(domains).toEqual([ALL.internal, ALL.external, ALL.ipv6, ALL.combined]);
  });

  test("combined deduplicates an address two sources report", () => {
    const both = detection({ internal: ok("203.0.113.7"), ipv4: ok("203.0.113.7") });
    const [desire] = buildDesired(both, { combined: ALL.combined }, CIDRS, []);
    expect(desire?.addresses).toEqual(["203.0.113.7", "2606:4700::7"]);
  });

  test("a name configured for two kinds is planned once, fed by both", () => {
    const desired = buildDesired(
      detection(),
      { internal: "host.example.com", external: "HOST.example.com" },
      CIDRS,
      [],
    );
    expect(desired).toEqual([
      {
        domain: "host.example.com",
        addresses: ["192.168.1.10", "fd00::10", "203.0.113.7"],
        protect: [],
        feeds: ["internal", "ipv4"],
      },
    ]);
  });

  test("a source that finds nothing gives an empty set, not protection", () => {
    const [desire] = buildDesired(detection({ ipv4: ok() }), { external: ALL.external }, CIDRS, []);
    expect(desire).toEqual({ domain: ALL.external, addresses: [], protect: [], feeds: ["ipv4"] });
  });

  // Which addresses each domain keeps after one source fails (docs/detection.md, "Failed sources").
  const probes = [
    "192.168.1.99",
    "fd00::99",
    "10.9.9.9",
    "198.51.100.1",
    "2606:4700::99",
    "172.16.5.5",
  ];
  test.each([
    ["internal", "internal", [], ["192.168.1.99", "fd00::99", "10.9.9.9"]],
    [
      "internal",
      "internal",
      ["172.16.5.5"],
      ["192.168.1.99", "fd00::99", "10.9.9.9", "172.16.5.5"],
    ],
    ["internal", "ipv4", [], []],
    ["external", "ipv4", [], ["198.51.100.1", "172.16.5.5"]],
    ["external", "internal", [], []],
    ["ipv6", "ipv6", [], ["2606:4700::99"]],
    ["ipv6", "ipv4", [], []],
    ["combined", "internal", [], ["192.168.1.99", "fd00::99", "10.9.9.9"]],
    ["combined", "ipv4", [], ["198.51.100.1", "172.16.5.5"]],
    ["combined", "ipv6", [], ["2606:4700::99"]],
  ] as const)(
    "%s domain, %s source failed, static %p: protects %p",
    (role, source, statics, kept) => {
      const [desire] = buildDesired(detection({ [source]: failed }), { [role]: ALL[role] }, CIDRS, [
        ...statics,
      ]);
      expect(probes.filter((ip) => isProtected(ip, desire?.protect ?? []))).toEqual([...kept]);
      // The other sources still publish what they found.
      expect(desire?.addresses).not.toContain("fd00::99");
    },
  );

  test("a failed source still lets the others publish", () => {
    const [desire] = buildDesired(
      detection({ internal: failed }),
      { combined: ALL.combined },
      CIDRS,
      [],
    );
    expect(desire?.addresses).toEqual(["203.0.113.7", "2606:4700::7"]);
    expect(desire?.protect).toHaveLength(1);
  });
});

describe("failedSources", () => {
  test("names each failed source and its setting", () => {
    const lines = failedSources(
      detection({ ipv4: failed, ipv6: { ok: false, source: "url:x", error: "garbage" } }),
    );
    expect(lines).toEqual([
      "EXTERNAL_IPV4_SOURCE http failed: timeout",
      "EXTERNAL_IPV6_SOURCE url:x failed: garbage",
    ]);
  });

  test("nothing when every source answered, even with no address", () => {
    expect(failedSources(detection({ internal: ok(), ipv4: ok(), ipv6: ok() }))).toEqual([]);
  });
});
