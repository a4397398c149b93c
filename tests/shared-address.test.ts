/**
 * Two hosts behind one NAT publish the same external IPv4 on COMBINED_DOMAIN. Each keeps its
 * own heartbeat at `_heartbeat-5-6-7-5.D`: neither ever writes over the other's (not even
 * a long-lived updater planning from records it read minutes ago), the address stays while
 * any of them still has a heartbeat there, and cleanup removes a dead sharer's heartbeat alone.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import type { CloudflareRecord as DnsRecord } from "../src/providers/cloudflare/api-types.ts";
import { heartbeatName, parseHeartbeat } from "../src/registry/heartbeat.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import { apiEnv, type FakeCloudflare, startFakeCloudflare } from "./support/fake-cloudflare.ts";
import { until } from "./support/wait.ts";

const COMBINED = "all.example.com";
const SHARED = "5.6.7.5";
const HEARTBEAT = heartbeatName(SHARED, COMBINED);
const THRESHOLD = 900;
const MINUTE = 60_000;

let fake: FakeCloudflare;
let children: Subprocess[] = [];
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now() });
});
afterEach(async () => {
  for (const child of children) child.kill("SIGKILL");
  children = [];
  await fake.stop();
});

function env(instance: string): Record<string, string> {
  return {
    ...apiEnv(fake),
    INSTANCE_ID: instance,
    COMBINED_DOMAIN: COMBINED,
    INTERNAL_IP_SOURCE: "none",
    EXTERNAL_IPV4_SOURCE: `static:${SHARED}`,
    EXTERNAL_IPV6_SOURCE: "none",
    STALE_THRESHOLD_SECONDS: String(THRESHOLD),
  };
}

async function run(args: string[], instance: string) {
  const result = await runCli(args, env(instance));
  if (result.code !== 0) console.error(result.stderr);
  expect(result.code).toBe(0);
  return result;
}

const addresses = (): DnsRecord[] =>
  fake.records().filter((r) => r.name === COMBINED && r.type === "A");
const heartbeats = (): DnsRecord[] =>
  fake.records().filter((r) => r.name === HEARTBEAT && r.type === "TXT");
const ownerOf = (r: DnsRecord): string | undefined => parseHeartbeat(r.content)?.instanceId;
const owners = (): string[] => heartbeats().map(ownerOf).sort() as string[];

test("two long-lived sharers each refresh their own heartbeat, pass after pass", async () => {
  for (const id of ["host-a", "host-b"]) {
    const child = Bun.spawn([process.execPath, CLI, "update", "--interval", "1"], {
      env: cleanEnv(env(id)),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    children.push(child);
  }
  /** Which instance each heartbeat record (by id) named when first seen: it must never change. */
  const firstOwner = new Map<string, string | undefined>();
  const overwritten: string[] = [];
  const sample = () => {
    for (const r of heartbeats()) {
      if (!firstOwner.has(r.id)) firstOwner.set(r.id, ownerOf(r));
      if (firstOwner.get(r.id) !== ownerOf(r))
        overwritten.push(`${r.id}: ${firstOwner.get(r.id)} -> ${r.content}`);
    }
  };
  /** Waits until both sharers have written their heartbeat on the fake's current clock. */
  const bothBeatAt = (ms: number) =>
    until(() => {
      sample();
      const beats = heartbeats();
      const fresh = beats.filter((r) => Date.parse(r.modified_on) >= ms);
      return fresh.length === 2 && beats.length === 2;
    }, 15_000);

  await bothBeatAt(fake.clock.now());
  // 10 minutes in all: beyond half the threshold, where an adoption rule judging cached
  // records took a live host's heartbeat over, yet within the threshold.
  for (let pass = 1; pass <= 5; pass++) {
    fake.clock.advance(2 * MINUTE);
    await bothBeatAt(fake.clock.now());
    expect(owners()).toEqual(["host-a", "host-b"]);
    expect(addresses().map((r) => r.content)).toEqual([SHARED]);
  }
  expect(overwritten).toEqual([]);
  expect(firstOwner.size).toBe(2);

  for (const child of children) child.kill("SIGTERM");
  expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
  expect(fake.schemaViolations).toEqual([]);
}, 60_000);

