import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import type { CloudflareErrorDetail } from "../src/providers/cloudflare/api-errors.ts";
import {
  type FakeCloudflare,
  type FakeOptions,
  type FaultKind,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { errors } from "./support/fake-errors.ts";
import { until } from "./support/wait.ts";

interface Reply {
  status: number;
  headers: Headers;
  json: {
    success: boolean;
    errors: CloudflareErrorDetail[];
    messages: unknown[];
    // biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
    result: any;
    result_info?: Record<string, number>;
  };
  text: string;
}

let fake: FakeCloudflare;
const started: FakeCloudflare[] = [];

/** The fake's own tests send broken requests on purpose and read its violations themselves. */
async function start(options?: FakeOptions): Promise<FakeCloudflare> {
  const instance = await startFakeCloudflare({ ...options, checkViolations: false });
  started.push(instance);
  return instance;
}

beforeEach(async () => {
  fake = await start();
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((f) => f.stop()));
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  on: FakeCloudflare = fake,
): Promise<Reply> {
  const response = await fetch(`${on.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${on.token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: JSON.parse(text), text };
}

const records = (query = "") => call("GET", `/zones/${fake.zone.id}/dns_records${query}`);
const create = (body: unknown) => call("POST", `/zones/${fake.zone.id}/dns_records`, body);
const batch = (body: unknown) => call("POST", `/zones/${fake.zone.id}/dns_records/batch`, body);
const recordPath = (id: string) => `/zones/${fake.zone.id}/dns_records/${id}`;
const names = (reply: Reply) => (reply.json.result as { name: string }[]).map((r) => r.name);

const parse = async (response: Response) => ({ json: (await response.json()) as Reply["json"] });

/** The codes of the first error and of its chain, e.g. [1004, 9021]. */
function codes(reply: Pick<Reply, "json">): number[] {
  const first = reply.json.errors[0];
  return first ? [first.code, ...(first.error_chain ?? []).map((e) => e.code)] : [];
}

describe("envelope and paging", () => {
  test("250 records page by 100 into 3 pages with exact result_info; page 4 is empty", async () => {
    for (let i = 0; i < 250; i++) {
      fake.seed({
        name: `h${String(i).padStart(3, "0")}.example.com`,
        type: "A",
        content: "10.0.0.1",
      });
    }
    const seen: string[] = [];
    for (const [page, count] of [
      [1, 100],
      [2, 100],
      [3, 50],
      [4, 0],
    ] as const) {
      const reply = await records(`?per_page=100&page=${page}&order=name`);
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({ success: true, errors: [], messages: [] });
      expect(reply.json.result).toHaveLength(count);
      expect(reply.json.result_info).toEqual({
        page,
        per_page: 100,
        count,
        total_count: 250,
        total_pages: 3,
      });
      seen.push(...names(reply));
    }
    expect(seen).toEqual(fake.records().map((r) => r.name));
  });

  test("offset paging: deleting page 1 records between two page reads shifts page 2; totals follow", async () => {
    for (let i = 0; i < 250; i++) {
      fake.seed({
        name: `h${String(i).padStart(3, "0")}.example.com`,
        type: "A",
        content: "10.0.0.1",
      });
    }
    const all = fake.records().map((r) => r.name);
    const page1 = await records("?per_page=100&page=1&order=name");
    expect(names(page1)).toEqual(all.slice(0, 100));
    for (const record of (page1.json.result as { id: string }[]).slice(0, 10)) {
      expect((await call("DELETE", recordPath(record.id))).status).toBe(200);
    }
    const page2 = await records("?per_page=100&page=2&order=name");
    expect(page2.json.result_info).toEqual({
      page: 2,
      per_page: 100,
      count: 100,
      total_count: 240,
      total_pages: 3,
    });
    expect(names(page2)).toEqual(all.slice(110, 210));
    // The first ten of the old page 2 moved to the end of page 1, already read: missed.
    const seen = new Set([...names(page1), ...names(page2)]);
    expect(all.slice(100, 110).filter((name) => seen.has(name))).toEqual([]);
    expect(names(await records("?per_page=100&page=1&order=name")).slice(90)).toEqual(
      all.slice(100, 110),
    );
  });

  test("an empty list has total_pages 1, and per_page defaults to 100", async () => {
    const reply = await records();
    expect(reply.json.result).toEqual([]);
    expect(reply.json.result_info).toEqual({
      page: 1,
      per_page: 100,
      count: 0,
      total_count: 0,
      total_pages: 1,
    });
  });

  test("every answer carries Date from the fake clock and the rate-limit headers", async () => {
    for (const reply of [await records(), await call("GET", "/zones/nope/dns_records")]) {
      expect(reply.headers.get("date")).toBe(new Date(fake.clock.now()).toUTCString());
      expect(reply.headers.get("ratelimit")).toMatch(/^"default";r=\d+;t=\d+$/);
      expect(reply.headers.get("ratelimit-policy")).toBe('"default";q=1200;w=300');
    }
  });

  test("answers match the response schemas of Cloudflare's OpenAPI document", async () => {
    const doc = await Bun.file(
      new URL("./fixtures/cloudflare-dns.openapi.json", import.meta.url),
    ).json();
    // Two known gaps between the published schema and the live API, which the fake follows:
    // `data` is only sent for structured types (SRV, CAA…), and a missing comment is null.
    const record = doc.components.schemas["dns-records_dns-record-response"];
    record.required = record.required.filter((field: string) => field !== "data");
    doc.components.schemas["dns-records_comment"].nullable = true;
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ components: doc.components }, "cf");
    const check = (schema: string, reply: Reply) => {
      const validate = ajv.getSchema(`cf#/components/schemas/${schema}`);
      expect(validate?.(reply.json) ? [] : validate?.errors).toEqual([]);
    };
    const created = await create({
      name: "a.example.com",
      type: "A",
      content: "10.0.0.1",
      ttl: 120,
    });
    check("dns-records_dns_response_single", created);
    check("dns-records_dns_response_collection", await records());
    const posts = [{ name: "t.example.com", type: "TXT", content: '"x"', ttl: 1 }];
    check("dns-records_dns_response_batch", await batch({ posts }));
    check("dns-records_api-response-common-failure", await create({ name: "a" }));
    check("iam_token_verify_response_single_segment", await call("GET", "/user/tokens/verify"));
  });
});

