import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { formatWithOptions } from "node:util";
import { DynipError } from "../src/errors.ts";
import { configureLogger, log } from "../src/observe/log.ts";
import { backoffDelay } from "../src/providers/backoff.ts";
import {
  CloudflareApiError,
  CloudflareNetworkError,
  CloudflareResponseError,
  ListingChangedError,
} from "../src/providers/cloudflare/api-errors.ts";
import type { BatchOperations, RecordInput } from "../src/providers/cloudflare/api-types.ts";
import { chunkBatch } from "../src/providers/cloudflare/batch.ts";
import {
  type ClientOptions,
  CloudflareQuotaError,
  createCloudflareClient,
  type HttpRequestInfo,
  zoneCandidates,
} from "../src/providers/cloudflare/client.ts";
import { isRetryableStatus, parseRetryAfter } from "../src/providers/cloudflare/retry.ts";
import { type FakeCloudflare, startFakeCloudflare } from "./support/fake-cloudflare.ts";
import { until } from "./support/wait.ts";

const TOKEN = "tok-0123456789abcdefSECRET";
const fakes: FakeCloudflare[] = [];
let fake: FakeCloudflare;

async function startFake(options: Parameters<typeof startFakeCloudflare>[0] = {}) {
  const started = await startFakeCloudflare({ token: TOKEN, ...options });
  fakes.push(started);
  return started;
}

function clientFor(target: FakeCloudflare, options: Partial<ClientOptions> = {}) {
  return createCloudflareClient({
    apiUrl: target.url,
    token: target.token,
    timeoutMs: 2000,
    baseDelayMs: 5,
    maxDelayMs: 20,
    batchSize: 200,
    ...options,
  });
}

