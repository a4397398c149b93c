/**
 * The cleaner's cycle in process, on the memory provider: what one cycle reads and deletes,
 * judging only on the provider's clock, the confirming read, prerequisites refused by a
 * heartbeat refreshed at the last moment, the race retry and its limit, the brake, the dry run
 * and the provider's veto.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import type { DnsRecord, RecordData } from "../src/dns/record.ts";
import { CleanupFailedError, createCleaner } from "../src/engine/cleaner.ts";
import { DynipError, exitCodeOf, RaceError } from "../src/errors.ts";
import { configureLogger } from "../src/observe/log.ts";
import { createMetrics } from "../src/observe/metrics.ts";
import { createDryRun } from "../src/providers/dry-run.ts";
import { createMemoryProvider, type MemoryOptions } from "../src/providers/memory.ts";
import type { Provider } from "../src/providers/provider.ts";
import { formatHeartbeat, heartbeatName, parseHeartbeat } from "../src/registry/heartbeat.ts";

const D = "internal.example.com";
const T0 = 1_700_000_000;
const THRESHOLD = 900;

beforeEach(() => configureLogger({ level: "silent", format: "pretty" }));

/** An address and its heartbeat, written `age` seconds before T0 by `owner`. */
function host(ip: string, owner: string, age: number): (RecordData & Partial<DnsRecord>)[] {
  const at = T0 - age;
  return [
    { name: D, type: "A", content: ip, ttl: 300, createdAt: at, modifiedAt: at },
    {
      name: heartbeatName(ip, D),
      type: "TXT",
      content: formatHeartbeat(at, owner),
      ttl: 300,
      createdAt: at,
      modifiedAt: at,
    },
  ];
}

/** A memory zone at T0 holding `records`, and a cleaner over `provider` (default: the zone). */
function setup(
  records: (RecordData & Partial<DnsRecord>)[],
  options: MemoryOptions = {},
  wrap: (memory: Provider) => Provider = (memory) => memory,
  maxDeleteRatio = 0.5,
) {
  const memory = createMemoryProvider({ clock: () => T0, records, ...options });
  const metrics = createMetrics();
  const trouble = { ago: undefined as number | undefined };
  const lines: string[] = [];
  const cleaner = createCleaner({
    provider: wrap(memory),
    domains: [D],
    thresholdSeconds: THRESHOLD,
    maxDeleteRatio,
    holdSeconds: 3600,
    troubleAgoSeconds: () => trouble.ago,
    force: false,
    metrics,
    preview: (line) => lines.push(line),
    monotonic: () => 0,
  });
  return { memory, metrics, trouble, lines, cleaner };
}

const addresses = (records: DnsRecord[]) =>
  records
    .filter((r) => r.type === "A")
    .map((r) => r.content)
    .sort();
const owners = (records: DnsRecord[]) =>
  records.flatMap((r) => (r.type === "TXT" ? [parseHeartbeat(r.content)?.instanceId] : [])).sort();

describe("a cycle", () => {
  test("deletes a dead host's address and heartbeat, keeps the living: one read, one re-read, one write", async () => {
    const { memory, cleaner } = setup([
      ...host("10.0.0.1", "alive", 60),
      ...host("10.0.0.2", "dead", 2000),
    ]);
    const result = await cleaner.cycle();
    expect(result).toMatchObject({ deleted: 2, held: [], problems: [] });
    expect(result.changes.map((c) => `${c.kind} ${c.record.type} ${c.record.content}`)).toEqual([
      "delete A 10.0.0.2",
      `delete TXT ${formatHeartbeat(T0 - 2000, "dead")}`,
    ]);
    expect(addresses(memory.records())).toEqual(["10.0.0.1"]);
    expect(owners(memory.records())).toEqual(["alive"]);
    expect(memory.requests).toEqual({ reads: 1, heartbeatReads: 1, applies: 1 });
  });

  test("without the provider's clock nothing is judged: kept, and the cycle reports why", async () => {
    const { memory, cleaner } = setup(host("10.0.0.2", "dead", 2000), { clock: () => undefined });
    const result = await cleaner.cycle();
    expect(result.deleted).toBe(0);
    expect(result.problems).toEqual([
      `the memory provider had no clock while reading ${D}: ages cannot be measured on the memory provider's clock, so nothing there is deleted this cycle`,
    ]);
    expect(memory.records()).toHaveLength(2);
  });

  test("a heartbeat refreshed after the first read is seen by the confirming read: kept", async () => {
    const records = [...host("10.0.0.1", "alive", 60), ...host("10.0.0.2", "slow", 2000)];
    let memory: ReturnType<typeof createMemoryProvider> | undefined;
    const built = setup(records, {
      afterRead: () => {
        const beat = memory?.records().find((r) => r.content.includes("slow"));
        if (!beat || !memory) return;
        memory.remove(beat.ref);
        memory.put({ ...beat, content: formatHeartbeat(T0, "slow"), modifiedAt: T0 });
      },
    });
    memory = built.memory;
    const result = await built.cleaner.cycle();
    expect(result.deleted).toBe(0);
    expect(addresses(memory.records())).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(memory.requests).toEqual({ reads: 1, heartbeatReads: 1, applies: 0 });
  });

  test("a heartbeat refreshed at the last moment fails the prerequisite: re-read, and kept", async () => {
    const records = [...host("10.0.0.1", "alive", 60), ...host("10.0.0.2", "slow", 2000)];
    let refreshed = false;
    const built = setup(records, {
      beforeApply: () => {
        if (refreshed) return;
        refreshed = true;
        const beat = built.memory.records().find((r) => r.content.includes("slow")) as DnsRecord;
        built.memory.remove(beat.ref);
        built.memory.put({ ...beat, content: formatHeartbeat(T0, "slow"), modifiedAt: T0 });
      },
    });
    const result = await built.cleaner.cycle();
    expect(result.deleted).toBe(0);
    expect(addresses(built.memory.records())).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(built.memory.requests).toEqual({ reads: 2, heartbeatReads: 1, applies: 1 });
  });
});