describe("list filters", () => {
  beforeEach(() => {
    fake.seed({ name: "internal.example.com", type: "A", content: "10.0.0.1" });
    fake.seed({
      name: "xinternal.example.com",
      type: "A",
      content: "10.0.0.2",
      comment: "look-alike",
    });
    fake.seed({
      name: "_heartbeat-10-0-0-1.internal.example.com",
      type: "TXT",
      content: '"1,web-01"',
    });
    fake.seed({
      name: "www.example.com",
      type: "CNAME",
      content: "Target.Example.net",
      proxied: true,
    });
  });

  const cases: [query: string, expected: string[]][] = [
    ["?name=internal.example.com", ["internal.example.com"]],
    ["?name.exact=INTERNAL.Example.COM", ["internal.example.com"]],
    [
      "?name.endswith=internal.example.com",
      ["_heartbeat-10-0-0-1.internal.example.com", "internal.example.com", "xinternal.example.com"],
    ],
    ["?name.endswith=.internal.example.com", ["_heartbeat-10-0-0-1.internal.example.com"]],
    ["?name.startswith=_HEARTBEAT-", ["_heartbeat-10-0-0-1.internal.example.com"]],
    ["?name.contains=xint", ["xinternal.example.com"]],
    ["?content=10.0.0.2", ["xinternal.example.com"]],
    ["?content.exact=target.example.NET", ["www.example.com"]],
    ["?content.startswith=10.0.", ["internal.example.com", "xinternal.example.com"]],
    ["?content.endswith=.0.1", ["internal.example.com"]],
    ["?content.contains=WEB-01", ["_heartbeat-10-0-0-1.internal.example.com"]],
    ["?type=TXT", ["_heartbeat-10-0-0-1.internal.example.com"]],
    [
      "?type=A&name.endswith=internal.example.com",
      ["internal.example.com", "xinternal.example.com"],
    ],
    [
      "?type=A&name.endswith=internal.example.com&match=all",
      ["internal.example.com", "xinternal.example.com"],
    ],
    ["?type=CNAME&content=10.0.0.2&match=any", ["www.example.com", "xinternal.example.com"]],
    ["?proxied=true", ["www.example.com"]],
    ["?comment.present", ["xinternal.example.com"]],
    ["?comment.contains=LOOK", ["xinternal.example.com"]],
    ["?name=nothing.example.com", []],
    ["?unknown_parameter=1&type=CNAME", ["www.example.com"]],
  ];
  test.each(cases)("%s", async (query, expected) => {
    const reply = await records(query);
    expect(reply.status).toBe(200);
    expect(names(reply).toSorted()).toEqual(expected);
    expect(reply.json.result_info?.total_count).toBe(expected.length);
  });

  test.each([
    [
      "?order=name",
      [
        "_heartbeat-10-0-0-1.internal.example.com",
        "internal.example.com",
        "www.example.com",
        "xinternal.example.com",
      ],
    ],
    [
      "?order=name&direction=desc",
      [
        "xinternal.example.com",
        "www.example.com",
        "internal.example.com",
        "_heartbeat-10-0-0-1.internal.example.com",
      ],
    ],
    [
      "?order=type",
      [
        "internal.example.com",
        "xinternal.example.com",
        "www.example.com",
        "_heartbeat-10-0-0-1.internal.example.com",
      ],
    ],
  ])("ordering %s", async (query, expected) => {
    expect(names(await records(query))).toEqual(expected);
  });
});

describe("query validation", () => {
  test.each([
    ["dns_records", "?per_page=0", true],
    ["dns_records", "?per_page=abc", true],
    ["dns_records", "?per_page=5000001", true],
    ["dns_records", "?page=0", true],
    ["dns_records", "?type=A,AAAA", true],
    ["dns_records", "?match=some", true],
    ["dns_records", "?order=created_on", true],
    ["dns_records", "?direction=up", true],
    ["zones", "?per_page=51", true],
    ["zones", "?per_page=4", true],
    // The schema types page numbers as "number"; the fake refuses fractions all the same.
    ["dns_records", "?per_page=2.5", false],
  ])(
    "%s%s is refused (reported as a schema violation: %p)",
    async (collection, query, reported) => {
      const path = collection === "zones" ? "/zones" : `/zones/${fake.zone.id}/dns_records`;
      const reply = await call("GET", `${path}${query}`);
      expect(reply.status).toBe(400);
      expect(codes(reply)).toEqual([1004]);
      expect(fake.schemaViolations).toHaveLength(reported ? 1 : 0);
    },
  );

  test.each(["?per_page=5000", "?per_page=1&page=7", "?match=any&type=AAAA"])(
    "%s is accepted",
    async (query) => {
      expect((await records(query)).status).toBe(200);
      expect(fake.schemaViolations).toEqual([]);
    },
  );
});