/** The rejection of `promise`, failing the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

function txt(name: string, content = '"1699564820,web-01"'): RecordInput {
  return { name, type: "TXT", content, ttl: 120 };
}

function a(name: string, content: string): RecordInput {
  return { name, type: "A", content, ttl: 120, proxied: false };
}

const dnsRequests = () => fake.requests.filter((r) => r.path.includes("/dns_records"));

beforeAll(async () => {
  fake = await startFake();
});

afterEach(() => {
  fake.clearFaults();
  fake.resetRequests();
});

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.stop()));
});

describe("pure helpers", () => {
  test.each([
    ["5", 5000],
    ["0", 0],
    [" 12 ", 12_000],
    ["Wed, 21 Oct 2015 07:28:10 GMT", 10_000],
    ["Wed, 21 Oct 2015 07:27:00 GMT", 0],
    ["soon", undefined],
    ["-3", undefined],
    [null, undefined],
  ])("Retry-After %p waits %p ms", (header, expected) => {
    const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
    expect(parseRetryAfter(header, now)).toBe(expected);
  });

  test.each([
    [1, 0, 100],
    [1, 1, 75],
    [2, 0, 200],
    [3, 0.5, 350],
    [10, 0, 1000],
  ])("backoff for retry %p with jitter %p is %p ms", (retry, random, expected) => {
    expect(backoffDelay(retry, { baseDelayMs: 100, maxDelayMs: 1000 }, () => random)).toBe(
      expected,
    );
  });

  test.each([
    [408, true],
    [429, true],
    [500, true],
    [502, true],
    [599, true],
    [400, false],
    [403, false],
    [404, false],
    [409, false],
    [200, false],
  ])("status %p retryable: %p", (status, expected) => {
    expect(isRetryableStatus(status)).toBe(expected);
  });

  test.each([
    ["a.b.example.com", ["a.b.example.com", "b.example.com", "example.com"]],
    ["Example.COM.", ["example.com"]],
    ["localhost", ["localhost"]],
  ])("zone candidates of %p", (domain, expected) => {
    expect(zoneCandidates(domain)).toEqual(expected);
  });

  test("chunking keeps Cloudflare's order across chunks", () => {
    const ops: BatchOperations = {
      deletes: [{ id: "d1" }, { id: "d2" }, { id: "d3" }],
      patches: [{ id: "p1", ...txt("x.example.com") }],
      puts: [],
      posts: [txt("n1.example.com"), txt("n2.example.com"), txt("n3.example.com")],
    };
    const ids = (chunk: BatchOperations) => [
      ...chunk.deletes.map((d) => d.id),
      ...chunk.patches.map((p) => p.id),
      ...chunk.puts.map((p) => p.id),
      ...chunk.posts.map((p) => p.name),
    ];
    expect(chunkBatch(ops, 2).map(ids)).toEqual([
      ["d1", "d2"],
      ["d3", "p1"],
      ["n1.example.com", "n2.example.com"],
      ["n3.example.com"],
    ]);
    expect(chunkBatch(ops, 100).map(ids)).toEqual([
      ["d1", "d2", "d3", "p1", "n1.example.com", "n2.example.com", "n3.example.com"],
    ]);
    expect(chunkBatch({ deletes: [], patches: [], puts: [], posts: [] }, 2)).toEqual([]);
  });
});

describe("reading records", () => {
  test("pages through 12,000 records with three requests of 5,000", async () => {
    const big = await startFake({ maxRecords: 20_000 });
    for (let i = 0; i < 12_000; i++) {
      const name = `_heartbeat-10-0-${i >> 8}-${i & 255}.int.example.com`;
      big.seed({ name, type: "TXT", content: '"1699564820,web-01"' });
    }
    const list = await clientFor(big).listRecords(big.zone.id, {});
    const { records } = list;
    expect(records).toHaveLength(12_000);
    expect(list.pages).toBe(3);
    expect(new Set(records.map((r) => r.id)).size).toBe(12_000);
    const pages = big.requests.map((r) => [r.query.get("page"), r.query.get("per_page")]);
    expect(pages).toEqual([
      ["1", "5000"],
      ["2", "5000"],
      ["3", "5000"],
    ]);
  });

  test.each([
    [{ name: "int.example.com" }, "name.exact", "int.example.com", ["int.example.com"]],
    [
      { nameEndsWith: ".int.example.com" },
      "name.endswith",
      ".int.example.com",
      ["_heartbeat-10-0-0-1.int.example.com"],
    ],
    [
      { nameStartsWith: "_heartbeat-" },
      "name.startswith",
      "_heartbeat-",
      ["_heartbeat-10-0-0-1.int.example.com"],
    ],
    [{ type: "A" }, "type", "A", ["int.example.com", "other.example.com"]],
  ])("filter %p is sent as %p", async (filter, param, value, names) => {
    const zone = await startFake();
    zone.seed({ name: "int.example.com", type: "A", content: "10.0.0.1" });
    zone.seed({ name: "_heartbeat-10-0-0-1.int.example.com", type: "TXT", content: '"1,a"' });
    zone.seed({ name: "other.example.com", type: "A", content: "10.0.0.2" });
    const { records } = await clientFor(zone).listRecords(zone.zone.id, filter);
    expect(zone.requests[0]?.query.get(param)).toBe(value);
    expect(records.map((r) => r.name).toSorted()).toEqual(names);
  });

  test("match=any ORs the filters", async () => {
    const zone = await startFake();
    zone.seed({ name: "int.example.com", type: "A", content: "10.0.0.1" });
    zone.seed({ name: "_heartbeat-10-0-0-1.int.example.com", type: "TXT", content: '"1,a"' });
    zone.seed({ name: "other.example.com", type: "A", content: "10.0.0.2" });
    const { records } = await clientFor(zone).listRecords(zone.zone.id, {
      name: "int.example.com",
      nameStartsWith: "_heartbeat-",
      match: "any",
    });
    expect(zone.requests[0]?.query.get("match")).toBe("any");
    expect(records.map((r) => r.name).toSorted()).toEqual([
      "_heartbeat-10-0-0-1.int.example.com",
      "int.example.com",
    ]);
  });

  test.each([
    ["claims a billion pages", 1e9, "more than 200 pages"],
    ["repeats the same page", 3, "page 2 only repeats earlier records"],
  ])("a listing that %s is refused, not followed", async (_, totalPages, problem) => {
    const body = JSON.stringify({
      success: true,
      errors: [],
      messages: [],
      result: [recordJson()],
      result_info: { page: 1, per_page: 1, count: 1, total_count: 1e9, total_pages: totalPages },
    });
    fake.inject({ times: Infinity, fault: { kind: "malformed", body } });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(CloudflareResponseError);
    expect(error.message).toContain(`inconsistent paging: ${problem}`);
    expect(dnsRequests().length).toBeLessThanOrEqual(2);
  });

  test("a listing carries Cloudflare's clock: the earliest Date of its pages", async () => {
    const client = clientFor(fake);
    fake.clock.set(Date.parse("2030-01-02T03:04:05Z"));
    const one = await client.listRecords(fake.zone.id, { name: "nothing.example.com" });
    expect(one.serverDate?.toISOString()).toBe("2030-01-02T03:04:05.000Z");
    fake.clock.advance(90_000);
    const two = await client.listRecords(fake.zone.id, { name: "nothing.example.com" });
    expect(two.serverDate?.toISOString()).toBe("2030-01-02T03:05:35.000Z");
  });
});

function recordJson() {
  return {
    id: "0123456789abcdef0123456789abcdef",
    name: "int.example.com",
    type: "A",
    content: "10.0.0.1",
    ttl: 120,
    proxied: false,
    created_on: "2030-01-01T00:00:00Z",
    modified_on: "2030-01-01T00:00:00Z",
  };
}

describe("paging while the list changes", () => {
  /** 30 records `r00`..`r29` at one name, read 10 a page. */
  async function zoneOf30() {
    const zone = await startFake();
    for (let i = 0; i < 30; i++) {
      zone.seed({
        name: "int.example.com",
        type: "TXT",
        content: `"r${String(i).padStart(2, "0")}"`,
      });
    }
    return zone;
  }

  /** Holds page 2 until `change` has run against the API (through a second client). */
  async function readWhile(change: (zone: FakeCloudflare) => Promise<unknown>) {
    const zone = await zoneOf30();
    const gate = Promise.withResolvers<void>();
    zone.inject({
      when: (r) => r.query.get("page") === "2",
      fault: { kind: "hold", until: gate.promise },
    });
    const reading = clientFor(zone, { perPage: 10 }).listRecords(zone.zone.id, {});
    reading.catch(() => undefined);
    await until(() => zone.requests.some((r) => r.query.get("page") === "2"));
    await change(zone);
    gate.resolve();
    return reading;
  }

  const deleteFirst = (count: number) => async (zone: FakeCloudflare) => {
    const doomed = zone.records().slice(0, count);
    await clientFor(zone).batch(zone.zone.id, {
      deletes: doomed.map((r) => ({ id: r.id })),
      patches: [],
      puts: [],
      posts: [],
    });
  };

  test("records deleted on a page already read: the count moved, the listing says so", async () => {
    const error = await rejection(readWhile(deleteFirst(3)));
    expect(error).toBeInstanceOf(ListingChangedError);
    expect(error.message).toContain("30 records counted on page 1, 27 on page 2");
  });

  test("a delete and a create that keep the count still show as a record listed twice", async () => {
    const error = await rejection(
      readWhile(async (zone) => {
        // One record more before the boundary and one less after it: the last record of page 1
        // moves onto page 2 and is listed again, while the count stays 30.
        await clientFor(zone).createRecord(zone.zone.id, txt("int.example.com", '"a"'));
        const last = zone.records().at(-1);
        await clientFor(zone).deleteRecord(zone.zone.id, last?.id ?? "");
      }),
    );
    expect(error).toBeInstanceOf(ListingChangedError);
    expect(error.message).toContain("1 record(s) of earlier pages again on page 2");
  });

  test("an answer short of its own count is a change, not a partial list", async () => {
    const body = JSON.stringify({
      success: true,
      errors: [],
      messages: [],
      result: [recordJson()],
      result_info: { page: 1, per_page: 10, count: 1, total_count: 2, total_pages: 1 },
    });
    fake.inject({ fault: { kind: "malformed", body } });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(ListingChangedError);
    expect(error.message).toContain("1 records read of 2 counted");
  });

  test("listPage says whether one answer is the whole list", async () => {
    const zone = await zoneOf30();
    const client = clientFor(zone, { perPage: 10 });
    const part = await client.listPage(zone.zone.id, {});
    expect([part.records.length, part.complete, part.pages]).toEqual([10, false, 1]);
    const whole = await clientFor(zone, { perPage: 50 }).listPage(zone.zone.id, {});
    expect([whole.records.length, whole.complete]).toEqual([30, true]);
    expect(zone.requests.every((r) => r.query.get("page") === "1")).toBe(true);
  });
});

