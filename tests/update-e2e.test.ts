import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { parseHeartbeat } from "../src/registry/heartbeat.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import {
  apiEnv,
  batchRequests,
  type FakeCloudflare,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { until } from "./support/wait.ts";

const INTERNAL = "internal.example.com";
const COMBINED = "all.example.com";

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare();
});
afterEach(async () => {
  await fake.stop();
});

/** The environment of one host: static addresses stand in for its interfaces. */
function host(instance: string, internal: string, extra: Record<string, string> = {}) {
  return {
    ...apiEnv(fake),
    INSTANCE_ID: instance,
    INTERNAL_DOMAIN: INTERNAL,
    COMBINED_DOMAIN: COMBINED,
    INTERNAL_IP_SOURCE: `static:${internal}`,
    EXTERNAL_IPV4_SOURCE: "none",
    EXTERNAL_IPV6_SOURCE: "none",
    ...extra,
  };
}

function contents(name: string, type: string): string[] {
  return fake
    .records()
    .filter((r) => r.name === name && r.type === type)
    .map((r) => r.content)
    .sort();
}

function heartbeatOwner(ip: string, domain: string): string | undefined {
  const hb = fake
    .records()
    .filter((r) => r.name === `_heartbeat-${ip.replaceAll(".", "-")}.${domain}`);
  expect(hb.length).toBeLessThanOrEqual(1);
  return hb[0] ? parseHeartbeat(hb[0].content)?.instanceId : undefined;
}

/** The addresses `ip` and their heartbeats, on every domain. */
function recordsOf(ip: string) {
  const label = `_heartbeat-${ip.replaceAll(".", "-")}.`;
  return fake.records().filter((r) => r.content === ip || r.name.startsWith(label));
}

async function update(env: Record<string, string>, args: string[] = []) {
  const result = await runCli(["update", ...args], env);
  if (result.code !== 0) console.error(result.stderr);
  return result;
}

