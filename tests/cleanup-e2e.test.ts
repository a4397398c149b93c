import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import {
  apiEnv,
  batchRequests,
  type FakeCloudflare,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { freePort, metricsUntil } from "./support/health.ts";
import { until } from "./support/wait.ts";

const INTERNAL = "internal.example.com";
const COMBINED = "all.example.com";
const MINUTE = 60_000;

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now() });
});
afterEach(async () => {
  await fake.stop();
});

function base(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...apiEnv(fake),
    INTERNAL_DOMAIN: INTERNAL,
    COMBINED_DOMAIN: COMBINED,
    EXTERNAL_IPV4_SOURCE: "none",
    EXTERNAL_IPV6_SOURCE: "none",
    INSTANCE_ID: "cleanup-01",
    ...extra,
  };
}

async function beat(instance: string, ip: string) {
  const r = await runCli(
    ["update"],
    base({ INSTANCE_ID: instance, INTERNAL_IP_SOURCE: `static:${ip}` }),
  );
  expect(r.code).toBe(0);
}

/** Records nobody may ever delete: unrelated names, look-alikes, other TXT. */
function seedBystanders() {
  fake.seed({ name: "www.example.com", type: "A", content: "198.51.100.7" });
  fake.seed({ name: `x${INTERNAL}`, type: "A", content: "192.168.1.12" });
  fake.seed({ name: `_heartbeat-192-168-1-12.x${INTERNAL}`, type: "TXT", content: '"1,old"' });
  fake.seed({ name: INTERNAL, type: "TXT", content: '"v=spf1 -all"' });
  fake.seed({ name: `_heartbeat-x.${INTERNAL}`, type: "TXT", content: '"1,not-a-heartbeat"' });
  fake.seed({ name: `www.${INTERNAL}`, type: "A", content: "192.168.1.12" });
}

const snapshot = () =>
  fake.records().map((r) => `${r.type} ${r.name} ${r.content.replace(/^"\d+,/, '"T,')}`);

/** What cleanup must delete after `scenario()`: web-03's address and heartbeat on both domains. */
const DEAD = [
  `A ${INTERNAL} 192.168.1.12`,
  `TXT _heartbeat-192-168-1-12.${INTERNAL} "T,web-03"`,
  `A ${COMBINED} 192.168.1.12`,
  `TXT _heartbeat-192-168-1-12.${COMBINED} "T,web-03"`,
];

/** Three hosts beat; the clock moves 20 minutes; web-01 and web-02 beat again; web-03 is dead. */
async function scenario() {
  seedBystanders();
  await beat("web-01", "192.168.1.10");
  await beat("web-02", "192.168.1.11");
  await beat("web-03", "192.168.1.12");
  fake.clock.advance(20 * MINUTE);
  await beat("web-01", "192.168.1.10");
  await beat("web-02", "192.168.1.11");
}

