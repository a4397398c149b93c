/**
 * Address detection against real kernel interfaces, in a private network namespace (root only).
 * The namespace lives exactly as long as one child process, which lists its interfaces for
 * every case below and exits; no packet is ever sent to these addresses.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { DEFAULT_EXCLUDE_INTERFACES, DEFAULT_INTERNAL_CIDRS } from "../src/detect/defaults.ts";
import type { ChildCase } from "./support/detect-child.ts";
import {
  type Link,
  netnsUnavailable,
  OWN_SYSFS,
  runInNamespace,
  setupScript,
} from "./support/netns.ts";

const LINKS: Link[] = [
  { name: "lan0", kind: "veth", addresses: ["192.168.1.10/24", "fd00::10/64"] },
  { name: "docker0", kind: "bridge", addresses: ["172.17.0.1/16"] },
  { name: "br-3f2a1b", kind: "bridge", addresses: ["172.18.0.1/16"] },
  { name: "tail0", kind: "veth", addresses: ["100.64.1.5/10"] },
  {
    name: "wan0",
    kind: "veth",
    addresses: ["5.6.7.8/24"],
    // With use_tempaddr=2 the kernel derives a temporary (privacy) address from a
    // `mngtmpaddr` one at once; preferred_lft 0 makes a deprecated address.
    sysctls: { use_tempaddr: "2" },
    extra: [
      ["addr", "add", "2606:4700:10::10/64", "dev", "wan0", "mngtmpaddr", "nodad"].concat([
        "valid_lft",
        "3600",
        "preferred_lft",
        "1800",
      ]),
      ["addr", "add", "2606:4700:20::20/64", "dev", "wan0", "nodad", "preferred_lft", "0"],
    ],
  },
];

const CGNAT = [...DEFAULT_INTERNAL_CIDRS, "100.64.0.0/10"];
const ULA = [...DEFAULT_INTERNAL_CIDRS, "fd00::/8"];
const internal = (cidrs: string[], exclude = DEFAULT_EXCLUDE_INTERFACES, include: string[] = []) =>
  ({ kind: "internal", cidrs, include, exclude }) satisfies ChildCase;

const CASES: { name: string; input: ChildCase; addresses: string[] }[] = [
  {
    name: "defaults publish only the LAN address, never docker0 or br-*",
    input: internal(DEFAULT_INTERNAL_CIDRS),
    addresses: ["192.168.1.10"],
  },
  {
    name: "without exclusions the bridge addresses are there to be found",
    input: internal(DEFAULT_INTERNAL_CIDRS, []),
    addresses: ["172.17.0.1", "172.18.0.1", "192.168.1.10"],
  },
  {
    name: "100.64.0.0/10 in INTERNAL_CIDRS adds the VPN address",
    input: internal(CGNAT),
    addresses: ["100.64.1.5", "192.168.1.10"],
  },
  {
    name: "EXCLUDE_INTERFACES with lan0 removes the LAN address",
    input: internal(CGNAT, [...DEFAULT_EXCLUDE_INTERFACES, "lan0"]),
    addresses: ["100.64.1.5"],
  },
  {
    name: "INTERFACES selects by glob",
    input: internal(CGNAT, DEFAULT_EXCLUDE_INTERFACES, ["tail*"]),
    addresses: ["100.64.1.5"],
  },
  {
    name: "fd00::/8 in INTERNAL_CIDRS adds the ULA",
    input: internal(ULA),
    addresses: ["192.168.1.10", "fd00::10"],
  },
  {
    name: "public IPv4 on interfaces",
    input: { kind: "public", family: "ipv4", include: [], exclude: DEFAULT_EXCLUDE_INTERFACES },
    addresses: ["5.6.7.8"],
  },
  {
    name: "global IPv6 on interfaces leaves out ULA, link-local, temporary and deprecated",
    input: { kind: "public", family: "ipv6", include: [], exclude: DEFAULT_EXCLUDE_INTERFACES },
    addresses: ["2606:4700:10::10"],
  },
];

const unavailable = netnsUnavailable();
const results: Record<string, unknown> = {};
let listed: string[] = [];

describe.skipIf(unavailable !== undefined)(
  `detection in a network namespace${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    beforeAll(async () => {
      const input = Object.fromEntries(CASES.map((c) => [c.name, c.input]));
      // `ip -6 addr` output lets the test prove the temporary and deprecated addresses exist.
      const script = `ip -6 -o addr show dev wan0 >&2; exec "${process.execPath}" "$@"`;
      const run = await runInNamespace(setupScript(LINKS), [
        "sh",
        "-c",
        script,
        "sh",
        "tests/support/detect-child.ts",
        JSON.stringify(input),
      ]);
      if (run.exitCode !== 0)
        throw new Error(`namespace child failed (${run.exitCode}): ${run.stderr}`);
      Object.assign(results, JSON.parse(run.stdout));
      listed = run.stderr.split("\n").filter((line) => line.includes("inet6"));
    });

    test("the namespace really holds temporary and deprecated IPv6 addresses", () => {
      expect(listed.some((line) => line.includes("temporary"))).toBe(true);
      expect(
        listed.some((line) => line.includes("2606:4700:20::20") && line.includes("deprecated")),
      ).toBe(true);
    });

    test("under systemd's ProcSubset=pid (/proc/net hidden) the flags are still read", async () => {
      const publicV6 = CASES.find((c) => c.input.kind === "public" && c.input.family === "ipv6");
      if (!publicV6) throw new Error("no IPv6 case");
      // The shipped units mount /proc with subset=pid: only /proc/self/net is left.
      const hide = "mount -t proc -o subset=pid proc /proc && ! test -e /proc/net/if_inet6";
      const run = await runInNamespace(
        `${setupScript(LINKS)}\n${hide}`,
        [process.execPath, "tests/support/detect-child.ts", JSON.stringify({ v6: publicV6.input })],
        20_000,
        ["--net", "--mount"],
      );
      expect(run.stderr).toBe("");
      expect(JSON.parse(run.stdout).v6).toEqual(publicV6.addresses);
    });

    test.each(CASES)("$name", ({ name, input, addresses }) => {
      const result = results[name];
      if (input.kind === "public") expect(result).toEqual(addresses);
      else expect(result).toEqual({ ok: true, source: "interfaces", addresses });
    });
  },
);

/**
 * Bridges judged by kind, with no name on the default list: a guest network's bridge (no ports,
 * or only veth and tap ports) is left out; a bridge with an uplink (an ifb stands in for a NIC)
 * carries the host's LAN and is kept, and so is a veth end that holds an address.
 */
