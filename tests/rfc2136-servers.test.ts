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
import { createCleaner } from "../src/engine/cleaner.ts";
import { RaceError } from "../src/errors.ts";
import { configureLogger } from "../src/observe/log.ts";
import type { Provider } from "../src/providers/provider.ts";
import { heartbeatName } from "../src/registry/heartbeat.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import { freePort, metricsUntil } from "./support/health.ts";
import { type KnotServer, knotUnavailable, startKnot } from "./support/knot.ts";
import { type NamedServer, namedUnavailable, startNamed, type ZoneSpec } from "./support/named.ts";
import { D, hostEnv, managed, now, providerOn, serial, ZONE } from "./support/rfc2136-hosts.ts";
import { until } from "./support/wait.ts";

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

    test("long-lived: records deleted behind its back (a cleanup that took it for dead) are back at the next pass", async () => {
      const child = Bun.spawn([process.execPath, CLI, "update", "--interval", "1"], {
        env: cleanEnv(hostEnv(server, "web-01", "192.168.1.10")),
        stdout: "ignore",
        stderr: "pipe",
      });
      const log = new Response(child.stderr).text();
      try {
        const published = [a("192.168.1.10"), hb("192.168.1.10", "web-01")].sort();
        // Published, then read once more after that change: from here on it plans from its cache.
        await until(async () => (await managed(server)).join() === published.join(), 10_000);
        await Bun.sleep(2500);
        await server.nsupdate([
          `update delete ${D}. A 192.168.1.10`,
          `update delete ${heartbeatName("192.168.1.10", D)}. TXT`,
        ]);
        expect(await managed(server)).toEqual([]);
        // A refresh alone would bring back only the heartbeat, and the address 12 passes later;
        // the verification in the same UPDATE brings both at once.
        await until(async () => (await managed(server)).join() === published.join(), 3_000);
      } finally {
        child.kill("SIGTERM");
        expect(await child.exited).toBe(0);
      }
      expect(await log).not.toContain("ERROR");
    }, 30_000);
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
      const { provider, answers } = providerOn(server);
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

    test("a refused update names the narrow update-policy grant the zone needs, and changes nothing", async () => {
      await start([{ name: ZONE, policy: "transfer-only" }]);
      const result = await update("web-01", "192.168.1.10");
      expect(result.code).toBe(1);
      // The managed name and the heartbeat names below it, A, AAAA and TXT: not the whole zone.
      expect(result.stderr).toContain(
        `refused the UPDATE of zone ${ZONE} to key "dynip-key" (REFUSED): the update-policy of zone ${ZONE} must grant these names: update-policy { grant dynip-key subdomain ${D}. A AAAA TXT; };`,
      );
      expect(result.stderr).not.toContain("zonesub");
      expect(await managed(server)).toEqual([]);
    });

    test("a clock an hour off is reported as a clock problem (TSIG BADTIME)", async () => {
      await start();
      const { provider } = providerOn(server, { now: () => Date.now() / 1000 + 3600 });
      const error = await provider.readDomain(D).catch((e: Error) => e);
      expect(String(error)).toContain("clock problem");
      expect(String(error)).toContain("(NTP)? TSIG allows 300 s");
      expect(String(error)).toContain("run NTP");
      // One mark ends each sentence: never "?." or "..".
      expect(String(error)).not.toMatch(/[.?!][.?!]/);
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
    // A name the grant does not cover is refused, with the line to add, as narrow as the README's.
    const outside = await update("web-01", "192.168.1.10", [], {
      INTERNAL_DOMAIN: `other.${ZONE}`,
    });
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain("(REFUSED)");
    expect(outside.stderr).toContain(
      `update-policy { grant dynip-key subdomain other.${ZONE}. A AAAA TXT; };`,
    );
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

  test("RECORD_TTL=1, Cloudflare's automatic, is a configuration error here: exit 2 before anything is sent", async () => {
    const result = await runCli(["update"], { ...env, RFC2136_ZONE: ZONE, RECORD_TTL: "1" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "RECORD_TTL: 1 means automatic on Cloudflare only: with DNS_PROVIDER=rfc2136 your server would hand out the records with a TTL of 1 second",
    );
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
