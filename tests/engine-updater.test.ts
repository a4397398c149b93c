/**
 * The updater's loop in process, on the memory provider: what a pass reads and writes, the
 * record cache, re-reading and re-planning after a race, prerequisites that keep a sharer's
 * address, confirming withdrawals after a read that may have missed a record, dry runs, and
 * deregistration. The batch fallback runs against the fake Cloudflare API.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { loadConfig } from "../src/config/load.ts";
import type { Detection } from "../src/detect/source-types.ts";
import type { DnsRecord, RecordData } from "../src/dns/record.ts";
import { createOwnWrites } from "../src/engine/own-writes.ts";
import { FULL_READ_EVERY, VERIFY_EVERY } from "../src/engine/record-cache.ts";
import { createUpdater } from "../src/engine/updater.ts";
import { DynipError } from "../src/errors.ts";
import { configureLogger } from "../src/observe/log.ts";
import type { Change } from "../src/plan/changes.ts";
import { cloudflareStyle } from "../src/providers/cloudflare/records.ts";
import { createDryRun } from "../src/providers/dry-run.ts";
import { createMemoryProvider, type MemoryOptions } from "../src/providers/memory.ts";
import type { Provider } from "../src/providers/provider.ts";
import { formatHeartbeat, heartbeatName, parseHeartbeat } from "../src/registry/heartbeat.ts";
import {
  batchRequests,
  type FakeCloudflare,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { cloudflareOnFake } from "./support/providers.ts";

const D = "internal.example.com";
const ME = "web-01";
const OTHER = "web-02";
const T0 = 1_700_000_000;

beforeEach(() => configureLogger({ level: "silent", format: "pretty" }));

const config = loadConfig({
  env: { INTERNAL_DOMAIN: D, INSTANCE_ID: ME, CF_API_TOKEN: "unused-in-memory" },
});

/** A detection that finds `addresses` internally and nothing else. */
function detection(addresses: string[]): Detection {
  return {
    internal: { ok: true, source: "static", addresses },
    ipv4: { ok: true, source: "none", addresses: [] },
    ipv6: { ok: true, source: "none", addresses: [] },
  };
}

/** A memory zone whose clock the test moves, an updater of ME on it, and what it detects. */
function setup(options: MemoryOptions = {}, addresses = ["10.0.0.1"]) {
  const clock = { now: T0 };
  const memory = createMemoryProvider({ clock: () => clock.now, ...options });
  const found = { addresses };
  const updater = createUpdater({
    config,
    provider: memory,
    detect: async () => detection(found.addresses),
    now: () => clock.now,
  });
  return { clock, memory, found, updater };
}

const heartbeatOf = (ip: string, owner: string, at: number): RecordData => ({
  name: heartbeatName(ip, D),
  type: "TXT",
  content: formatHeartbeat(at, owner),
  ttl: 300,
});

const owners = (records: DnsRecord[]) =>
  records.flatMap((r) => (r.type === "TXT" ? [parseHeartbeat(r.content)?.instanceId] : [])).sort();
const addressesIn = (records: DnsRecord[]) =>
  records
    .filter((r) => r.type === "A")
    .map((r) => r.content)
    .sort();

describe("a pass", () => {
  test("publishes the heartbeat and the address in one write, and says what it did", async () => {
    const { memory, updater } = setup();
    const result = await updater.pass();
    expect(result).toMatchObject({ ok: true, changed: 2, refreshed: 0 });
    expect(result.changes.map((c) => `${c.kind} ${c.record.type}`)).toEqual([
      "create TXT",
      "create A",
    ]);
    expect(addressesIn(memory.records())).toEqual(["10.0.0.1"]);
    expect(owners(memory.records())).toEqual([ME]);
    expect(memory.requests).toEqual({ reads: 1, heartbeatReads: 0, applies: 1 });
  });

  test("a failed source keeps what it could have produced, and the pass is not ok", async () => {
    const { memory, updater } = setup();
    await updater.pass();
    const failing = createUpdater({
      config,
      provider: memory,
      detect: async () => ({
        ...detection([]),
        internal: { ok: false, source: "interfaces", error: "boom" },
      }),
      now: () => T0 + 60,
    });
    const result = await failing.pass();
    expect(result.ok).toBe(false);
    expect(result.changes).toEqual([]);
    expect(addressesIn(memory.records())).toEqual(["10.0.0.1"]);
  });
});

