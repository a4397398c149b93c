/**
 * A long-lived cleanup watching a silent domain (nobody beating): held until it has watched the
 * silence, cycle after cycle, for longer than the hold; a failed cycle starts the watch again.
 * In process, with the cleaner's monotonic clock in the test's hand.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createCleaner } from "../src/engine/cleaner.ts";
import { configureLogger } from "../src/observe/log.ts";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
import { type FakeCloudflare, startFakeCloudflare } from "./support/fake-cloudflare.ts";
import { cloudflareOnFake } from "./support/providers.ts";
import { iso } from "./support/records.ts";

const D = "internal.example.com";
const THRESHOLD = 900;
const HOLD = 3600;

let fake: FakeCloudflare;
beforeEach(async () => {
  fake = await startFakeCloudflare({ now: Date.now() });
  configureLogger({ level: "silent", format: "pretty" });
});
afterEach(async () => {
  await fake.stop();
});

test("a silent domain goes only after the watch outlasts the hold, and a failed cycle restarts it", async () => {
  const now = Math.floor(fake.clock.now() / 1000);
  // Every host of the domain died 5,000 s ago: stale for longer than the hold already.
  for (let i = 1; i <= 3; i++) {
    const ip = `10.0.0.${i}`;
    fake.seed({ name: D, type: "A", content: ip, created_on: iso(now - 9000) });
    fake.seed({
      name: heartbeatName(ip, D),
      type: "TXT",
      content: formatHeartbeat(now - 5000, `web-${i}`),
      modified_on: iso(now - 5000),
    });
  }
  let ms = 0;
  const cleaner = createCleaner({
    provider: cloudflareOnFake(fake, D),
    domains: [D],
    thresholdSeconds: THRESHOLD,
    maxDeleteRatio: 0.5,
    holdSeconds: HOLD,
    troubleAgoSeconds: () => undefined,
    force: false,
    monotonic: () => ms,
  });
  const addresses = () => fake.records().filter((r) => r.type === "A").length;

  expect((await cleaner.cycle()).held).toHaveLength(1);
  ms += (HOLD - 1) * 1000;
  expect((await cleaner.cycle()).held).toHaveLength(1);
  // A cycle that fails breaks the watch: what it could not see, it did not watch.
  fake.inject({ method: "GET", fault: { kind: "status", status: 500 } });
  await expect(cleaner.cycle()).rejects.toThrow();
  ms += 2000;
  expect((await cleaner.cycle()).held).toHaveLength(1);
  expect(addresses()).toBe(3);
  ms += (HOLD + 1) * 1000;
  const released = await cleaner.cycle();
  expect(released.held).toEqual([]);
  expect(released.deleted).toBe(6);
  expect(addresses()).toBe(0);
});
