/**
 * DNS_PROVIDER=rfc2136 against real servers on loopback: BIND's named (the harness starts one
 * per test on a random port with a throwaway zone and key) and Knot DNS. The real CLI publishes,
 * moves, shares and withdraws addresses, cleanup deletes a dead host, and every answer a
 * misconfigured server gives becomes an error that says what to fix. The race Cloudflare
 * cannot close is proven closed here: a heartbeat refreshed between cleanup's last read and its
 * delete keeps its address, because the delete carries a prerequisite the server checks.
 *
 * Skipped, with the reason in the test names, where named, dig, nsupdate or knotd are missing.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.ts";
import type { TsigKey } from "../src/dns/tsig-key.ts";
import { createCleaner } from "../src/engine/cleaner.ts";
import { RaceError } from "../src/errors.ts";
import { configureLogger } from "../src/observe/log.ts";
import type { Provider, RequestInfo } from "../src/providers/provider.ts";
import { createRfc2136Provider } from "../src/providers/rfc2136/rfc2136.ts";
import { heartbeatName } from "../src/registry/heartbeat.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import { freePort, metricsUntil } from "./support/health.ts";
import { type KnotServer, knotUnavailable, startKnot } from "./support/knot.ts";
import { type NamedServer, namedUnavailable, startNamed, type ZoneSpec } from "./support/named.ts";

const ZONE = "example.test";
const D = `internal.${ZONE}`;
const now = () => Math.floor(Date.now() / 1000);

/** The environment of one host publishing `ip` at D through `server`. */
function hostEnv(
  server: { host: string; port: number; key: TsigKey },
  id: string,
  ip: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DNS_PROVIDER: "rfc2136",
    RFC2136_SERVER: `${server.host}:${server.port}`,
    RFC2136_ZONE: ZONE,
    RFC2136_TSIG_KEY: server.key.name,
    RFC2136_TSIG_SECRET: server.key.secret,
    RFC2136_TSIG_ALGORITHM: server.key.algorithm,
    RFC2136_TIMEOUT_SECONDS: "5",
    INTERNAL_DOMAIN: D,
    INTERNAL_IP_SOURCE: `static:${ip}`,
    INSTANCE_ID: id,
    ...extra,
  };
}

/**
 * The managed records as a signed transfer shows them (`dig AXFR`), one `name type data` line
 * each, sorted; heartbeat timestamps replaced by `T` so a test can compare whole sets.
 */