describe("bounded answers", () => {
  test("an answer that never ends is cut at the cap, fast, and not retried", async () => {
    fake.inject({ times: Infinity, fault: { kind: "endless" } });
    const started = performance.now();
    const client = clientFor(fake, { timeoutMs: 30_000, maxAnswerBytes: 1024 * 1024 });
    const error = await rejection(client.listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(CloudflareResponseError);
    expect(error.message).toContain("answer larger than 1 MiB");
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(dnsRequests()).toHaveLength(1);
    await until(() => fake.streams.open === 0);
  });

  test("a huge answer past the default cap of 32 MiB is refused", async () => {
    fake.inject({ fault: { kind: "huge", bytes: 33 * 1024 * 1024 } });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error.message).toContain("answer larger than 32 MiB");
  });

  test("an error chain nested 30,000 deep is cut, not a stack overflow", async () => {
    const depth = 30_000;
    const link = '{"code":1004,"message":"deeper","error_chain":[';
    const body = `{"success":false,"messages":[],"result":null,"errors":[${link.repeat(depth)}${"]}".repeat(depth)}]}`;
    fake.inject({ fault: { kind: "malformed", body } });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(CloudflareApiError);
    expect(error.message).toContain("1004 deeper (1004 deeper (1004 deeper))");
  });

  test("an error list of 50,000 entries makes one short message", async () => {
    const errors = Array.from({ length: 50_000 }, (_, i) => ({
      code: 1004,
      message: `problem ${i} ${"x".repeat(500)}`,
    }));
    fake.inject({ fault: { kind: "error", status: 400, errors } });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error.message.length).toBeLessThan(2000);
    expect(error.message).toContain("and 49995 more error(s)");
    expect(error.message).toContain("more characters)");
  });
});

