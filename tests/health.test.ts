import { afterEach, describe, expect, test } from "bun:test";
import { DynipError } from "../src/errors.ts";
import { type HealthServer, startHealthServer } from "../src/observe/health.ts";
import { log } from "../src/observe/log.ts";
import { createMetrics, type Metrics } from "../src/observe/metrics.ts";

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_VALUE = String.raw`"(?:[^"\\\n]|\\[\\"n])*"`;
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE}`;
const SAMPLE = new RegExp(`^(${NAME})(\\{${LABEL}(?:,${LABEL})*\\})? (\\S+)$`);
const COMMENT = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`);
const LABEL_PAIR = new RegExp(`([a-zA-Z_][a-zA-Z0-9_]*)=(${LABEL_VALUE})`, "g");

/**
 * Checks Prometheus text format 0.0.4 line by line and returns the samples, keyed by name and
 * unescaped labels in order (`name{a=x,b=y}`), with their values.
 */
function parseExposition(text: string): Map<string, number> {
  expect(text.endsWith("\n")).toBe(true);
  const samples = new Map<string, number>();
  const help = new Set<string>();
  const types = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const comment = COMMENT.exec(line);
    const sample = SAMPLE.exec(line);
    const name = comment?.[2] ?? sample?.[1] ?? "";
    if (!name.startsWith("dynip_")) throw new Error(`not a dynip_ metric line: ${line}`);
    if (comment?.[1] === "HELP") help.add(name);
    else if (comment) {
      expect(help.has(name)).toBe(true);
      expect(types.has(name)).toBe(false);
      expect(["counter", "gauge"]).toContain(comment[3] ?? "");
      types.add(name);
    } else {
      if (!help.has(name) || !types.has(name)) throw new Error(`no HELP/TYPE before: ${line}`);
      const key = `${name}{${unescapeLabels(sample?.[2] ?? "")}}`;
      expect(samples.has(key)).toBe(false);
      samples.set(key, Number(sample?.[3]));
      expect(Number.isFinite(samples.get(key))).toBe(true);
    }
  }
  return samples;
}

/** The format's three escapes (\\, \", \n) are JSON's, so JSON.parse undoes them. */
function unescapeLabels(labels: string): string {
  return [...labels.matchAll(LABEL_PAIR)].map(([, k, v = ""]) => `${k}=${JSON.parse(v)}`).join(",");
}

