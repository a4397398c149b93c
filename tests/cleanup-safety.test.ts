/**
 * Issue 10: cleanup never deletes a live host's record. Each describe block reproduces one
 * kind of fault against the fake API with the real CLI: offset paging while the zone changes,
 * an outage that looks like mass death (the brake), answers without Cloudflare's clock, a TXT
 * at a heartbeat name that is no heartbeat, deletions lost with a later failing chunk.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import {
  apiEnv,
  batchRequests,
  type FakeCloudflare,
  type RecordedRequest,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { freePort, metricsUntil } from "./support/health.ts";
import { iso } from "./support/records.ts";
import { until } from "./support/wait.ts";

const D = "internal.example.com";
const THRESHOLD = 900;

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now(), maxRecords: 20_000 });
});
afterEach(async () => {
  await fake.stop();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...apiEnv(fake),
    INTERNAL_DOMAIN: D,
    EXTERNAL_IPV4_SOURCE: "none",
    EXTERNAL_IPV6_SOURCE: "none",
    INSTANCE_ID: "cleanup-01",
    STALE_THRESHOLD_SECONDS: String(THRESHOLD),
    ...extra,
  };
}

/** Fake-clock seconds now. */
const fakeNow = () => Math.floor(fake.clock.now() / 1000);

/**
 * A host's address and heartbeat as its last pass left them: the address created an hour
 * ago, the heartbeat written `beatAge` seconds ago (on Cloudflare's clock and the host's).
 */
function seedHost(ip: string, id: string, beatAge: number): void {
  const now = fakeNow();
  fake.seed({ name: D, type: "A", content: ip, created_on: iso(now - 3600) });
  fake.seed({
    name: heartbeatName(ip, D),
    type: "TXT",
    content: formatHeartbeat(now - beatAge, id),
    created_on: iso(now - 3600),
    modified_on: iso(now - beatAge),
  });
}

const addresses = () =>
  fake
    .records()
    .filter((r) => r.type === "A" && r.name === D)
    .map((r) => r.content);

const query = (r: RecordedRequest, name: string) => r.query.get(name);

/** Resolves true once `ready` holds, false when `done` settles first. */
async function before(ready: () => boolean, done: Promise<unknown>): Promise<boolean> {
  let finished = false;
  done.then(
    () => {
      finished = true;
    },
    () => {
      finished = true;
    },
  );
  while (!finished) {
    if (ready()) return true;
    await Bun.sleep(10);
  }
  return ready();
}