describe("races", () => {
  test("records that keep changing: three attempts, then a failure that counts what was deleted", async () => {
    const records = [
      ...host("10.0.0.1", "alive", 60),
      ...["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"].flatMap((ip) => host(ip, "dead", 2000)),
    ];
    // Each write lands one deletion, then another replica's change refuses the rest. Four of
    // five addresses going at once is what the brake is for: a ratio of 1 lets them through.
    const { memory, cleaner } = setup(
      records,
      {},
      (inner) => ({
        ...inner,
        apply: async (changes, onApplied) => {
          await inner.apply(changes.slice(0, 1), onApplied);
          throw new RaceError(new Error("another replica was first"));
        },
      }),
      1,
    );
    const error = await cleaner.cycle().catch((e: Error) => e);
    expect(error).toBeInstanceOf(CleanupFailedError);
    expect((error as CleanupFailedError).deleted).toBe(3);
    expect(String(error)).toContain(
      "after deleting 3 record(s): records kept changing under this cycle; gave up after 3 attempts",
    );
    expect(memory.requests.reads).toBe(3);
  });
});

describe("the brake", () => {
  test("most addresses going at once are held, reported and counted in the metrics", async () => {
    const records = [
      ...host("10.0.0.1", "alive", 60),
      ...["10.0.0.2", "10.0.0.3", "10.0.0.4"].flatMap((ip) => host(ip, "dead", 1000)),
    ];
    const { memory, metrics, lines, cleaner } = setup(records);
    const result = await cleaner.cycle();
    expect(result.deleted).toBe(0);
    expect(result.held).toEqual([
      {
        domain: D,
        addresses: ["10.0.0.2", "10.0.0.3", "10.0.0.4"],
        records: 6,
        reason: expect.stringContaining("3 of 4 addresses would go at once"),
      },
    ]);
    expect(metrics.heldNow()).toEqual(new Map([[D, 6]]));
    expect(lines[0]).toStartWith(`would hold 3 address(es) in ${D}:`);
    expect(memory.records()).toHaveLength(8);
  });

  test("cleanup's own trouble within the threshold holds even a single deletion", async () => {
    const { memory, trouble, cleaner } = setup([
      ...host("10.0.0.1", "alive", 60),
      ...host("10.0.0.2", "dead", 2000),
    ]);
    trouble.ago = 10;
    const result = await cleaner.cycle();
    expect(result.held.map((h) => h.addresses)).toEqual([["10.0.0.2"]]);
    expect(memory.records()).toHaveLength(4);
  });
});

describe("dry run and the provider's veto", () => {
  test("a dry run prints what it would delete and deletes nothing", async () => {
    const lines: string[] = [];
    const { memory, cleaner } = setup(
      [...host("10.0.0.1", "alive", 60), ...host("10.0.0.2", "dead", 2000)],
      {},
      (inner) => createDryRun(inner, (line) => lines.push(line)),
    );
    const result = await cleaner.cycle();
    expect(result.deleted).toBe(0);
    expect(result.changes).toHaveLength(2);
    expect(lines).toEqual([
      `would delete A ${D} 10.0.0.2 (stale address 10.0.0.2 at ${D}: heartbeat 2000 s old (threshold 900 s))`,
      `would delete TXT ${heartbeatName("10.0.0.2", D)} ${formatHeartbeat(T0 - 2000, "dead")} (heartbeat of stale 10.0.0.2 at ${D}: heartbeat 2000 s old (threshold 900 s))`,
    ]);
    expect(memory.records()).toHaveLength(4);
    expect(memory.requests.applies).toBe(0);
  });

  test("a provider that refuses to delete in a domain (a zone apex) stops the cycle with exit 2", async () => {
    const records = [...host("10.0.0.1", "alive", 60), ...host("10.0.0.2", "dead", 2000)];
    const { memory, cleaner } = setup(records, {}, (inner) => ({
      ...inner,
      checkDeletable: async () => {
        throw new DynipError("internal.example.com is the apex of its zone", 2);
      },
    }));
    const error = await cleaner.cycle().catch((e: Error) => e);
    expect(error).toBeInstanceOf(CleanupFailedError);
    expect(exitCodeOf(error)).toBe(2);
    expect(memory.records()).toHaveLength(4);
    expect(memory.requests.applies).toBe(0);
  });
});