describe("metrics", () => {
  test("a fresh registry renders zero series, dynip_up and no last success", () => {
    const samples = parseExposition(createMetrics().render());
    expect(Object.fromEntries(samples)).toEqual({
      "dynip_cleanup_cycles_total{result=success}": 0,
      "dynip_cleanup_cycles_total{result=failure}": 0,
      "dynip_records_deleted_total{type=A}": 0,
      "dynip_records_deleted_total{type=AAAA}": 0,
      "dynip_records_deleted_total{type=TXT}": 0,
      "dynip_api_errors_total{}": 0,
      "dynip_last_success_timestamp_seconds{}": 0,
      "dynip_up{}": 1,
    });
  });

  test("counters add up and the last success is remembered", () => {
    const metrics = createMetrics();
    metrics.cycle("success", new Date(1_700_000_000_000));
    metrics.cycle("success", new Date(1_700_000_300_500));
    metrics.cycle("failure", new Date(1_700_000_600_000));
    metrics.deleted(2, "A");
    metrics.deleted(3, "A");
    metrics.deleted(5, "TXT");
    metrics.deleted(0, "AAAA");
    const samples = parseExposition(metrics.render());
    expect(samples.get("dynip_cleanup_cycles_total{result=success}")).toBe(2);
    expect(samples.get("dynip_cleanup_cycles_total{result=failure}")).toBe(1);
    expect(samples.get("dynip_records_deleted_total{type=A}")).toBe(5);
    expect(samples.get("dynip_records_deleted_total{type=AAAA}")).toBe(0);
    expect(samples.get("dynip_records_deleted_total{type=TXT}")).toBe(5);
    expect(samples.get("dynip_last_success_timestamp_seconds{}")).toBe(1_700_000_300.5);
    expect(metrics.lastSuccess()).toEqual(new Date(1_700_000_300_500));
  });

  test("a failure does not move the last success", () => {
    const metrics = createMetrics();
    metrics.cycle("failure", new Date(1_000));
    expect(metrics.lastSuccess()).toBeUndefined();
    metrics.cycle("success", new Date(2_000));
    metrics.cycle("failure", new Date(3_000));
    expect(metrics.lastSuccess()).toEqual(new Date(2_000));
  });

  test.each([-1, 1.5, Number.NaN])("refuses to count %p deletions", (count) => {
    expect(() => createMetrics().deleted(count, "A")).toThrow(RangeError);
  });

  test("requests count by method and status; errors are no answer or HTTP >= 400", () => {
    const metrics = createMetrics();
    const requests = [
      { method: "GET", status: 200 },
      { method: "GET", status: 200 },
      { method: "POST", status: 200 },
      { method: "POST", status: 399 },
      { method: "POST", status: 400 },
      { method: "GET", status: 429 },
      { method: "DELETE", status: 503 },
      { method: "GET", status: null, error: "connection refused" },
      { method: "GET", status: null },
      { method: "PATCH", status: 502, error: "body cut short" },
    ];
    for (const info of requests) metrics.request(info);
    const samples = parseExposition(metrics.render());
    const counted = [...samples].filter(([key]) => key.startsWith("dynip_api_requests_total"));
    expect(Object.fromEntries(counted)).toEqual({
      "dynip_api_requests_total{method=GET,status=200}": 2,
      "dynip_api_requests_total{method=POST,status=200}": 1,
      "dynip_api_requests_total{method=POST,status=399}": 1,
      "dynip_api_requests_total{method=POST,status=400}": 1,
      "dynip_api_requests_total{method=GET,status=429}": 1,
      "dynip_api_requests_total{method=DELETE,status=503}": 1,
      "dynip_api_requests_total{method=GET,status=error}": 2,
      "dynip_api_requests_total{method=PATCH,status=error}": 1,
    });
    expect(samples.get("dynip_api_errors_total{}")).toBe(6);
  });

  test.each([
    ['a"b', String.raw`a\"b`],
    [String.raw`a\b`, String.raw`a\\b`],
    ["a\nb", String.raw`a\nb`],
    ['\\"\n', String.raw`\\\"\n`],
  ])("escapes the label value %p", (method, escaped) => {
    const metrics = createMetrics();
    metrics.request({ method, status: 200 });
    const text = metrics.render();
    expect(text).toContain(`dynip_api_requests_total{method="${escaped}",status="200"} 1\n`);
    expect(parseExposition(text).get(`dynip_api_requests_total{method=${method},status=200}`)).toBe(
      1,
    );
  });
});