describe("offset paging while other hosts come and go", () => {
  /**
   * 5,000 live hosts on 10.x and 200 fresh heartbeats without address on 1.0.0.x, which sort
   * first: 10,200 records, three pages of 5,000 (addresses first, then heartbeats by name).
   * Page 3 of the full read starts at heartbeat 5,000 (after 5,000 addresses), and page 2 of a
   * heartbeat-only re-read also starts at heartbeat 5,000. Host `target` sits at 5,001: one
   * deregistration before page 3 moves it onto page 2 of the full read, another before page 2
   * of such a re-read moves it onto page 1 of the re-read; both reads miss it.
   */
  function fleet() {
    const ips = Array.from(
      { length: 5000 },
      (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
    );
    for (const [i, ip] of ips.entries()) seedHost(ip, `host-${i}`, 30);
    for (let i = 0; i < 200; i++) {
      fake.seed({
        name: heartbeatName(`1.0.0.${i}`, D),
        type: "TXT",
        content: formatHeartbeat(fakeNow() - 30, `spare-${i}`),
      });
    }
    const beats = fake
      .records()
      .filter((r) => r.type === "TXT")
      .map((r) => r.content.replace(/^"\d+,|"$/g, ""));
    const ipOf = (id: string | undefined) => ips[Number(id?.split("-")[1])] ?? "";
    const [x, y, target, last] = [beats[300], beats[400], beats[5001], beats.at(-1)];
    expect([x, y, target, last].every((id) => id?.startsWith("host-"))).toBe(true);
    return { ips, x, y, targetIp: ipOf(target), lastIp: ipOf(last) };
  }

  const run = async (args: string[], extra: Record<string, string>) => {
    const r = await runCli(args, env(extra));
    expect(r.code).toBe(0);
  };
  const deregister = (id: string | undefined) =>
    run(["update", "--deregister"], { INSTANCE_ID: id ?? "" });
  /** A host that shares `ip` (behind the same NAT): it adds only a heartbeat, sorting last. */
  const join = (id: string, ip: string) =>
    run(["update"], { INSTANCE_ID: id, INTERNAL_IP_SOURCE: `static:${ip}` });

  const fullPage3 = (r: RecordedRequest) => query(r, "page") === "3" && !query(r, "type");
  /** Page 2 of a heartbeat re-read page by page, or the first of the re-reads by name. */
  const reread = (r: RecordedRequest) =>
    query(r, "type") === "TXT" &&
    (query(r, "page") === "2" || (query(r, "name.startswith")?.length ?? 0) > 11);

  /**
   * Cleanup, with `first` run while its page 3 is held, and `second` while its re-read is
   * held. The holds are disarmed while the other hosts run, so they hit only cleanup's requests
   * (cleanup sends nothing while it waits for a held answer).
   */
  async function cleanupBetween(first: () => Promise<void>, second: () => Promise<void>) {
    let armed = true;
    const others = async (hosts: () => Promise<void>) => {
      armed = false;
      await hosts();
      armed = true;
    };
    const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()] as const;
    for (const [i, test] of [fullPage3, reread].entries()) {
      const until = gates[i]?.promise ?? Promise.resolve();
      fake.inject({ method: "GET", when: (r) => armed && test(r), fault: { kind: "hold", until } });
    }
    const cleanup = runCli(["cleanup", "--once"], env(), { timeoutMs: 60_000 });
    await until(() => fake.requests.some(fullPage3));
    const count = fake.requests.length;
    await others(first);
    gates[0].resolve();
    const rereadSince = () => fake.requests.slice(count).some((r) => armed && reread(r));
    const reread2 = await before(rereadSince, cleanup);
    if (reread2) await others(second);
    gates[1].resolve();
    return { ...(await cleanup), reread: reread2 };
  }

  test("hosts deregistering between pages: the read notices and starts again", async () => {
    const { ips, x, y, targetIp } = fleet();
    const result = await cleanupBetween(
      () => deregister(x),
      () => deregister(y),
    );
    expect(addresses()).toContain(targetIp);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("changed while being read page by page");
    // Nobody died: only the deregistered hosts' records are gone.
    expect(ips.length - addresses().length).toBeLessThanOrEqual(2);
    expect(result.stderr).not.toMatch(/delete A /);
    expect(fake.schemaViolations).toEqual([]);
  }, 60_000);

  test("a shift the read cannot see (one host leaves, two join): the re-read by name saves it", async () => {
    const { x, y, targetIp, lastIp } = fleet();
    const result = await cleanupBetween(
      async () => {
        await deregister(x);
        await join("nat-a", lastIp);
        await join("nat-b", lastIp);
      },
      () => deregister(y),
    );
    expect(addresses()).toContain(targetIp);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/delete A /);
    // The full read missed the target unawares, so it was a candidate and its heartbeat was
    // read again, while a third host deregistered; those answers were single and complete.
    expect(result.reread).toBe(true);
    const rereads = fake.requests.filter((r) => query(r, "type") === "TXT");
    expect(rereads.length).toBeGreaterThan(0);
    expect(rereads.every((r) => query(r, "page") === "1")).toBe(true);
  }, 60_000);
});

