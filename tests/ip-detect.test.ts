import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isIP } from "node:net";
import type { NetworkInterfaceInfo } from "node:os";
import ipaddr from "ipaddr.js";
import { canonical, inCidrs, isPublic, parseAddress, sortAddresses } from "../src/detect/cidr.ts";
import { DEFAULT_EXCLUDE_INTERFACES, DEFAULT_INTERNAL_CIDRS } from "../src/detect/defaults.ts";
import { type DetectOptions, detect } from "../src/detect/detect.ts";
import { detectExternal, HTTP_SOURCES, parseEchoAnswer } from "../src/detect/external.ts";
import {
  detectInternal,
  type Interfaces,
  listInterfaceAddresses,
  publicFromInterfaces,
} from "../src/detect/interfaces.ts";
import type { ExternalSource, SourceResult } from "../src/detect/source-types.ts";

const cidrs = (...list: string[]) => list.map((c) => ipaddr.parseCIDR(c));
const DEFAULT_CIDRS = cidrs(...DEFAULT_INTERNAL_CIDRS);

/** A fake os.networkInterfaces() entry; IPv6 link-local addresses carry a scope id, as on Linux. */
function addr(cidr: string, extra: Partial<NetworkInterfaceInfo> = {}): NetworkInterfaceInfo {
  const [address = "", bits = "32"] = cidr.split("/");
  const base = { address, cidr, mac: "02:00:00:00:00:01", internal: false };
  if (!address.includes(":")) {
    const netmask = ipaddr.IPv4.subnetMaskFromPrefixLength(Number(bits)).toString();
    return { ...base, family: "IPv4", netmask, ...extra } as NetworkInterfaceInfo;
  }
  const netmask = ipaddr.IPv6.subnetMaskFromPrefixLength(Number(bits)).toString();
  const scopeid = address.startsWith("fe80") ? 2 : 0;
  return { ...base, family: "IPv6", netmask, scopeid, ...extra } as NetworkInterfaceInfo;
}

/** A host with a LAN, a container bridge, a Docker network, a VPN and a public uplink. */
const HOST: Interfaces = {
  lo: [addr("127.0.0.1/8", { internal: true }), addr("::1/128", { internal: true })],
  eth0: [
    addr("192.168.1.10/24"),
    addr("fd00::10/64"),
    addr("fe80::1/64"),
    addr("2606:4700::10/64"),
  ],
  docker0: [addr("172.17.0.1/16")],
  "br-3f2a1b": [addr("172.18.0.1/16")],
  veth12ab: [addr("10.200.0.1/24")],
  tailscale0: [addr("100.64.1.5/32")],
  wan0: [addr("5.6.7.8/24"), addr("169.254.3.3/16")],
  eth1: [addr("192.168.1.10/24"), addr("10.1.2.3/8")],
};