describe("the record cache", () => {
  test("refresh-only passes plan from the cache: one write each and no read; every 12th verifies", async () => {
    const { clock, memory, updater } = setup();
    await updater.pass();
    // After a pass that changed records, the next one reads again.
    clock.now += 60;
    await updater.pass();
    expect(memory.requests.reads).toBe(2);
    const kinds: string[] = [];
    for (let pass = 1; pass <= 2 * VERIFY_EVERY; pass++) {
      clock.now += 60;
      const result = await updater.pass();
      expect(result).toMatchObject({ changed: 0, refreshed: 1 });
      kinds.push(
        result.changes
          .map((c) => `${c.record.type}${c.kind === "replace" && c.verify ? "?" : ""}`)
          .join(" "),
      );
    }
    // No read at all: one request a pass, the address re-asserted in the same request.
    expect(memory.requests.reads).toBe(2);
    expect(memory.requests.applies).toBe(2 + 2 * VERIFY_EVERY);
    expect(kinds.filter((k) => k === "TXT A?")).toHaveLength(2);
    expect(kinds.filter((k) => k === "TXT")).toHaveLength(2 * VERIFY_EVERY - 2);
    expect(memory.records().find((r) => r.type === "TXT")?.content).toBe(
      formatHeartbeat(clock.now, ME),
    );
  });

  test.each([
    ["deleted", "the verification races, the pass reads and creates it again"],
    ["edited", "the verification writes it back"],
  ] as const)("an address record %s by hand is restored within 12 passes: %s", async (how) => {
    const { clock, memory, updater } = setup();
    await updater.pass();
    clock.now += 60;
    await updater.pass(); // read again after the change; from here on, cached
    const address = memory.records().find((r) => r.type === "A") as DnsRecord;
    memory.remove(address.ref);
    if (how === "edited") memory.put({ ...address, content: "10.9.9.9" });
    const seen: string[][] = [];
    for (let pass = 1; pass <= VERIFY_EVERY; pass++) {
      clock.now += 60;
      await updater.pass();
      seen.push(addressesIn(memory.records()));
    }
    // Unnoticed, without a read, until the verifying pass; then back, and it stays.
    const back = seen.findIndex((list) => list.join() === "10.0.0.1");
    expect(back).toBeGreaterThan(0);
    expect(back).toBeLessThan(VERIFY_EVERY);
    const meanwhile = how === "deleted" ? "" : "10.9.9.9";
    expect(seen.slice(0, back).every((list) => list.join() === meanwhile)).toBe(true);
    expect(seen.slice(back).every((list) => list.join() === "10.0.0.1")).toBe(true);
  });

  test("where verification is free (RFC 2136), every pass verifies: a deleted address is back at the next pass", async () => {
    const { clock, memory, updater } = setup({ freeVerification: true });
    await updater.pass();
    clock.now += 60;
    await updater.pass(); // read again after the change; from here on, cached
    const address = memory.records().find((r) => r.type === "A") as DnsRecord;
    memory.remove(address.ref);
    clock.now += 60;
    const result = await updater.pass();
    expect(addressesIn(memory.records())).toEqual(["10.0.0.1"]);
    // Still one request and no read: the verification travels with the refresh.
    expect(memory.requests.reads).toBe(2);
    expect(
      result.changes.map((c) => `${c.record.type}${c.kind === "replace" && c.verify ? "?" : ""}`),
    ).toEqual(["TXT", "A?"]);
  });

  test.each([false, true])(
    "a shared address deleted by hand is restored within 12 passes though the sharer the cache names its writer is dead (verification free: %p)",
    async (free) => {
      const { clock, memory, updater } = setup({ freeVerification: free });
      // A sharer with a lower id, dead for two hours: by the cache, it keeps the record.
      const dead = memory.put(heartbeatOf("10.0.0.1", "web-00", T0 - 7200));
      memory.put({ name: D, type: "A", content: "10.0.0.1", ttl: 300 });
      await updater.pass();
      clock.now += 60;
      await updater.pass(); // cached from here on
      memory.remove(dead.ref); // cleanup takes the dead sharer's heartbeat
      memory.remove((memory.records().find((r) => r.type === "A") as DnsRecord).ref);
      for (let pass = 1; pass <= VERIFY_EVERY; pass++) {
        clock.now += 60;
        await updater.pass();
      }
      expect(addressesIn(memory.records())).toEqual(["10.0.0.1"]);
    },
  );

  describe("a sharer whose cache is out of date and a host that became the writer since", () => {
    const E = "ext.example.com";
    const PUBLIC = "5.6.7.8";
    /** An updater of `id` on EXTERNAL_DOMAIN over `zone` with Cloudflare's address style. */
    function sharer(id: string, zone: Provider, settings: { ttl: number; proxied: boolean }) {
      const own = loadConfig({
        env: { EXTERNAL_DOMAIN: E, INSTANCE_ID: id, CF_API_TOKEN: "unused-in-memory" },
      });
      const provider: Provider = { ...zone, style: cloudflareStyle(settings) };
      return createUpdater({
        config: own,
        provider,
        detect: async () => ({
          internal: { ok: true, source: "none", addresses: [] },
          ipv4: { ok: true, source: "static", addresses: [PUBLIC] },
          ipv6: { ok: true, source: "none", addresses: [] },
        }),
        now: () => clock.now,
      });
    }
    const clock = { now: T0 };
    const address = (memory: ReturnType<typeof createMemoryProvider>) =>
      memory.records().find((r) => r.type === "A") as DnsRecord;

    /** web-02 alone and cached; then web-01 (the lower id, so the writer) joins and sets its style. */
    async function joined(writer: { ttl: number; proxied: boolean }) {
      clock.now = T0;
      const memory = createMemoryProvider({ clock: () => clock.now });
      const late = sharer("web-02", memory, { ttl: 300, proxied: false });
      const first = sharer("web-01", memory, writer);
      await late.pass();
      clock.now += 60;
      await late.pass(); // web-02 plans from its cache from here on
      await first.pass(); // web-01 joins, and as the writer brings the record to its style
      return { memory, late, first };
    }

    test("the writer's verification finds proxied turned off by hand and puts it back in the same pass", async () => {
      clock.now = T0;
      const memory = createMemoryProvider({ clock: () => clock.now });
      const alone = sharer("web-01", memory, { ttl: 300, proxied: true });
      await alone.pass();
      clock.now += 60;
      await alone.pass(); // cached from here on
      memory.put({ ...address(memory), extra: { proxied: false } }); // by hand, same record
      const seen: boolean[] = [];
      for (let pass = 1; pass <= VERIFY_EVERY; pass++) {
        clock.now += 60;
        await alone.pass();
        seen.push(address(memory).extra?.proxied === true);
      }
      // Unnoticed until the verifying pass (the 12th since the read of the second pass above),
      // which reads afresh and restores it in that same pass; then it stays.
      const back = seen.indexOf(true);
      expect(back).toBe(VERIFY_EVERY - 2);
      expect(seen).toEqual(seen.map((_, i) => i >= back));
      expect(memory.requests.reads).toBe(4); // two at the start, the verifying pass, the pass after its change
    });

    test("its verification never sets back the proxied setting the writer chose", async () => {
      const { memory, late, first } = await joined({ ttl: 300, proxied: true });
      expect(address(memory).extra?.proxied).toBe(true);
      const reads = memory.requests.reads;
      for (let pass = 1; pass <= 2 * VERIFY_EVERY; pass++) {
        clock.now += 60;
        await late.pass();
        expect(address(memory).extra?.proxied).toBe(true);
        await first.pass();
      }
      // web-02's first verification saw settings it did not expect and read afresh: it has
      // learnt that web-01 keeps the record, and leaves it alone since.
      expect(memory.requests.reads).toBeGreaterThan(reads);
    });
  });

  test("every FULL_READ_EVERY passes it reads afresh: what only a read shows is never older", async () => {
    const { clock, memory, updater } = setup();
    await updater.pass();
    clock.now += 60;
    await updater.pass(); // read again after the change; from here on, cached
    const reads = memory.requests.reads;
    for (let pass = 1; pass <= 2 * FULL_READ_EVERY; pass++) {
      clock.now += 60;
      await updater.pass();
    }
    expect(memory.requests.reads).toBe(reads + 2);
    // Between the reads, one request a pass.
    expect(memory.requests.applies).toBe(2 + 2 * FULL_READ_EVERY);
  });

  test("a plan that changes records reads afresh before writing", async () => {
    const { clock, memory, found, updater } = setup();
    await updater.pass();
    clock.now += 60;
    await updater.pass(); // read again after the change, then cached
    const reads = memory.requests.reads;
    found.addresses = ["10.0.0.2"];
    clock.now += 60;
    const result = await updater.pass();
    expect(memory.requests.reads).toBe(reads + 1);
    expect(result.changes.map((c) => `${c.kind} ${c.record.type} ${c.record.content}`)).toEqual([
      "delete A 10.0.0.1",
      `delete TXT ${formatHeartbeat(T0 + 60, ME)}`,
      `create TXT ${formatHeartbeat(clock.now, ME)}`,
      "create A 10.0.0.2",
    ]);
    expect(addressesIn(memory.records())).toEqual(["10.0.0.2"]);
  });

  test("a record deleted behind the cache's back: the refresh races, the pass re-reads and writes it again", async () => {
    const { clock, memory, updater } = setup();
    await updater.pass();
    clock.now += 60;
    await updater.pass(); // now cached
    const beat = memory.records().find((r) => r.type === "TXT") as DnsRecord;
    memory.remove(beat.ref);
    clock.now += 60;
    const result = await updater.pass();
    expect(result.changes.map((c) => `${c.kind} ${c.record.type}`)).toEqual(["create TXT"]);
    expect(owners(memory.records())).toEqual([ME]);
    expect(memory.requests.applies).toBe(4); // the refused refresh, then the create
  });
});