describe("dynip cleanup against the fake API", () => {
  test("one cycle deletes exactly the dead host's address and heartbeat on both domains", async () => {
    await scenario();
    const before = snapshot();
    fake.resetRequests();
    const result = await runCli(["cleanup", "--once"], base());
    expect(result.code).toBe(0);

    expect(before).toEqual(expect.arrayContaining(DEAD));
    expect(snapshot()).toEqual(before.filter((r) => !DEAD.includes(r)));
    expect(fake.schemaViolations).toEqual([]);
    // 2 lists, 2 heartbeat re-reads, 1 batch
    const batches = batchRequests(fake);
    expect(batches.length).toBe(1);
  });

  test("a quiet cycle costs one list request per domain", async () => {
    await beat("web-01", "192.168.1.10");
    seedBystanders();
    fake.resetRequests();
    const quiet = await runCli(["cleanup", "--once"], base());
    expect(quiet.code).toBe(0);
    expect(fake.requests.map((r) => r.method)).toEqual(["GET", "GET"]);
    // Never silent: one summary line, even when nothing was to do.
    expect(quiet.stderr).toContain("cycle done: 0 record(s) deleted");
  });

  test("--dry-run names what it would delete and writes nothing", async () => {
    await scenario();
    const before = snapshot();
    const result = await runCli(["cleanup", "--dry-run"], base());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`would delete A ${INTERNAL} 192.168.1.12`);
    expect(result.stdout).toContain(`would delete TXT _heartbeat-192-168-1-12.${COMBINED}`);
    expect(result.stdout).not.toContain("192.168.1.10");
    expect(snapshot()).toEqual(before);
  });

  test("a host that refreshes between the read and the delete keeps its address", async () => {
    await scenario();
    // The first list answers at once; the heartbeat re-read is held while web-03 comes back
    // to life and beats, then answered with the state after that beat.
    const gate = Promise.withResolvers<void>();
    fake.inject({ method: "GET", path: /dns_records$/, fault: { kind: "delay", ms: 1 } });
    fake.inject({
      method: "GET",
      path: /dns_records$/,
      fault: { kind: "hold", until: gate.promise },
    });
    fake.resetRequests();
    const cleanup = runCli(["cleanup", "--once"], base({ COMBINED_DOMAIN: "" }));
    await until(() => fake.requests.length >= 2);
    expect(fake.requests[1]?.query.get("name.startswith")).toStartWith("_heartbeat-192-168-1-12");
    await beat("web-03", "192.168.1.12");
    gate.resolve();
    expect((await cleanup).code).toBe(0);
    expect(snapshot()).toContain(`A ${INTERNAL} 192.168.1.12`);
  });

  test("two cleanup replicas racing on one zone both exit 0 and leave the right records", async () => {
    await scenario();
    const before = snapshot();
    // Hold the first delete batch until the other replica has deleted the same records.
    const gate = Promise.withResolvers<void>();
    fake.inject({ method: "POST", path: /\/batch$/, fault: { kind: "hold", until: gate.promise } });
    fake.resetRequests();
    const runs = Promise.all([
      runCli(["cleanup", "--once"], base({ INSTANCE_ID: "cleanup-a" })),
      runCli(["cleanup", "--once"], base({ INSTANCE_ID: "cleanup-b" })),
    ]);
    const batches = () => batchRequests(fake).length;
    await until(() => batches() === 2);
    gate.resolve();
    const [a, b] = await runs;
    expect([a.code, b.code]).toEqual([0, 0]);
    // The loser hit 81044 and re-planned from a fresh read instead of failing.
    expect(`${a.stderr}${b.stderr}`).toContain("re-reading");
    expect(before).toEqual(expect.arrayContaining(DEAD));
    expect(snapshot()).toEqual(before.filter((r) => !DEAD.includes(r)));
  });

  test("long-lived cleanup serves /healthz and /metrics and exits 0 on SIGTERM", async () => {
    await scenario();
    const port = await freePort();
    const child = Bun.spawn([process.execPath, CLI, "cleanup"], {
      env: cleanEnv(base({ HEALTH_PORT: String(port), CLEANUP_INTERVAL_SECONDS: "1" })),
      stdout: "ignore",
      stderr: "pipe",
    });
    // /healthz is 200 from the start (a grace of 3 intervals), so wait for the first cycle
    // to be counted in /metrics rather than for the first 200.
    const metrics = await metricsUntil(
      port,
      /^dynip_cleanup_cycles_total\{result="success"\} [1-9]/m,
    );
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(metrics).toMatch(/^dynip_records_deleted_total\{type="A"\} 2$/m);
    // The container health check asks the running process, without any API request.
    fake.resetRequests();
    const probe = await runCli(
      ["cleanup", "--healthcheck"],
      base({ HEALTH_PORT: String(port), CF_API_TOKEN: "" }),
    );
    expect(probe.code).toBe(0);
    expect(probe.stdout.trim()).toBe("ok");
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const down = await runCli(["cleanup", "--healthcheck"], base({ HEALTH_PORT: String(port) }));
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("not answering");
    expect(snapshot().filter((r) => r.startsWith(`A ${INTERNAL}`))).toEqual([
      `A ${INTERNAL} 192.168.1.10`,
      `A ${INTERNAL} 192.168.1.11`,
    ]);
  });
});