describe("CIDR helpers", () => {
  test.each([
    ["192.168.1.10", ["192.168.0.0/16"], true],
    ["192.169.1.10", ["192.168.0.0/16"], false],
    ["fd00::10", ["fd00::/8"], true],
    ["fd00::10", ["10.0.0.0/8"], false],
    ["10.1.2.3", ["fd00::/8", "10.0.0.0/8"], true],
    ["::ffff:10.1.2.3", ["10.0.0.0/8"], false],
    ["not an ip", ["10.0.0.0/8"], false],
  ] as const)("inCidrs(%s, %p) = %p", (ip, ranges, expected) => {
    expect(inCidrs(ip, cidrs(...ranges))).toBe(expected);
  });

  test.each([
    ["5.6.7.8", true],
    ["2606:4700::1", true],
    ["192.168.1.1", false],
    ["100.64.1.1", false],
    ["127.0.0.1", false],
    ["169.254.1.1", false],
    ["203.0.113.5", false],
    ["fd00::1", false],
    ["fe80::1", false],
    ["::1", false],
    ["::ffff:5.6.7.8", false],
    ["2001:db8::1", false],
    ["ff02::1", false],
    ["garbage", false],
  ])("isPublic(%s) = %p", (ip, expected) => {
    expect(isPublic(ip)).toBe(expected);
  });

  test.each([
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2606:4700:0000:0000:0000:0000:0000:1111", "2606:4700::1111"],
    ["fd00:0:0:1:0:0:0:1", "fd00:0:0:1::1"],
    ["192.168.001.010", null],
    ["127.1", null],
    ["fe80::1%eth0", null],
    ["10.0.0.1", "10.0.0.1"],
  ])("canonical(%s) = %p", (ip, expected) => {
    if (expected === null) expect(() => canonical(ip)).toThrow("not an IP address");
    else expect(canonical(ip)).toBe(expected);
  });

  test.each([
    [
      ["10.0.0.10", "10.0.0.9", "9.255.255.255", "10.0.0.9"],
      ["9.255.255.255", "10.0.0.9", "10.0.0.10"],
    ],
    [
      ["2001:db8::1", "::1", "fd00::", "255.255.255.255"],
      ["255.255.255.255", "::1", "2001:db8::1", "fd00::"],
    ],
    [
      ["x", "2001:db8::a", "2001:db8::9", "0.0.0.0"],
      ["0.0.0.0", "2001:db8::9", "2001:db8::a", "x"],
    ],
    [
      ["100.0.0.1", "20.0.0.1", "3.0.0.1"],
      ["3.0.0.1", "20.0.0.1", "100.0.0.1"],
    ],
  ])("sortAddresses(%p) = %p", (input, expected) => {
    expect(sortAddresses(input)).toEqual(expected);
  });
});

