/**
 * Issue 10, the updater's side: two hosts with one INSTANCE_ID must not delete each other's
 * addresses, and 81057 "Record already exists" is a race like 81058.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import {
  apiEnv,
  batchRequests,
  type FakeCloudflare,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { errors } from "./support/fake-errors.ts";
import { iso } from "./support/records.ts";
import { until } from "./support/wait.ts";

const D = "internal.example.com";

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now() });
});
afterEach(async () => {
  await fake.stop();
});

function host(id: string, ip: string, extra: Record<string, string> = {}) {
  return {
    ...apiEnv(fake),
    INSTANCE_ID: id,
    INTERNAL_DOMAIN: D,
    INTERNAL_IP_SOURCE: `static:${ip}`,
    EXTERNAL_IPV4_SOURCE: "none",
    EXTERNAL_IPV6_SOURCE: "none",
    ...extra,
  };
}

const addresses = () =>
  fake
    .records()
    .filter((r) => r.type === "A" && r.name === D)
    .map((r) => r.content)
    .toSorted();

/** What one pass of `id` left at `ip`: the address and a heartbeat written `age` s ago. */
function seedPublished(ip: string, id: string, age: number): void {
  const now = Math.floor(fake.clock.now() / 1000);
  fake.seed({ name: D, type: "A", content: ip, created_on: iso(now - 3600) });
  fake.seed({
    name: heartbeatName(ip, D),
    type: "TXT",
    content: formatHeartbeat(now - age, id),
    modified_on: iso(now - age),
  });
}

