/**
 * Concurrency (issue 6): eight one-shot updaters started at once on one zone, four of them
 * behind one NAT (the same external IPv4 on EXTERNAL_DOMAIN and COMBINED_DOMAIN), while two
 * cleanup replicas race on the records of dead hosts. Every process must exit 0 and the zone
 * must end with each address exactly once and one heartbeat per instance that publishes it.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { parseHeartbeat } from "../src/registry/heartbeat.ts";
import { runCli } from "./support/cli.ts";
import { apiEnv, type FakeCloudflare, startFakeCloudflare } from "./support/fake-cloudflare.ts";
import { duplicates, incomplete, STACK_TRACE, slots } from "./support/invariants.ts";

const INTERNAL = "internal.example.com";
const EXTERNAL = "external.example.com";
const COMBINED = "all.example.com";
const SHARED = "5.6.7.9";
const MINUTE = 60_000;

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now() });
});
afterEach(async () => {
  await fake.stop();
});

function env(extra: Record<string, string>): Record<string, string> {
  return {
    ...apiEnv(fake),
    INTERNAL_DOMAIN: INTERNAL,
    EXTERNAL_DOMAIN: EXTERNAL,
    COMBINED_DOMAIN: COMBINED,
    EXTERNAL_IPV4_SOURCE: "none",
    EXTERNAL_IPV6_SOURCE: "none",
    ...extra,
  };
}

const hosts = Array.from({ length: 8 }, (_, i) => ({
  id: `node-${i + 1}`,
  ip: `10.1.0.${i + 1}`,
  natted: i < 4,
}));

function hostEnv(host: (typeof hosts)[number]) {
  return env({
    INSTANCE_ID: host.id,
    INTERNAL_IP_SOURCE: `static:${host.ip}`,
    EXTERNAL_IPV4_SOURCE: host.natted ? `static:${SHARED}` : "none",
  });
}

/** Two dead hosts whose heartbeats went stale: work for the cleanup replicas to race on. */
async function seedDeadHosts() {
  for (const [id, ip] of [
    ["dead-1", "10.9.0.1"],
    ["dead-2", "10.9.0.2"],
  ] as const) {
    const result = await runCli(
      ["update"],
      env({ INSTANCE_ID: id, INTERNAL_IP_SOURCE: `static:${ip}` }),
    );
    expect(result.code).toBe(0);
  }
  fake.clock.advance(20 * MINUTE);
  // A host that beats on: a domain where nobody beats would look like an outage to the brake.
  const live = await runCli(
    ["update"],
    env({ INSTANCE_ID: "live-0", INTERNAL_IP_SOURCE: "static:10.9.1.1" }),
  );
  expect(live.code).toBe(0);
}

test("eight updaters and two cleanup replicas at once: all exit 0, each address once with a heartbeat per publisher", async () => {
  await seedDeadHosts();
  // Hold the first batches a little so the replicas and the NAT'ed hosts really overlap.
  fake.inject({ method: "POST", path: /\/batch$/, times: 4, fault: { kind: "delay", ms: 300 } });
  const runs = await Promise.all([
    ...hosts.map((h) => runCli(["update"], hostEnv(h))),
    runCli(["cleanup", "--once"], env({ INSTANCE_ID: "cleanup-a" })),
    runCli(["cleanup", "--once"], env({ INSTANCE_ID: "cleanup-b" })),
  ]);
  for (const run of runs) {
    if (run.code !== 0) console.error(run.stderr);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(STACK_TRACE);
  }

  const records = fake.records();
  const domains = [INTERNAL, EXTERNAL, COMBINED];
  expect(duplicates(records, domains)).toEqual([]);
  for (const h of hosts) {
    expect(incomplete(records, [INTERNAL, COMBINED], h.ip, h.id)).toEqual([]);
  }
  // The shared address: once per domain, with one heartbeat of each NAT'ed host.
  const view = slots(records, domains);
  const natted = hosts.filter((h) => h.natted).map((h) => h.id);
  for (const d of [EXTERNAL, COMBINED]) {
    const slot = view.get(`${d} ${SHARED}`);
    expect(slot?.addresses.length).toBe(1);
    const owners = slot?.heartbeats.map((r) => parseHeartbeat(r.content)?.instanceId);
    expect(owners?.sort()).toEqual(natted);
  }
  // The dead hosts are gone from every domain; nothing else is there.
  expect(
    records.filter((r) => r.content.includes("10.9.0.") || r.content.includes(",dead-")),
  ).toEqual([]);
  expect(records.length).toBe(8 * 2 * 2 + 2 * (1 + natted.length) + 2 * 2);
  expect(fake.schemaViolations).toEqual([]);
});

test("a second round at once changes nothing but heartbeats", async () => {
  const first = await Promise.all(hosts.map((h) => runCli(["update"], hostEnv(h))));
  expect(first.map((r) => r.code)).toEqual(hosts.map(() => 0));
  // The fake lists records by name, type, then content; a refreshed heartbeat's new timestamp
  // may reorder heartbeats that share a name, so compare the sets of records, not their order.
  const ids = () =>
    fake
      .records()
      .map((r) => `${r.id} ${r.type} ${r.name}`)
      .sort();
  const before = ids();
  const runs = await Promise.all(hosts.map((h) => runCli(["update"], hostEnv(h))));
  expect(runs.map((r) => r.code)).toEqual(hosts.map(() => 0));
  expect(ids()).toEqual(before);
});