describe("health server", () => {
  const INTERVAL = 10;
  const LIMIT_MS = 3 * INTERVAL * 1000;
  const START = 1_700_000_000_000;
  let server: HealthServer | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  function start(metrics: Metrics = createMetrics()) {
    const clock = { ms: START };
    server = startHealthServer({
      port: 0,
      hostname: "127.0.0.1",
      metrics,
      intervalSeconds: INTERVAL,
      now: () => clock.ms,
    });
    const url = (path: string) => `http://127.0.0.1:${server?.port}${path}`;
    return { metrics, clock, url };
  }

  test.each([
    ["within the start-up grace, no success yet", undefined, 1_000, 200, "ok"],
    ["at the end of the start-up grace", undefined, LIMIT_MS, 200, "ok"],
    ["after the start-up grace, no success", undefined, LIMIT_MS + 1, 503, "no successful"],
    ["long after start, no success", undefined, 10 * LIMIT_MS, 503, "no successful"],
    ["just after a success", 5_000, 6_000, 200, "ok"],
    ["a success exactly 3 intervals old", 5_000, 5_000 + LIMIT_MS, 200, "ok"],
    ["a success older than 3 intervals", 5_000, 5_001 + LIMIT_MS, 503, "last successful"],
    ["a success well after the grace", 10 * LIMIT_MS, 11 * LIMIT_MS, 200, "ok"],
  ])("/healthz %s", async (_, successAfter, checkAfter, status, body) => {
    const { metrics, clock, url } = start();
    if (successAfter !== undefined) metrics.cycle("success", new Date(START + successAfter));
    clock.ms = START + checkAfter;
    const response = await fetch(url("/healthz"));
    expect(response.status).toBe(status);
    expect(await response.text()).toStartWith(body);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  test("/healthz follows the clock: healthy, stale, healthy again after a new success", async () => {
    const { metrics, clock, url } = start();
    metrics.cycle("success", new Date(START));
    clock.ms = START + 2 * INTERVAL * 1000;
    metrics.cycle("failure", new Date(clock.ms));
    expect((await fetch(url("/healthz"))).status).toBe(200);
    clock.ms = START + LIMIT_MS + 1;
    expect((await fetch(url("/healthz"))).status).toBe(503);
    metrics.cycle("success", new Date(clock.ms));
    expect((await fetch(url("/healthz?verbose=1"))).status).toBe(200);
  });

  test("/metrics serves the registry in Prometheus text", async () => {
    const { metrics, url } = start();
    metrics.cycle("success", new Date(START));
    metrics.deleted(4, "AAAA");
    metrics.request({ method: "GET", status: 200 });
    const response = await fetch(url("/metrics"));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const body = await response.text();
    expect(body).toBe(metrics.render());
    const samples = parseExposition(body);
    expect(samples.get("dynip_records_deleted_total{type=AAAA}")).toBe(4);
    expect(samples.get("dynip_last_success_timestamp_seconds{}")).toBe(START / 1000);
  });

  test.each([
    ["/healthz", 200],
    ["/metrics", 200],
  ])("HEAD %s answers the status without a body", async (path, status) => {
    const { url } = start();
    const response = await fetch(url(path), { method: "HEAD" });
    expect(response.status).toBe(status);
    expect(await response.text()).toBe("");
  });

  test.each([
    ["GET", "/", 404],
    ["GET", "/health", 404],
    ["GET", "/healthz/", 404],
    ["GET", "/metrics/x", 404],
    ["POST", "/nothing", 404],
    ["POST", "/healthz", 405],
    ["PUT", "/metrics", 405],
    ["DELETE", "/healthz", 405],
    ["OPTIONS", "/metrics", 405],
  ])("%s %s -> %d", async (method, path, status) => {
    const { url } = start();
    const response = await fetch(url(path), { method });
    expect(response.status).toBe(status);
    if (status === 405) expect(response.headers.get("allow")).toBe("GET, HEAD");
  });

  test("a request body is never read past 1 KiB", async () => {
    const { url } = start();
    const response = await fetch(url("/healthz"), {
      method: "POST",
      body: "x".repeat(1024 * 1024),
    });
    expect(response.status).toBe(413);
  });

  test("/healthz stays 200 while the brake holds deletions, and names the domains", async () => {
    const { metrics, url } = start();
    metrics.cycle("success", new Date(START));
    metrics.held("internal.example.com", 12);
    metrics.held("all.example.com", 0);
    const response = await fetch(url("/healthz"));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(
      "ok; the mass-deletion brake is holding deletions in internal.example.com (12 records)\n",
    );
    expect(metrics.render()).toContain(
      'dynip_cleanup_held_records{domain="internal.example.com"} 12',
    );
    metrics.held("internal.example.com", 0);
    expect(await (await fetch(url("/healthz"))).text()).toBe("ok\n");
  });

  test("a failing render answers 500 without details", async () => {
    const broken: Metrics = {
      ...createMetrics(),
      render: () => {
        throw new Error("secret");
      },
    };
    const { url } = start(broken);
    const level = log.level;
    log.level = -999;
    try {
      const response = await fetch(url("/metrics"));
      expect(response.status).toBe(500);
      expect(await response.text()).not.toContain("secret");
    } finally {
      log.level = level;
    }
  });

  test("a port in use is a DynipError naming HEALTH_PORT", () => {
    start();
    const options = { hostname: "127.0.0.1", metrics: createMetrics(), intervalSeconds: INTERVAL };
    let error: unknown;
    try {
      startHealthServer({ ...options, port: server?.port ?? 0 }).stop();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DynipError);
    expect((error as DynipError).message).toContain("HEALTH_PORT");
  });
});