describe("record validation", () => {
  const A = { name: "a.example.com", type: "A", content: "10.0.0.1", ttl: 120 };
  test.each([
    ["IPv4 that is no IPv4 (schema format)", { ...A, content: "10.0.0.300" }, 400, [1004], true],
    [
      "IPv6 in an AAAA that is no IPv6 (schema format)",
      { ...A, type: "AAAA", content: "10.0.0.1" },
      400,
      [1004],
      true,
    ],
    ["TTL 30 (Enterprise only)", { ...A, ttl: 30 }, 400, [1004, 9021], false],
    ["TTL 59", { ...A, ttl: 59 }, 400, [1004, 9021], false],
    ["TTL 2 (outside the schema)", { ...A, ttl: 2 }, 400, [1004], true],
    ["proxied TXT", { ...A, type: "TXT", content: '"x"', proxied: true }, 400, [1004, 9004], false],
    ["proxied private IPv4", { ...A, proxied: true }, 400, [9003], false],
    [
      "proxied documentation IPv4",
      { ...A, content: "192.0.2.1", proxied: true },
      400,
      [9003],
      false,
    ],
    [
      "proxied ULA IPv6",
      { ...A, type: "AAAA", content: "fd00::1", proxied: true },
      400,
      [9003],
      false,
    ],
    [
      "TXT over 2048 characters",
      { ...A, type: "TXT", content: "x".repeat(2049) },
      400,
      [1004],
      false,
    ],
    ["name outside the zone", { ...A, name: "a.example.org" }, 400, [1004], false],
    ["look-alike zone suffix", { ...A, name: "aexample.com" }, 400, [1004], false],
    ["unknown record type", { ...A, type: "BOGUS" }, 400, [1004], true],
    ["comment over 100 characters", { ...A, comment: "c".repeat(101) }, 400, [1004], false],
    ["tags on the Free plan", { ...A, tags: ["owner:me"] }, 400, [1004], false],
    ["TXT of 2048 characters", { ...A, type: "TXT", content: "x".repeat(2048) }, 200, [], false],
    ["proxied public IPv4", { ...A, content: "8.8.8.8", proxied: true }, 200, [], false],
    ["TTL 1 and 86400", { ...A, ttl: 86400 }, 200, [], false],
  ])("%s", async (_, body, status, expected, violation) => {
    const reply = await create(body);
    expect(reply.status).toBe(status);
    expect(reply.json.success).toBe(status === 200);
    expect(codes(reply)).toEqual(expected);
    expect(fake.schemaViolations).toHaveLength(violation ? 1 : 0);
    expect(fake.records()).toHaveLength(status === 200 ? 1 : 0);
  });

  test("names are stored lower-case, AAAA content in canonical compressed form, proxied with TTL 1", async () => {
    const aaaa = await create({
      name: "V6.Example.COM.",
      type: "AAAA",
      content: "2001:DB8:0:0::1",
      ttl: 300,
    });
    expect(aaaa.json.result).toMatchObject({
      name: "v6.example.com",
      content: "2001:db8::1",
      ttl: 300,
    });
    const proxied = await create({ ...A, content: "1.1.1.1", proxied: true });
    expect(proxied.json.result).toMatchObject({ proxied: true, proxiable: true, ttl: 1 });
    expect(aaaa.json.result).toMatchObject({
      proxied: false,
      proxiable: false,
      comment: null,
      tags: [],
    });
    expect(aaaa.json.result.id).toMatch(/^[0-9a-f]{32}$/);
  });

  test("an identical record is refused with 81058, also when the IPv6 is spelled differently", async () => {
    expect((await create(A)).status).toBe(200);
    const again = await create({ ...A, ttl: 300, name: "A.example.com" });
    expect([again.status, ...codes(again)]).toEqual([400, 81058]);
    await create({ ...A, type: "AAAA", content: "2001:db8::1" });
    const spelled = await create({ ...A, type: "AAAA", content: "2001:0db8:0000::1" });
    expect([spelled.status, ...codes(spelled)]).toEqual([400, 81058]);
    expect(fake.records()).toHaveLength(2);
  });

  test("a CNAME cannot share a name with A/AAAA/CNAME records (81053, 81054)", async () => {
    await create(A);
    const cname = await create({ ...A, type: "CNAME", content: "elsewhere.example.net" });
    expect(codes(cname)).toEqual([81053]);
    await create({ ...A, name: "c.example.com", type: "CNAME", content: "elsewhere.example.net" });
    const address = await create({ ...A, name: "c.example.com" });
    expect(codes(address)).toEqual([81054]);
    const txt = await create({ ...A, name: "c.example.com", type: "TXT", content: '"ok"' });
    expect(txt.status).toBe(200);
  });

  test("the zone quota answers 81045 once maxRecords records exist", async () => {
    fake = await start({ maxRecords: 2 });
    fake.seed({ name: "one.example.com", type: "A", content: "10.0.0.1" });
    expect((await create(A)).status).toBe(200);
    const third = await create({ ...A, content: "10.0.0.3" });
    expect([third.status, ...codes(third)]).toEqual([400, 81045]);
    expect(third.json.errors[0]?.message).toBe("Record quota exceeded.");
  });
});

