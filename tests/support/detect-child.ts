/**
 * Runs inside a test network namespace (tests/ip-netns.test.ts): evaluates each named case
 * against the namespace's real interfaces and prints the results as one JSON object.
 * Usage: bun tests/support/detect-child.ts '<json of Record<string, ChildCase>>'
 */
import ipaddr from "ipaddr.js";
import type { Family } from "../../src/detect/cidr.ts";
import { detectInternal, publicFromInterfaces } from "../../src/detect/interfaces.ts";

export type ChildCase =
  | { kind: "internal"; cidrs: string[]; include: string[]; exclude: string[] }
  | { kind: "public"; family: Family; include: string[]; exclude: string[] };

const cases = JSON.parse(process.argv[2] ?? "{}") as Record<string, ChildCase>;
const results: Record<string, unknown> = {};
for (const [name, c] of Object.entries(cases)) {
  results[name] =
    c.kind === "internal"
      ? detectInternal({ ...c, cidrs: c.cidrs.map((cidr) => ipaddr.parseCIDR(cidr)) })
      : publicFromInterfaces(c.family, { include: c.include, exclude: c.exclude });
}
process.stdout.write(JSON.stringify(results));
