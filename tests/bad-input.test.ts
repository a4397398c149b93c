/**
 * Bad input (issue 6): hostile configuration is refused with exit 2, naming the variable,
 * before any request; malformed API answers end the run with exit 1 and a one-line message,
 * and change nothing.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "./support/cli.ts";
import {
  apiEnv,
  type FakeCloudflare,
  type FaultKind,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { STACK_TRACE } from "./support/invariants.ts";

const INTERNAL = "internal.example.com";
const COMBINED = "all.example.com";
const MINUTE = 60_000;

let fake: FakeCloudflare;
let dir: string;
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now() });
  dir = mkdtempSync(join(tmpdir(), "dynip-bad-input-"));
});
afterEach(async () => {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
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
    API_TIMEOUT_SECONDS: "2",
    ...extra,
  };
}

/** [variable named in the message, environment changes] */
const HOSTILE: [string, Record<string, string | undefined>][] = [
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "10.0.0.0/33" }],
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "banana/8" }],
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "10.0.0.0/8/8" }],
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "fd00::/129" }],
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "10.0.0.0/-1" }],
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "10/8" }],
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "," }],
  ["INTERFACES", { INTERFACES: "eth{0,1}" }],
  ["INTERFACES", { INTERFACES: "eth[0" }],
  ["INTERFACES", { INTERFACES: "../eth0" }],
  ["EXCLUDE_INTERFACES", { EXCLUDE_INTERFACES: "docker\\*" }],
  ["EXCLUDE_INTERFACES", { EXCLUDE_INTERFACES: "eth 0" }],
  ["RECORD_TTL", { RECORD_TTL: "99999999999999999999" }],
  ["RECORD_TTL", { RECORD_TTL: "1e3" }],
  ["RECORD_TTL", { RECORD_TTL: "30" }],
  ["RECORD_TTL", { RECORD_TTL: "-1" }],
  ["BATCH_SIZE", { BATCH_SIZE: "0" }],
  ["BATCH_SIZE", { BATCH_SIZE: "9007199254740993" }],
  ["API_TIMEOUT_SECONDS", { API_TIMEOUT_SECONDS: "Infinity" }],
  ["API_TIMEOUT_SECONDS", { API_TIMEOUT_SECONDS: "1.5" }],
  ["STALE_THRESHOLD_SECONDS", { STALE_THRESHOLD_SECONDS: "59" }],
  ["UPDATE_INTERVAL", { UPDATE_INTERVAL: "0x10" }],
  ["HEALTH_PORT", { HEALTH_PORT: "70000" }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: "*.example.com" }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: "a..example.com" }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: "exa mple.com" }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: "-bad.example.com" }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: `${"a".repeat(64)}.example.com` }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: "ex%41mple.com" }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: "ex/ample.com" }],
  ["INTERNAL_DOMAIN", { INTERNAL_DOMAIN: "10.0.0.1" }],
  ["COMBINED_DOMAIN", { COMBINED_DOMAIN: INTERNAL }],
  ["INSTANCE_ID", { INSTANCE_ID: "web,01" }],
  ["INSTANCE_ID", { INSTANCE_ID: 'web"01' }],
  ["INSTANCE_ID", { INSTANCE_ID: "web\\01" }],
  ["INSTANCE_ID", { INSTANCE_ID: "web 01" }],
  ["INSTANCE_ID", { INSTANCE_ID: "wéb-01" }],
  ["INSTANCE_ID", { INSTANCE_ID: "x".repeat(101) }],
  ["INSTANCE_ID", { INSTANCE_ID: "web\u000101" }],
  ["INTERNAL_IP_SOURCE", { INTERNAL_IP_SOURCE: "static:10.0.0.1%eth0" }],
  ["INTERNAL_IP_SOURCE", { INTERNAL_IP_SOURCE: "static:999.1.1.1" }],
  ["INTERNAL_IP_SOURCE", { INTERNAL_IP_SOURCE: "static:" }],
  ["INTERNAL_IP_SOURCE", { INTERNAL_IP_SOURCE: "dhcp" }],
  ["EXTERNAL_IPV4_SOURCE", { EXTERNAL_IPV4_SOURCE: "static:2001:db8::1" }],
  ["EXTERNAL_IPV4_SOURCE", { EXTERNAL_IPV4_SOURCE: "url:ftp://example.com/ip" }],
  ["EXTERNAL_IPV6_SOURCE", { EXTERNAL_IPV6_SOURCE: "static:::ffff:10.0.0.1" }],
  ["CF_ZONE_ID", { CF_ZONE_ID: "../../zones" }],
  ["CF_API_URL", { CF_API_URL: "file:///etc/passwd" }],
  ["CF_API_URL", { CF_API_URL: "https://user:pass@api.cloudflare.com/client/v4" }],
  ["LOG_LEVEL", { LOG_LEVEL: "verbose" }],
  ["CF_API_TOKEN", { CF_API_TOKEN: "tok en" }],
  ["CF_API_TOKEN_FILE", { CF_API_TOKEN: undefined, CF_API_TOKEN_FILE: "/nonexistent/token" }],
  ["CF_API_TOKEN_FILE", { CF_API_TOKEN: undefined, CF_API_TOKEN_FILE: "/dev/zero" }],
  ["CLEANUP_MAX_DELETE_RATIO", { CLEANUP_MAX_DELETE_RATIO: "2" }],
  ["CLEANUP_BRAKE_HOLD_SECONDS", { CLEANUP_BRAKE_HOLD_SECONDS: "60" }],
  ["INTERNAL_CIDRS", { INTERNAL_CIDRS: "10.0.0.0/8,".repeat(1000) }],
];