describe("writing records", () => {
  test("create, patch and delete send complete bodies and return records", async () => {
    const client = clientFor(fake);
    const created = await client.createRecord(fake.zone.id, a("w1.example.com", "10.1.0.1"));
    expect(created).toMatchObject({ name: "w1.example.com", type: "A", content: "10.1.0.1" });
    const patched = await client.patchRecord(
      fake.zone.id,
      created.id,
      a("w1.example.com", "10.1.0.2"),
    );
    expect(patched).toMatchObject({ id: created.id, content: "10.1.0.2" });
    const patch = fake.requests.find((r) => r.method === "PATCH");
    expect(patch?.body).toMatchObject({ name: "w1.example.com", type: "A", ttl: 120 });
    await client.deleteRecord(fake.zone.id, created.id);
    expect(fake.records().some((r) => r.id === created.id)).toBe(false);
  });

  test("batch splits 450 operations into 3 requests and keeps their order", async () => {
    const zone = await startFake({ maxBatchOperations: 200 });
    const doomed = Array.from({ length: 100 }, (_, i) =>
      zone.seed({
        name: `_heartbeat-10-9-0-${i}.int.example.com`,
        type: "TXT",
        content: '"1,old"',
      }),
    );
    const kept = Array.from({ length: 150 }, (_, i) =>
      zone.seed({ name: `_heartbeat-10-8-0-${i}.int.example.com`, type: "TXT", content: '"1,x"' }),
    );
    const ops: BatchOperations = {
      deletes: doomed.map((r) => ({ id: r.id })),
      patches: kept.map((r) => ({ id: r.id, ...txt(r.name, '"2,x"') })),
      puts: [],
      posts: Array.from({ length: 200 }, (_, i) => txt(`_heartbeat-10-7-0-${i}.int.example.com`)),
    };
    const result = await clientFor(zone, { batchSize: 200 }).batch(zone.zone.id, ops);

    const sent = zone.requests.map(
      (r) => r.body as Record<string, { id?: string; name?: string }[]>,
    );
    expect(sent).toHaveLength(3);
    const sequence = sent.flatMap((body) =>
      ["deletes", "patches", "puts", "posts"].flatMap((list) =>
        (body[list] ?? []).map((op) => `${list}:${op.id ?? op.name}`),
      ),
    );
    expect(sequence).toEqual([
      ...ops.deletes.map((op) => `deletes:${op.id}`),
      ...ops.patches.map((op) => `patches:${op.id}`),
      ...ops.posts.map((op) => `posts:${op.name}`),
    ]);
    expect(sent.map((body) => Object.values(body).flat().length)).toEqual([200, 200, 50]);
    expect(result.deletes).toHaveLength(100);
    expect(result.patches.map((r) => r.content)).toEqual(kept.map(() => '"2,x"'));
    expect(result.posts.map((r) => r.name)).toEqual(ops.posts.map((r) => r.name));
    expect(zone.records()).toHaveLength(350);
  });

  test("an empty batch sends nothing", async () => {
    const result = await clientFor(fake).batch(fake.zone.id, {
      deletes: [],
      patches: [],
      puts: [],
      posts: [],
    });
    expect(result).toEqual({ deletes: [], patches: [], puts: [], posts: [] });
    expect(fake.requests).toEqual([]);
  });

  test("a failed batch changes nothing", async () => {
    const zone = await startFake();
    const existing = zone.seed(txt("_heartbeat-10-0-0-1.int.example.com"));
    const before = zone.records();
    const error = await rejection(
      clientFor(zone).batch(zone.zone.id, {
        deletes: [{ id: existing.id }],
        patches: [{ id: "ffffffffffffffffffffffffffffffff", ...txt("gone.example.com") }],
        puts: [],
        posts: [txt("new.example.com")],
      }),
    );
    expect(error).toBeInstanceOf(CloudflareApiError);
    expect((error as CloudflareApiError).hasCode(81044)).toBe(true);
    expect(zone.records()).toEqual(before);
  });
});