describe("internal addresses from interfaces", () => {
  const cases: {
    name: string;
    ranges?: string[];
    include?: string[];
    exclude?: string[];
    expected: string[];
  }[] = [
    { name: "defaults: LAN only, no bridges, deduped", expected: ["10.1.2.3", "192.168.1.10"] },
    {
      name: "no exclusions: bridges and veth come back",
      exclude: [],
      expected: ["10.1.2.3", "10.200.0.1", "172.17.0.1", "172.18.0.1", "192.168.1.10"],
    },
    {
      name: "CGNAT range adds the VPN",
      ranges: [...DEFAULT_INTERNAL_CIDRS, "100.64.0.0/10"],
      expected: ["10.1.2.3", "100.64.1.5", "192.168.1.10"],
    },
    {
      name: "ULA range adds the IPv6 ULA, not link-local or global",
      ranges: [...DEFAULT_INTERNAL_CIDRS, "fd00::/8"],
      include: ["eth0"],
      expected: ["192.168.1.10", "fd00::10"],
    },
    {
      name: "include globs",
      ranges: [...DEFAULT_INTERNAL_CIDRS, "100.64.0.0/10"],
      include: ["tail*", "eth1"],
      expected: ["10.1.2.3", "100.64.1.5", "192.168.1.10"],
    },
    {
      name: "exclude wins over include",
      include: ["eth*"],
      exclude: [...DEFAULT_EXCLUDE_INTERFACES, "eth1"],
      expected: ["192.168.1.10"],
    },
    {
      name: "loopback and link-local never, even when inside the ranges",
      ranges: ["127.0.0.0/8", "169.254.0.0/16", "fe80::/10", "::1/128"],
      exclude: [],
      expected: [],
    },
  ];

  test.each(cases)(
    "$name",
    ({ ranges, include = [], exclude = DEFAULT_EXCLUDE_INTERFACES, expected }) => {
      const result = detectInternal({
        cidrs: ranges ? cidrs(...ranges) : DEFAULT_CIDRS,
        include,
        exclude,
        interfaces: HOST,
      });
      expect(result).toEqual({ ok: true, source: "interfaces", addresses: expected });
    },
  );

  test("INTERFACES naming no interface here is a failure, not an empty result", () => {
    const result = detectInternal({
      cidrs: DEFAULT_CIDRS,
      include: ["eht0", "wlan*"],
      exclude: [],
      interfaces: HOST,
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toStartWith(
      "INTERFACES=eht0,wlan* matches no interface on this host (there are: ",
    );
    expect(() =>
      publicFromInterfaces("ipv4", { interfaces: HOST, include: ["x"], exclude: [] }),
    ).toThrow("INTERFACES=x matches no interface");
  });

  test("an exact INTERFACES name beats EXCLUDE_INTERFACES; a glob does not", () => {
    const run = (include: string[]) =>
      detectInternal({
        cidrs: DEFAULT_CIDRS,
        include,
        exclude: DEFAULT_EXCLUDE_INTERFACES,
        interfaces: HOST,
      });
    expect(run(["docker0"])).toEqual({ ok: true, source: "interfaces", addresses: ["172.17.0.1"] });
    expect(run(["docker*", "eth0"])).toEqual({
      ok: true,
      source: "interfaces",
      addresses: ["192.168.1.10"],
    });
    const none = run(["docker*"]);
    expect(none.ok).toBe(false);
    expect(!none.ok && none.error).toBe(
      "INTERFACES=docker* matches only docker0, which EXCLUDE_INTERFACES or the guest-bridge rule leave out; name an interface exactly in INTERFACES to publish it anyway",
    );
  });

  test("kernel-flagged IPv6 (temporary, deprecated, dadfailed) is left out, stable kept", () => {
    const ifaces: Interfaces = {
      eth0: [
        "2606:4700::10",
        "2606:4700::aaaa",
        "2606:4700::bbbb",
        "2606:4700::cccc",
        "fd00::5",
      ].map((a) => addr(`${a}/64`)),
    };
    const ifInet6 = [
      "26064700000000000000000000000010 02 40 00 80     eth0",
      "2606470000000000000000000000aaaa 02 40 00 01     eth0",
      "2606470000000000000000000000bbbb 02 40 00 a0     eth0",
      "2606470000000000000000000000cccc 02 40 00 08     eth0",
      "fd000000000000000000000000000005 02 40 00 01     eth0",
      // Same address, other interface: flags are per interface.
      "26064700000000000000000000000010 03 40 00 01     eth9",
    ].join("\n");
    expect(listInterfaceAddresses(ifaces, ifInet6).map((a) => a.address)).toEqual([
      "2606:4700::10",
    ]);
    expect(
      publicFromInterfaces("ipv6", { interfaces: ifaces, include: [], exclude: [], ifInet6 }),
    ).toEqual(["2606:4700::10"]);
    expect(
      publicFromInterfaces("ipv6", { interfaces: ifaces, include: [], exclude: [], ifInet6: "" }),
    ).toHaveLength(4);
  });

  test("public addresses: IPv4 unicast, IPv6 global unicast, filtered interfaces skipped", () => {
    const withBridgePublic: Interfaces = { ...HOST, docker0: [addr("9.9.9.9/24")] };
    expect(
      publicFromInterfaces("ipv4", {
        interfaces: withBridgePublic,
        include: [],
        exclude: DEFAULT_EXCLUDE_INTERFACES,
      }),
    ).toEqual(["5.6.7.8"]);
    expect(
      publicFromInterfaces("ipv6", {
        interfaces: HOST,
        include: [],
        exclude: DEFAULT_EXCLUDE_INTERFACES,
      }),
    ).toEqual(["2606:4700::10"]);
    expect(
      publicFromInterfaces("ipv4", { interfaces: HOST, include: ["eth*"], exclude: [] }),
    ).toEqual([]);
  });
});

describe("answers of echo services", () => {
  test.each([
    ["5.6.7.8\n", "ipv4", "5.6.7.8"],
    ["  5.6.7.8  \r\n", "ipv4", "5.6.7.8"],
    ["fl=1\nh=1.1.1.1\nip=5.6.7.9\nts=1\nvisit_scheme=https\n", "ipv4", "5.6.7.9"],
    ["fl=1\r\nip=2a01:4f8:0:0:0:0:0:2\r\nts=1\r\n", "ipv6", "2a01:4f8::2"],
    ["2a01:4f8::1", "ipv6", "2a01:4f8::1"],
  ] as const)("%j as %s -> %s", (body, family, expected) => {
    expect(parseEchoAnswer(body, family)).toBe(expected);
  });

  test.each([
    ["<html>hello</html>", "ipv4", "not an IP address"],
    ["", "ipv4", "not an IP address"],
    ["5.6.7.8\n5.6.7.9", "ipv4", "not an IP address"],
    ["2606:4700::1", "ipv4", "not an IPv4 address"],
    ["5.6.7.8", "ipv6", "not an IPv6 address"],
    ["::ffff:5.6.7.8", "ipv4", "not an IPv4 address"],
    ["192.168.1.1", "ipv4", "not a public address"],
    ["ip=fd00::1", "ipv6", "not a public address"],
  ] as const)("%j as %s fails: %s", (body, family, reason) => {
    expect(() => parseEchoAnswer(body, family)).toThrow(reason);
  });
});

/** Loopback stand-ins for echo services, one path per behaviour. */
const hits = new Map<string, number>();
let server: ReturnType<typeof Bun.serve>;
let closedPort = 0;
const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;
const never = () => new Promise<Response>(() => {});

const ROUTES: Record<string, () => Response | Promise<Response>> = {
  "/ok4": () => new Response("5.6.7.8\n"),
  "/ok4b": () => new Response("5.6.7.9\n"),
  "/trace4": () => new Response("fl=1\nh=x\nip=5.6.7.10\nts=1\n"),
  "/ok6": () => new Response("2a01:4f8::1\n"),
  "/private4": () => new Response("192.168.1.1\n"),
  "/internal-public4": () => new Response("9.9.9.9"),
  "/v6": () => new Response("2a01:4f8::1\n"),
  "/500": () => new Response("oops", { status: 500 }),
  "/garbage": () => new Response("<html>hello</html>"),
  "/big": () => new Response("5".repeat(5000)),
  "/hang": never,
  "/hang-body": () =>
    new Response(new ReadableStream({ start: (c) => c.enqueue(new TextEncoder().encode("5.")) })),
};

beforeAll(() => {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  closedPort = probe.port ?? 0;
  probe.stop(true);
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const path = new URL(request.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      return ROUTES[path]?.() ?? new Response("not found", { status: 404 });
    },
  });
});