describe("single-record operations", () => {
  test.each(["GET", "PATCH", "PUT", "DELETE"])(
    "%s of a missing record answers 404 81044",
    async (method) => {
      const body =
        method === "PATCH" || method === "PUT"
          ? { name: "a.example.com", type: "A", content: "10.0.0.1", ttl: 1 }
          : undefined;
      const reply = await call(method, recordPath("0".repeat(32)), body);
      expect([reply.status, ...codes(reply)]).toEqual([404, 81044]);
      expect(reply.json.errors[0]?.message).toBe("Record does not exist.");
    },
  );

  test("a malformed record id or an unknown zone answers 7003 with 7000", async () => {
    for (const path of [recordPath("not-an-id"), `/zones/${"f".repeat(32)}/dns_records`]) {
      const reply = await call("GET", path);
      expect(reply.status).toBe(400);
      expect(reply.json.errors.map((e) => e.code)).toEqual([7003, 7000]);
      expect(reply.json.errors[0]?.message).toBe(
        `Could not route to ${path}, perhaps your object identifier is invalid?`,
      );
    }
  });

  test("GET and DELETE of a record; DELETE answers only the id", async () => {
    const seeded = fake.seed({ name: "a.example.com", type: "A", content: "10.0.0.1" });
    expect((await call("GET", recordPath(seeded.id))).json.result).toEqual(seeded);
    const deleted = await call("DELETE", recordPath(seeded.id));
    expect(deleted.json).toEqual({
      success: true,
      errors: [],
      messages: [],
      result: { id: seeded.id },
    });
    expect(fake.records()).toEqual([]);
  });

  test("PATCH changes only the named fields; PUT resets the omitted ones", async () => {
    const base = { name: "p.example.com", type: "A", ttl: 300 };
    const created = await create({
      ...base,
      content: "8.8.8.8",
      proxied: true,
      comment: "keep me",
    });
    const id: string = created.json.result.id;
    fake.clock.advance(60_000);
    const patched = await call("PATCH", recordPath(id), { ...base, content: "1.1.1.1" });
    expect(patched.json.result).toMatchObject({
      content: "1.1.1.1",
      proxied: true,
      comment: "keep me",
    });
    expect(patched.json.result.created_on).toBe(created.json.result.created_on);
    expect(patched.json.result.modified_on).toBe(new Date(fake.clock.now()).toISOString());
    const put = await call("PUT", recordPath(id), { ...base, content: "1.1.1.1" });
    expect(put.json.result).toMatchObject({
      content: "1.1.1.1",
      proxied: false,
      comment: null,
      ttl: 300,
    });
    expect(fake.records()).toEqual([put.json.result]);
  });

  test("a PATCH that turns an AAAA into an A without new content fails with 9005", async () => {
    const seeded = fake.seed({ name: "v.example.com", type: "AAAA", content: "2001:db8::1" });
    const reply = await call("PATCH", recordPath(seeded.id), {
      name: "v.example.com",
      type: "A",
      ttl: 1,
    });
    expect([reply.status, ...codes(reply)]).toEqual([400, 9005]);
  });

  test("a PATCH without ttl breaks the schema: 400 1004, reported, record unchanged", async () => {
    const seeded = fake.seed({ name: "a.example.com", type: "A", content: "10.0.0.1" });
    const reply = await call("PATCH", recordPath(seeded.id), {
      name: "a.example.com",
      type: "A",
      content: "10.0.0.2",
    });
    expect([reply.status, ...codes(reply)]).toEqual([400, 1004]);
    expect(reply.json.errors[0]?.message).toContain("must have required property 'ttl'");
    expect(fake.schemaViolations).toEqual([
      `PATCH /zones/${fake.zone.id}/dns_records/${seeded.id}: must have required property 'ttl'`,
    ]);
    expect(fake.records()).toEqual([seeded]);
  });

  test("a body needs Content-Type application/json and must be JSON", async () => {
    const path = `${fake.url}/zones/${fake.zone.id}/dns_records`;
    const authorization = `Bearer ${fake.token}`;
    const plain = await fetch(path, {
      method: "POST",
      headers: { Authorization: authorization },
      body: "{}",
    });
    expect([plain.status, ...codes(await parse(plain))]).toEqual([400, 6003, 6105]);
    const headers = { Authorization: authorization, "Content-Type": "application/json" };
    const broken = await fetch(path, { method: "POST", headers, body: "{nope" });
    expect([broken.status, ...codes(await parse(broken))]).toEqual([400, 9207]);
    expect(fake.schemaViolations).toHaveLength(1);
  });
});

