/**
 * Reading what deletions rest on (src/providers/cloudflare/reads.ts): a paged read that notices the zone
 * moving reads again, and the heartbeats of deletion candidates come from single complete
 * answers, which offset paging cannot shift a record out of.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { DynipError } from "../src/errors.ts";
import type { CloudflareRecord } from "../src/providers/cloudflare/api-types.ts";
import {
  type CloudflareClient,
  createCloudflareClient,
} from "../src/providers/cloudflare/client.ts";
import { readDomain, readHeartbeats } from "../src/providers/cloudflare/reads.ts";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
import {
  type FakeCloudflare,
  type RecordedRequest,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { until } from "./support/wait.ts";

const D = "internal.example.com";

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare();
});
afterEach(async () => {
  await fake.stop();
});

/** A client reading `perPage` records a page, so small zones take many pages. */
function clientOf(perPage: number): CloudflareClient {
  return createCloudflareClient({
    apiUrl: fake.url,
    token: fake.token,
    timeoutMs: 2000,
    batchSize: 200,
    perPage,
  });
}

/** `count` hosts at 10.0.0.1.. with address and heartbeat; returns their addresses. */
function seedHosts(count: number): string[] {
  const ips = Array.from({ length: count }, (_, i) => `10.0.${i >> 8}.${(i & 255) + 1}`);
  for (const [i, ip] of ips.entries()) {
    fake.seed({ name: D, type: "A", content: ip });
    fake.seed({ name: heartbeatName(ip, D), type: "TXT", content: formatHeartbeat(1, `h-${i}`) });
  }
  return ips;
}

/** Deletes records through the API, as another host would. */
async function remove(records: CloudflareRecord[]): Promise<void> {
  await clientOf(100).batch(fake.zone.id, {
    deletes: records.map((r) => ({ id: r.id })),
    patches: [],
    puts: [],
    posts: [],
  });
}

const page = (r: RecordedRequest) => r.query.get("page");

/** Before every request for page 2 another host registers: the count grows by one each time. */
function growBeforeEverySecondPage(): void {
  let n = 0;
  fake.inject({
    times: Infinity,
    when: (r) => {
      if (page(r) === "2") fake.seed({ name: D, type: "A", content: `10.9.9.${++n}` });
      return false;
    },
    fault: { kind: "delay", ms: 0 },
  });
}
const gets = () => fake.requests.filter((r) => r.method === "GET");

describe("readDomain", () => {
  test("reads again when the zone moved during a paged read, and says the read is not atomic", async () => {
    seedHosts(15); // 30 records: 3 pages of 10
    const gate = Promise.withResolvers<void>();
    fake.inject({ when: (r) => page(r) === "2", fault: { kind: "hold", until: gate.promise } });
    const reading = readDomain(clientOf(10), fake.zone.id, D);
    await until(() => fake.requests.length >= 2);
    await remove(fake.records().filter((r) => r.content === "10.0.0.1"));
    gate.resolve();
    const read = await reading;
    expect(read.records).toHaveLength(29);
    expect(read.atomic).toBe(false);
    expect(read.now).toBe(Math.floor(fake.clock.now() / 1000));
    // First read: pages 1 and 2 (the count moved), then a whole second read of three pages.
    expect(gets().map(page)).toEqual(["1", "2", "1", "2", "3"]);
  });

  test("gives up after three reads that each saw the zone move; one page is atomic", async () => {
    seedHosts(15);
    growBeforeEverySecondPage();
    const error = await readDomain(clientOf(10), fake.zone.id, D).catch((e: Error) => e);
    expect(error).toBeInstanceOf(DynipError);
    expect(String(error)).toContain("kept changing while being read page by page (3 reads)");
    fake.clearFaults();
    const whole = await readDomain(clientOf(100), fake.zone.id, D);
    expect(whole.atomic).toBe(true);
  });

  test("tolerating moves, the third read is used as it came, and not called atomic", async () => {
    seedHosts(15);
    growBeforeEverySecondPage();
    const read = await readDomain(clientOf(10), fake.zone.id, D, { tolerateMoves: true });
    expect(read.atomic).toBe(false);
    expect(read.records.length).toBeGreaterThanOrEqual(30);
    expect(gets().filter((r) => page(r) === "1")).toHaveLength(3);
  });
});

