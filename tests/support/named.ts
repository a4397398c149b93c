/**
 * A real BIND `named` for tests: one process per call, on a free port of 127.0.0.1 (TCP and
 * UDP, never 53), with a throwaway directory holding named.conf, the zones and a TSIG key made
 * by `tsig-keygen` for this run. Nothing leaves loopback: recursion is off and no zone has a
 * secondary. `stop()` kills the process and removes the directory; a test process that dies
 * first still kills named on its way out.
 *
 * As root (CI), named drops to the `bind` user Debian's package creates (`-u bind`), so the
 * directory is handed to that user: named must read the config and write the zones' journals.
 */
import { chownSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TsigAlgorithm, TsigKey } from "../../src/dns/tsig-key.ts";
import { digAt, findTool, freePort, runTool, spawnDaemon, toolPath } from "./dns-daemon.ts";

export interface ZoneSpec {
  /** The zone's apex, such as `example.test`. */
  name: string;
  /**
   * Zone-file lines added after the SOA and NS (`ns.<zone>` at 127.0.0.1), names relative to
   * the zone: `internal 300 IN A 192.168.1.10`.
   */
  records?: string[];
  /**
   * `open` (default): the run's key may change anything in the zone (`grant <key> zonesub
   * ANY`) and transfer it. `restricted`: the key may only change A records of
   * `allowed.<zone>` and no one may transfer the zone. `transfer-only`: the key may transfer
   * the zone but change only A records of `allowed.<zone>`.
   */
  policy?: "open" | "restricted" | "transfer-only";
  /**
   * The zone's `allow-transfer` and `update-policy` statements exactly as given (say, the
   * README's), `<key>` standing for the run key's name; they replace what `policy` writes.
   */
  statements?: string[];
}

export interface NamedOptions {
  /** Default: one open zone, `example.test`, with nothing but its SOA, NS and `ns` A. */
  zones?: ZoneSpec[];
  /** The run key's algorithm; default hmac-sha256. */
  algorithm?: TsigAlgorithm;
  /** Also create `denied-key`: the server knows it, but it may neither update nor transfer. */
  deniedKey?: boolean;
}

export interface NamedServer {
  host: "127.0.0.1";
  port: number;
  /** The first zone's name. */
  zone: string;
  /** The key every open zone grants updates and transfers to. */
  key: TsigKey;
  /** With `deniedKey`: a key the server knows but grants nothing. */
  deniedKey?: TsigKey;
  /** The working directory (named.conf, zone files, journals). */
  dir: string;
  /** The records `dig +short` shows for `name`/`type`, sorted; throws when dig fails. */
  lookup(name: string, type: string): Promise<string[]>;
  /** dig against this server with the given arguments (add `-y` yourself); its stdout. */
  dig(args: string[]): Promise<string>;
  /**
   * Runs nsupdate, signed with the run's key, with these commands after `server` (the zone
   * is found by nsupdate); throws with its output when it fails. `send` is added.
   */
  nsupdate(commands: string[]): Promise<void>;
  /** What named printed so far (its last 256 KiB), for failure messages. */
  log(): string;
  /** Kills named (SIGTERM, then SIGKILL after 5 s) and removes the directory. */
  stop(): Promise<void>;
}

const TOOLS = ["named", "tsig-keygen", "dig", "nsupdate"] as const;

/**
 * Why a real named cannot run here, or undefined when it can: BIND comes from Debian's
 * `bind9` (named, tsig-keygen) and `bind9-dnsutils` (dig, nsupdate) packages.
 */