describe("batch", () => {
  const post = (name: string, content: string) => ({ name, type: "A", content, ttl: 120 });

  test("runs deletes, patches, puts, posts in that order and answers full records", async () => {
    const old = fake.seed({ name: "a.example.com", type: "A", content: "10.0.0.1" });
    const txt = fake.seed({
      name: "_heartbeat-10-0-0-1.a.example.com",
      type: "TXT",
      content: '"1,x"',
      ttl: 120,
    });
    const other = fake.seed({ name: "b.example.com", type: "A", content: "10.0.0.2" });
    fake.clock.advance(1000);
    const reply = await batch({
      // Listed out of order on purpose: the post re-creates what the delete removes.
      posts: [post("a.example.com", "10.0.0.1")],
      puts: [{ id: other.id, ...post("b.example.com", "10.0.0.3") }],
      patches: [{ id: txt.id, name: txt.name, type: "TXT", content: '"2,x"', ttl: 120 }],
      deletes: [{ id: old.id }],
    });
    expect(reply.status).toBe(200);
    const result = reply.json.result;
    expect(result.deletes).toEqual([old]);
    expect(result.patches[0]).toMatchObject({
      id: txt.id,
      content: '"2,x"',
      created_on: txt.created_on,
    });
    expect(result.puts[0]).toMatchObject({ id: other.id, content: "10.0.0.3" });
    expect(result.posts[0]).toMatchObject({ name: "a.example.com", content: "10.0.0.1" });
    expect(result.posts[0].id).not.toBe(old.id);
    expect(fake.records()).toEqual(
      [result.posts[0], result.patches[0], result.puts[0]].toSorted((a, b) =>
        a.name.localeCompare(b.name),
      ),
    );
  });

  test("is all-or-nothing: a failing last post leaves the zone unchanged", async () => {
    const kept = fake.seed({ name: "a.example.com", type: "A", content: "10.0.0.1" });
    const doomed = fake.seed({ name: "b.example.com", type: "A", content: "10.0.0.2" });
    const before = fake.records();
    const reply = await batch({
      deletes: [{ id: doomed.id }],
      posts: [post("c.example.com", "10.0.0.3"), post(kept.name, kept.content)],
    });
    expect([reply.status, ...codes(reply)]).toEqual([400, 81058]);
    expect(reply.json.errors[0]?.message).toBe("posts[1]: An identical record already exists.");
    expect(fake.records()).toEqual(before);
  });

  test("a failing batch undoes its deletes and patches in place: every listing is as before", async () => {
    for (let i = 0; i < 5; i++) {
      // Identical names and contents: only their place tells them apart in a listing.
      fake.seed({ name: "same.example.com", type: "TXT", content: '"x"' });
    }
    const listing = async () =>
      (await records("?per_page=5&page=1")).json.result as { id: string }[];
    const before = await listing();
    const [first, second] = before;
    const reply = await batch({
      deletes: [{ id: first?.id }],
      patches: [{ id: second?.id, name: "same.example.com", type: "TXT", content: '"y"', ttl: 1 }],
      posts: [{ name: "same.example.com", type: "TXT", content: '"y"', ttl: 1 }],
    });
    expect([reply.status, ...codes(reply)]).toEqual([400, 81058]);
    expect(await listing()).toEqual(before);
    // And a change after the undo is seen at once: no listing is served from before it.
    expect((await call("DELETE", recordPath(second?.id ?? ""))).status).toBe(200);
    expect(await listing()).toEqual(before.filter((r) => r !== second));
  });

  test("an operation on a record deleted earlier in the batch fails with 81044", async () => {
    const record = fake.seed({ name: "a.example.com", type: "A", content: "10.0.0.1" });
    const reply = await batch({
      deletes: [{ id: record.id }],
      patches: [{ id: record.id, ...post("a.example.com", "10.0.0.2") }],
    });
    expect(codes(reply)).toEqual([81044]);
    expect(reply.json.errors[0]?.message).toContain("patches[0]");
    expect(fake.records()).toEqual([record]);
  });

  test("more than maxBatchOperations operations are refused", async () => {
    fake = await start({ maxBatchOperations: 3 });
    const posts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"].map((ip) =>
      post("a.example.com", ip),
    );
    const tooMany = await batch({ posts });
    expect([tooMany.status, ...codes(tooMany)]).toEqual([400, 1004]);
    expect(fake.records()).toEqual([]);
    expect((await batch({ posts: posts.slice(1) })).status).toBe(200);
    expect(fake.records()).toHaveLength(3);
  });

  test("a batch patch without ttl is a schema violation naming its index", async () => {
    const record = fake.seed({ name: "a.example.com", type: "A", content: "10.0.0.1" });
    const reply = await batch({
      patches: [{ id: record.id, name: record.name, type: "A", content: "10.0.0.2" }],
    });
    expect(codes(reply)).toEqual([1004]);
    expect(fake.schemaViolations).toEqual([
      `POST /zones/${fake.zone.id}/dns_records/batch: patches[0]: must have required property 'ttl'`,
    ]);
  });
});

describe("authentication", () => {
  test.each([
    ["no header", undefined, 400, [1001]],
    ["another scheme", "Basic dXNlcjpwYXNz", 400, [6003, 6111]],
    ["an empty bearer", "Bearer ", 400, [6003, 6111]],
    ["a wrong token", "Bearer wrong-token-0123456789abcdefghijklmnopq", 403, [9109]],
  ])("%s is refused without echoing any token", async (_, authorization, status, expected) => {
    const headers = new Headers();
    if (authorization) headers.set("Authorization", authorization);
    const response = await fetch(`${fake.url}/zones/${fake.zone.id}/dns_records`, { headers });
    const text = await response.text();
    expect(response.status).toBe(status);
    expect(codes({ json: JSON.parse(text) })).toEqual(expected);
    expect(text).not.toContain(fake.token);
    const sent = authorization?.slice("Bearer ".length).trim();
    if (sent) expect(text).not.toContain(sent);
    expect(fake.records()).toEqual([]);
  });

  test("the right token is verified as active", async () => {
    fake = await start({ token: "a-known-token" });
    const reply = await call("GET", "/user/tokens/verify");
    expect(reply.json.result).toMatchObject({ status: "active" });
    expect(reply.text).not.toContain("a-known-token");
  });
});

describe("zones", () => {
  test("are found by name, case-insensitively, with paging", async () => {
    const zones = [
      { id: "1".repeat(32), name: "example.com" },
      { id: "2".repeat(32), name: "example.org" },
    ];
    fake = await start({ zones });
    expect(fake.zone).toEqual(zones[0] as (typeof zones)[0]);
    const found = await call("GET", "/zones?name=EXAMPLE.org&per_page=50");
    expect(found.json.result.map((z: { id: string }) => z.id)).toEqual([zones[1]?.id]);
    expect(found.json.result[0]).toMatchObject({ name: "example.org", status: "active" });
    const none = await call("GET", "/zones?name=example.net");
    expect(none.json.result_info).toEqual({
      page: 1,
      per_page: 20,
      count: 0,
      total_count: 0,
      total_pages: 1,
    });
  });

  test("records live per zone", async () => {
    const zones = [
      { id: "1".repeat(32), name: "example.com" },
      { id: "2".repeat(32), name: "example.org" },
    ];
    fake = await start({ zones });
    fake.seed({ name: "a.example.org", type: "A", content: "10.0.0.1" }, zones[1]?.id);
    expect(fake.records()).toEqual([]);
    expect(fake.records(zones[1]?.id)).toHaveLength(1);
    const inOrg = await call("GET", `/zones/${zones[1]?.id}/dns_records`);
    expect(names(inOrg)).toEqual(["a.example.org"]);
  });
});

