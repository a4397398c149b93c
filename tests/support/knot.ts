/**
 * A real Knot DNS (`knotd`) for tests: the second server the RFC 2136 provider is tried
 * against. One process per call on a free port of 127.0.0.1 (never 53), with a throwaway
 * directory holding knot.conf, one zone and a TSIG key allowed to transfer and update it (or
 * less, with KnotOptions). `stop()` kills it and removes the directory; a test process that
 * dies first kills it too.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TsigKey } from "../../src/dns/tsig-key.ts";
import { digAt, findTool, freePort, spawnDaemon, toolPath } from "./dns-daemon.ts";

export interface KnotOptions {
  /** The acl's `action` list for the run's key; default both, `transfer` and `update`. */
  actions?: ("transfer" | "update")[];
  /**
   * Names the key may update, each with the names below it (`update-owner: name`,
   * `update-owner-match: sub-or-equal`, with trailing dots added); default: the whole zone.
   */
  updateOwners?: string[];
  /** Zone-file lines after the SOA and NS, names relative to the zone. */
  records?: string[];
}

/** The acl entry of the run's key: its actions, and where set the names it may update. */
function aclLines(key: TsigKey, options: KnotOptions): string[] {
  const actions = options.actions ?? ["transfer", "update"];
  const owners = options.updateOwners ?? [];
  return [
    "  - id: dynip",
    `    key: ${key.name}`,
    `    action: [${actions.join(", ")}]`,
    ...(owners.length > 0
      ? [
          "    update-owner: name",
          "    update-owner-match: sub-or-equal",
          `    update-owner-name: [${owners.map((name) => `${name}.`).join(", ")}]`,
        ]
      : []),
  ];
}

export interface KnotServer {
  host: "127.0.0.1";
  port: number;
  zone: string;
  key: TsigKey;
  /** dig against this server (`dig` comes from BIND's tools); its stdout. */
  dig(args: string[]): Promise<string>;
  /** What knotd printed so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** Why Knot cannot run here, or undefined when it can (`knot` and `bind9-dnsutils` packages). */
export function knotUnavailable(): string | undefined {
  if (process.platform !== "linux") return "the Knot tests run on Linux only";
  const missing = ["knotd", "dig"].filter((tool) => !findTool(tool));
  return missing.length > 0
    ? `${missing.join(" and ")} not installed (Debian: apt-get install knot bind9-dnsutils)`
    : undefined;
}

/** Starts knotd and resolves once the zone answers its SOA over TCP; throws within 20 s. */
export async function startKnot(
  zone = "example.test",
  options: KnotOptions = {},
): Promise<KnotServer> {
  const unavailable = knotUnavailable();
  if (unavailable) throw new Error(`cannot start knotd: ${unavailable}`);
  const key: TsigKey = {
    name: "dynip-key",
    algorithm: "hmac-sha256",
    secret: randomBytes(32).toString("base64"),
  };
  const dir = mkdtempSync(join(tmpdir(), "dynip-knot-"));
  const port = await freePort();
  // The journal lives in the database directory: without it every update fails (SERVFAIL).
  mkdirSync(join(dir, "db"));
  writeFileSync(
    join(dir, `${zone}.zone`),
    [
      "$TTL 300",
      `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`,
      `@ IN NS ns.${zone}.`,
      "ns IN A 127.0.0.1",
      ...(options.records ?? []),
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "knot.conf"),
    [
      "server:",
      `    rundir: "${dir}"`,
      `    listen: 127.0.0.1@${port}`,
      "log:",
      "  - target: stderr",
      "    any: info",
      "database:",
      `    storage: "${join(dir, "db")}"`,
      "key:",
      `  - id: ${key.name}`,
      `    algorithm: ${key.algorithm}`,
      `    secret: ${key.secret}`,
      "acl:",
      ...aclLines(key, options),
      "template:",
      "  - id: default",
      `    storage: "${dir}"`,
      '    file: "%s.zone"',
      "zone:",
      `  - domain: ${zone}`,
      "    acl: dynip",
      "",
    ].join("\n"),
  );
  // Knot logs to stderr (its log section); 64 KiB of it is plenty for a failure message.
  const daemon = spawnDaemon([toolPath("knotd"), "-c", join(dir, "knot.conf")], dir, 65536);
  const dig = digAt(port);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (daemon.exited()) {
      await daemon.stop();
      throw new Error(`knotd did not start:\n${daemon.output()}`);
    }
    const soa = await dig(["+short", "+tcp", "+norecurse", zone, "SOA"]).catch(() => "");
    if (soa.trim() !== "") break;
    if (Date.now() > deadline) {
      await daemon.stop();
      throw new Error(`knotd did not answer on 127.0.0.1:${port} within 20 s:\n${daemon.output()}`);
    }
    await Bun.sleep(50);
  }
  return { host: "127.0.0.1", port, zone, key, dig, log: daemon.output, stop: daemon.stop };
}