const BRIDGES: Link[] = [
  { name: "uplink0", kind: "ifb", addresses: [] },
  { name: "br0", kind: "bridge", ports: ["uplink0"], addresses: ["192.168.1.10/24"] },
  { name: "ctr0", kind: "veth", addresses: ["10.88.0.2/16"] },
  { name: "nerdctl0", kind: "bridge", ports: ["ctr0"], addresses: ["10.4.0.1/24"] },
  { name: "incusbr0", kind: "bridge", addresses: ["10.10.10.1/24"] },
  { name: "tap0", kind: "tap", addresses: [] },
  { name: "mpqemubr0", kind: "bridge", ports: ["tap0"], addresses: ["10.20.0.1/24"] },
  { name: "uplink1", kind: "ifb", addresses: [] },
  { name: "tap1", kind: "tap", addresses: [] },
  { name: "br1", kind: "bridge", ports: ["tap1", "uplink1"], addresses: ["192.168.2.10/24"] },
];

const BRIDGE_CASES: { name: string; input: ChildCase; addresses: string[] }[] = [
  {
    name: "guest bridges are left out by kind; LAN bridges and a container's veth stay",
    input: internal(DEFAULT_INTERNAL_CIDRS),
    addresses: ["10.88.0.2", "192.168.1.10", "192.168.2.10"],
  },
  {
    name: "EXCLUDE_INTERFACES=none does not bring guest bridges back",
    input: internal(DEFAULT_INTERNAL_CIDRS, []),
    addresses: ["10.88.0.2", "192.168.1.10", "192.168.2.10"],
  },
  {
    name: "INTERFACES=* (a glob) does not bring guest bridges back",
    input: internal(DEFAULT_INTERNAL_CIDRS, DEFAULT_EXCLUDE_INTERFACES, ["*"]),
    addresses: ["10.88.0.2", "192.168.1.10", "192.168.2.10"],
  },
  {
    name: "INTERFACES naming a guest bridge is the operator's choice",
    input: internal(DEFAULT_INTERNAL_CIDRS, DEFAULT_EXCLUDE_INTERFACES, ["incusbr0", "br0"]),
    addresses: ["10.10.10.1", "192.168.1.10"],
  },
];

describe.skipIf(unavailable !== undefined)(
  `bridges by kind in a network namespace${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    const found: Record<string, unknown> = {};
    beforeAll(async () => {
      const input = Object.fromEntries(BRIDGE_CASES.map((c) => [c.name, c.input]));
      const run = await runInNamespace(
        `${OWN_SYSFS}\n${setupScript(BRIDGES)}`,
        [process.execPath, "tests/support/detect-child.ts", JSON.stringify(input)],
        20_000,
        ["--net", "--mount"],
      );
      if (run.exitCode !== 0) {
        throw new Error(`namespace child failed (${run.exitCode}): ${run.stderr}`);
      }
      Object.assign(found, JSON.parse(run.stdout));
    });

    test.each(BRIDGE_CASES)("$name", ({ name, addresses }) => {
      expect(found[name]).toEqual({ ok: true, source: "interfaces", addresses });
    });
  },
);