describe("clock", () => {
  test("drives created_on, modified_on, seed timestamps and the Date header", async () => {
    const t0 = Date.UTC(2026, 4, 17, 12, 0, 0);
    fake.clock.set(t0);
    const created = await create({
      name: "a.example.com",
      type: "A",
      content: "10.0.0.1",
      ttl: 60,
    });
    expect(created.json.result.created_on).toBe(new Date(t0).toISOString());
    expect(created.headers.get("date")).toBe("Sun, 17 May 2026 12:00:00 GMT");
    fake.clock.advance(90_500);
    const patched = await call("PATCH", recordPath(created.json.result.id), {
      name: "a.example.com",
      type: "A",
      ttl: 120,
    });
    expect(patched.json.result.created_on).toBe(new Date(t0).toISOString());
    expect(patched.json.result.modified_on).toBe(new Date(t0 + 90_500).toISOString());
    expect(patched.headers.get("date")).toBe("Sun, 17 May 2026 12:01:30 GMT");
    expect(fake.seed({ name: "b.example.com", type: "A", content: "10.0.0.2" }).created_on).toBe(
      new Date(t0 + 90_500).toISOString(),
    );
    expect(fake.clock.now()).toBe(t0 + 90_500);
  });
});

describe("requests and faults", () => {
  test("every request is recorded with method, path, query, body and authorization", async () => {
    await records("?name=a.example.com");
    await create({ name: "a.example.com", type: "A", content: "10.0.0.1", ttl: 60 });
    expect(fake.requests).toEqual([
      {
        method: "GET",
        path: `/zones/${fake.zone.id}/dns_records`,
        query: new URLSearchParams("name=a.example.com"),
        body: undefined,
        authorization: `Bearer ${fake.token}`,
      },
      {
        method: "POST",
        path: `/zones/${fake.zone.id}/dns_records`,
        query: new URLSearchParams(),
        body: { name: "a.example.com", type: "A", content: "10.0.0.1", ttl: 60 },
        authorization: `Bearer ${fake.token}`,
      },
    ]);
    fake.resetRequests();
    expect(fake.requests).toEqual([]);
  });

  test.each<[string, FaultKind, (response: Response) => Promise<void>]>([
    [
      "status",
      { kind: "status", status: 503 },
      async (response) => {
        expect(response.status).toBe(503);
        expect(await response.json()).toMatchObject({ success: false, result: null });
      },
    ],
    [
      "html",
      { kind: "html", status: 502 },
      async (response) => {
        expect([response.status, response.headers.get("content-type")]).toEqual([502, "text/html"]);
        expect(await response.text()).toContain("502 Bad Gateway");
      },
    ],
    [
      "rate-limit",
      { kind: "rate-limit", retryAfter: 7 },
      async (response) => {
        expect([response.status, response.headers.get("retry-after")]).toEqual([429, "7"]);
        expect(codes(await parse(response))).toEqual([971]);
      },
    ],
    [
      "truncated",
      { kind: "truncated" },
      async (response) => {
        expect([response.status, response.headers.get("content-type")]).toEqual([
          200,
          "application/json",
        ]);
        await expect(response.json()).rejects.toThrow(SyntaxError);
      },
    ],
    [
      "malformed",
      { kind: "malformed", body: { result: "not a list" } },
      async (response) => {
        expect([response.status, await response.json()]).toEqual([200, { result: "not a list" }]);
      },
    ],
    [
      "malformed text",
      { kind: "malformed", body: '{"success":tru' },
      async (response) => {
        expect([response.status, await response.text()]).toEqual([200, '{"success":tru']);
      },
    ],
    [
      "delay",
      { kind: "delay", ms: 20 },
      async (response) => {
        expect((await parse(response)).json.success).toBe(true);
      },
    ],
  ])("%s fault answers as configured, once", async (_, fault, check) => {
    fake.inject({ fault });
    const url = `${fake.url}/zones/${fake.zone.id}/dns_records`;
    const headers = { Authorization: `Bearer ${fake.token}` };
    await check(await fetch(url, { headers }));
    expect((await records()).status).toBe(200);
    expect(fake.requests).toHaveLength(2);
  });

  test("drop resets the connection", async () => {
    await records();
    fake.inject({ fault: { kind: "drop" } });
    await expect(records()).rejects.toThrow();
    expect((await records()).status).toBe(200);
  });

  test("hang never answers: the client aborts", async () => {
    fake.inject({ fault: { kind: "hang" } });
    const url = `${fake.url}/zones/${fake.zone.id}/dns_records`;
    const signal = AbortSignal.timeout(100);
    const pending = fetch(url, { headers: { Authorization: `Bearer ${fake.token}` }, signal });
    await expect(pending).rejects.toThrow(/abort|timed out/i);
  });

  test("delay answers after its time: a shorter client timeout aborts", async () => {
    fake.inject({ fault: { kind: "delay", ms: 2000 } });
    const url = `${fake.url}/zones/${fake.zone.id}/dns_records`;
    const signal = AbortSignal.timeout(50);
    await expect(
      fetch(url, { headers: { Authorization: `Bearer ${fake.token}` }, signal }),
    ).rejects.toThrow();
  });

  test("hold answers only once released, with the state at that moment", async () => {
    const gate = Promise.withResolvers<void>();
    fake.inject({ fault: { kind: "hold", until: gate.promise } });
    let answered = false;
    const pending = records().then((reply) => {
      answered = true;
      return reply;
    });
    await until(() => fake.requests.length > 0);
    await Bun.sleep(100);
    expect(answered).toBe(false);
    fake.seed({ name: "held.example.com", type: "A", content: "192.0.2.1" });
    gate.resolve();
    expect(names(await pending)).toEqual(["held.example.com"]);
  });

  test("stop closes hanging connections and resolves", async () => {
    fake.inject({ times: Infinity, fault: { kind: "hang" } });
    const pending = records().then(
      () => "answered",
      () => "connection closed",
    );
    while (fake.requests.length === 0) await Bun.sleep(5);
    await fake.stop();
    expect(await pending).toBe("connection closed");
  });

  test("faults match by method and path, count down their times, and can be cleared", async () => {
    const record = fake.seed({ name: "a.example.com", type: "A", content: "10.0.0.1" });
    fake.inject({
      method: "post",
      path: /\/batch$/,
      times: 2,
      fault: { kind: "status", status: 500 },
    });
    fake.inject({
      method: "GET",
      path: /\/nothing$/,
      times: Infinity,
      fault: { kind: "status", status: 404 },
    });
    const deletes = { deletes: [{ id: record.id }] };
    expect((await records()).status).toBe(200);
    expect((await batch(deletes)).status).toBe(500);
    expect((await batch(deletes)).status).toBe(500);
    expect(fake.records()).toHaveLength(1);
    fake.inject({ times: Infinity, fault: { kind: "status", status: 503 } });
    fake.clearFaults();
    expect((await batch(deletes)).status).toBe(200);
    expect(fake.records()).toEqual([]);
    expect(fake.requests.map((r) => r.method)).toEqual(["GET", "POST", "POST", "POST"]);
  });

  test("a fault with `when` hits only the requests it accepts", async () => {
    fake.inject({
      when: (r) => r.query.get("type") === "TXT",
      times: Infinity,
      fault: { kind: "status", status: 503 },
    });
    expect((await records("?type=A")).status).toBe(200);
    expect((await records("?type=TXT")).status).toBe(503);
    expect((await records()).status).toBe(200);
    expect((await records("?type=TXT")).status).toBe(503);
  });

  test("unknown paths answer 404 and unsupported methods 405", async () => {
    expect((await call("GET", "/accounts")).status).toBe(404);
    expect((await call("DELETE", `/zones/${fake.zone.id}/dns_records`)).status).toBe(405);
  });

  test("error answers its status and errors instead of handling the request (81057)", async () => {
    fake.inject({ method: "POST", fault: errorFault(errors.recordExists()) });
    const body = { name: "a.example.com", type: "A", content: "10.0.0.1", ttl: 60 };
    const refused = await create(body);
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({
      success: false,
      errors: [{ code: 81057, message: "Record already exists." }],
      messages: [],
      result: null,
    });
    expect(fake.records()).toEqual([]);
    expect((await create(body)).status).toBe(200);
  });

  test("error can carry 50,000 errors", async () => {
    const many = Array.from({ length: 50_000 }, (_, i) => ({ code: 1000 + i, message: `e${i}` }));
    fake.inject({ fault: { kind: "error", status: 400, errors: many } });
    const reply = await records();
    expect([reply.status, reply.json.success, reply.json.result]).toEqual([400, false, null]);
    expect(reply.json.errors).toEqual(many);
  });

  test("no-date is handled normally but has no Date header, also on the wire", async () => {
    fake.inject({ method: "POST", fault: { kind: "no-date" } });
    const created = await create({
      name: "a.example.com",
      type: "A",
      content: "10.0.0.1",
      ttl: 60,
    });
    expect(created.status).toBe(200);
    expect(created.headers.get("date")).toBeNull();
    expect(fake.records()).toHaveLength(1);
    // fetch could hide a header; the bytes cannot. Node's server adds Date unless told not to.
    fake.inject({ fault: { kind: "no-date" } });
    const head = await rawHead(`/zones/${fake.zone.id}/dns_records`);
    expect(head).toStartWith("HTTP/1.1 200 ");
    expect(head).toMatch(/^ratelimit:/im);
    expect(head).not.toMatch(/^date:/im);
    expect(await rawHead(`/zones/${fake.zone.id}/dns_records`)).toContain(
      `\r\nDate: ${new Date(fake.clock.now()).toUTCString()}\r\n`,
    );
  });

  test("bad-date is handled normally and carries the Date value as it is", async () => {
    fake.inject({ method: "POST", fault: { kind: "bad-date", value: "yesterday" } });
    const created = await create({
      name: "a.example.com",
      type: "A",
      content: "10.0.0.1",
      ttl: 60,
    });
    expect([created.status, created.headers.get("date")]).toEqual([200, "yesterday"]);
    expect(fake.records()).toHaveLength(1);
    expect((await records()).headers.get("date")).toBe(new Date(fake.clock.now()).toUTCString());
  });

  test("huge answers a valid empty list of the bytes asked, with Content-Length", async () => {
    fake.inject({ fault: { kind: "huge", bytes: 5_000_000 } });
    const response = await listFetch();
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get("content-length")).toBe(String(Buffer.byteLength(text)));
    expect(text).toHaveLength(5_000_000);
    expect(JSON.parse(text)).toMatchObject({
      success: true,
      errors: [],
      result: [],
      result_info: { page: 1, per_page: 100, count: 0, total_count: 0, total_pages: 1 },
    });
    expect((await records()).status).toBe(200);
  });

  test("endless streams a list that never ends, as fast as the client reads, until it aborts", async () => {
    fake.inject({ fault: { kind: "endless" } });
    const abort = new AbortController();
    const response = await listFetch(abort.signal);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("content-length")).toBeNull();
    const text = await readBytes(response, 1 << 20);
    expect(text).toStartWith('{"success":true,"errors":[],"messages":[],"result":[{');
    // Cut after the last whole record and closed, what was read parses: records, one shape.
    const whole = JSON.parse(`${text.slice(0, text.lastIndexOf('},{"id":') + 1)}]}`);
    expect(whole.result.length).toBeGreaterThan(1000);
    expect(new Set(whole.result.map((r: unknown) => JSON.stringify(r))).size).toBe(1);
    expect(whole.result[0]).toMatchObject({ name: "endless.example.com", type: "A" });
    // The client reads nothing more: the fake writes only what the socket buffers take.
    let written = -1;
    await until(() => {
      const settled = fake.streams.bytes === written;
      written = fake.streams.bytes;
      return settled;
    });
    expect(written - text.length).toBeLessThan(32 << 20);
    expect(fake.streams.open).toBe(1);
    abort.abort();
    await until(() => fake.streams.open === 0);
    const closedAt = fake.streams.bytes;
    expect((await records()).status).toBe(200);
    await Bun.sleep(50);
    expect(fake.streams.bytes).toBe(closedAt);
  });

  test("stop ends an endless answer and resolves promptly", async () => {
    fake.inject({ fault: { kind: "endless" } });
    const response = await listFetch();
    await readBytes(response, 1024);
    const started = performance.now();
    await fake.stop();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(fake.streams.open).toBe(0);
  });
});

