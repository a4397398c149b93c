import { describe, expect, test } from "bun:test";
import type { DnsRecord } from "../src/cloudflare/types.ts";
import { formatHeartbeat, heartbeatName } from "../src/heartbeat.ts";
import { applyBrake, type BrakeInput } from "../src/plan/brake.ts";
import { classify } from "../src/plan/classify.ts";
import { makeRecords } from "./support/records.ts";

const D = "internal.example.com";
const NOW = 1_700_000_000;
const THRESHOLD = 900;
const HOLD = 3600;

const { record } = makeRecords(NOW);

/** `live` hosts beating 60 s ago, then `dead` hosts silent for `deadAge` seconds. */
function domain(live: number, dead: number, deadAge = 1000, extra: DnsRecord[] = []) {
  const records = [...extra];
  for (let i = 0; i < live + dead; i++) {
    const ip = `10.0.0.${i + 1}`;
    const age = i < live ? 60 : deadAge;
    records.push(record(D, "A", ip, { created: 9000 }));
    records.push(record(heartbeatName(ip, D), "TXT", formatHeartbeat(NOW - age, `h${i}`), age));
  }
  const entries = classify({ domain: D, records, serverNow: NOW, thresholdSeconds: THRESHOLD });
  return { entries, deletable: entries.filter((e) => e.delete) };
}

function brake(
  live: number,
  dead: number,
  options: Partial<BrakeInput> & { deadAge?: number; extra?: DnsRecord[] } = {},
) {
  const { deadAge, extra, ...rest } = options;
  const decision = applyBrake({
    ...domain(live, dead, deadAge, extra),
    maxDeleteRatio: 0.5,
    holdSeconds: HOLD,
    thresholdSeconds: THRESHOLD,
    force: false,
    ...rest,
  });
  return {
    released: decision.release.length,
    held: decision.held.length,
    reason: decision.reason ?? "",
  };
}

describe("applyBrake", () => {
  test.each([
    ["nothing stale", 10, 0, {}, { released: 0, held: 0 }],
    ["half the addresses: not more than the share", 5, 5, {}, { released: 5, held: 0 }],
    ["more than half: held", 4, 6, {}, { released: 0, held: 6 }],
    ["all of them: held", 0, 10, {}, { released: 0, held: 10 }],
    [
      "more than half, stale past the hold: released",
      4,
      6,
      { deadAge: HOLD + 1 },
      { released: 6, held: 0 },
    ],
    ["exactly the hold: still held", 4, 6, { deadAge: HOLD }, { released: 0, held: 6 }],
    ["three addresses are too few for the ratio", 0, 3, {}, { released: 3, held: 0 }],
    ["four are enough", 1, 3, {}, { released: 0, held: 3 }],
    [
      "ratio 0: any address deletion is held",
      9,
      1,
      { maxDeleteRatio: 0 },
      { released: 0, held: 1 },
    ],
    ["ratio 1: never by share", 0, 10, { maxDeleteRatio: 1 }, { released: 10, held: 0 }],
    [
      "trouble within the threshold holds one death",
      9,
      1,
      { troubleAgoSeconds: 900 },
      { released: 0, held: 1 },
    ],
    ["trouble longer ago does not", 9, 1, { troubleAgoSeconds: 901 }, { released: 1, held: 0 }],
    ["--force releases everything", 0, 10, { force: true }, { released: 10, held: 0 }],
  ] as const)("%s", (_name, live, dead, options, expected) => {
    expect(brake(live, dead, options)).toMatchObject(expected);
  });

  test("the reason names every cause and the setting behind it", () => {
    const { reason } = brake(0, 10, { troubleAgoSeconds: 12.4 });
    expect(reason).toBe(
      "10 of 10 addresses would go at once, more than CLEANUP_MAX_DELETE_RATIO=0.5; cleanup " +
        "itself was rate limited or saw API errors 12 s ago, within STALE_THRESHOLD_SECONDS=900: " +
        "this looks like an outage rather than deaths",
    );
    expect(brake(5, 5).reason).toBe("");
    // Forced, the reason is still given, so the override can be logged.
    expect(brake(0, 10, { force: true }).reason).toContain("CLEANUP_MAX_DELETE_RATIO");
  });

  test("heartbeat-only deletions go even when every address is held", () => {
    // An old orphan heartbeat, and a dead sharer's expired heartbeat beside a live one.
    const extra = [
      record(heartbeatName("10.0.9.1", D), "TXT", formatHeartbeat(NOW - 5000, "gone"), 5000),
      record(heartbeatName("10.0.0.1", D), "TXT", formatHeartbeat(NOW - 5000, "sharer"), 5000),
    ];
    const { entries, deletable } = domain(1, 9, 1000, extra);
    const decision = applyBrake({
      entries,
      deletable,
      maxDeleteRatio: 0.5,
      holdSeconds: HOLD,
      thresholdSeconds: THRESHOLD,
      force: false,
    });
    expect(decision.held).toHaveLength(9);
    expect(decision.release.map((e) => [e.ip, e.state])).toEqual([
      ["10.0.0.1", "fresh"],
      ["10.0.9.1", "orphan"],
    ]);
  });
});