describe("dynip status", () => {
  test("--json is one document with every address, owner, age and state; --check follows cleanup", async () => {
    await scenario();
    const status = await runCli(
      ["status", "--json"],
      base({ INSTANCE_ID: "web-01", INTERNAL_IP_SOURCE: "static:192.168.1.10" }),
    );
    expect(status.code).toBe(0);
    const doc = JSON.parse(status.stdout) as {
      domains: {
        domain: string;
        addresses: {
          address: string;
          owner: string;
          ageSeconds: number;
          state: string;
          mine: boolean;
        }[];
      }[];
    };
    const internal = doc.domains.find((d) => d.domain === INTERNAL);
    expect(internal?.addresses.map((a) => [a.address, a.owner, a.state, a.mine])).toEqual([
      ["192.168.1.10", "web-01", "fresh", true],
      ["192.168.1.11", "web-02", "fresh", false],
      ["192.168.1.12", "web-03", "stale", false],
    ]);
    expect(internal?.addresses[2]?.ageSeconds).toBeGreaterThanOrEqual(20 * 60);

    const check = await runCli(["status", "--check"], base());
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("stale");
    expect((await runCli(["cleanup", "--once"], base())).code).toBe(0);
    const after = await runCli(["status", "--check"], base());
    expect(after.code).toBe(0);
    expect(after.stdout).toContain("192.168.1.10");
  });

  test("status is read-only", async () => {
    await scenario();
    fake.resetRequests();
    await runCli(["status"], base());
    expect(fake.requests.every((r) => r.method === "GET")).toBe(true);
  });
});

describe("health from the start", () => {
  test("a rejected token is unhealthy at once, without the start-up grace", async () => {
    const port = await freePort();
    const child = Bun.spawn([process.execPath, CLI, "cleanup"], {
      env: cleanEnv(base({ HEALTH_PORT: String(port), CF_API_TOKEN: "wrong-token-0123456789" })),
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      await metricsUntil(port, /^dynip_cleanup_cycles_total\{result="failure"\} 1$/m);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.text()).toContain("will until someone acts: Cloudflare API GET");
      const probe = await runCli(["cleanup", "--healthcheck"], { HEALTH_PORT: String(port) });
      expect(probe.code).toBe(1);
      expect(probe.stderr).toContain("9109");
    } finally {
      child.kill("SIGTERM");
      await child.exited;
    }
  });

  test("--healthcheck needs nothing but HEALTH_PORT, and exits 0 or 1, never 2", async () => {
    const port = await freePort();
    const missing = await runCli(["cleanup", "--healthcheck"], {});
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("--healthcheck needs HEALTH_PORT");
    expect((await runCli(["cleanup", "--healthcheck"], { HEALTH_PORT: "99999" })).code).toBe(1);
    const down = await runCli(["cleanup", "--healthcheck"], { HEALTH_PORT: String(port) });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("not answering");
  });

  test("HEALTH_ADDRESS=::1 serves on IPv6, and --healthcheck asks there", async () => {
    await scenario();
    const port = await freePort();
    const child = Bun.spawn([process.execPath, CLI, "cleanup"], {
      env: cleanEnv(base({ HEALTH_PORT: String(port), HEALTH_ADDRESS: "::1" })),
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      await until(
        async () => (await fetch(`http://[::1]:${port}/healthz`).catch(() => null))?.ok === true,
      );
      const probe = await runCli(["cleanup", "--healthcheck"], {
        HEALTH_PORT: String(port),
        HEALTH_ADDRESS: "::1",
      });
      expect(probe.code).toBe(0);
      expect(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => "refused")).toBe(
        "refused",
      );
    } finally {
      child.kill("SIGTERM");
      await child.exited;
    }
  });
});
