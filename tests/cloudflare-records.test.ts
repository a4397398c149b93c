/**
 * Cloudflare's records in DNS terms and back (src/providers/cloudflare/records.ts): what the
 * registry judges is only as good as this conversion, so an unreadable Cloudflare timestamp
 * must become an unknown time (the record is kept), never epoch 0 (the record looks ancient).
 */
import { describe, expect, test } from "bun:test";
import type { CloudflareRecord } from "../src/providers/cloudflare/api-types.ts";
import {
  cloudflareStyle,
  fromCloudflare,
  toCloudflare,
} from "../src/providers/cloudflare/records.ts";
import { classify } from "../src/registry/classify.ts";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";

const D = "internal.example.com";
const NOW = 1_700_000_000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

const cf = (
  over: Partial<CloudflareRecord> & Pick<CloudflareRecord, "name" | "type" | "content">,
): CloudflareRecord => ({
  id: "0123456789abcdef0123456789abcdef",
  ttl: 120,
  created_on: iso(NOW - 5000),
  modified_on: iso(NOW - 5000),
  ...over,
});

describe("fromCloudflare", () => {
  test("id becomes the ref, timestamps whole unix seconds, proxied an extra setting", () => {
    const record = fromCloudflare(
      cf({
        name: D,
        type: "A",
        content: "192.168.1.10",
        proxied: false,
        comment: "managed by dynip",
        modified_on: "2023-11-14T22:13:20.987Z",
      }),
    );
    expect(record).toEqual({
      ref: "0123456789abcdef0123456789abcdef",
      name: D,
      type: "A",
      content: "192.168.1.10",
      ttl: 120,
      comment: "managed by dynip",
      extra: { proxied: false },
      createdAt: NOW - 5000,
      modifiedAt: NOW,
    });
    expect("extra" in fromCloudflare(cf({ name: D, type: "A", content: "192.168.1.10" }))).toBe(
      false,
    );
    expect(
      "comment" in fromCloudflare(cf({ name: D, type: "A", content: "1.2.3.4", comment: null })),
    ).toBe(false);
  });

  test.each(["", "yesterday", "0000-00-00", "2023-13-45T99:99:99Z"])(
    "an unreadable timestamp %p is left out, never read as a time",
    (bad) => {
      const record = fromCloudflare(
        cf({ name: D, type: "A", content: "192.168.1.10", created_on: bad, modified_on: bad }),
      );
      expect("createdAt" in record).toBe(false);
      expect("modifiedAt" in record).toBe(false);
    },
  );

  test("an address without heartbeat whose creation time is unreadable is kept, not deleted", () => {
    const records = [
      cf({ name: D, type: "A", content: "192.168.1.10", created_on: "yesterday" }),
    ].map(fromCloudflare);
    const [entry] = classify({ domain: D, records, serverNow: NOW, thresholdSeconds: 900 });
    expect(entry).toMatchObject({ state: "missing", delete: false });
  });

  test("a heartbeat whose modified_on is unreadable is aged by its content, not by epoch 0", () => {
    const records = [
      cf({ name: D, type: "A", content: "192.168.1.10" }),
      cf({
        id: "fedcba9876543210fedcba9876543210",
        name: heartbeatName("192.168.1.10", D),
        type: "TXT",
        content: formatHeartbeat(NOW - 30, "web-01"),
        modified_on: "not a date",
      }),
    ].map(fromCloudflare);
    const [entry] = classify({ domain: D, records, serverNow: NOW, thresholdSeconds: 900 });
    expect(entry).toMatchObject({ state: "fresh", ageSeconds: 30, delete: false });
  });
});

describe("toCloudflare and cloudflareStyle", () => {
  test("the body carries proxied from extra and nothing else of it", () => {
    expect(
      toCloudflare({
        name: D,
        type: "A",
        content: "104.16.1.1",
        ttl: 1,
        extra: { proxied: true, other: true },
        comment: "c",
      }),
    ).toEqual({ name: D, type: "A", content: "104.16.1.1", ttl: 1, proxied: true, comment: "c" });
    expect(toCloudflare({ name: D, type: "TXT", content: '"1,a"', ttl: 120 })).toEqual({
      name: D,
      type: "TXT",
      content: '"1,a"',
      ttl: 120,
    });
  });

  test.each([
    ["public, proxied wanted", "104.16.1.1", true, { ttl: 120, extra: { proxied: true } }],
    ["private, proxied wanted", "192.168.1.10", true, { ttl: 120, extra: { proxied: false } }],
    ["public, not wanted", "104.16.1.1", false, { ttl: 120, extra: { proxied: false } }],
  ])("settings: %s", (_, ip, proxied, settings) => {
    expect(cloudflareStyle({ ttl: 120, proxied }).settings(ip)).toEqual(settings);
  });
});