describe("API errors", () => {
  test("81058: an identical record already exists", async () => {
    const client = clientFor(fake);
    await client.createRecord(fake.zone.id, a("dup.example.com", "10.2.0.1"));
    const error = await rejection(
      client.createRecord(fake.zone.id, a("dup.example.com", "10.2.0.1")),
    );
    expect(error).toBeInstanceOf(CloudflareApiError);
    expect((error as CloudflareApiError).hasCode(81058)).toBe(true);
    expect((error as CloudflareApiError).request).toBe(`POST /zones/${fake.zone.id}/dns_records`);
    // Not retried: the answer was clear.
    expect(fake.requests.filter((r) => r.method === "POST")).toHaveLength(2);
  });

  test("81044: the record does not exist", async () => {
    const error = await rejection(
      clientFor(fake).deleteRecord(fake.zone.id, "0000000000000000000000000000beef"),
    );
    expect(error).toBeInstanceOf(CloudflareApiError);
    expect((error as CloudflareApiError).hasCode(81044)).toBe(true);
  });

  test("9109: a wrong token, without showing either token", async () => {
    const wrong = "wrong-token-abcdef123456";
    const error = await rejection(clientFor(fake, { token: wrong }).verifyToken());
    expect(error).toBeInstanceOf(CloudflareApiError);
    expect((error as CloudflareApiError).status).toBe(403);
    expect((error as CloudflareApiError).hasCode(9109)).toBe(true);
    for (const text of [error.message, Bun.inspect(error), JSON.stringify(error)]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(TOKEN);
    }
  });

  test("81045 reads as a record quota error", async () => {
    const zone = await startFake({ maxRecords: 1 });
    const client = clientFor(zone);
    await client.createRecord(zone.zone.id, a("q.example.com", "10.3.0.1"));
    const error = await rejection(
      client.createRecord(zone.zone.id, a("q.example.com", "10.3.0.2")),
    );
    expect(error).toBeInstanceOf(CloudflareQuotaError);
    expect((error as CloudflareApiError).hasCode(81045)).toBe(true);
    expect(error.message).toMatch(/record quota/i);
    // The quotas as Cloudflare states them today, as the README gives them too.
    expect(error.message).toContain(
      "200 on Free zones created since September 2024, 1,000 on older Free zones, 3,500",
    );
  });

  test("other 4xx answers are not retried", async () => {
    fake.inject({ fault: { kind: "status", status: 400 } });
    const error = await rejection(clientFor(fake).verifyToken());
    expect(error).toBeInstanceOf(DynipError);
    expect(fake.requests).toHaveLength(1);
  });
});