describe("races", () => {
  test("another writer between read and write: re-read and re-planned, at most three attempts", async () => {
    let attempt = 0;
    const { clock, memory, updater } = setup({
      beforeApply: () => {
        attempt++;
        // Another host publishes the same address first, then the same heartbeat content.
        if (attempt === 1) memory.put({ name: D, type: "A", content: "10.0.0.1", ttl: 300 });
        if (attempt === 2) memory.put(heartbeatOf("10.0.0.1", ME, clock.now));
      },
    });
    const result = await updater.pass();
    expect(memory.requests.reads).toBe(3);
    expect(result.changes.map((c) => `${c.kind} ${c.record.type}`)).toEqual(["replace TXT"]);
    expect(addressesIn(memory.records())).toEqual(["10.0.0.1"]);
    expect(owners(memory.records())).toEqual([ME]);
  });

  test("a writer that never stops: the pass gives up after three attempts", async () => {
    const { memory, updater } = setup({
      // Whatever this host is about to do, another writer has just done or undone it.
      beforeApply: (changes) => {
        for (const change of changes) {
          if (change.kind === "create") memory.put(change.record);
          else memory.remove(change.kind === "replace" ? change.before.ref : change.record.ref);
        }
      },
    });
    const error = await updater.pass().catch((e: Error) => e);
    expect(error).toBeInstanceOf(DynipError);
    expect(String(error)).toContain("gave up after 3 attempts");
    expect(memory.requests.applies).toBe(3);
  });

  /**
   * This host withdraws 10.0.0.1 while another host starts sharing it between the read and
   * the write. Returns what is left at the address.
   */
  async function sharerJoinsMidPass(conditional: boolean) {
    const { clock, memory, found } = setup({ conditional });
    const first = createUpdater({
      config,
      provider: memory,
      detect: async () => detection(found.addresses),
      now: () => clock.now,
    });
    await first.pass();
    let joined = false;
    const withdrawing = createUpdater({
      config,
      provider: {
        ...memory,
        apply: (changes, onApplied) => {
          if (!joined) {
            joined = true;
            memory.put(heartbeatOf("10.0.0.1", OTHER, clock.now));
          }
          return memory.apply(changes, onApplied);
        },
      } as Provider,
      detect: async () => detection([]),
      now: () => clock.now,
    });
    clock.now += 60;
    const result = await withdrawing.pass();
    return { result, records: memory.records() };
  }

  test("a sharer that joins between read and withdrawal keeps the address (a prerequisite)", async () => {
    const { result, records } = await sharerJoinsMidPass(true);
    expect(addressesIn(records)).toEqual(["10.0.0.1"]);
    expect(owners(records)).toEqual([OTHER]);
    // The refused write was planned again from a fresh read: only this host's heartbeat goes.
    expect(result.changes.map((c) => `${c.kind} ${c.record.type}`)).toEqual(["delete TXT"]);
  });

  test("without prerequisites the same moment costs the sharer its address until its next pass", async () => {
    // Why conditional back ends are asked to keep `onlyIf`: Cloudflare cannot, and this is
    // the window its confirming reads leave (docs/provider.md, "Prerequisites").
    const { records } = await sharerJoinsMidPass(false);
    expect(addressesIn(records)).toEqual([]);
    expect(owners(records)).toEqual([OTHER]);
  });
});

