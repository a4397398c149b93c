import { describe, expect, test } from "bun:test";
import type { DnsRecord } from "../src/dns/record.ts";
import { applyBrake, type BrakeInput, isSilent } from "../src/plan/brake.ts";
import { classify } from "../src/registry/classify.ts";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
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
    silentForSeconds: 0,
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
  const PAST_HOLD = THRESHOLD + HOLD + 1;
  test.each([
    ["nothing stale", 10, 0, {}, { released: 0, held: 0 }],
    ["half the addresses: not more than the share", 5, 5, {}, { released: 5, held: 0 }],
    ["more than half: held", 4, 6, {}, { released: 0, held: 6 }],
    [
      "more than half, stale for longer than the hold",
      4,
      6,
      { deadAge: PAST_HOLD },
      { released: 6, held: 0 },
    ],
    [
      "stale for exactly the hold: still held",
      4,
      6,
      { deadAge: PAST_HOLD - 1 },
      { released: 0, held: 6 },
    ],
    ["three addresses are too few for the share", 1, 2, {}, { released: 2, held: 0 }],
    ["four are enough", 1, 3, {}, { released: 0, held: 3 }],
    [
      "share 0: any address deletion is held",
      9,
      1,
      { maxDeleteRatio: 0 },
      { released: 0, held: 1 },
    ],
    ["share 1: never by share", 1, 9, { maxDeleteRatio: 1 }, { released: 9, held: 0 }],
    [
      "trouble within the threshold holds one death",
      9,
      1,
      { troubleAgoSeconds: 900 },
      { released: 0, held: 1 },
    ],
    [
      "trouble holds whatever the age",
      9,
      1,
      { troubleAgoSeconds: 5, deadAge: 99_999 },
      { released: 0, held: 1 },
    ],
    ["trouble longer ago does not", 9, 1, { troubleAgoSeconds: 901 }, { released: 1, held: 0 }],
    ["silence: nobody beats, all held", 0, 10, {}, { released: 0, held: 10 }],
    ["silence holds whatever the age", 0, 10, { deadAge: 99_999 }, { released: 0, held: 10 }],
    ["silence holds a lone dead host too", 0, 1, {}, { released: 0, held: 1 }],
    [
      "silence watched for longer than the hold",
      0,
      10,
      { deadAge: PAST_HOLD, silentForSeconds: HOLD + 1 },
      { released: 10, held: 0 },
    ],
    [
      "…but only what has been stale long enough",
      0,
      10,
      { silentForSeconds: HOLD + 1 },
      { released: 0, held: 10 },
    ],
    ["--force releases everything", 0, 10, { force: true }, { released: 10, held: 0 }],
  ] as const)("%s", (_name, live, dead, options, expected) => {
    expect(brake(live, dead, options)).toMatchObject(expected);
  });

  test("silence: the freshest heartbeat older than half the threshold, or none readable", () => {
    // The live hosts last beat 451 s ago: nobody has written for more than half of 900 s.
    const quiet = domain(0, 4, 451);
    expect(isSilent(quiet.entries, THRESHOLD)).toBe(true);
    expect(isSilent(domain(1, 9).entries, THRESHOLD)).toBe(false);
    expect(isSilent(domain(0, 4, 450).entries, THRESHOLD)).toBe(false);
    const wiped = classify({
      domain: D,
      records: [record(D, "A", "10.0.0.1", { created: 9000 })],
      serverNow: NOW,
      thresholdSeconds: THRESHOLD,
    });
    expect(isSilent(wiped, THRESHOLD)).toBe(true);
    expect(isSilent([], THRESHOLD)).toBe(false);
  });

  test("addresses without a readable heartbeat are held under the share rule, however old", () => {
    // Heartbeats wiped (or written in a format this version cannot read) beside live hosts.
    const records = Array.from({ length: 6 }, (_, i) =>
      record(D, "A", `10.0.1.${i + 1}`, { created: 99_999 }),
    );
    const { released, held } = brake(4, 0, { extra: records });
    expect({ released, held }).toEqual({ released: 0, held: 6 });
  });

  test("the reason names every cause and the setting behind it", () => {
    const { reason } = brake(0, 10, { troubleAgoSeconds: 12.4 });
    expect(reason).toBe(
      "no host has beaten here for 1000 s, more than half of STALE_THRESHOLD_SECONDS=900; " +
        "cleanup itself was rate limited or saw API errors 12 s ago, within " +
        "STALE_THRESHOLD_SECONDS=900; 10 of 10 addresses would go at once, more than " +
        "CLEANUP_MAX_DELETE_RATIO=0.5: this looks like an outage rather than deaths",
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
      silentForSeconds: 0,
      force: false,
    });
    expect(decision.held).toHaveLength(9);
    expect(decision.release.map((e) => [e.ip, e.state])).toEqual([
      ["10.0.0.1", "fresh"],
      ["10.0.9.1", "orphan"],
    ]);
  });
});