describe("rate limit", () => {
  test("3 per 60 s: the 4th request is 429 971 with Retry-After until the oldest leaves", async () => {
    fake = await start({ rateLimit: { requests: 3, windowSeconds: 60 } });
    for (const remaining of [2, 1, 0]) {
      const reply = await records();
      expect(reply.status).toBe(200);
      expect(reply.headers.get("ratelimit")).toBe(`"default";r=${remaining};t=60`);
      expect(reply.headers.get("ratelimit-policy")).toBe('"default";q=3;w=60');
    }
    fake.clock.advance(15_500);
    // Twice: a refused request is not counted, so it does not push the wait further.
    for (let i = 0; i < 2; i++) {
      const refused = await records();
      expect([refused.status, refused.headers.get("retry-after"), ...codes(refused)]).toEqual([
        429,
        "45",
        971,
      ]);
      expect(refused.json).toEqual({
        success: false,
        errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }],
        messages: [],
        result: null,
      });
    }
    fake.clock.advance(44_000);
    expect((await records()).headers.get("retry-after")).toBe("1");
    fake.clock.advance(500); // the first three are now 60 s old: out of the window
    for (let i = 0; i < 3; i++) expect((await records()).status).toBe(200);
    expect((await records()).headers.get("retry-after")).toBe("60");
    fake.clock.advance(60_000);
    expect((await records()).status).toBe(200);
  });

  test("setRateLimit applies at run time; injected faults come first and are not counted", async () => {
    fake.setRateLimit({ requests: 2, windowSeconds: 10 });
    const first = await records();
    expect(first.headers.get("ratelimit")).toBe('"default";r=1;t=10');
    expect(first.headers.get("ratelimit-policy")).toBe('"default";q=2;w=10');
    fake.inject({ fault: { kind: "status", status: 503 } });
    expect((await records()).status).toBe(503);
    expect((await records()).status).toBe(200);
    fake.inject({ fault: errorFault(errors.recordExists()) });
    expect((await records()).status).toBe(400);
    const refused = await records();
    expect([refused.status, refused.headers.get("retry-after")]).toEqual([429, "10"]);
    fake.setRateLimit(undefined);
    const free = await records();
    expect(free.status).toBe(200);
    expect(free.headers.get("ratelimit-policy")).toBe('"default";q=1200;w=300');
    expect(() => fake.setRateLimit({ requests: 0, windowSeconds: 10 })).toThrow();
  });
});