test("a read of one page that does not hold what it counts is no snapshot, even tolerated", async () => {
  const [ip] = seedHosts(1) as [string];
  const [address] = fake.records().filter((r) => r.type === "A");
  // One page, counting three records but holding one: something moved while it was answered.
  fake.inject({
    method: "GET",
    times: Infinity,
    fault: {
      kind: "malformed",
      body: {
        success: true,
        errors: [],
        messages: [],
        result: [address],
        result_info: { page: 1, per_page: 100, count: 1, total_count: 3, total_pages: 1 },
      },
    },
  });
  const read = await readDomain(clientOf(100), fake.zone.id, D, { tolerateMoves: true });
  expect(read.records.map((r) => r.content)).toEqual([ip]);
  expect(read.atomic).toBe(false);
});

describe("readHeartbeats", () => {
  test("every candidate's heartbeats come from one complete answer, under records deleted between requests", async () => {
    const ips = seedHosts(100);
    const known = fake.records();
    const candidates = ips.filter((_, i) => i % 7 === 3);
    // Between the first answer and the rest, other hosts deregister (records sorting first).
    const gate = Promise.withResolvers<void>();
    fake.inject({ when: () => gets().length === 2, fault: { kind: "hold", until: gate.promise } });
    const reading = readHeartbeats(clientOf(10), fake.zone.id, D, candidates, known);
    await until(() => fake.requests.length >= 2);
    await remove(
      fake.records().filter((r) => r.content.includes(',h-0"') || r.content === "10.0.0.1"),
    );
    gate.resolve();
    const read = await reading;
    expect(read.unread).toEqual([]);
    for (const ip of candidates) {
      expect(read.byIp.get(ip)?.map((r) => r.name)).toEqual([heartbeatName(ip, D)]);
    }
    expect(gets().every((r) => page(r) === "1" && r.query.get("type") === "TXT")).toBe(true);
    expect(read.requests).toBe(gets().length);
  });

  test("finds the heartbeat a paged read missed without noticing (a delete before, a create after)", async () => {
    seedHosts(15); // addresses at 0-14, heartbeats at 15-29: pages of 10
    const gate = Promise.withResolvers<void>();
    fake.inject({ when: (r) => page(r) === "3", fault: { kind: "hold", until: gate.promise } });
    const reading = readDomain(clientOf(10), fake.zone.id, D);
    await until(() => gets().some((r) => page(r) === "3"));
    // An address on page 1 goes, a heartbeat sorting last comes: the count stays 30, and the
    // heartbeat that opened page 3 slides onto page 2, which was already read.
    const opening = fake.records().filter((r) => r.type === "TXT")[5] as CloudflareRecord;
    await remove(fake.records().filter((r) => r.content === "10.0.0.1"));
    fake.seed({
      name: heartbeatName("10.9.9.9", D),
      type: "TXT",
      content: formatHeartbeat(1, "new"),
    });
    gate.resolve();
    const read = await reading;
    expect(read.records.some((r) => r.ref === opening.id)).toBe(false);
    // What a deletion rests on is read again by name, in single answers: the heartbeat is there.
    const ip = opening.name.slice("_heartbeat-".length, -`.${D}`.length).replaceAll("-", ".");
    const again = await readHeartbeats(clientOf(10), fake.zone.id, D, [ip], read.records);
    expect(again.byIp.get(ip)?.map((r) => r.ref)).toEqual([opening.id]);
  });

  test("without a hint it splits names until each answer fits one page", async () => {
    const ips = seedHosts(100);
    const candidates = [ips[5], ips[50], ips[99]] as string[];
    const read = await readHeartbeats(clientOf(10), fake.zone.id, D, candidates, []);
    expect([...read.byIp.keys()].toSorted()).toEqual(candidates.toSorted());
    expect(read.unread).toEqual([]);
    expect(read.requests).toBeLessThan(15);
  });

  test("a name holding more heartbeats than one page is left unread: nothing is judged there", async () => {
    const [crowded, plain] = seedHosts(2) as [string, string];
    for (let i = 0; i < 12; i++) {
      fake.seed({
        name: heartbeatName(crowded, D),
        type: "TXT",
        content: formatHeartbeat(1, `s-${i}`),
      });
    }
    const read = await readHeartbeats(
      clientOf(10),
      fake.zone.id,
      D,
      [crowded, plain],
      fake.records(),
    );
    expect(read.unread).toEqual([crowded]);
    expect(read.byIp.has(crowded)).toBe(false);
    expect(read.byIp.get(plain)).toHaveLength(1);
  });

  test("an answer without Date leaves the read without a clock", async () => {
    const ips = seedHosts(3);
    fake.inject({ fault: { kind: "no-date" } });
    const read = await readHeartbeats(clientOf(10), fake.zone.id, D, ips, fake.records());
    expect(read.now).toBeUndefined();
  });
});