export function namedUnavailable(): string | undefined {
  if (process.platform !== "linux") return "the BIND tests run on Linux only";
  const missing = TOOLS.filter((tool) => !findTool(tool));
  if (missing.length > 0) {
    return `${missing.map((t) => `\`${t}\``).join(", ")} not installed (apt-get install bind9 bind9-dnsutils)`;
  }
  return undefined;
}

/**
 * Why BIND's clients cannot run here, or undefined when they can: `dig` and `nsupdate` alone
 * (Debian's `bind9-dnsutils`), enough to capture what they send without a server.
 */
export function bindClientsUnavailable(): string | undefined {
  const missing = (["dig", "nsupdate"] as const).filter((tool) => !findTool(tool));
  if (missing.length > 0) {
    return `${missing.map((t) => `\`${t}\``).join(", ")} not installed (apt-get install bind9-dnsutils)`;
  }
  return undefined;
}

/** A key made by `tsig-keygen`, read from the `secret "…";` line it prints. */
async function makeKey(name: string, algorithm: TsigAlgorithm): Promise<TsigKey> {
  const text = await runTool([toolPath("tsig-keygen"), "-a", algorithm, name]);
  const secret = /secret "([^"]+)"/.exec(text)?.[1];
  if (!secret) throw new Error(`tsig-keygen printed no secret:\n${text}`);
  return { name, algorithm, secret };
}

function zoneFile(spec: ZoneSpec): string {
  return [
    "$TTL 300",
    `@ IN SOA ns.${spec.name}. hostmaster.${spec.name}. 1 3600 600 86400 60`,
    `@ IN NS ns.${spec.name}.`,
    "ns IN A 127.0.0.1",
    ...(spec.records ?? []),
    "",
  ].join("\n");
}

function keyClause(key: TsigKey): string {
  return `key "${key.name}" {\n  algorithm ${key.algorithm};\n  secret "${key.secret}";\n};\n`;
}

function zoneClause(spec: ZoneSpec, key: TsigKey): string {
  const policy = spec.policy ?? "open";
  const transfer = policy === "restricted" ? "none;" : `key "${key.name}";`;
  const grant =
    policy === "open"
      ? `grant "${key.name}" zonesub ANY;`
      : `grant "${key.name}" name allowed.${spec.name}. A;`;
  const statements = spec.statements?.map((line) => line.replaceAll("<key>", key.name)) ?? [
    `allow-transfer { ${transfer} };`,
    `update-policy { ${grant} };`,
  ];
  return [
    `zone "${spec.name}" {`,
    "  type primary;",
    `  file "${spec.name}.zone";`,
    ...statements.map((line) => `  ${line}`),
    "};",
    "",
  ].join("\n");
}

function namedConf(dir: string, port: number, zones: ZoneSpec[], keys: TsigKey[]): string {
  const main = keys[0] as TsigKey;
  return [
    ...keys.map(keyClause),
    "options {",
    `  directory "${dir}";`,
    `  managed-keys-directory "${dir}";`,
    "  pid-file none;",
    "  session-keyfile none;",
    `  listen-on port ${port} { 127.0.0.1; };`,
    "  listen-on-v6 { none; };",
    "  recursion no;",
    "  dnssec-validation no;",
    "  notify no;",
    "};",
    // No rndc control channel: nothing else should talk to this server.
    "controls { };",
    ...zones.map((spec) => zoneClause(spec, main)),
  ].join("\n");
}

/** Running processes, killed if the test process exits without calling stop(). */

/**
 * Starts named and resolves once it answers an SOA query for every zone over TCP and UDP.
 * Throws (with named's output) when it exits or does not answer within 20 s; a port taken in
 * the meantime is retried on another port.
 */
export async function startNamed(options: NamedOptions = {}): Promise<NamedServer> {
  const unavailable = namedUnavailable();
  if (unavailable) throw new Error(`cannot start named: ${unavailable}`);
  const zones = options.zones ?? [{ name: "example.test" }];
  const algorithm = options.algorithm ?? "hmac-sha256";
  const key = await makeKey("dynip-key", algorithm);
  const deniedKey = options.deniedKey ? await makeKey("denied-key", "hmac-sha256") : undefined;
  const keys = deniedKey ? [key, deniedKey] : [key];
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "dynip-named-"));
    try {
      const port = await freePort();
      writeFileSync(join(dir, "named.conf"), namedConf(dir, port, zones, keys));
      for (const spec of zones) writeFileSync(join(dir, `${spec.name}.zone`), zoneFile(spec));
      const user = runAs();
      if (user) chownTree(dir, user.uid, user.gid, zones);
      return await launch({ dir, port, zones, key, deniedKey, user: user?.name });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      lastError = error;
      if (!(error instanceof PortTakenError)) throw error;
    }
  }
  throw lastError;
}

class PortTakenError extends Error {}

/** As root, the user named drops to (Debian's `bind`); otherwise named runs as we do. */
function runAs(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const result = Bun.spawnSync(["id", "-u", "bind"]);
  if (result.exitCode !== 0) return undefined;
  const gid = Bun.spawnSync(["id", "-g", "bind"]);
  return {
    name: "bind",
    uid: Number(result.stdout.toString().trim()),
    gid: Number(gid.stdout.toString().trim()),
  };
}

function chownTree(dir: string, uid: number, gid: number, zones: ZoneSpec[]): void {
  chownSync(dir, uid, gid);
  chownSync(join(dir, "named.conf"), uid, gid);
  for (const spec of zones) chownSync(join(dir, `${spec.name}.zone`), uid, gid);
}

interface Launch {
  dir: string;
  port: number;
  zones: ZoneSpec[];
  key: TsigKey;
  deniedKey: TsigKey | undefined;
  user: string | undefined;
}

const LOG_LIMIT = 256 * 1024;

async function launch({ dir, port, zones, key, deniedKey, user }: Launch): Promise<NamedServer> {
  // -g: foreground, log to stderr; -n 1: one worker thread is plenty and starts faster.
  const command = [toolPath("named"), "-g", "-n", "1", "-c", join(dir, "named.conf")];
  if (user) command.push("-u", user);
  const daemon = spawnDaemon(command, dir, LOG_LIMIT);
  const dig = digAt(port);

  const server: NamedServer = {
    host: "127.0.0.1",
    port,
    zone: (zones[0] as ZoneSpec).name,
    key,
    dir,
    dig,
    async lookup(name, type) {
      const text = await dig(["+short", "+norecurse", "+tcp", name, type]);
      return text
        .split("\n")
        .filter((line) => line !== "")
        .sort();
    },
    async nsupdate(commands) {
      const script = [`server 127.0.0.1 ${port}`, ...commands, "send", ""].join("\n");
      await runTool(
        [toolPath("nsupdate"), "-v", "-t", "5", "-y", `${key.algorithm}:${key.name}:${key.secret}`],
        script,
      );
    },
    log: daemon.output,
    stop: daemon.stop,
  };
  if (deniedKey) server.deniedKey = deniedKey;

  // Ready when every zone answers its SOA over TCP and UDP: named logs "running" before that.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const output = daemon.output();
    if (daemon.exited() || output.includes("address in use")) {
      await daemon.stop();
      const error = output.includes("address in use") ? PortTakenError : Error;
      throw new error(`named did not start:\n${output}`);
    }
    const answers = await Promise.all(
      zones.flatMap((spec) =>
        ["+tcp", "+notcp"].map((transport) =>
          dig(["+short", "+norecurse", transport, spec.name, "SOA"]).catch(() => ""),
        ),
      ),
    );
    if (answers.every((text) => text.trim() !== "")) return server;
    if (Date.now() > deadline) {
      await daemon.stop();
      throw new Error(`named did not answer on 127.0.0.1:${port} within 20 s:\n${daemon.output()}`);
    }
    await Bun.sleep(50);
  }
}