describe("the mass-deletion brake", () => {
  const fleet = (stale: number, fresh: number, staleAge = THRESHOLD + 100) => {
    for (let i = 0; i < stale; i++) seedHost(`10.0.1.${i + 1}`, `stale-${i}`, staleAge);
    for (let i = 0; i < fresh; i++) seedHost(`10.0.2.${i + 1}`, `fresh-${i}`, 30);
  };

  test("an outage that stops every heartbeat deletes nothing, says why and exits 1", async () => {
    // 40 hosts rate limited for longer than a 60 s threshold: 80 live records look dead.
    for (let i = 0; i < 40; i++) seedHost(`10.0.1.${i + 1}`, `web-${i}`, 120);
    const before = fake.records();
    const result = await runCli(["cleanup", "--once"], env({ STALE_THRESHOLD_SECONDS: "60" }));
    expect(result.code).toBe(1);
    expect(fake.records()).toEqual(before);
    expect(result.stderr).toContain("brake: holding the deletion of 40 address(es)");
    expect(result.stderr).toContain("40 of 40 addresses would go at once");
    expect(result.stderr).toContain("CLEANUP_MAX_DELETE_RATIO=0.5");
    expect(result.stderr).toContain("CLEANUP_BRAKE_HOLD_SECONDS=240");
    expect(batchRequests(fake)).toEqual([]);
  });

  test("an outage longer than the hold, with cleanup seeing 429: nothing goes", async () => {
    // The API was down for 90 minutes; cleanup gets through first, rate limited on its way in.
    for (let i = 0; i < 8; i++) seedHost(`10.0.1.${i + 1}`, `web-${i}`, 5400);
    fake.inject({ method: "GET", fault: { kind: "rate-limit", retryAfter: 1 } });
    const result = await runCli(["cleanup", "--once"], env());
    expect(result.code).toBe(1);
    expect(addresses()).toHaveLength(8);
    expect(result.stderr).toContain("no host has beaten here for 5400 s");
  });

  test("a partition that stops hosts beating at staggered times: nothing goes, cycle after cycle", async () => {
    // Six hosts, three last beat 250 s ago and three 50 s ago, then the partition.
    for (let i = 0; i < 6; i++) seedHost(`10.0.1.${i + 1}`, `web-${i}`, i < 3 ? 250 : 50);
    for (const later of [700, 300, 300]) {
      fake.clock.advance(later * 1000);
      expect((await runCli(["cleanup", "--once"], env())).code).toBe(1);
      expect(addresses()).toHaveLength(6);
    }
  });

  test("a deliberate scale-down goes once the addresses stayed stale for longer than the hold", async () => {
    fleet(6, 4);
    expect((await runCli(["cleanup", "--once"], env())).code).toBe(1);
    expect(addresses()).toHaveLength(10);
    // Stale for longer than the hold (4 x 900 s) an hour later, the six are deleted; the four
    // live hosts, beating meanwhile, stay.
    fake.clock.advance(3600 * 1000);
    for (let i = 0; i < 4; i++) {
      const beat = fake.records().find((r) => r.content.includes(`,fresh-${i}"`));
      expect(beat).toBeDefined();
    }
    const refresh = async (i: number) => {
      const r = await runCli(
        ["update"],
        env({ INSTANCE_ID: `fresh-${i}`, INTERNAL_IP_SOURCE: `static:10.0.2.${i + 1}` }),
      );
      expect(r.code).toBe(0);
    };
    for (let i = 0; i < 4; i++) await refresh(i);
    const later = await runCli(["cleanup", "--once"], env());
    expect(later.code).toBe(0);
    expect(addresses().toSorted()).toEqual(["10.0.2.1", "10.0.2.2", "10.0.2.3", "10.0.2.4"]);
  });

  test("--force deletes what the brake holds; --force without --once is a usage error", async () => {
    fleet(6, 4);
    const refused = await runCli(["cleanup", "--force"], env());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--force goes with --once");
    const forced = await runCli(["cleanup", "--once", "--force"], env());
    expect(forced.code).toBe(0);
    expect(forced.stderr).toContain("brake overridden by --force");
    expect(addresses()).toHaveLength(4);
  });

  test("up to half of a domain's addresses go at once without the brake", async () => {
    fleet(5, 5);
    const result = await runCli(["cleanup", "--once"], env());
    expect(result.code).toBe(0);
    expect(addresses()).toHaveLength(5);
  });

  test("CLEANUP_MAX_DELETE_RATIO tightens it; three addresses are too few for a ratio", async () => {
    fleet(2, 3);
    const braked = await runCli(["cleanup", "--once"], env({ CLEANUP_MAX_DELETE_RATIO: "0.3" }));
    expect(braked.code).toBe(1);
    expect(addresses()).toHaveLength(5);
    await fake.stop();
    fake = await startFakeCloudflare({ now: Date.now() });
    fleet(2, 1);
    expect((await runCli(["cleanup", "--once"], env({ CLEANUP_MAX_DELETE_RATIO: "0" }))).code).toBe(
      0,
    );
    expect(addresses()).toEqual(["10.0.2.1"]);
  });

  test.each([
    [
      "cleanup's own 429",
      "cleanup itself was rate limited or saw API errors",
      async () => fake.inject({ method: "GET", fault: { kind: "rate-limit", retryAfter: 1 } }),
    ],
    [
      "a token budget nearly spent (27 of 30 used by other hosts)",
      "rate limited",
      async () => {
        fake.setRateLimit({ requests: 30, windowSeconds: 300 });
        for (let i = 0; i < 27; i++) {
          await fetch(`${fake.url}/zones/${fake.zone.id}/dns_records?name=x.${D}`, {
            headers: { authorization: `Bearer ${fake.token}` },
          });
        }
      },
    ],
  ])("%s within the threshold holds even one death", async (_name, said, trouble) => {
    fleet(1, 9);
    await trouble();
    const result = await runCli(["cleanup", "--once"], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(said);
    expect(addresses()).toHaveLength(10);
  });

  test("long-lived: /metrics counts the held records, /healthz stays 200 and says why", async () => {
    fleet(6, 4);
    const port = await freePort();
    const child = Bun.spawn([process.execPath, CLI, "cleanup"], {
      env: cleanEnv(env({ HEALTH_PORT: String(port), CLEANUP_INTERVAL_SECONDS: "1" })),
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      const metrics = await metricsUntil(
        port,
        /^dynip_cleanup_cycles_total\{result="success"\} [1-9]/m,
      );
      expect(metrics).toMatch(
        /^dynip_cleanup_held_records\{domain="internal\.example\.com"\} 12$/m,
      );
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.text()).toContain("brake is holding deletions in internal.example.com");
      expect(addresses()).toHaveLength(10);
    } finally {
      child.kill("SIGTERM");
      await child.exited;
    }
  });
});

describe("no judgement without Cloudflare's clock", () => {
  test("a cleanup host one hour fast with no Date from the API deletes nothing and exits 1", async () => {
    // Cloudflare's clock is an hour behind this machine's: the same as this host an hour fast.
    fake.clock.set(Date.now() - 3_600_000);
    seedHost("10.0.0.5", "web-05", 30);
    fake.inject({ times: Infinity, fault: { kind: "no-date" } });
    const result = await runCli(["cleanup", "--once"], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("no usable Date header");
    expect(addresses()).toEqual(["10.0.0.5"]);
  });

  test.each([
    ["no Date on the first read", { kind: "no-date" } as const, () => true],
    ["an unreadable Date", { kind: "bad-date", value: "yesterday" } as const, () => true],
    [
      "no Date on the confirming re-read",
      { kind: "no-date" } as const,
      (r: RecordedRequest) => query(r, "type") === "TXT",
    ],
  ])("%s: a stale address stays, with a warning", async (_name, fault, when) => {
    seedHost("10.0.0.6", "dead-06", THRESHOLD + 100);
    for (const i of [1, 2, 3]) seedHost(`10.0.0.${i}`, `web-0${i}`, 30);
    fake.inject({ method: "GET", times: Infinity, when, fault });
    const result = await runCli(["cleanup", "--once"], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("no usable Date header");
    expect(addresses()).toContain("10.0.0.6");
    fake.clearFaults();
    // The same cycle with Cloudflare's clock deletes it.
    expect((await runCli(["cleanup", "--once"], env())).code).toBe(0);
    expect(addresses().toSorted()).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });

  test("status says whose clock its ages are on, and --check fails without Cloudflare's", async () => {
    seedHost("10.0.0.7", "web-07", 30);
    fake.inject({ times: Infinity, fault: { kind: "no-date" } });
    const status = await runCli(["status", "--check"], env({ INTERNAL_IP_SOURCE: "none" }));
    expect(status.code).toBe(1);
    expect(status.stdout).toContain("Cloudflare sent no usable Date");
  });
});

describe("only heartbeats are heartbeats", () => {
  test("a TXT at a heartbeat name that is no heartbeat stays when the stale address goes", async () => {
    seedHost("10.0.0.5", "dead-05", THRESHOLD + 100);
    seedHost("10.0.0.6", "web-06", 30);
    seedHost("10.0.0.7", "web-07", 30);
    const name = heartbeatName("10.0.0.5", D);
    fake.seed({
      name,
      type: "TXT",
      content: '"not a heartbeat"',
      created_on: iso(fakeNow() - 9000),
    });
    const result = await runCli(["cleanup", "--once"], env());
    expect(result.code).toBe(0);
    expect(addresses().toSorted()).toEqual(["10.0.0.6", "10.0.0.7"]);
    const left = fake.records().filter((r) => r.name === name);
    expect(left.map((r) => r.content)).toEqual(['"not a heartbeat"']);
  });
});

describe("every applied deletion is reported", () => {
  /** 20 dead hosts among 25 live ones (under the brake's ratio), batches of 10 operations. */
  const seedDead = () => {
    for (let i = 0; i < 20; i++) seedHost(`10.0.1.${i + 1}`, `dead-${i}`, THRESHOLD + 100);
    for (let i = 0; i < 25; i++) seedHost(`10.0.2.${i + 1}`, `web-${i}`, 30);
    // The fourth batch and its retries fail: 30 of 40 deletions landed.
    fake.inject({ method: "POST", path: /\/batch$/, times: 3, fault: { kind: "delay", ms: 1 } });
    fake.inject({
      method: "POST",
      path: /\/batch$/,
      times: Infinity,
      fault: { kind: "status", status: 500 },
    });
  };

  test("--once logs each of the 30 deletions that landed before the fourth chunk failed", async () => {
    seedDead();
    const result = await runCli(["cleanup", "--once"], env({ BATCH_SIZE: "10" }), {
      timeoutMs: 60_000,
    });
    expect(result.code).toBe(1);
    expect(addresses()).toHaveLength(25 + 5);
    expect(result.stderr.match(/ INFO {2}delete (A|TXT) /g)).toHaveLength(30);
    expect(result.stderr).toContain("cleanup cycle failed: after deleting 30 record(s)");
  });

  test("long-lived: /metrics counts them", async () => {
    seedDead();
    const port = await freePort();
    const child = Bun.spawn([process.execPath, CLI, "cleanup"], {
      env: cleanEnv(
        env({ HEALTH_PORT: String(port), CLEANUP_INTERVAL_SECONDS: "3600", BATCH_SIZE: "10" }),
      ),
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      const failed = /^dynip_cleanup_cycles_total\{result="failure"\} 1$/m;
      const metrics = await metricsUntil(port, failed, 30_000);
      expect(metrics).toMatch(/^dynip_records_deleted_total\{type="A"\} 15$/m);
      expect(metrics).toMatch(/^dynip_records_deleted_total\{type="TXT"\} 15$/m);
    } finally {
      child.kill("SIGTERM");
      await child.exited;
    }
  }, 40_000);
});

describe("a managed name at the zone's apex", () => {
  test("with CF_ZONE_ID, cleanup asks the zone's name before deleting there, and refuses (exit 2)", async () => {
    await fake.stop();
    fake = await startFakeCloudflare({
      now: Date.now(),
      zones: [{ id: "b".repeat(32), name: "lab.example.com" }],
    });
    const lab = (extra: Record<string, string> = {}) =>
      env({ INTERNAL_DOMAIN: "lab.example.com", ...extra });
    // The website's record at the apex, hand-made long ago, and no heartbeat beside it.
    fake.seed({
      name: "lab.example.com",
      type: "A",
      content: "5.6.7.8",
      created_on: iso(fakeNow() - 90_000),
    });
    for (const i of [1, 2, 3]) {
      fake.seed({
        name: heartbeatName(`10.0.0.${i}`, "lab.example.com"),
        type: "TXT",
        content: formatHeartbeat(fakeNow() - 30, `web-${i}`),
      });
    }
    const refused = await runCli(["cleanup", "--once"], lab());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("lab.example.com is the apex of zone CF_ZONE_ID");
    expect(fake.records().some((r) => r.content === "5.6.7.8")).toBe(true);
    expect(fake.requests.filter((r) => r.path === `/zones/${"b".repeat(32)}`)).toHaveLength(1);
    // A token that may not read zones: said, and cleanup goes on as before.
    fake.inject({ method: "GET", path: /^\/zones\/b+$/, fault: { kind: "status", status: 403 } });
    const blind = await runCli(["cleanup", "--once", "--dry-run"], lab());
    expect(blind.code).toBe(0);
    expect(blind.stderr).toContain("lacks Zone → Zone → Read");
  });
});