describe("two hosts with one INSTANCE_ID", () => {
  const children: { child: Subprocess<"ignore", "ignore", "pipe">; stderr: Promise<string> }[] = [];
  let ticking: ReturnType<typeof setInterval> | undefined;
  afterEach(async () => {
    clearInterval(ticking);
    for (const { child } of children.splice(0)) {
      child.kill("SIGTERM");
      await child.exited;
    }
  });
  function start(ip: string) {
    const child = Bun.spawn([process.execPath, CLI, "update", "--interval", "1"], {
      env: cleanEnv(host("web", ip)),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const entry = { child, stderr: new Response(child.stderr).text() };
    children.push(entry);
    return entry;
  }

  test("long-lived: after the first pass they keep each other's address and warn every pass", async () => {
    // Cloudflare's clock moves on while the hosts run.
    ticking = setInterval(() => fake.clock.set(Date.now()), 50);
    const a = start("10.0.0.1");
    await until(() => addresses().includes("10.0.0.1"));
    const b = start("10.0.0.2");
    await until(() => addresses().includes("10.0.0.2"));
    // Once each has seen the other's heartbeat appear (a start-up tie within one second may
    // cost a second blip), both addresses stay, pass after pass.
    await until(() => addresses().length === 2, 15_000);
    await Bun.sleep(3000);
    const seen: string[][] = [];
    for (let i = 0; i < 15; i++) {
      await Bun.sleep(200);
      seen.push(addresses());
    }
    expect(seen.every((list) => list.length === 2)).toBe(true);
    for (const { child } of children.splice(0)) {
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
    }
    const warning =
      /instance id conflict: 10\.0\.0\.[12] at internal\.example\.com: .*INSTANCE_ID=web/;
    expect(await a.stderr).toMatch(warning);
    expect(await b.stderr).toMatch(warning);
  }, 30_000);

  test("long-lived: its own write whose answer was lost is not taken for another host's", async () => {
    ticking = setInterval(() => fake.clock.set(Date.now()), 50);
    const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
    for (const gate of gates) {
      fake.inject({
        method: "POST",
        path: /\/batch$/,
        fault: { kind: "hold", until: gate.promise },
      });
    }
    const child = Bun.spawn([process.execPath, CLI, "update", "--interval", "1"], {
      env: cleanEnv(host("web", "10.0.0.1", { API_TIMEOUT_SECONDS: "1" })),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const stderr = new Response(child.stderr).text();
    children.push({ child, stderr });
    // The first batch times out on the client's side; it lands only once the retry is on its way,
    // and the retry then finds the records there (81058): the answer with their ids was lost.
    await until(() => batchRequests(fake).length === 2);
    gates[0]?.resolve();
    await until(() => addresses().length === 1);
    gates[1]?.resolve();
    await until(() => batchRequests(fake).length >= 5, 15_000);
    for (const entry of children.splice(0)) {
      entry.child.kill("SIGTERM");
      expect(await entry.child.exited).toBe(0);
    }
    const log = await stderr;
    expect(log).toContain("81058");
    expect(log).not.toContain("conflict");
  }, 30_000);

  test("one-shot: a heartbeat of its id newer than its own is another host's: kept, with a warning", async () => {
    seedPublished("10.0.0.1", "web", 300); // this host's last pass, five minutes ago
    seedPublished("10.0.0.2", "web", 60); // written since, by a clone at another address
    const result = await runCli(["update"], host("web", "10.0.0.1"));
    expect(result.code).toBe(0);
    expect(addresses()).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(result.stderr).toContain("instance id conflict: 10.0.0.2 at internal.example.com");
    expect(result.stderr).toContain("this host does not withdraw it");
  });

  test("one-shot: a real address change still withdraws the old address", async () => {
    // One pass wrote both heartbeats with one timestamp; now 10.0.0.2 is gone from this host.
    seedPublished("10.0.0.1", "web", 300);
    seedPublished("10.0.0.2", "web", 300);
    const result = await runCli(["update"], host("web", "10.0.0.1"));
    expect(result.code).toBe(0);
    expect(addresses()).toEqual(["10.0.0.1"]);
    expect(result.stderr).not.toContain("conflict");
  });

  test("status shows the conflict and --check fails", async () => {
    seedPublished("10.0.0.1", "web", 300);
    seedPublished("10.0.0.2", "web", 60);
    seedPublished("10.0.0.3", "other", 60);
    const status = await runCli(["status", "--json"], host("watcher", "10.0.0.9"));
    const doc = JSON.parse(status.stdout) as {
      domains: { addresses: { address: string; conflict: string | null }[] }[];
    };
    const conflicts = doc.domains[0]?.addresses.map((a) => [a.address, a.conflict !== null]);
    expect(conflicts).toEqual([
      ["10.0.0.1", true],
      ["10.0.0.2", true],
      ["10.0.0.3", false],
    ]);
    expect(doc.domains[0]?.addresses[0]?.conflict).toContain("two hosts may use INSTANCE_ID=web");
    const check = await runCli(["status", "--check"], host("watcher", "10.0.0.9"));
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("instance web wrote its fresh heartbeats at 2 different times");
  });
});

describe("a busy zone", () => {
  test("records that never stop moving between pages do not stop this host's refresh", async () => {
    // 5,200 records (two pages), and another host writes before every second page.
    for (let i = 0; i < 2600; i++) seedPublished(`10.1.${i >> 8}.${i & 255}`, `other-${i}`, 60);
    seedPublished("10.0.0.1", "web", 300);
    let n = 0;
    fake.inject({
      times: Infinity,
      when: (r) => {
        if (r.query.get("page") === "2") seedPublished(`10.2.0.${++n}`, `new-${n}`, 0);
        return false;
      },
      fault: { kind: "delay", ms: 0 },
    });
    const result = await runCli(["update"], host("web", "10.0.0.1"));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("kept moving");
    const beat = fake.records().find((r) => r.name === heartbeatName("10.0.0.1", D));
    expect(Date.parse(beat?.modified_on ?? "")).toBe(fake.clock.now());
  });
});

describe("81057 is a race", () => {
  test("a batch answered 81057 is re-read and re-planned, and the pass succeeds", async () => {
    fake.inject({
      method: "POST",
      path: /\/batch$/,
      fault: { kind: "error", status: 400, errors: errors.recordExists().errors },
    });
    const result = await runCli(["update"], host("web-01", "10.0.0.1"));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("81057");
    expect(result.stderr).toContain("re-reading");
    expect(addresses()).toEqual(["10.0.0.1"]);
    expect(batchRequests(fake)).toHaveLength(2);
  });

  test("cleanup re-plans after 81057 too", async () => {
    seedPublished("10.0.0.5", "dead", 2000);
    for (const i of [1, 2, 3]) seedPublished(`10.0.0.${i}`, `web-0${i}`, 30);
    fake.inject({
      method: "POST",
      path: /\/batch$/,
      fault: { kind: "error", status: 400, errors: errors.recordExists().errors },
    });
    const result = await runCli(["cleanup", "--once"], host("cleanup", "10.0.0.9"));
    expect(result.code).toBe(0);
    expect(addresses()).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });
});
