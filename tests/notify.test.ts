/**
 * Telling the outside world, with the real CLI against the fake Cloudflare API and local
 * receivers standing in for Healthchecks, Uptime Kuma and a webhook: the exact sequence of
 * pings and the event payloads for a first pass, a steady pass, an address change, an API
 * failure, a cleanup that deletes a dead host, the brake holding, and a target that is down or
 * hangs; secret URLs never in any output; the long-lived updater's /healthz and /metrics.
 */
import { describe, expect, test } from "bun:test";
import { createNotifier, healthchecksUrl, kumaUrl } from "../src/observe/notifier.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import { freePort, metricsUntil } from "./support/health.ts";
import { D, KEY, MINUTE, notifyTargets } from "./support/notify-targets.ts";
import { until } from "./support/wait.ts";

const targets = notifyTargets();
const { env, pings } = targets;

/** The webhook's events as `event: text`, each checked against the schema's envelope. */
function events(): { event: string; text: string; data: Record<string, unknown> }[] {
  return targets.hook.requests.map((r) => {
    expect(r.method).toBe("POST");
    expect(r.path).toBe(`/hooks/${KEY}`);
    const event = JSON.parse(r.body);
    expect(event).toMatchObject({ schema: "dynip.event.v1", source: expect.any(Object) });
    expect(event.message).toBe(event.text);
    expect(Date.parse(event.time)).toBeGreaterThan(0);
    return { event: event.event, text: event.text, data: event.data };
  });
}

const noSecrets = (...outputs: string[]) => {
  for (const output of outputs) expect(output).not.toContain(KEY);
};