describe("withdrawals after a read in parts", () => {
  test("a sharer's heartbeat the read missed is read again by name, and the address stays", async () => {
    const seeded = [
      { name: D, type: "A" as const, content: "10.0.0.1", ttl: 300, createdAt: T0, modifiedAt: T0 },
      heartbeatOf("10.0.0.1", ME, T0),
      heartbeatOf("10.0.0.1", OTHER, T0),
    ];
    const { memory, updater } = setup(
      { records: seeded, missed: (r) => r.content.includes(OTHER) },
      [],
    );
    const result = await updater.pass();
    expect(memory.requests.heartbeatReads).toBe(1);
    expect(result.changes.map((c) => `${c.kind} ${c.record.type}`)).toEqual(["delete TXT"]);
    expect(addressesIn(memory.records())).toEqual(["10.0.0.1"]);
    expect(owners(memory.records())).toEqual([OTHER]);
  });

  test("with nobody else there, the address goes after the confirming read", async () => {
    const seeded = [
      { name: D, type: "A" as const, content: "10.0.0.1", ttl: 300, createdAt: T0, modifiedAt: T0 },
      heartbeatOf("10.0.0.1", ME, T0),
    ];
    const { memory, updater } = setup({ records: seeded, missed: () => false }, []);
    await updater.pass();
    expect(memory.requests.heartbeatReads).toBe(1);
    expect(memory.records()).toEqual([]);
  });
});