test("deregistering: the shared address stays until the last sharer leaves", async () => {
  await run(["update"], "host-a");
  await run(["update"], "host-b");
  expect(owners()).toEqual(["host-a", "host-b"]);
  expect(addresses()).toHaveLength(1);

  // Status marks the address as each sharer's own, whichever heartbeat is the freshest.
  for (const id of ["host-a", "host-b"]) {
    const doc = JSON.parse((await run(["status", "--json"], id)).stdout);
    const entry = doc.domains[0].addresses[0];
    expect([entry.address, entry.mine, [...entry.owners].sort()]).toEqual([
      SHARED,
      true,
      ["host-a", "host-b"],
    ]);
  }

  // B has been quiet for longer than the threshold: still B's to withdraw, or cleanup's.
  fake.clock.advance(20 * MINUTE);
  await run(["update", "--deregister"], "host-a");
  expect(owners()).toEqual(["host-b"]);
  expect(addresses().map((r) => r.content)).toEqual([SHARED]);

  await run(["update", "--deregister"], "host-b");
  expect(fake.records()).toEqual([]);
});

test("cleanup removes a dead sharer's heartbeat alone; the address and the live one stay", async () => {
  await run(["update"], "host-a");
  await run(["update"], "host-b");
  // B dies; A keeps beating.
  fake.clock.advance(20 * MINUTE);
  await run(["update"], "host-a");
  const address = addresses();
  const alive = heartbeats().filter((r) => ownerOf(r) === "host-a");

  // Status agrees with cleanup: the address is fresh, but one heartbeat beside it is due.
  const before = await runCli(["status", "--json", "--check"], env("host-b"));
  expect(before.code).toBe(1);
  const entry = JSON.parse(before.stdout).domains[0].addresses[0];
  expect([entry.state, entry.cleanup, entry.owners]).toEqual(["fresh", 1, ["host-a", "host-b"]]);

  const result = await run(["cleanup", "--once"], "cleanup-01");
  expect(result.stderr).toContain("expired heartbeat of host-b");
  expect(owners()).toEqual(["host-a"]);
  expect(addresses()).toEqual(address);
  expect(heartbeats()).toEqual(alive);

  expect((await runCli(["status", "--check"], env("host-a"))).code).toBe(0);

  // Nothing left for the next cycle, and A's next pass only refreshes.
  await run(["cleanup", "--once"], "cleanup-01");
  const ids = () =>
    fake
      .records()
      .map((r) => r.id)
      .sort();
  const idsBefore = ids();
  await run(["update"], "host-a");
  expect(ids()).toEqual(idsBefore);
  expect(fake.schemaViolations).toEqual([]);
});

test("a long-lived sharer whose address was withdrawn under it publishes it again next pass", async () => {
  await run(["update"], "host-b");
  // host-a joins: it reads the address and host-b's heartbeat, and plans only its own
  // heartbeat. Its batch is held while host-b, not seeing host-a yet, withdraws the address.
  const gate = Promise.withResolvers<void>();
  fake.inject({ method: "POST", path: /\/batch$/, fault: { kind: "hold", until: gate.promise } });
  const before = fake.requests.length;
  const child = Bun.spawn([process.execPath, CLI, "update", "--interval", "1"], {
    env: cleanEnv(env("host-a")),
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  children.push(child);
  const batchSent = () => fake.requests.slice(before).some((r) => r.path.endsWith("/batch"));
  await until(batchSent);
  await run(["update", "--deregister"], "host-b");
  expect(addresses()).toEqual([]);
  expect(heartbeats()).toEqual([]);
  gate.resolve();
  await until(() => heartbeats().length > 0);
  expect(owners()).toEqual(["host-a"]);
  // host-a's cache still holds the address host-b deleted; the pass after a change reads
  // the zone again instead of trusting it until its next verification.
  await until(() => addresses().length > 0);
  expect(addresses().map((r) => r.content)).toEqual([SHARED]);
  child.kill("SIGTERM");
  expect(await child.exited).toBe(0);
}, 30_000);