afterAll(() => server.stop(true));

// Long enough that a loaded machine answers the local server in time; the hanging routes cost it.
const TIMEOUT_MS = 1000;
const external = (
  source: ExternalSource,
  family: "ipv4" | "ipv6",
  paths: string[],
  interfaces: Interfaces = {},
) =>
  detectExternal(source, {
    family,
    timeoutMs: TIMEOUT_MS,
    include: [],
    exclude: DEFAULT_EXCLUDE_INTERFACES,
    httpSources: paths.map(url),
    interfaces,
  });

describe("external sources", () => {
  test.each([
    {
      name: "first answer wins",
      paths: ["/ok4", "/ok4b"],
      family: "ipv4",
      address: "5.6.7.8",
      from: "/ok4",
    },
    {
      name: "trace format",
      paths: ["/trace4"],
      family: "ipv4",
      address: "5.6.7.10",
      from: "/trace4",
    },
    {
      name: "after HTTP 500",
      paths: ["/500", "/ok4"],
      family: "ipv4",
      address: "5.6.7.8",
      from: "/ok4",
    },
    {
      name: "after garbage",
      paths: ["/garbage", "/ok4"],
      family: "ipv4",
      address: "5.6.7.8",
      from: "/ok4",
    },
    {
      name: "after a hang",
      paths: ["/hang", "/ok4"],
      family: "ipv4",
      address: "5.6.7.8",
      from: "/ok4",
    },
    {
      name: "after a body that hangs",
      paths: ["/hang-body", "/ok4"],
      family: "ipv4",
      address: "5.6.7.8",
      from: "/ok4",
    },
    {
      name: "after IPv6 for IPv4",
      paths: ["/v6", "/ok4"],
      family: "ipv4",
      address: "5.6.7.8",
      from: "/ok4",
    },
    {
      name: "after a private answer",
      paths: ["/private4", "/trace4"],
      family: "ipv4",
      address: "5.6.7.10",
      from: "/trace4",
    },
    {
      name: "after an oversized answer",
      paths: ["/big", "/ok4"],
      family: "ipv4",
      address: "5.6.7.8",
      from: "/ok4",
    },
    {
      name: "IPv6",
      paths: ["/ok4", "/ok6"],
      family: "ipv6",
      address: "2a01:4f8::1",
      from: "/ok6",
    },
  ] as const)("http: $name", async ({ paths, family, address, from }) => {
    hits.clear();
    const list: string[] = [...paths];
    const result = await external({ kind: "http" }, family, list);
    expect(result).toEqual({ ok: true, source: `http ${url(from)}`, addresses: [address] });
    // Fallback stops at the first good answer: later services are never asked.
    const asked = list.slice(0, list.indexOf(from) + 1);
    expect([...hits.keys()].sort()).toEqual(asked.sort());
  });

  test("http: every failure is reported, and failing is not finding nothing", async () => {
    const paths = ["/500", "/garbage", "/hang", "/v6", "/private4", "/big"];
    const result = await external({ kind: "http" }, "ipv4", paths);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.source).toBe("http");
    const reasons = [
      `all 6 http sources failed: ${url("/500")}: HTTP 500`,
      `${url("/garbage")}: answered "<html>hello</html>", not an IP address`,
      `${url("/hang")}: timeout after 1s`,
      `${url("/v6")}: answered 2a01:4f8::1, not an IPv4 address`,
      `${url("/private4")}: answered 192.168.1.1, which is not a public address`,
      `${url("/big")}: answer larger than 4096 bytes`,
    ];
    for (const reason of reasons) expect(result.error).toContain(reason);
  });

  test("http: a refused connection is a failure with the reason", async () => {
    const result = await detectExternal(
      { kind: "http" },
      {
        family: "ipv4",
        timeoutMs: TIMEOUT_MS,
        include: [],
        exclude: [],
        httpSources: [`http://127.0.0.1:${closedPort}/`],
      },
    );
    expect(result).toMatchObject({ ok: false, source: "http" });
    if (!result.ok)
      expect(result.error).toStartWith(
        `all 1 http source failed: http://127.0.0.1:${closedPort}/: `,
      );
  });

  test("the built-in lists: Cloudflare's trace by host name first, the bare addresses last", () => {
    expect(HTTP_SOURCES.ipv4).toEqual([
      "https://api.cloudflare.com/cdn-cgi/trace",
      "https://api4.ipify.org",
      "https://ipv4.icanhazip.com",
      "https://1.1.1.1/cdn-cgi/trace",
    ]);
    expect(HTTP_SOURCES.ipv6[0]).toBe("https://api.cloudflare.com/cdn-cgi/trace");
    expect(HTTP_SOURCES.ipv6.at(-1)).toBe("https://[2606:4700:4700::1111]/cdn-cgi/trace");
  });

  test.each([
    ["104.16.132.229", "ipv4"],
    ["172.67.1.1", "ipv4"],
    ["162.159.200.1", "ipv4"],
    ["2606:4700::6810:84e5", "ipv6"],
    ["2a06:98c1:3120::3", "ipv6"],
  ] as const)("an echo answering Cloudflare's own %s is a failure", (ip, family) => {
    expect(() => parseEchoAnswer(`ip=${ip}\n`, family)).toThrow(
      `answered ${ip}, one of Cloudflare's own addresses, not this host's`,
    );
  });

  // Lazy: loopback URLs exist only once the server is listening.
  const cases: {
    name: string;
    source: () => ExternalSource;
    family: "ipv4" | "ipv6";
    interfaces?: Interfaces;
    expected: () => SourceResult;
  }[] = [
    {
      name: "none",
      source: () => ({ kind: "none" }),
      family: "ipv4",
      expected: () => ({ ok: true, source: "none", addresses: [] }),
    },
    {
      name: "static, canonicalised and deduped",
      source: () => ({
        kind: "static",
        addresses: ["2606:4700:0::1", "2606:4700::1", "2606:4700::2"],
      }),
      family: "ipv6",
      expected: () => ({ ok: true, source: "static", addresses: ["2606:4700::1", "2606:4700::2"] }),
    },
    {
      name: "static of the wrong family",
      source: () => ({ kind: "static", addresses: ["5.6.7.8"] }),
      family: "ipv6",
      expected: () => ({ ok: false, source: "static", error: "not IPv6 addresses: 5.6.7.8" }),
    },
    {
      name: "url: trace format",
      source: () => ({ kind: "url", url: url("/trace4") }),
      family: "ipv4",
      expected: () => ({ ok: true, source: `url ${url("/trace4")}`, addresses: ["5.6.7.10"] }),
    },
    {
      name: "url: a private answer is a failure",
      source: () => ({ kind: "url", url: url("/private4") }),
      family: "ipv4",
      expected: () => ({
        ok: false,
        source: `url ${url("/private4")}`,
        error: "answered 192.168.1.1, which is not a public address",
      }),
    },
    {
      name: "url: credentials never reach the source name",
      source: () => ({ kind: "url", url: url("/ok4").replace("://", "://me:s3cret@") }),
      family: "ipv4",
      expected: () => ({
        ok: true,
        source: `url ${url("/ok4").replace("://", "://***@")}`,
        addresses: ["5.6.7.8"],
      }),
    },
    {
      name: "interfaces: nothing public is found-nothing, not a failure",
      source: () => ({ kind: "interfaces" }),
      family: "ipv4",
      interfaces: { eth0: [addr("192.168.1.10/24")] },
      expected: () => ({ ok: true, source: "interfaces", addresses: [] }),
    },
    {
      name: "auto: a public address on an interface, no HTTP",
      source: () => ({ kind: "auto" }),
      family: "ipv4",
      interfaces: HOST,
      expected: () => ({ ok: true, source: "interfaces", addresses: ["5.6.7.8"] }),
    },
  ];

  test.each(cases)("$name", async ({ source, family, interfaces, expected }) => {
    hits.clear();
    const resolved = source();
    expect(await external(resolved, family, ["/ok4b"], interfaces)).toEqual(expected());
    // Only a url source talks HTTP here: the echo list (/ok4b) is never asked.
    expect(hits.has("/ok4b")).toBe(false);
  });

  test("auto: falls back to http when no interface has a public address", async () => {
    const result = await external({ kind: "auto" }, "ipv4", ["/500", "/ok4b"], {
      eth0: [addr("10.0.0.2/8")],
    });
    expect(result).toEqual({ ok: true, source: `http ${url("/ok4b")}`, addresses: ["5.6.7.9"] });
  });

  test("auto: failure says both what interfaces lacked and why http failed", async () => {
    const result = await external({ kind: "auto" }, "ipv6", ["/ok4"], HOST_WITHOUT_IPV6);
    expect(result).toEqual({
      ok: false,
      source: "http",
      error: `no public IPv6 address on any interface, and all 1 http source failed: ${url("/ok4")}: answered 5.6.7.8, not an IPv6 address`,
    });
  });
});

