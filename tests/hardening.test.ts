/**
 * Hardening (issue 6): the token stays out of process arguments, logs and errors on every
 * fault; the CF_API_URL scheme rule; SIGTERM in the middle of a write; a hanging API is
 * bounded by API_TIMEOUT_SECONDS and the client's retry budget.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import {
  apiEnv,
  batchRequests,
  type FakeCloudflare,
  type FaultKind,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { incomplete, STACK_TRACE } from "./support/invariants.ts";
import { readUntil, until } from "./support/wait.ts";

const INTERNAL = "internal.example.com";
const COMBINED = "all.example.com";

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now() });
});
afterEach(async () => {
  await fake.stop();
});

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...apiEnv(fake),
    INSTANCE_ID: "web-01",
    INTERNAL_DOMAIN: INTERNAL,
    COMBINED_DOMAIN: COMBINED,
    INTERNAL_IP_SOURCE: "static:192.168.1.10",
    EXTERNAL_IPV4_SOURCE: "none",
    EXTERNAL_IPV6_SOURCE: "none",
    API_TIMEOUT_SECONDS: "1",
    ...extra,
  };
}

function spawnUpdater(extra: Record<string, string | undefined>) {
  return Bun.spawn([process.execPath, CLI, "update"], {
    env: cleanEnv(env({ UPDATE_INTERVAL: "1", ...extra })),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

describe("the token", () => {
  test("is never in a long-lived process's arguments, from the variable or from a file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dynip-hardening-"));
    const file = join(dir, "token");
    writeFileSync(file, fake.token, { mode: 0o600 });
    try {
      for (const extra of [{}, { CF_API_TOKEN: undefined, CF_API_TOKEN_FILE: file }]) {
        fake.resetRequests();
        const child = spawnUpdater(extra);
        await until(() => batchRequests(fake).length > 0);
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8");
        expect(cmdline).toContain("update");
        expect(cmdline).not.toContain(fake.token);
        child.kill("SIGTERM");
        expect(await child.exited).toBe(0);
        expect(await new Response(child.stderr).text()).not.toContain(fake.token);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("cannot be given as a flag", async () => {
    for (const flag of ["--token", "--api-token", "--cf-api-token"]) {
      const result = await runCli(["update", flag, fake.token], env());
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("unknown option");
      expect(result.stderr).not.toContain(fake.token);
    }
    expect(fake.requests).toEqual([]);
  });

  const echoes = (token: string): FaultKind[] => [
    { kind: "status", status: 500 },
    { kind: "status", status: 403 },
    { kind: "html", status: 502 },
    { kind: "rate-limit", retryAfter: 1 },
    { kind: "drop" },
    { kind: "truncated" },
    { kind: "hang" },
    { kind: "delay", ms: 100 },
    { kind: "malformed", body: `token ${token} rejected` },
    {
      kind: "malformed",
      body: { success: false, errors: [{ code: 9109, message: `Invalid access token ${token}` }] },
    },
    {
      kind: "malformed",
      body: { success: true, errors: [], result: [{ id: token, name: token, type: "A" }] },
    },
  ];

  test("is never in logs or errors at debug level, on any fault, in either log format", async () => {
    for (const [i, fault] of echoes(fake.token).entries()) {
      fake.clearFaults();
      fake.inject({ times: 4, fault });
      const format = i % 2 === 0 ? "pretty" : "json";
      const result = await runCli(["update"], env({ LOG_LEVEL: "debug", LOG_FORMAT: format }));
      expect([0, 1]).toContain(result.code);
      expect(`${result.stdout}${result.stderr}`).not.toContain(fake.token);
      expect(result.stderr).not.toMatch(STACK_TRACE);
      if (fault.kind === "malformed" && JSON.stringify(fault.body).includes("Invalid access")) {
        expect(result.stderr).toContain("[redacted]");
      }
    }
  }, 60_000);
});

describe("CF_API_URL scheme", () => {
  // A dry run without a token sends nothing, so exit 0 means "the configuration is accepted".
  const cases: [string, number][] = [
    ["http://api.example.com/client/v4", 2],
    ["http://10.0.0.1/client/v4", 2],
    ["http://127.0.0.1.example.com/client/v4", 2],
    ["ftp://127.0.0.1/client/v4", 2],
    ["http://127.0.0.1:1/client/v4", 0],
    ["http://localhost:1/client/v4", 0],
    ["http://[::1]:1/client/v4", 0],
    ["https://127.0.0.1:1/client/v4", 0],
    ["https://api.cloudflare.com/client/v4", 0],
  ];
  test.each(cases)("%s -> exit %d", async (url, code) => {
    const result = await runCli(
      ["update", "--dry-run"],
      env({ CF_API_TOKEN: undefined, CF_API_URL: url }),
    );
    expect(result.code).toBe(code);
    if (code === 2) expect(result.stderr).toContain("CF_API_URL:");
  });

  test("the --api-url flag follows the same rule", async () => {
    const result = await runCli(["update", "--api-url", "http://api.example.com/client/v4"], env());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CF_API_URL:");
    expect(fake.requests).toEqual([]);
  });
});

describe("stopping in bounded time", () => {
  test("SIGTERM during retries against a failing API: no new attempt, exit 0 at once", async () => {
    fake.inject({ method: "GET", times: Infinity, fault: { kind: "status", status: 503 } });
    const child = spawnUpdater({ API_TIMEOUT_SECONDS: "5" });
    // The first attempt failed and the client waits to retry: stop it there.
    await until(() => fake.requests.length >= 1);
    await Bun.sleep(100);
    const started = performance.now();
    const sent = fake.requests.length;
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(fake.requests.length).toBe(sent);
  });

  test("with DEREGISTER_ON_STOP and an API that hangs, the stop fits STOP_TIMEOUT_SECONDS and says what it skipped", async () => {
    const child = spawnUpdater({
      DEREGISTER_ON_STOP: "true",
      STOP_TIMEOUT_SECONDS: "3",
      API_TIMEOUT_SECONDS: "30",
    });
    await until(() => batchRequests(fake).length > 0);
    fake.inject({ times: Infinity, fault: { kind: "hang" } });
    await Bun.sleep(1500); // the next pass hangs on its request
    const started = performance.now();
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const took = performance.now() - started;
    expect(took).toBeLessThan(4000);
    expect(took).toBeGreaterThan(1000);
    const stderr = await new Response(child.stderr).text();
    expect(stderr).toContain("cut short by the stop");
    expect(stderr).toContain("deregistration did not finish within STOP_TIMEOUT_SECONDS=3");
  });
});

describe("signals and hangs", () => {
  test("SIGTERM while a batch is in flight finishes the pass, exits 0, records complete", async () => {
    fake.inject({ method: "POST", path: /\/batch$/, fault: { kind: "delay", ms: 800 } });
    const child = spawnUpdater({ API_TIMEOUT_SECONDS: "5" });
    await until(() => batchRequests(fake).length > 0);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const stderr = await new Response(child.stderr).text();
    expect(stderr).toContain("received SIGTERM: finishing the current pass");
    expect(stderr).toContain("pass done: 4 change(s)");
    expect(incomplete(fake.records(), [INTERNAL, COMBINED], "192.168.1.10", "web-01")).toEqual([]);
    expect(batchRequests(fake).length).toBe(1);
  });

  test("with LOG_FORMAT=json, every line up to the last after SIGTERM is JSON", async () => {
    const child = spawnUpdater({ LOG_FORMAT: "json" });
    await until(() => batchRequests(fake).length > 0);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const lines = (await new Response(child.stderr).text()).trim().split("\n");
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toContain("received SIGTERM: finishing the current pass, then exiting");
    expect(messages.at(-1)).toBe("stopped");
  });

  test("a second SIGTERM exits 0 at once, even with a write hanging", async () => {
    fake.inject({ method: "POST", path: /\/batch$/, times: Infinity, fault: { kind: "hang" } });
    const child = spawnUpdater({ API_TIMEOUT_SECONDS: "30" });
    await until(() => batchRequests(fake).length > 0);
    child.kill("SIGTERM");
    // Two signals sent before the child runs would merge into one: wait until it saw the first.
    await readUntil(child.stderr, "received SIGTERM");
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    // Nothing was half-written: the hung batch never landed.
    expect(fake.records()).toEqual([]);
  });

  test("a fully hanging API is bounded by API_TIMEOUT_SECONDS and the retry budget", async () => {
    // src/providers/cloudflare/client.ts: 3 retries after the first attempt, backoff 500 ms × 2^n
    // (capped at 8 s, minus jitter). Each attempt gives up after API_TIMEOUT_SECONDS.
    const attempts = 4;
    const timeoutMs = 1000;
    const backoffMs = 500 + 1000 + 2000;
    const startupSlackMs = 5000;
    fake.inject({ times: Infinity, fault: { kind: "hang" } });
    const started = performance.now();
    const result = await runCli(["update"], env({ API_TIMEOUT_SECONDS: "1" }), {
      timeoutMs: 60_000,
    });
    const elapsed = performance.now() - started;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `no answer after ${attempts} attempts: timed out after ${timeoutMs} ms`,
    );
    expect(result.stderr).not.toMatch(STACK_TRACE);
    // The two managed domains are read at once, each with its own bounded retries.
    expect(fake.requests.length).toBe(attempts * 2);
    expect(elapsed).toBeLessThan(attempts * timeoutMs + backoffMs + startupSlackMs);
  }, 30_000);
});