describe("dynip update", () => {
  test("a first pass: start, the new address as a log ping and an event, success, Kuma up", async () => {
    const result = await runCli(["update"], env("web-01", "192.168.1.10"));
    expect(result.code).toBe(0);
    noSecrets(result.stdout, result.stderr);
    expect(pings("web-01")).toEqual([
      "/start",
      "/log web-01 published 192.168.1.10 at internal.example.com",
      "(success) pass done: 2 change(s), 0 heartbeat(s) refreshed",
    ]);
    const [start, , success] = targets.hc.requests;
    expect(start?.query.get("rid")).toMatch(/^[0-9a-f-]{36}$/);
    expect(success?.query.get("rid")).toBe(start?.query.get("rid") ?? "");
    expect(success?.body).toContain(`create A ${D} 192.168.1.10`);
    expect(events()).toEqual([
      {
        event: "address.added",
        text: "web-01 published 192.168.1.10 at internal.example.com",
        data: { domain: D, type: "A", address: "192.168.1.10" },
      },
    ]);
    expect(
      targets.kuma.requests.map((r) => [r.path, r.query.get("status"), r.query.get("msg")]),
    ).toEqual([[`/api/push/${KEY}`, "up", "pass done: 2 change(s), 0 heartbeat(s) refreshed"]]);
    // The copied query string was replaced, not added to.
    expect([...(targets.kuma.requests[0]?.query.keys() ?? [])]).toEqual(["status", "msg", "ping"]);
  });

  test("a steady pass: start and success only; no events", async () => {
    await runCli(["update"], env("web-01", "192.168.1.10"));
    for (const r of [targets.hc, targets.hook, targets.kuma]) r.requests.length = 0;
    targets.fake.clock.advance(MINUTE);
    expect((await runCli(["update"], env("web-01", "192.168.1.10"))).code).toBe(0);
    expect(pings("web-01")).toEqual([
      "/start",
      "(success) pass done: 0 change(s), 1 heartbeat(s) refreshed",
    ]);
    expect(targets.hook.requests).toEqual([]);
    expect(targets.kuma.requests.map((r) => r.query.get("status"))).toEqual(["up"]);
  });

  test("an address change: one event with the old and the new address", async () => {
    await runCli(["update"], env("web-01", "192.168.1.10"));
    [targets.hc.requests.length, targets.hook.requests.length] = [0, 0];
    expect((await runCli(["update"], env("web-01", "192.168.1.20"))).code).toBe(0);
    expect(events()).toEqual([
      {
        event: "address.changed",
        text: "web-01 moved internal.example.com from 192.168.1.10 to 192.168.1.20",
        data: { domain: D, type: "A", old: "192.168.1.10", new: "192.168.1.20" },
      },
    ]);
    expect(pings("web-01")[1]).toBe(
      "/log web-01 moved internal.example.com from 192.168.1.10 to 192.168.1.20",
    );
  });

  test("an API failure: start, fail with the error, Kuma down, a pass.failed event; exit 1", async () => {
    targets.fake.inject({ method: "GET", times: Infinity, fault: { kind: "status", status: 500 } });
    const result = await runCli(["update"], env("web-01", "192.168.1.10"), { timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    noSecrets(result.stdout, result.stderr);
    const sent = pings("web-01");
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBe("/start");
    expect(sent[1]).toMatch(/^\/fail Cloudflare API GET .* failed \(HTTP 500\)/);
    expect(targets.kuma.requests.map((r) => r.query.get("status"))).toEqual(["down"]);
    expect(events().map((e) => e.event)).toEqual(["pass.failed"]);
  });

  test("--deregister tells the webhook which addresses went", async () => {
    await runCli(["update"], env("web-01", "192.168.1.10"));
    targets.hook.requests.length = 0;
    expect((await runCli(["update", "--deregister"], env("web-01", "192.168.1.10"))).code).toBe(0);
    expect(events()).toEqual([
      {
        event: "address.withdrawn",
        text: "web-01 withdrew 192.168.1.10 from internal.example.com (deregistered)",
        data: { domain: D, type: "A", address: "192.168.1.10", reason: "deregistered" },
      },
    ]);
  });

  test("a dry run notifies nobody", async () => {
    expect((await runCli(["update", "--dry-run"], env("web-01", "192.168.1.10"))).code).toBe(0);
    const { hc, kuma, hook } = targets;
    expect([...hc.requests, ...kuma.requests, ...hook.requests]).toEqual([]);
  });
});

describe("targets that fail", () => {
  test.each([
    ["down", "down"],
    ["hangs", "hang"],
    ["answers 500", 500],
  ] as const)(
    "a webhook that %s: the pass still succeeds in bounded time, one warning",
    async (_, how) => {
      let target = `${targets.hook.origin}/hooks/${KEY}`;
      if (how === "down") target = `http://127.0.0.1:${await freePort()}/hooks/${KEY}`;
      else targets.hook.answer(how);
      const started = performance.now();
      const result = await runCli(
        ["update"],
        env("web-01", "192.168.1.10", { WEBHOOK_URL: target }),
      );
      const seconds = (performance.now() - started) / 1000;
      expect(result.code).toBe(0);
      // Three attempts of 1 s at most, and the waits between them.
      expect(seconds).toBeLessThan(8);
      const warnings = result.stderr
        .split("\n")
        .filter((l) => l.includes("notification to webhook"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain("(127.0.0.1:");
      noSecrets(result.stdout, result.stderr);
      // The other targets were not held up.
      expect(pings("web-01").at(-1)).toMatch(/^\(success\)/);
    },
  );
});

describe("dynip cleanup", () => {
  async function beat(instance: string, ip: string) {
    expect(
      (
        await runCli(
          ["update"],
          env(instance, ip, { WEBHOOK_URL: "", HEALTHCHECKS_URL: "", UPTIMEKUMA_URL: "" }),
        )
      ).code,
    ).toBe(0);
  }

  test("a dead host: a host.gone event naming it, its addresses and its last heartbeat's age", async () => {
    await beat("web-01", "192.168.1.10");
    await beat("web-02", "192.168.1.11");
    targets.fake.clock.advance(20 * MINUTE);
    await beat("web-01", "192.168.1.10");
    const result = await runCli(["cleanup", "--once"], env("ops", "192.168.1.99"));
    expect(result.code).toBe(0);
    noSecrets(result.stdout, result.stderr);
    const gone = events();
    expect(gone).toEqual([
      {
        event: "host.gone",
        text: expect.stringMatching(
          /^host web-02 is gone: cleanup deleted 192\.168\.1\.11 from internal\.example\.com \(last heartbeat 1\d{3} s ago\)$/,
        ),
        data: {
          domain: D,
          host: "web-02",
          addresses: ["192.168.1.11"],
          lastHeartbeatAgeSeconds: expect.any(Number),
        },
      },
    ]);
    expect(gone[0]?.data.lastHeartbeatAgeSeconds).toBeGreaterThanOrEqual(1200);
    expect(pings("ops")).toEqual([
      "/start",
      `/log ${gone[0]?.text}`,
      "(success) cycle done: 2 record(s) deleted",
    ]);
  });

  test("the brake holding: a deletions.held event, a log ping, and /fail as --once exits 1", async () => {
    for (const [id, ip] of [
      ["web-01", "192.168.1.10"],
      ["web-02", "192.168.1.11"],
      ["web-03", "192.168.1.12"],
      ["web-04", "192.168.1.13"],
    ] as const) {
      await beat(id, ip);
    }
    targets.fake.clock.advance(20 * MINUTE);
    await beat("web-01", "192.168.1.10");
    const result = await runCli(["cleanup", "--once"], env("ops", "192.168.1.99"));
    expect(result.code).toBe(1);
    expect(events()).toEqual([
      {
        event: "deletions.held",
        text: expect.stringContaining(
          "cleanup is holding the deletion of 3 address(es) in internal.example.com",
        ),
        data: {
          domain: D,
          addresses: ["192.168.1.11", "192.168.1.12", "192.168.1.13"],
          records: 6,
          reason: expect.stringContaining("3 of 4 addresses would go at once"),
        },
      },
    ]);
    const sent = pings("ops");
    expect(sent[1]).toStartWith("/log cleanup is holding");
    expect(sent[2]).toStartWith("/fail cycle done: 0 record(s) deleted, 3 address(es) held");
    expect(targets.kuma.requests.map((r) => r.query.get("status"))).toEqual(["down"]);
    // The hold is no failed cycle: the webhook hears of it once, as deletions.held.
    expect(events().map((e) => e.event)).toEqual(["deletions.held"]);
  });
});

describe("long-lived updater", () => {
  test("/metrics and /healthz: passes counted, unhealthy after three failures in a row, a stop /log", async () => {
    const port = await freePort();
    const child = Bun.spawn([process.execPath, CLI, "update", "--interval", "1"], {
      env: cleanEnv(env("web-01", "192.168.1.10", { HEALTH_PORT: String(port) })),
      stdout: "ignore",
      stderr: "pipe",
    });
    try {
      const metrics = await metricsUntil(
        port,
        /^dynip_update_passes_total\{result="success"\} [1-9]/m,
      );
      expect(metrics).toMatch(/^dynip_update_changes_total\{action="create"\} 2$/m);
      expect(metrics).toMatch(/^dynip_published_addresses\{domain="internal.example.com"\} 1$/m);
      expect(metrics).toMatch(/^dynip_heartbeats_refreshed_total [0-9]+$/m);
      expect(metrics).toMatch(/^dynip_healthy 1$/m);
      const probe = await runCli(["update", "--healthcheck"], { HEALTH_PORT: String(port) });
      expect(probe.code).toBe(0);
      // The API starts failing: after three failed passes in a row, /healthz is 503.
      targets.fake.inject({ times: Infinity, fault: { kind: "status", status: 500 } });
      await metricsUntil(port, /^dynip_update_passes_total\{result="failure"\} [3-9]/m, 60_000);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.text()).toContain("failed (limit 3 in a row)");
      // dynip_healthy says what /healthz says.
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(
        /^dynip_healthy 0$/m,
      );
      const unhealthy = await runCli(["update", "--healthcheck"], { HEALTH_PORT: String(port) });
      expect(unhealthy.code).toBe(1);
      targets.fake.clearFaults();
    } finally {
      child.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
    // A stop is told as a log line, neither success nor failure (docs/operations.md).
    await until(() =>
      targets.hc.requests.some((r) => r.path.endsWith("/log") && r.body.includes("stopped")),
    );
    expect(targets.hc.requests.filter((r) => /\/\d+$/.test(r.path))).toEqual([]);
    const stderr = await new Response(child.stderr).text();
    noSecrets(stderr);
  }, 90_000);
});

const promtool = Bun.which("promtool");

describe.skipIf(!promtool)(
  `promtool${promtool ? "" : " (skipped: promtool not installed; Debian: apt-get install prometheus)"}`,
  () => {
    test("promtool check metrics accepts /metrics of the long-lived update and cleanup", async () => {
      for (const command of ["update", "cleanup"] as const) {
        const port = await freePort();
        const args = command === "update" ? ["update", "--interval", "1"] : ["cleanup"];
        const child = Bun.spawn([process.execPath, CLI, ...args], {
          env: cleanEnv(
            env("web-01", "192.168.1.10", {
              HEALTH_PORT: String(port),
              CLEANUP_INTERVAL_SECONDS: "1",
            }),
          ),
          stdout: "ignore",
          stderr: "ignore",
        });
        try {
          const loops = command === "update" ? "update_passes" : "cleanup_cycles";
          const text = await metricsUntil(
            port,
            new RegExp(`^dynip_${loops}_total\\{result="success"\\} [1-9]`, "m"),
          );
          if (command === "cleanup")
            expect(text).toContain(
              'dynip_addresses{domain="internal.example.com",state="fresh"} 1',
            );
          const check = Bun.spawnSync([promtool as string, "check", "metrics"], {
            stdin: new TextEncoder().encode(text),
          });
          expect(`${check.stdout}${check.stderr}`).toBe("");
          expect(check.exitCode).toBe(0);
        } finally {
          child.kill("SIGTERM");
          await child.exited;
        }
      }
    }, 60_000);
  },
);

describe("URLs", () => {
  test.each([
    ["https://hc-ping.com/uuid", "/start", "https://hc-ping.com/uuid/start"],
    [
      "https://hc-ping.com/key/slug?create=1",
      "/fail",
      "https://hc-ping.com/key/slug/fail?create=1",
    ],
    ["https://hc.example.com/ping/uuid/", "", "https://hc.example.com/ping/uuid"],
    ["https://hc-ping.com/uuid", "/0", "https://hc-ping.com/uuid/0"],
  ])("Healthchecks %s + %p", (base, suffix, url) => {
    expect(healthchecksUrl(base, suffix)).toBe(url);
  });

  test("Uptime Kuma: the copied query replaced, the message one line", () => {
    const url = new URL(
      kumaUrl(
        "https://kuma.example.com/api/push/abc?status=up&msg=OK&ping=",
        false,
        "a\nb  c",
        1234.4,
      ),
    );
    expect(url.pathname).toBe("/api/push/abc");
    expect([...url.searchParams]).toEqual([
      ["status", "down"],
      ["msg", "a b c"],
      ["ping", "1234"],
    ]);
  });

  test("nothing configured: nothing sent, and close resolves at once", async () => {
    const notifier = createNotifier({ webhookUrls: [], timeoutSeconds: 1, instance: "x" });
    expect(notifier.enabled).toBe(false);
    notifier.begin();
    notifier.end({ ok: true, summary: "s", durationMs: 1 });
    const started = performance.now();
    await notifier.close(5000);
    expect(performance.now() - started).toBeLessThan(100);
  });
});