describe("dry run and deregistration", () => {
  test("a dry run reads, prints what it would write, and writes nothing", async () => {
    const memory = createMemoryProvider({ clock: () => T0 });
    const lines: string[] = [];
    const updater = createUpdater({
      config,
      provider: createDryRun(memory, (line) => lines.push(line)),
      detect: async () => detection(["10.0.0.1"]),
      now: () => T0,
      preview: (line) => lines.push(line),
    });
    const result = await updater.pass();
    expect(result.changed).toBe(2);
    expect(memory.records()).toEqual([]);
    expect(memory.requests).toEqual({ reads: 1, heartbeatReads: 0, applies: 0 });
    expect(lines).toEqual([
      "detected internal (static): 10.0.0.1",
      "detected ipv4 (none): no address",
      "detected ipv6 (none): no address",
      `would create TXT ${heartbeatName("10.0.0.1", D)} ${formatHeartbeat(T0, ME)} (heartbeat for 10.0.0.1)`,
      `would create A ${D} 10.0.0.1 (new address 10.0.0.1)`,
    ]);
  });

  test("deregistration deletes this instance's records and leaves a sharer's address", async () => {
    const { clock, memory, updater } = setup({}, ["10.0.0.1", "10.0.0.2"]);
    await updater.pass();
    memory.put(heartbeatOf("10.0.0.2", OTHER, clock.now));
    expect(await updater.deregister()).toHaveLength(3);
    expect(addressesIn(memory.records())).toEqual(["10.0.0.2"]);
    expect(owners(memory.records())).toEqual([OTHER]);
  });
});

describe("the batch fallback, against the fake Cloudflare API", () => {
  let fake: FakeCloudflare;
  beforeEach(async () => {
    fake = await startFakeCloudflare();
  });
  afterEach(async () => {
    await fake.stop();
  });

  test("a refused batch endpoint: one request per change, and the batch is not asked again", async () => {
    fake.inject({
      method: "POST",
      path: /\/batch$/,
      times: Infinity,
      fault: { kind: "status", status: 405 },
    });
    const provider = cloudflareOnFake(fake, D);
    const applied: Change[] = [];
    const updater = createUpdater({
      config,
      provider: {
        ...provider,
        apply: (changes, onApplied) =>
          provider.apply(changes, (landed, written) => {
            applied.push(...landed);
            onApplied?.(landed, written);
          }),
      },
      detect: async () => detection(["10.0.0.1"]),
      now: () => Math.floor(fake.clock.now() / 1000),
    });
    await updater.pass();
    expect(applied.map((c) => c.kind)).toEqual(["create", "create"]);
    expect(fake.records().map((r) => r.type)).toEqual(["TXT", "A"]);
    fake.clock.advance(60_000);
    await updater.pass();
    expect(batchRequests(fake)).toHaveLength(1);
    const patches = fake.requests.filter((r) => r.method === "PATCH");
    expect(patches).toHaveLength(1);
  });
});

describe("what this process wrote (instance id conflicts)", () => {
  const beat = (content: string, modifiedAt: number): DnsRecord => ({
    ref: "r1",
    name: heartbeatName("10.0.0.1", D),
    type: "TXT",
    content,
    ttl: 120,
    modifiedAt,
  });

  test("a heartbeat with content sent but unanswered is taken for this process's; after a refusal it is not", () => {
    const own = createOwnWrites(ME);
    own.read(T0);
    const content = formatHeartbeat(T0 + 60, ME);
    const change: Change = {
      kind: "create",
      record: { name: heartbeatName("10.0.0.1", D), type: "TXT", content, ttl: 120 },
      reason: "heartbeat",
    };
    own.sending([change]);
    // The answer was lost: the record may be this process's own write.
    expect(own.foreign([beat(content, T0 + 60)])).toEqual(new Set());
    // The write was refused whole (a race): nothing of it landed, so a twin wrote this one.
    own.refused([change]);
    expect(own.foreign([beat(content, T0 + 60)])).toEqual(new Set(["r1"]));
  });
});