/** An "error" fault answering what the fake API would answer with `error`. */
function errorFault(error: { status: number; errors: CloudflareErrorDetail[] }): FaultKind {
  return { kind: "error", status: error.status, errors: error.errors };
}

/** `GET` of the record list with plain fetch, for answers that are not JSON to read whole. */
function listFetch(signal?: AbortSignal): Promise<Response> {
  const url = `${fake.url}/zones/${fake.zone.id}/dns_records`;
  return fetch(url, { headers: { Authorization: `Bearer ${fake.token}` }, signal });
}

/** At least `bytes` bytes of the body, as text; fails when the body ends before. */
async function readBytes(response: Response, bytes: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) throw new Error("no body");
  const decoder = new TextDecoder();
  let text = "";
  while (text.length < bytes) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`the body ended after ${text.length} bytes`);
    text += decoder.decode(chunk.value, { stream: true });
  }
  reader.releaseLock();
  return text;
}

/** The head of the answer to a raw `GET`, as the bytes on the wire. */
function rawHead(path: string): Promise<string> {
  const { hostname, port, pathname } = new URL(`${fake.url}${path}`);
  return new Promise((resolve, reject) => {
    let text = "";
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${fake.token}\r\n\r\n`,
      );
    });
    socket.on("data", (chunk) => {
      text += chunk;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(text.slice(0, text.indexOf("\r\n\r\n"))));
  });
}