async function managed(server: { dig(args: string[]): Promise<string>; key: TsigKey }) {
  const { key } = server;
  const text = await server.dig([
    "+noall",
    "+answer",
    "+tcp",
    "-y",
    `${key.algorithm}:${key.name}:${key.secret}`,
    "-t",
    "AXFR",
    ZONE,
  ]);
  return text
    .split("\n")
    .map((line) => line.split(/\s+/))
    .filter(([name]) => name === `${D}.` || name?.endsWith(`.${D}.`))
    .map(([name, , , type, ...data]) => `${name?.slice(0, -1)} ${type} ${data.join(" ")}`)
    .map((line) => line.replace(/"\d+,/, '"T,'))
    .sort();
}

/** The zone's SOA serial: each UPDATE the server applies moves it by one. */
async function serial(server: { dig(args: string[]): Promise<string> }): Promise<number> {
  const soa = await server.dig(["+short", "+tcp", "+norecurse", ZONE, "SOA"]);
  return Number(soa.trim().split(/\s+/)[2]);
}

const hb = (ip: string, id: string) => `${heartbeatName(ip, D)} TXT "T,${id}"`;
const a = (ip: string) => `${D} A ${ip}`;

const named = namedUnavailable();
const knot = knotUnavailable();

describe.skipIf(named !== undefined)(`BIND${named ? ` (skipped: ${named})` : ""}`, () => {
  let server: NamedServer;
  const start = async (zones?: ZoneSpec[]) => {
    server = await startNamed(zones ? { zones } : {});
  };
  afterEach(async () => {
    await server?.stop();
  });

  const update = (id: string, ip: string, args: string[] = [], extra = {}) =>
    runCli(["update", ...args], hostEnv(server, id, ip, extra));

  describe("publishing", () => {
    beforeEach(() => start());

    test("three hosts publish into one name: three addresses, one heartbeat each", async () => {
      for (const [id, ip] of [
        ["web-01", "192.168.1.10"],
        ["web-02", "192.168.1.11"],
        ["web-03", "192.168.1.12"],
      ] as const) {
        const result = await update(id, ip);
        expect(result.stderr).toContain(`create A ${D} ${ip}`);
        expect(result.code).toBe(0);
      }
      expect(await server.lookup(D, "A")).toEqual(["192.168.1.10", "192.168.1.11", "192.168.1.12"]);
      expect(await managed(server)).toEqual(
        [
          a("192.168.1.10"),
          a("192.168.1.11"),
          a("192.168.1.12"),
          hb("192.168.1.10", "web-01"),
          hb("192.168.1.11", "web-02"),
          hb("192.168.1.12", "web-03"),
        ].sort(),
      );
      // A second pass only refreshes: the same set, newer heartbeats.
      expect((await update("web-01", "192.168.1.10")).stderr).toContain(
        "pass done: 0 change(s), 1 heartbeat(s) refreshed",
      );
      expect(await managed(server)).toHaveLength(6);
    });

    test("a shared address: one A, a heartbeat per host; the address stays while a sharer beats", async () => {
      await update("web-01", "192.168.1.30");
      await update("web-02", "192.168.1.30");
      expect(await managed(server)).toEqual(
        [a("192.168.1.30"), hb("192.168.1.30", "web-01"), hb("192.168.1.30", "web-02")].sort(),
      );
      expect((await update("web-01", "192.168.1.30", ["--deregister"])).code).toBe(0);
      expect(await managed(server)).toEqual(
        [a("192.168.1.30"), hb("192.168.1.30", "web-02")].sort(),
      );
      expect((await update("web-02", "192.168.1.30", ["--deregister"])).code).toBe(0);
      expect(await managed(server)).toEqual([]);
    });

    test("an address change: the old address and its heartbeat go in the same message as the new come", async () => {
      await update("web-01", "192.168.1.10");
      const before = await serial(server);
      const moved = await update("web-01", "192.168.1.12");
      expect(moved.code).toBe(0);
      expect(await managed(server)).toEqual(
        [a("192.168.1.12"), hb("192.168.1.12", "web-01")].sort(),
      );
      // Four changes, one UPDATE: the server applied them as one transaction, one new serial.
      expect(await serial(server)).toBe(before + 1);
    });

    test("--dry-run reads the zone, prints the plan and sends no update; status reads on the server's clock", async () => {
      const preview = await update("web-01", "192.168.1.10", ["--dry-run"]);
      expect(preview.code).toBe(0);
      expect(preview.stdout).toContain(`would create A ${D} 192.168.1.10`);
      expect(await managed(server)).toEqual([]);
      await update("web-01", "192.168.1.10");
      const status = await runCli(["status", "--json"], hostEnv(server, "web-01", "192.168.1.10"));
      expect(status.code).toBe(0);
      const report = JSON.parse(status.stdout) as {
        domains: {
          clock: string;
          serverTime: string;
          addresses: { address: string; state: string; mine: boolean }[];
        }[];
      };
      expect(report.domains[0]?.clock).toBe("dns-server");
      expect(Math.abs(Date.parse(report.domains[0]?.serverTime ?? "") / 1000 - now())).toBeLessThan(
        60,
      );
      expect(report.domains[0]?.addresses).toEqual([
        expect.objectContaining({ address: "192.168.1.10", state: "fresh", mine: true }),
      ]);
    });
  });

  describe("cleanup", () => {
    beforeEach(() => start());

    /** A host that died 2000 s ago without deregistering, written with nsupdate. */
    const dead = (ip: string, id: string, age = 2000) =>
      server.nsupdate([
        `update add ${D} 120 A ${ip}`,
        `update add ${heartbeatName(ip, D)} 120 TXT "${now() - age},${id}"`,
      ]);

    test("a dead host's address and heartbeat go; the living stay", async () => {
      await update("web-01", "192.168.1.10");
      await update("web-02", "192.168.1.11");
      await dead("192.168.1.20", "dead-01");
      const cycle = await runCli(["cleanup", "--once"], hostEnv(server, "ops", "192.168.1.99"));
      expect(cycle.stderr).toContain(`delete A ${D} 192.168.1.20 (stale address`);
      expect(cycle.code).toBe(0);
      expect(await managed(server)).toEqual(
        [
          a("192.168.1.10"),
          a("192.168.1.11"),
          hb("192.168.1.10", "web-01"),
          hb("192.168.1.11", "web-02"),
        ].sort(),
      );
    });

    test("the brake holds most addresses going at once, as with Cloudflare", async () => {
      await update("web-01", "192.168.1.10");
      for (const ip of ["192.168.1.20", "192.168.1.21", "192.168.1.22"]) await dead(ip, "gone");
      const cycle = await runCli(["cleanup", "--once"], hostEnv(server, "ops", "192.168.1.99"));
      expect(cycle.code).toBe(1);
      expect(cycle.stderr).toContain("brake: holding the deletion of 3 address(es)");
      expect(await managed(server)).toHaveLength(8);
    });

    /**
     * Cleanup over the server, with another host refreshing the dead-looking heartbeat right
     * before cleanup's UPDATE goes out (after its confirming read). Returns what the server
     * holds after the cycle and the UPDATE answers seen.
     */
    async function refreshDuringDelete(keepPrerequisites: boolean) {
      configureLogger({ level: "silent", format: "pretty" });
      await update("web-01", "192.168.1.10");
      await dead("192.168.1.20", "slow-01");
      const answers: (number | null)[] = [];
      const provider = createRfc2136Provider({
        server,
        zone: ZONE,
        key: server.key,
        timeoutMs: 5000,
        ttl: 120,
        onRequest: (info: RequestInfo) => {
          if (info.method === "UPDATE") answers.push(info.status);
        },
      });
      let refreshed = false;
      const racing: Provider = {
        ...provider,
        async apply(changes, onApplied) {
          if (!refreshed) {
            refreshed = true;
            await server.nsupdate([
              `update delete ${heartbeatName("192.168.1.20", D)} TXT`,
              `update add ${heartbeatName("192.168.1.20", D)} 120 TXT "${now()},slow-01"`,
            ]);
          }
          const given = keepPrerequisites
            ? changes
            : changes.map((c) => (c.kind === "delete" ? { ...c, onlyIf: [] } : c));
          return provider.apply(given, onApplied);
        },
      };
      const cleaner = createCleaner({
        provider: racing,
        domains: [D],
        thresholdSeconds: 900,
        maxDeleteRatio: 0.5,
        holdSeconds: 3600,
        troubleAgoSeconds: () => undefined,
        force: false,
      });
      const result = await cleaner.cycle();
      return { result, records: await managed(server), answers };
    }

    test("a heartbeat refreshed between cleanup's read and its delete keeps its address (prerequisite)", async () => {
      const { result, records, answers } = await refreshDuringDelete(true);
      // The server refused the delete (NXRRSET: the judged heartbeat is gone), cleanup read
      // again, found the host fresh, and deleted nothing.
      expect(answers).toEqual([8]);
      expect(result.deleted).toBe(0);
      expect(records).toEqual(
        [
          a("192.168.1.10"),
          a("192.168.1.20"),
          hb("192.168.1.10", "web-01"),
          hb("192.168.1.20", "slow-01"),
        ].sort(),
      );
    });

    test("without the prerequisite the same moment would cost that host its address", async () => {
      const { result, records } = await refreshDuringDelete(false);
      expect(result.deleted).toBe(2);
      expect(records).not.toContain(a("192.168.1.20"));
    });
  });

  describe("a misconfigured key or server says what to fix", () => {
    test.each([
      [
        "a key name the server does not know",
        { RFC2136_TSIG_KEY: "other-key" },
        'does not know TSIG key "other-key" with hmac-sha256 (BADKEY)',
      ],
      [
        "another secret",
        { RFC2136_TSIG_SECRET: Buffer.alloc(32, 7).toString("base64") },
        'rejected the TSIG signature of key "dynip-key" (BADSIG)',
      ],
      [
        "another algorithm",
        { RFC2136_TSIG_ALGORITHM: "hmac-sha512" },
        'does not know TSIG key "dynip-key" with hmac-sha512 (BADKEY)',
      ],
    ])("%s", async (_, extra, message) => {
      await start();
      const result = await update("web-01", "192.168.1.10", [], extra);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain(server.key.secret);
    });

    test("a refused zone transfer names the allow-transfer line the zone needs", async () => {
      await start([{ name: ZONE, policy: "restricted" }]);
      const result = await update("web-01", "192.168.1.10");
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `refused the transfer of zone ${ZONE} to key "dynip-key" (REFUSED): its zone statement for ${ZONE} needs allow-transfer { key "dynip-key"; };`,
      );
    });

    test("a refused update names the update-policy line the zone needs, and changes nothing", async () => {
      await start([{ name: ZONE, policy: "transfer-only" }]);
      const result = await update("web-01", "192.168.1.10");
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("update-policy { grant dynip-key zonesub ANY; };");
      expect(await managed(server)).toEqual([]);
    });

    test("a clock an hour off is reported as a clock problem (TSIG BADTIME)", async () => {
      await start();
      const provider = createRfc2136Provider({
        server,
        zone: ZONE,
        key: server.key,
        timeoutMs: 5000,
        ttl: 120,
        now: () => Date.now() / 1000 + 3600,
      });
      const error = await provider.readDomain(D).catch((e: Error) => e);
      expect(String(error)).toContain("clock problem");
      expect(String(error)).toContain("run NTP");
      expect(error).not.toBeInstanceOf(RaceError);
    });
  });

  test("the README's named.conf lines are enough, and no more than enough", async () => {
    const readme = readFileSync(join(import.meta.dir, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Your own DNS server (RFC 2136)"));
    const statements = section
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => /^(allow-transfer|update-policy) /.test(line))
      .map((line) => line.replaceAll("example.com", ZONE).replaceAll("dynip-key", "<key>"));
    expect(statements).toHaveLength(2);
    await start([{ name: ZONE, statements }]);
    const published = await update("web-01", "192.168.1.10");
    expect(published.code).toBe(0);
    // The worked example's last command.
    const txt = await server.dig(["+short", "+norecurse", heartbeatName("192.168.1.10", D), "TXT"]);
    expect(txt.trim()).toMatch(/^"\d+,web-01"$/);
    // A name the grant does not cover is refused, with the line to add.
    const outside = await update("web-01", "192.168.1.10", [], {
      INTERNAL_DOMAIN: `other.${ZONE}`,
    });
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain("(REFUSED)");
  });

  test("a long-lived cleanup serves /metrics with the server's requests; a refused key fails /healthz at once", async () => {
    await start();
    await update("web-01", "192.168.1.10");
    const port = await freePort();
    const spawn = (extra: Record<string, string>) =>
      Bun.spawn([process.execPath, CLI, "cleanup"], {
        env: cleanEnv(
          hostEnv(server, "ops", "192.168.1.99", {
            HEALTH_PORT: String(port),
            CLEANUP_INTERVAL_SECONDS: "1",
            ...extra,
          }),
        ),
        stdout: "ignore",
        stderr: "ignore",
      });
    const healthy = spawn({});
    try {
      const metrics = await metricsUntil(
        port,
        /^dynip_cleanup_cycles_total\{result="success"\} [1-9]/m,
      );
      expect(metrics).toMatch(/^dynip_api_requests_total\{method="AXFR",status="0"\} [1-9]/m);
    } finally {
      healthy.kill("SIGTERM");
      expect(await healthy.exited).toBe(0);
    }
    const refused = spawn({ RFC2136_TSIG_KEY: "other-key" });
    try {
      await metricsUntil(port, /^dynip_cleanup_cycles_total\{result="failure"\} 1$/m);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.text()).toContain("BADKEY");
    } finally {
      refused.kill("SIGTERM");
      await refused.exited;
    }
  });

  test("a server that is down: no answer, exit 1, nothing else", async () => {
    await start();
    const port = await freePort();
    const result = await runCli(
      ["update"],
      hostEnv({ ...server, port }, "web-01", "192.168.1.10"),
      { timeoutMs: 30_000 },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`DNS server 127.0.0.1:${port}: connection refused`);
    expect(result.stderr).toContain("Check RFC2136_SERVER");
  });
});

describe.skipIf(knot !== undefined)(`Knot DNS${knot ? ` (skipped: ${knot})` : ""}`, () => {
  let server: KnotServer;
  beforeEach(async () => {
    server = await startKnot(ZONE);
  });
  afterEach(async () => {
    await server.stop();
  });

  test("the same update, transfer and withdrawal path works against a second server", async () => {
    const env = (id: string, ip: string) => hostEnv(server, id, ip);
    for (const [id, ip] of [
      ["web-01", "192.168.1.10"],
      ["web-02", "192.168.1.10"],
      ["web-03", "192.168.1.12"],
    ] as const) {
      expect((await runCli(["update"], env(id, ip))).code).toBe(0);
    }
    expect(await managed(server)).toEqual(
      [
        a("192.168.1.10"),
        a("192.168.1.12"),
        hb("192.168.1.10", "web-01"),
        hb("192.168.1.10", "web-02"),
        hb("192.168.1.12", "web-03"),
      ].sort(),
    );
    const status = await runCli(["status", "--check"], env("web-01", "192.168.1.10"));
    // Owners freshest first: whichever of the two wrote last leads.
    expect(status.stdout).toMatch(/web-01,web-02|web-02,web-01/);
    expect(status.code).toBe(0);
    expect((await runCli(["update", "--deregister"], env("web-03", "192.168.1.12"))).code).toBe(0);
    expect((await runCli(["update", "--deregister"], env("web-01", "192.168.1.10"))).code).toBe(0);
    expect(await managed(server)).toEqual([a("192.168.1.10"), hb("192.168.1.10", "web-02")].sort());
  });
});

describe("without a server configured", () => {
  const env = {
    DNS_PROVIDER: "rfc2136",
    INTERNAL_DOMAIN: D,
    INTERNAL_IP_SOURCE: "static:192.168.1.10",
    INSTANCE_ID: "web-01",
  };

  test("a preview plans against an empty zone and names what is missing", async () => {
    const preview = await runCli(["update", "--dry-run"], env);
    expect(preview.code).toBe(0);
    expect(preview.stdout.split("\n")[0]).toBe(
      "no RFC2136_SERVER, RFC2136_ZONE, RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET: planned against an empty zone; nothing was read or sent",
    );
    expect(preview.stdout).toContain(`would create A ${D} 192.168.1.10`);
  });

  test("a real pass exits 2 before sending anything, naming every missing variable", async () => {
    const result = await runCli(["update"], { ...env, RFC2136_ZONE: ZONE });
    expect(result.code).toBe(2);
    for (const name of ["RFC2136_SERVER", "RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET"]) {
      expect(result.stderr).toContain(`${name}: required with DNS_PROVIDER=rfc2136`);
    }
    expect(result.stderr).not.toContain("RFC2136_ZONE: required");
  });
});

test("the configuration these tests use is valid as written", () => {
  const env = hostEnv(
    {
      host: "127.0.0.1",
      port: 5353,
      key: { name: "k", algorithm: "hmac-sha256", secret: "c2VjcmV0" },
    },
    "web-01",
    "192.168.1.10",
  );
  expect(loadConfig({ env }).provider).toBe("rfc2136");
});