describe("dynip update against the fake API", () => {
  test("three hosts share the internal and combined names, each with its own heartbeat", async () => {
    const hosts = [
      host("web-01", "192.168.1.10"),
      host("web-02", "192.168.1.11"),
      host("web-03", "192.168.1.12"),
    ];
    for (const env of hosts) expect((await update(env)).code).toBe(0);

    const ips = ["192.168.1.10", "192.168.1.11", "192.168.1.12"];
    for (const domain of [INTERNAL, COMBINED]) {
      expect(contents(domain, "A")).toEqual(ips);
      ips.forEach((ip, i) => {
        expect(heartbeatOwner(ip, domain)).toBe(`web-0${i + 1}`);
      });
      const hb = fake.records().find((r) => r.name === `_heartbeat-192-168-1-10.${domain}`);
      // docs/records.md, "Heartbeat records": quoted "unix seconds,instance id", on this host's clock.
      expect(hb?.content).toMatch(/^"\d{10},web-01"$/);
      expect(hb?.ttl).toBe(120);
    }
    expect(fake.schemaViolations).toEqual([]);

    // A second round changes nothing but the heartbeats: no duplicates.
    const before = fake.records().length;
    for (const env of hosts) expect((await update(env)).code).toBe(0);
    expect(fake.records().length).toBe(before);
    expect(contents(INTERNAL, "A")).toEqual(ips);
  });

  test("a host that moves removes only its old address", async () => {
    await update(host("web-01", "192.168.1.10"));
    await update(host("web-02", "192.168.1.11"));
    expect((await update(host("web-01", "192.168.1.20"))).code).toBe(0);

    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.11", "192.168.1.20"]);
    expect(heartbeatOwner("192.168.1.10", INTERNAL)).toBeUndefined();
    expect(heartbeatOwner("192.168.1.11", INTERNAL)).toBe("web-02");
    expect(heartbeatOwner("192.168.1.20", INTERNAL)).toBe("web-01");
  });

  test("a failed external detection exits 1 and deletes nothing", async () => {
    const env = host("edge-01", "192.168.1.30", { EXTERNAL_IPV4_SOURCE: "static:5.6.7.7" });
    expect((await update(env)).code).toBe(0);
    expect(contents(COMBINED, "A")).toEqual(["192.168.1.30", "5.6.7.7"]);

    // An echo service that is not there: the source fails, which is not "no address".
    const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    const url = `http://127.0.0.1:${closed.port}/`;
    closed.stop(true);
    const failed = await runCli(["update"], { ...env, EXTERNAL_IPV4_SOURCE: `url:${url}` });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("keeping the records it could have produced");
    expect(failed.stderr).not.toMatch(/\n\s+at /); // no stack trace for an expected failure
    expect(contents(COMBINED, "A")).toEqual(["192.168.1.30", "5.6.7.7"]);
    expect(heartbeatOwner("5.6.7.7", COMBINED)).toBe("edge-01");
  });

  test("INTERFACES that matches no interface is a failed source: records kept, exit 1", async () => {
    const env = host("edge-02", "192.168.1.31");
    expect((await update(env)).code).toBe(0);
    // The same host, now detecting from its interfaces through a mistyped INTERFACES.
    const typo = { ...env, INTERNAL_IP_SOURCE: "interfaces", INTERFACES: "eht0" };
    const failed = await runCli(["update"], typo);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("INTERFACES=eht0 matches no interface on this host");
    expect(failed.stderr).toContain("keeping the records it could have produced");
    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.31"]);
    expect(heartbeatOwner("192.168.1.31", INTERNAL)).toBe("edge-02");
  });

  test("turning CF_PROXIED on proxies the address this host alone publishes, in the next pass", async () => {
    const env = host("edge-03", "192.168.1.32", { EXTERNAL_IPV4_SOURCE: "static:5.6.7.8" });
    expect((await update(env)).code).toBe(0);
    const a = () => fake.records().find((r) => r.type === "A" && r.content === "5.6.7.8");
    expect(a()).toMatchObject({ proxied: false, ttl: 120 });
    const proxied = await update({ ...env, CF_PROXIED: "true" });
    expect(proxied.code).toBe(0);
    expect(proxied.stderr).toContain("5.6.7.8 settings: proxied false -> true");
    expect(a()).toMatchObject({ proxied: true });
    // The private address is never proxied, and RECORD_TTL reaches every record.
    await update({ ...env, CF_PROXIED: "true", RECORD_TTL: "300" });
    const internal = recordsOf("192.168.1.32");
    expect(internal.map((r) => [r.type, r.ttl, r.proxied]).toSorted()).toEqual([
      ["A", 300, false],
      ["A", 300, false],
      ["TXT", 300, false],
      ["TXT", 300, false],
    ]);
  });

  test("every record dynip creates carries RECORD_COMMENT; existing comments stay", async () => {
    const env = host("edge-04", "192.168.1.33");
    expect((await update(env)).code).toBe(0);
    const mine = () => recordsOf("192.168.1.33");
    expect(mine().map((r) => r.comment)).toEqual(Array(4).fill("managed by dynip"));
    expect((await update({ ...env, RECORD_COMMENT: "something else" })).code).toBe(0);
    expect(mine().map((r) => r.comment)).toEqual(Array(4).fill("managed by dynip"));
    expect((await update(host("edge-05", "192.168.1.34", { RECORD_COMMENT: "none" }))).code).toBe(
      0,
    );
    const none = recordsOf("192.168.1.34");
    expect(none.map((r) => r.comment)).toEqual([null, null, null, null]);
  });

  test("a managed name that is its Cloudflare zone's apex is refused (exit 2), nothing written", async () => {
    const zones = await startFakeCloudflare({
      zones: [{ id: "a".repeat(32), name: "lab.example.com" }],
    });
    try {
      const env = {
        ...apiEnv(zones),
        CF_ZONE_ID: "",
        INSTANCE_ID: "lab-01",
        INTERNAL_DOMAIN: "lab.example.com",
        INTERNAL_IP_SOURCE: "static:10.0.0.1",
        EXTERNAL_IPV4_SOURCE: "none",
        EXTERNAL_IPV6_SOURCE: "none",
      };
      const refused = await runCli(["update"], env);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("lab.example.com is the apex of its Cloudflare zone");
      expect(zones.records()).toEqual([]);
      // Long-lived, the same refusal ends the process with exit 2 instead of failing every pass.
      const longLived = await runCli(["update", "--interval", "1"], env, { timeoutMs: 5000 });
      expect(longLived.code).toBe(2);
      expect((await runCli(["update"], { ...env, ALLOW_ZONE_APEX: "true" })).code).toBe(0);
      expect(zones.records()).toHaveLength(2);
    } finally {
      await zones.stop();
    }
  });

  test("no silent no-ops: a domain that gets nothing is named, with what each source found", async () => {
    const env = host("edge-06", "192.168.1.35", { INTERNAL_IP_SOURCE: "none" });
    const result = await update(env);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      `${INTERNAL} gets no address this pass (INTERNAL_IP_SOURCE=none: set to publish nothing)`,
    );
    const slow = await runCli(["update", "--dry-run"], { ...env, UPDATE_INTERVAL: "900" });
    expect(slow.stderr).toContain("UPDATE_INTERVAL=900 is not below STALE_THRESHOLD_SECONDS=900");
  });

  test("a dry run says when it planned against an empty zone, and --json gives the plan as data", async () => {
    const env = { ...host("edge-07", "192.168.1.36"), CF_API_TOKEN: "" };
    const text = await runCli(["update", "--dry-run"], env);
    expect(text.stdout.split("\n")[0]).toBe(
      "no CF_API_TOKEN: planned against an empty zone; nothing was read or sent",
    );
    const json = await runCli(["update", "--dry-run", "--json"], env);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout) as {
      zone: string;
      operations: { action: string; type: string; name: string; content: string }[];
    };
    expect(plan.zone).toBe("empty");
    expect(plan.operations.map((op) => `${op.action} ${op.type} ${op.name}`)).toEqual([
      `create TXT _heartbeat-192-168-1-36.${INTERNAL}`,
      `create A ${INTERNAL}`,
      `create TXT _heartbeat-192-168-1-36.${COMBINED}`,
      `create A ${COMBINED}`,
    ]);
    expect(fake.requests).toEqual([]);
    expect((await runCli(["update", "--json"], env)).code).toBe(2);
  });

  test("a steady one-shot pass costs at most 1 + number of managed domains requests", async () => {
    const env = host("web-01", "192.168.1.10");
    await update(env);
    fake.resetRequests();
    expect((await update(env)).code).toBe(0);
    expect(fake.requests.length).toBeLessThanOrEqual(1 + 2);
    expect(fake.requests.map((r) => `${r.method} ${r.path.replace(fake.zone.id, "Z")}`)).toEqual([
      "GET /zones/Z/dns_records",
      "GET /zones/Z/dns_records",
      "POST /zones/Z/dns_records/batch",
    ]);
  });

  test("without CF_ZONE_ID the zone is found from the managed domains", async () => {
    const env: Record<string, string> = host("web-01", "192.168.1.10");
    delete env.CF_ZONE_ID;
    expect((await update(env)).code).toBe(0);
    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.10"]);
    // Both domains live in example.com: it is asked for once, not once per domain.
    const lookups = fake.requests
      .filter((r) => r.path === "/zones")
      .map((r) => r.query.get("name"));
    expect(lookups.sort()).toEqual(["all.example.com", "example.com", INTERNAL]);
  });

  test("--deregister deletes this instance's records and nobody else's", async () => {
    await update(host("web-01", "192.168.1.10"));
    await update(host("web-02", "192.168.1.11"));
    expect((await update(host("web-01", "192.168.1.10"), ["--deregister"])).code).toBe(0);
    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.11"]);
    expect(contents(COMBINED, "A")).toEqual(["192.168.1.11"]);
    expect(heartbeatOwner("192.168.1.10", INTERNAL)).toBeUndefined();
  });

  test("--deregister --dry-run --json prints the deletions as one document and deletes nothing", async () => {
    await update(host("web-01", "192.168.1.10"));
    const before = fake.records();
    const json = await runCli(
      ["update", "--deregister", "--dry-run", "--json"],
      host("web-01", "192.168.1.10"),
    );
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout) as {
      zone: string;
      deregister: boolean;
      operations: { action: string; type: string; name: string }[];
    };
    expect(plan).toMatchObject({ zone: "read", deregister: true });
    expect(plan.operations.map((op) => `${op.action} ${op.type} ${op.name}`)).toEqual([
      `delete A ${INTERNAL}`,
      `delete TXT _heartbeat-192-168-1-10.${INTERNAL}`,
      `delete A ${COMBINED}`,
      `delete TXT _heartbeat-192-168-1-10.${COMBINED}`,
    ]);
    expect(fake.records()).toEqual(before);
  });

  test("--dry-run prints the plan and writes nothing; without a token it sends nothing", async () => {
    const env = host("web-01", "192.168.1.10");
    const withToken = await runCli(["update", "--dry-run"], env);
    expect(withToken.code).toBe(0);
    expect(withToken.stdout).toContain(`would create A ${INTERNAL} 192.168.1.10`);
    expect(fake.records()).toEqual([]);
    expect(fake.requests.every((r) => r.method === "GET")).toBe(true);

    fake.resetRequests();
    const { CF_API_TOKEN: _, ...noToken } = env;
    const preview = await runCli(["update", "--dry-run"], noToken);
    expect(preview.code).toBe(0);
    expect(preview.stdout).toContain(`would create TXT _heartbeat-192-168-1-10.${COMBINED}`);
    expect(fake.requests).toEqual([]);
  });

  test("writing without a token is a configuration error, before any request", async () => {
    const { CF_API_TOKEN: _, ...noToken } = host("web-01", "192.168.1.10");
    const result = await runCli(["update"], noToken);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CF_API_TOKEN");
    expect(fake.requests).toEqual([]);
  });

  test.each([
    ["a private address as the public one", "EXTERNAL_IPV4_SOURCE", "192.168.1.10"],
    ["the unspecified address", "EXTERNAL_IPV4_SOURCE", "0.0.0.0"],
    ["a documentation range for IPv6", "EXTERNAL_IPV6_SOURCE", "2001:db8::1"],
    ["an internal address outside INTERNAL_CIDRS", "INTERNAL_IP_SOURCE", "5.6.7.8"],
  ])(
    "a static source with %s is a configuration error: exit 2, nothing sent, the address named",
    async (_, variable, address) => {
      const extra = { [variable]: `static:${address}` };
      const result = await runCli(["update"], host("web-01", "192.168.1.10", extra));
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(address);
      expect(fake.requests).toEqual([]);
    },
  );

  test("a refused batch endpoint falls back to one request per record", async () => {
    fake.inject({
      method: "POST",
      path: /\/batch$/,
      times: Infinity,
      fault: { kind: "status", status: 405 },
    });
    expect((await update(host("web-01", "192.168.1.10"))).code).toBe(0);
    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.10"]);
    expect(heartbeatOwner("192.168.1.10", INTERNAL)).toBe("web-01");
    const posts = fake.requests.filter(
      (r) => r.method === "POST" && r.path.endsWith("/dns_records"),
    );
    // heartbeat before address, for each domain
    expect(posts.map((r) => (r.body as { type: string }).type)).toEqual(["TXT", "A", "TXT", "A"]);
  });

  test("an authentication error on the batch fails the pass instead of falling back", async () => {
    // 403 with code 10000: the token may not write; one request per record would fail too.
    fake.inject({ method: "POST", path: /\/batch$/, fault: { kind: "status", status: 403 } });
    const result = await runCli(["update"], host("web-01", "192.168.1.10"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("10000");
    expect(
      fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/dns_records")),
    ).toEqual([]);
    expect(fake.records()).toEqual([]);
  });

  test("a race with another writer (81058) is re-read and re-planned", async () => {
    const env = host("web-01", "192.168.1.10");
    // Hold our batch long enough for another host to publish the same address (a VIP
    // moving between hosts) between our read and our write.
    const gate = Promise.withResolvers<void>();
    fake.inject({ method: "POST", path: /\/batch$/, fault: { kind: "hold", until: gate.promise } });
    const pass = update(env);
    const batchSent = () => batchRequests(fake).length > 0;
    await until(batchSent);
    fake.seed({ name: INTERNAL, type: "A", content: "192.168.1.10" });
    gate.resolve();
    const result = await pass;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("another writer changed the records first");
    expect(batchRequests(fake).length).toBe(2);
    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.10"]);
    expect(heartbeatOwner("192.168.1.10", INTERNAL)).toBe("web-01");
  });
});