const HOST_WITHOUT_IPV6: Interfaces = { eth0: [addr("5.6.7.8/24"), addr("fd00::1/64")] };

describe("detect", () => {
  const options = (overrides: Partial<DetectOptions>): DetectOptions => ({
    internalSource: { kind: "interfaces" },
    ipv4Source: { kind: "auto" },
    ipv6Source: { kind: "auto" },
    internalCidrs: DEFAULT_CIDRS,
    include: [],
    exclude: DEFAULT_EXCLUDE_INTERFACES,
    timeoutMs: TIMEOUT_MS,
    httpSources: { ipv4: [url("/ok4")], ipv6: [url("/ok6")] },
    interfaces: HOST,
    ...overrides,
  });

  test("all three sources from one host", async () => {
    expect(await detect(options({}))).toEqual({
      internal: { ok: true, source: "interfaces", addresses: ["10.1.2.3", "192.168.1.10"] },
      ipv4: { ok: true, source: "interfaces", addresses: ["5.6.7.8"] },
      ipv6: { ok: true, source: "interfaces", addresses: ["2606:4700::10"] },
    });
  });

  test("one failing source leaves the others intact", async () => {
    const result = await detect(
      options({ ipv6Source: { kind: "http" }, httpSources: { ipv4: [], ipv6: [url("/garbage")] } }),
    );
    expect(result.internal.ok && result.ipv4.ok).toBe(true);
    expect(result.ipv6).toMatchObject({ ok: false, source: "http" });
  });

  test("static and none", async () => {
    const result = await detect(
      options({
        internalSource: { kind: "static", addresses: ["10.9.9.9", "FD00::9"] },
        ipv4Source: { kind: "static", addresses: ["5.6.7.8"] },
        ipv6Source: { kind: "none" },
      }),
    );
    expect(result).toEqual({
      internal: { ok: true, source: "static", addresses: ["10.9.9.9", "fd00::9"] },
      ipv4: { ok: true, source: "static", addresses: ["5.6.7.8"] },
      ipv6: { ok: true, source: "none", addresses: [] },
    });
  });

  test("external sources leave addresses inside INTERNAL_CIDRS to the internal detection", async () => {
    const result = await detect(
      options({
        internalCidrs: cidrs(...DEFAULT_INTERNAL_CIDRS, "9.9.9.0/24"),
        ipv4Source: { kind: "http" },
        httpSources: { ipv4: [url("/internal-public4")], ipv6: [] },
        ipv6Source: { kind: "static", addresses: ["2606:4700::10"] },
        interfaces: { eth0: [addr("9.9.9.9/24")] },
      }),
    );
    expect(result.internal).toEqual({ ok: true, source: "interfaces", addresses: ["9.9.9.9"] });
    expect(result.ipv4).toEqual({
      ok: true,
      source: `http ${url("/internal-public4")}`,
      addresses: [],
    });
    expect(result.ipv6).toEqual({ ok: true, source: "static", addresses: ["2606:4700::10"] });
  });
});

describe("parseAddress agrees with node:net", () => {
  const corpus = [
    "10.0.0.1",
    "255.255.255.255",
    "256.0.0.1",
    "010.0.0.1",
    "1.2.3",
    "1.2.3.4.5",
    "1.2.3.04",
    "0.0.0.0",
    "127.1",
    "0x7f.0.0.1",
    " 10.0.0.1",
    "10.0.0.1 ",
    "",
    "a.b.c.d",
    "::",
    "::1",
    "fe80::1",
    "fe80::1%eth0",
    "2001:db8::1",
    "2001:DB8::1",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "::ffff:10.0.0.1",
    "::ffff:10.0.1",
    "::ffff:010.0.0.1",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5:6:7:1.2.3.4",
    "gggg::1",
    ":::",
    "1:",
    ":1",
    "[::1]",
    "::1.2.3.4",
    "02001:db8::1",
    "2001:db8::00001",
  ];
  test.each(corpus)("%p", (text) => {
    expect(parseAddress(text) !== undefined).toBe(isIP(text) !== 0 && !text.includes("%"));
  });
});