describe("retries and broken answers", () => {
  test("a 429 is retried after Retry-After", async () => {
    const attempts: number[] = [];
    const client = clientFor(fake, { onRequest: () => attempts.push(performance.now()) });
    fake.inject({ times: 1, fault: { kind: "rate-limit", retryAfter: 1 } });
    const token = await client.verifyToken();
    expect(token.status).toBe("active");
    expect(attempts).toHaveLength(2);
    const [first = 0, second = 0] = attempts;
    expect(second - first).toBeGreaterThanOrEqual(950);
  });

  test.each([
    ["longer than Retry-After may be", 300, {}],
    ["past the retry time budget", 1, { maxElapsedMs: 500 }],
  ])("a 429 asking to wait %s fails at once", async (_, retryAfter, options) => {
    fake.inject({ fault: { kind: "rate-limit", retryAfter } });
    const error = await rejection(clientFor(fake, options).verifyToken());
    expect(error).toBeInstanceOf(CloudflareApiError);
    expect((error as CloudflareApiError).status).toBe(429);
    expect(fake.requests).toHaveLength(1);
  });

  // A fresh fake each time: Bun's fetch silently resends a request whose pooled keep-alive
  // connection was dropped, and these tests are about the client's own retries.
  test.each([
    [{ kind: "drop" }, null],
    [{ kind: "status", status: 503 }, 503],
    [{ kind: "status", status: 408 }, 408],
    [{ kind: "html", status: 502 }, 502],
  ] as const)("one %p is retried", async (fault, firstStatus) => {
    const fresh = await startFake();
    const seen: (number | null)[] = [];
    const client = clientFor(fresh, {
      onRequest: (info: HttpRequestInfo) => seen.push(info.status),
    });
    fresh.seed({ name: "int.example.com", type: "A", content: "10.0.0.1" });
    fresh.inject({ times: 1, fault });
    const { records } = await client.listRecords(fresh.zone.id, { name: "int.example.com" });
    expect(records.map((r) => r.content)).toEqual(["10.0.0.1"]);
    expect(seen).toEqual([firstStatus, 200]);
  });

  test("a dropped connection, every time, becomes a network error", async () => {
    const fresh = await startFake();
    const seen: (number | null)[] = [];
    fresh.inject({ times: Infinity, fault: { kind: "drop" } });
    const client = clientFor(fresh, { retries: 2, onRequest: (info) => seen.push(info.status) });
    const error = await rejection(client.verifyToken());
    expect(error).toBeInstanceOf(CloudflareNetworkError);
    expect(error.message).toContain("no answer after 3 attempts");
    expect(seen).toEqual([null, null, null]);
    expect(fresh.requests).toHaveLength(3);
  });

  test("an HTML 502 page becomes a clear response error after the retries", async () => {
    fake.inject({ times: Infinity, fault: { kind: "html", status: 502 } });
    const error = await rejection(clientFor(fake, { retries: 3 }).listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(CloudflareResponseError);
    expect(error.message).toContain("expected JSON, got text/html");
    expect((error as CloudflareResponseError).status).toBe(502);
    expect(fake.requests).toHaveLength(4);
  });

  test("truncated JSON is an error, not a crash", async () => {
    fake.inject({ times: Infinity, fault: { kind: "truncated" } });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(CloudflareResponseError);
    expect(error.message).toContain("invalid JSON");
  });

  test.each([
    ["not an object", "[]"],
    ["null", "null"],
    ["no success flag", '{"result":[]}'],
    ["errors not a list", '{"success":false,"errors":"boom","result":null}'],
    ["result not a list", '{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}'],
    ["record without id", `{"success":true,"errors":[],"result":[{"name":"x","type":"A"}]}`],
    [
      "ttl not a number",
      JSON.stringify({ success: true, errors: [], result: [{ ...recordJson(), ttl: "auto" }] }),
    ],
  ])("a malformed envelope (%s) is a response error", async (_, body) => {
    fake.inject({ fault: { kind: "malformed", body } });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(CloudflareResponseError);
    expect(fake.requests).toHaveLength(1);
  });

  test("a hang is bounded by the timeout and the retries", async () => {
    fake.inject({ times: Infinity, fault: { kind: "hang" } });
    const client = clientFor(fake, { timeoutMs: 150, retries: 2 });
    const error = await rejection(client.listRecords(fake.zone.id, {}));
    expect(error).toBeInstanceOf(CloudflareNetworkError);
    expect(error.message).toContain("timed out after 150 ms");
    expect(fake.requests).toHaveLength(3);
  });

  test("a slow answer within the timeout is not an error", async () => {
    fake.inject({ times: 1, fault: { kind: "delay", ms: 50 } });
    const seen: (number | null)[] = [];
    const client = clientFor(fake, { timeoutMs: 1000, onRequest: (i) => seen.push(i.status) });
    await client.verifyToken();
    expect(seen).toEqual([200]);
  });
});

describe("errors say what to do", () => {
  test.each([
    [
      "a rejected token",
      "wrong-token-0123456789",
      undefined,
      "check CF_API_TOKEN (or CF_API_TOKEN_FILE)",
    ],
    ["a zone Cloudflare cannot route to", undefined, "0".repeat(32), "check CF_ZONE_ID"],
  ])("%s", async (_name, token, zone, hint) => {
    const client = createCloudflareClient({
      apiUrl: fake.url,
      token: token ?? fake.token,
      timeoutMs: 2000,
      batchSize: 200,
      retries: 0,
    });
    const error = await rejection(client.listRecords(zone ?? fake.zone.id, {}));
    expect(error.message).toContain(hint);
  });

  test("a refused zone lookup names the permission, and CF_ZONE_ID as the way around it", async () => {
    fake.inject({ path: /^\/zones$/, fault: { kind: "status", status: 403 } });
    const error = await rejection(clientFor(fake).findZone("int.example.com"));
    expect(error.message).toContain("give it Zone → Zone → Read, or set CF_ZONE_ID");
  });

  test("a token without DNS Edit on the zone is told so", async () => {
    fake.inject({
      path: /dns_records$/,
      fault: {
        kind: "error",
        status: 403,
        errors: [{ code: 10000, message: "Authentication error" }],
      },
    });
    const error = await rejection(clientFor(fake).listRecords(fake.zone.id, {}));
    expect(error.message).toContain("Zone → DNS → Edit on this zone");
  });
});

describe("zones and tokens", () => {
  test.each([
    ["a.b.example.com", "zone-b", ["a.b.example.com", "b.example.com"]],
    ["www.example.com", "zone-root", ["www.example.com", "example.com"]],
    ["example.com", "zone-root", ["example.com"]],
  ])("findZone(%p) picks the longest matching suffix", async (domain, id, asked) => {
    const zones = await startFake({
      zones: [
        { id: "zone-root", name: "example.com" },
        { id: "zone-b", name: "b.example.com" },
      ],
    });
    expect((await clientFor(zones).findZone(domain)).id).toBe(id);
    expect(zones.requests.map((r) => r.query.get("name"))).toEqual(asked);
  });

  test("findZone says what to do when no zone matches", async () => {
    const error = await rejection(clientFor(fake).findZone("host.unknown.org"));
    expect(error).toBeInstanceOf(DynipError);
    expect(error.message).toContain("CF_ZONE_ID");
  });

  test("findZone remembers zones found, but asks again after finding none", async () => {
    const client = clientFor(fake);
    const zoneLookups = () => fake.requests.filter((r) => r.path === "/zones").length;
    // A token without Zone Read sees no zones: the first answers are empty.
    fake.inject({ path: /^\/zones$/, times: 2, fault: { kind: "malformed", body: emptyZones } });
    await rejection(client.findZone("a.example.com"));
    expect(zoneLookups()).toBe(2);
    expect((await client.findZone("a.example.com")).id).toBe(fake.zone.id);
    expect(zoneLookups()).toBe(4);
    expect((await client.findZone("b.example.com")).id).toBe(fake.zone.id);
    expect(zoneLookups()).toBe(5); // example.com itself is not asked again
  });

  test("verifyToken answers id and status", async () => {
    const token = await clientFor(fake).verifyToken();
    expect(token.status).toBe("active");
    expect(token.id).not.toBe("");
  });
});

const emptyZones = {
  success: true,
  errors: [],
  messages: [],
  result: [],
  result_info: { page: 1, per_page: 20, count: 0, total_count: 0, total_pages: 1 },
};

describe("secrecy", () => {
  test("the token is in no log line, even at debug level, and in no error", async () => {
    const lines: string[] = [];
    configureLogger({ level: "debug", format: "json" });
    // Raw arguments, before redaction: the client must not hand the token to the logger at all.
    log.setReporters([
      { log: (entry) => lines.push(formatWithOptions({ depth: 10 }, ...entry.args)) },
    ]);
    try {
      const client = clientFor(fake);
      const errors: Error[] = [];
      await client.listRecords(fake.zone.id, {});
      fake.inject({ times: 1, fault: { kind: "rate-limit", retryAfter: 0 } });
      await client.verifyToken();
      fake.inject({ times: Infinity, fault: { kind: "html", status: 500 } });
      errors.push(await rejection(client.verifyToken()));
      fake.clearFaults();
      fake.inject({ times: Infinity, fault: { kind: "drop" } });
      errors.push(await rejection(client.verifyToken()));
      fake.clearFaults();
      errors.push(await rejection(clientFor(fake, { token: `${TOKEN}x` }).verifyToken()));
      const closed = createCloudflareClient({
        apiUrl: "http://127.0.0.1:9/client/v4",
        token: TOKEN,
        timeoutMs: 500,
        retries: 0,
        batchSize: 1,
      });
      errors.push(await rejection(closed.verifyToken()));

      expect(lines.some((line) => line.includes("GET /user/tokens/verify"))).toBe(true);
      for (const line of lines) expect(line).not.toContain(TOKEN);
      for (const error of errors) {
        for (const text of [error.message, Bun.inspect(error), JSON.stringify(error)]) {
          expect(text).not.toContain(TOKEN);
        }
      }
    } finally {
      configureLogger({ level: "info", format: "pretty" });
    }
  });
});