describe("long-lived update", () => {
  test("a steady pass costs one request and SIGTERM exits 0", async () => {
    const env = host("web-01", "192.168.1.10", { UPDATE_INTERVAL: "1" });
    const child = Bun.spawn([process.execPath, CLI, "update"], {
      env: cleanEnv(env),
      stdout: "pipe",
      stderr: "pipe",
    });
    // The first pass creates (2 lists + 1 batch); a change makes the next pass read again
    // (2 lists + 1 batch); then wait for three steady passes.
    const batches = () => batchRequests(fake).length;
    await until(() => batches() >= 5, 20_000);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    const seen = fake.requests.map(
      (r) => `${r.method} ${r.path.endsWith("/batch") ? "batch" : "list"}`,
    );
    const pass = ["GET list", "GET list", "POST batch"];
    expect(seen.slice(0, 6)).toEqual([...pass, ...pass]);
    // From then on every pass is exactly one request: the refresh batch.
    expect(seen.slice(6).every((s) => s === "POST batch")).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(9);
    const refresh = fake.requests.at(-1)?.body as { patches?: unknown[]; posts?: unknown[] };
    expect(refresh.patches?.length).toBe(2);
    expect(refresh.posts).toBeUndefined();
  });

  test("DEREGISTER_ON_STOP deletes this host's records on SIGTERM", async () => {
    await update(host("web-02", "192.168.1.11"));
    const env = host("web-01", "192.168.1.10", {
      UPDATE_INTERVAL: "1",
      DEREGISTER_ON_STOP: "true",
    });
    const child = Bun.spawn([process.execPath, CLI, "update"], {
      env: cleanEnv(env),
      stdout: "ignore",
      stderr: "pipe",
    });
    await until(() => contents(INTERNAL, "A").length >= 2);
    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.10", "192.168.1.11"]);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect(contents(INTERNAL, "A")).toEqual(["192.168.1.11"]);
    expect(heartbeatOwner("192.168.1.11", INTERNAL)).toBe("web-02");
  });
});
