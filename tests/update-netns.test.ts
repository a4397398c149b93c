/**
 * `dynip update` end to end on real kernel interfaces: a private network namespace holds
 * a LAN interface, docker and compose bridges and a Tailscale-style address, and the fake
 * API listens on that namespace's own loopback. No packet goes to those addresses.
 */
import { describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { type Link, netnsUnavailable, runInNamespace, setupScript } from "./support/netns.ts";

const LINKS: Link[] = [
  { name: "lan0", kind: "veth", addresses: ["192.168.1.10/24"] },
  { name: "docker0", kind: "bridge", addresses: ["172.17.0.1/16"] },
  { name: "br-3f2a1b", kind: "bridge", addresses: ["172.18.0.1/16"] },
  { name: "tail0", kind: "veth", addresses: ["100.64.1.5/10"] },
];
const D = "internal.example.com";
const base = { INTERNAL_DOMAIN: D };
const CASES: Record<string, { env: Record<string, string>; addresses: string[] }> = {
  defaults: { env: base, addresses: [`${D} 192.168.1.10`] },
  tailscale: {
    env: { ...base, INTERNAL_CIDRS: "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10" },
    addresses: [`${D} 100.64.1.5`, `${D} 192.168.1.10`],
  },
  excluded: {
    env: {
      ...base,
      INTERNAL_CIDRS: "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10",
      EXCLUDE_INTERFACES: "lo,docker*,br-*,lan0",
    },
    addresses: [`${D} 100.64.1.5`],
  },
};

const unavailable = netnsUnavailable();

describe("dynip update on real interfaces", () => {
  test.skipIf(unavailable !== undefined)(
    `publishes lan0 only, never docker0 or br-*${unavailable ? ` (skipped: ${unavailable})` : ""}`,
    async () => {
      const env = Object.fromEntries(Object.entries(CASES).map(([k, c]) => [k, c.env]));
      const child = resolve(import.meta.dir, "support/update-in-netns.ts");
      const run = await runInNamespace(setupScript(LINKS), [
        process.execPath,
        child,
        JSON.stringify(env),
      ]);
      expect(run.stderr).toBe("");
      expect(run.exitCode).toBe(0);
      const results = JSON.parse(run.stdout) as Record<
        string,
        { code: number; addresses: string[] }
      >;
      for (const [name, c] of Object.entries(CASES)) {
        expect({ name, code: results[name]?.code, addresses: results[name]?.addresses }).toEqual({
          name,
          code: 0,
          addresses: c.addresses,
        });
      }
    },
  );
});