describe("hostile configuration", () => {
  test.each(HOSTILE)("%s %j exits 2, names it, sends nothing", async (variable, changes) => {
    const result = await runCli(["update"], env(changes));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${variable}:`);
    expect(result.stderr).not.toMatch(STACK_TRACE);
    expect(fake.requests).toEqual([]);
  });

  test("every problem is reported at once", async () => {
    const result = await runCli(
      ["cleanup", "--once"],
      env({ RECORD_TTL: "0", INSTANCE_ID: "a,b", INTERNAL_CIDRS: "x", BATCH_SIZE: "-5" }),
    );
    expect(result.code).toBe(2);
    for (const v of ["RECORD_TTL:", "INSTANCE_ID:", "INTERNAL_CIDRS:", "BATCH_SIZE:"]) {
      expect(result.stderr).toContain(v);
    }
    expect(fake.requests).toEqual([]);
  });

  test("an empty token file exits 2, naming the variable and not the content", async () => {
    const file = join(dir, "empty");
    writeFileSync(file, "\n", { mode: 0o600 });
    const result = await runCli(
      ["update"],
      env({ CF_API_TOKEN: undefined, CF_API_TOKEN_FILE: file }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CF_API_TOKEN_FILE:");
    expect(fake.requests).toEqual([]);
  });

  test("a token file readable by others is a warning, not an error", async () => {
    const file = join(dir, "token");
    writeFileSync(file, `${fake.token}\n`);
    for (const [mode, warned] of [
      [0o644, true],
      [0o640, true],
      [0o600, false],
    ] as const) {
      chmodSync(file, mode);
      const result = await runCli(
        ["update"],
        env({ CF_API_TOKEN: undefined, CF_API_TOKEN_FILE: file }),
      );
      expect(result.code).toBe(0);
      expect(result.stderr.includes("readable by group or others; run chown")).toBe(warned);
      expect(result.stderr).not.toContain(fake.token);
    }
    expect(
      fake
        .records()
        .filter((r) => r.name === INTERNAL)
        .map((r) => r.content),
    ).toEqual(["192.168.1.10"]);
  });

  test("a unicode domain is published in punycode", async () => {
    const result = await runCli(["update"], env({ INTERNAL_DOMAIN: "bücher.example.com" }));
    expect(result.code).toBe(0);
    const names = fake.records().map((r) => r.name);
    expect(names).toContain("xn--bcher-kva.example.com");
    expect(names).toContain("_heartbeat-192-168-1-10.xn--bcher-kva.example.com");
  });
});

/** A zone with a live host, a dead host cleanup would delete, and records that are not dynip's. */
async function populated() {
  expect(
    (
      await runCli(
        ["update"],
        env({ INSTANCE_ID: "dead", INTERNAL_IP_SOURCE: "static:192.168.1.99" }),
      )
    ).code,
  ).toBe(0);
  fake.clock.advance(20 * MINUTE);
  expect(
    (
      await runCli(
        ["update"],
        env({ INSTANCE_ID: "web-02", INTERNAL_IP_SOURCE: "static:192.168.1.11" }),
      )
    ).code,
  ).toBe(0);
  fake.seed({ name: INTERNAL, type: "A", content: "not-an-ip" });
  fake.seed({ name: INTERNAL, type: "A", content: "999.1.1.1" });
  fake.seed({ name: INTERNAL, type: "AAAA", content: "zzzz::1::2" });
  fake.seed({ name: `_heartbeat-999-1-1-1.${INTERNAL}`, type: "TXT", content: '"1,dead"' });
}

const listed = (body: object) => ({ success: true, errors: [], messages: [], ...body });

/** [what, fault on GET dns_records] */
const BAD_LISTS: [string, FaultKind][] = [
  ["a body that never ends", { kind: "endless" }],
  ["a 40 MiB body", { kind: "huge", bytes: 40 * 1024 * 1024 }],
  [
    "an error list of 50,000 entries",
    {
      kind: "error",
      status: 400,
      errors: Array.from({ length: 50_000 }, (_, i) => ({ code: 1004, message: `error ${i}` })),
    },
  ],
  ["an HTML page with 200", { kind: "html", status: 200 }],
  ["truncated JSON", { kind: "truncated" }],
  ["an empty body", { kind: "malformed", body: "" }],
  ["plain text", { kind: "malformed", body: "upstream connect error" }],
  ["JSON null", { kind: "malformed", body: null }],
  ["a JSON array", { kind: "malformed", body: [] }],
  ["no errors field", { kind: "malformed", body: { success: true, result: [] } }],
  ["an object for the list", { kind: "malformed", body: listed({ result: { id: "x" } }) }],
  ["records without fields", { kind: "malformed", body: listed({ result: [{ id: "a" }] }) }],
  [
    "a string ttl",
    {
      kind: "malformed",
      body: listed({
        result: [
          {
            id: "a",
            name: INTERNAL,
            type: "A",
            content: "192.168.1.11",
            ttl: "120",
            created_on: "",
            modified_on: "",
          },
        ],
      }),
    },
  ],
  [
    "success false without errors",
    { kind: "malformed", body: { success: false, errors: [], result: null } },
  ],
];

describe("malformed API answers change nothing", () => {
  const commands: [string, string[], Record<string, string>][] = [
    ["update", ["update"], {}],
    ["cleanup", ["cleanup", "--once"], { INSTANCE_ID: "cleanup-01" }],
  ];

  test.each(BAD_LISTS)(
    "a listing that is %s: exit 1, one-line error, records unchanged",
    async (_, fault) => {
      await populated();
      const before = fake.records();
      fake.inject({ method: "GET", path: /dns_records$/, times: Infinity, fault });
      for (const [, args, extra] of commands) {
        const result = await runCli(args, env(extra));
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("Cloudflare API GET");
        expect(result.stderr).not.toMatch(STACK_TRACE);
        expect(result.stderr).not.toContain(fake.token);
        // Whatever the answer, what is said about it stays short.
        expect(result.stderr.length).toBeLessThan(4000);
      }
      expect(fake.records()).toEqual(before);
    },
  );

  test("paging lies (endless total_pages, repeated pages) are errors, not partial zones", async () => {
    await populated();
    const before = fake.records();
    const real = before.filter((r) => r.name.endsWith(INTERNAL));
    for (const info of [
      { page: 1, total_pages: 100_000 },
      { page: 1, total_pages: 3 },
    ]) {
      fake.clearFaults();
      fake.inject({
        method: "GET",
        path: /dns_records$/,
        times: Infinity,
        fault: { kind: "malformed", body: listed({ result: real, result_info: info }) },
      });
      for (const [, args, extra] of commands) {
        const result = await runCli(args, env(extra));
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("inconsistent paging");
      }
    }
    expect(fake.records()).toEqual(before);
  });

  test("a batch answer that does not list what it did is an error, not a success", async () => {
    await populated();
    const before = fake.records();
    for (const body of [listed({ result: {} }), listed({ result: { posts: [], patches: [] } })]) {
      fake.clearFaults();
      fake.inject({
        method: "POST",
        path: /\/batch$/,
        times: Infinity,
        fault: { kind: "malformed", body },
      });
      for (const [, args, extra] of commands) {
        const result = await runCli(args, env(extra));
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("unexpected batch answer");
        expect(result.stderr).not.toMatch(STACK_TRACE);
      }
    }
    expect(fake.records()).toEqual(before);
  });

  test("records with invalid addresses are not dynip's: left alone by update and cleanup", async () => {
    await populated();
    const garbage = () =>
      fake
        .records()
        .filter((r) => ["not-an-ip", "999.1.1.1", "zzzz::1::2", '"1,dead"'].includes(r.content));
    const before = garbage();
    expect(before.length).toBe(4);
    expect((await runCli(["update"], env())).code).toBe(0);
    expect((await runCli(["cleanup", "--once"], env({ INSTANCE_ID: "cleanup-01" }))).code).toBe(0);
    expect(garbage()).toEqual(before);
    // The run still did its job around them: the dead host is gone, web-01 is published.
    const addresses = fake.records().filter((r) => r.name === INTERNAL && r.type === "A");
    expect(addresses.map((r) => r.content).sort()).toEqual([
      "192.168.1.10",
      "192.168.1.11",
      "999.1.1.1",
      "not-an-ip",
    ]);
  });
});
