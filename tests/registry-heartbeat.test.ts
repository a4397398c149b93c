import { describe, expect, test } from "bun:test";
import type { DnsRecord } from "../src/dns/record.ts";
import {
  canonicalIp,
  domainOf,
  formatHeartbeat,
  HEARTBEAT_NAME_OVERHEAD,
  heartbeatAge,
  heartbeatName,
  isValidInstanceId,
  ownerOf,
  parseHeartbeat,
  parseHeartbeatName,
} from "../src/registry/heartbeat.ts";

const D = "internal.example.com";

describe("heartbeat names", () => {
  test.each([
    ["192.168.1.10", "_heartbeat-192-168-1-10.internal.example.com", "192.168.1.10"],
    ["0.0.0.0", "_heartbeat-0-0-0-0.internal.example.com", "0.0.0.0"],
    ["2001:db8::1", "_heartbeat-2001-db8--1.internal.example.com", "2001:db8::1"],
    ["2001:DB8:0:0:0:0:0:1", "_heartbeat-2001-db8--1.internal.example.com", "2001:db8::1"],
    ["::1", "_heartbeat---1.internal.example.com", "::1"],
    ["fd00::", "_heartbeat-fd00--.internal.example.com", "fd00::"],
    [
      "2001:db8:0:0:1:0:0:1",
      "_heartbeat-2001-db8--1-0-0-1.internal.example.com",
      "2001:db8::1:0:0:1",
    ],
    [
      "2606:4700:4700::1111",
      "_heartbeat-2606-4700-4700--1111.internal.example.com",
      "2606:4700:4700::1111",
    ],
  ])("%s -> %s and back", (ip, name, decoded) => {
    expect(heartbeatName(ip, D)).toBe(name);
    expect(parseHeartbeatName(name, D)).toBe(decoded);
    expect(parseHeartbeatName(name.toUpperCase(), D)).toBe(decoded);
  });

  test.each(["::ffff:10.0.0.1", "fe80::1%eth0", "192.168.001.010", "10.1", "host", ""])(
    "refuses to name %p",
    (ip) => {
      expect(() => heartbeatName(ip, D)).toThrow();
    },
  );

  test.each([
    ["leading zeros do not round-trip", "_heartbeat-192-168-001-010.internal.example.com"],
    ["not an address", "_heartbeat-x.internal.example.com"],
    ["three parts", "_heartbeat-1-2-3.internal.example.com"],
    ["five parts", "_heartbeat-1-2-3-4-5.internal.example.com"],
    ["octet out of range", "_heartbeat-192-168-1-256.internal.example.com"],
    ["empty label", "_heartbeat-.internal.example.com"],
    ["dots in the label", "_heartbeat-1.2.3.4.internal.example.com"],
    ["dots and dashes", "_heartbeat-10.0.0-1.internal.example.com"],
    ["a dash for the dot before the domain", "_heartbeat-10-0-0-1-internal.example.com"],
    ["uncompressed IPv6", "_heartbeat-2001-db8-0-0-0-0-0-1.internal.example.com"],
    ["IPv4-mapped IPv6", "_heartbeat---ffff-a00-1.internal.example.com"],
    ["zone id", "_heartbeat-fe80--1%eth0.internal.example.com"],
    ["other domain", "_heartbeat-10-0-0-1.external.example.com"],
    ["look-alike domain", "_heartbeat-10-0-0-1.xinternal.example.com"],
    ["heartbeat of a sub-domain", "_heartbeat-10-0-0-1.sub.internal.example.com"],
    ["missing prefix", "heartbeat-10-0-0-1.internal.example.com"],
    ["the domain itself", "internal.example.com"],
    ["prefix as a domain suffix", "x_heartbeat-10-0-0-1.internal.example.com"],
  ])("not a heartbeat: %s", (_, name) => {
    expect(parseHeartbeatName(name, D)).toBeUndefined();
  });

  test("domain comparison ignores case", () => {
    expect(
      parseHeartbeatName("_heartbeat-10-0-0-1.internal.example.com", "Internal.Example.COM"),
    ).toBe("10.0.0.1");
  });
});

describe("heartbeat content", () => {
  test("formats quoted integer seconds and the instance id", () => {
    expect(formatHeartbeat(1699564820, "web-01")).toBe('"1699564820,web-01"');
    expect(formatHeartbeat(1699564820.9, "web-01")).toBe('"1699564820,web-01"');
  });

  test.each([
    ["bad id", 1699564820, "web 01"],
    ["empty id", 1699564820, ""],
    ["negative time", -1, "web-01"],
    ["NaN time", Number.NaN, "web-01"],
  ])("refuses to format a %s", (_, ts, id) => {
    expect(() => formatHeartbeat(ts, id)).toThrow();
  });

  test.each([
    ['"1699564820,web-01"', 1699564820, "web-01"],
    ["1699564820,web-01", 1699564820, "web-01"],
    ['  "1699564820,web-01"\n', 1699564820, "web-01"],
    [" 1699564820,web-01 ", 1699564820, "web-01"],
    ['"0,a"', 0, "a"],
    [`"1699564820,${"x".repeat(100)}"`, 1699564820, "x".repeat(100)],
    ['"1699564820,Web_01.example.com:8080/#!~"', 1699564820, "Web_01.example.com:8080/#!~"],
  ])("parses %p", (content, timestamp, instanceId) => {
    expect(parseHeartbeat(content)).toEqual({ timestamp, instanceId });
  });

  test.each([
    ["empty", ""],
    ["only quotes", '""'],
    ["single quote", '"'],
    ["no comma", '"1699564820"'],
    ["empty id", '"1699564820,"'],
    ["empty timestamp", '",web-01"'],
    ["negative timestamp", '"-1,web-01"'],
    ["fractional timestamp", '"1699564820.5,web-01"'],
    ["exponent timestamp", '"1e9,web-01"'],
    ["hex timestamp", '"0x10,web-01"'],
    ["leading zeros", '"01699564820,web-01"'],
    ["plus sign", '"+1699564820,web-01"'],
    ["absurd timestamp", '"99999999999999,web-01"'],
    ["13 digits", '"1234567890123,web-01"'],
    ["no comma", '"1699564820"'],
    ["no id", '"1699564820,"'],
    ["zero then digits", '"00,web-01"'],
    ["quotes only", '""'],
    ["past year 9999", '"253402300800,web-01"'],
    ["extra comma", '"1699564820,web-01,x"'],
    ["inner quote", '"1699564820,web"01"'],
    ["backslash in id", '"1699564820,web\\01"'],
    ["space in id", '"1699564820,web 01"'],
    ["space after comma", '"1699564820, web-01"'],
    ["space inside quotes", '" 1699564820,web-01"'],
    ["tab in id", '"1699564820,web\t01"'],
    ["non-ASCII id", '"1699564820,wéb-01"'],
    ["control character", '"1699564820,web\u000101"'],
    ["id over 100 characters", `"1699564820,${"x".repeat(101)}"`],
    ["unbalanced quote at start", '"1699564820,web-01'],
    ["unbalanced quote at end", '1699564820,web-01"'],
    ["split TXT strings", '"1699564820,web" "-01"'],
    ["SPF record", '"v=spf1 -all"'],
    ["doubled quotes", '""1699564820,web-01""'],
  ])("unparsable: %s", (_, content) => {
    expect(parseHeartbeat(content)).toBeUndefined();
  });

  test("what is formatted parses back", () => {
    for (const id of ["web-01", "a", "node_7.prod", "x".repeat(100)]) {
      expect(parseHeartbeat(formatHeartbeat(1700000000, id))).toEqual({
        timestamp: 1700000000,
        instanceId: id,
      });
    }
  });
});

describe("instance ids", () => {
  test.each([
    ["web-01", true],
    ["A", true],
    ["x".repeat(100), true],
    ["!#$%&'()*+-./:;<=>?@[]^_`{|}~", true],
    ["", false],
    ["x".repeat(101), false],
    ["web,01", false],
    ['web"01', false],
    ["web\\01", false],
    ["web 01", false],
    ["web\n", false],
    ["wéb", false],
  ])("%p valid: %p", (id, valid) => {
    expect(isValidInstanceId(id)).toBe(valid);
  });
});

describe("canonical addresses", () => {
  test.each([
    ["10.0.0.1", "10.0.0.1"],
    ["2001:DB8::0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::ffff:10.0.0.1", undefined],
    ["fe80::1%eth0", undefined],
    ["010.0.0.1", undefined],
    ["10.0.0.01", undefined],
    ["256.0.0.1", undefined],
    [" 10.0.0.1", undefined],
    ["10.0.0.1.", undefined],
    ["0x0a.0.0.1", undefined],
    ["167772161", undefined],
    ["garbage", undefined],
  ])("%p -> %p", (text, expected) => {
    expect(canonicalIp(text)).toBe(expected);
  });
});

describe("heartbeat age", () => {
  const record = (content: string, modifiedAt?: number): DnsRecord => ({
    ref: "1",
    name: "_heartbeat-10-0-0-1.internal.example.com",
    type: "TXT",
    content,
    ttl: 120,
    ...(modifiedAt === undefined ? {} : { createdAt: modifiedAt, modifiedAt }),
  });

  test.each([
    ["modifiedAt wins over content", '"1000,a"', 1699564800, 1699564900, 100],
    ["content when modifiedAt is unknown", '"1699564800,a"', undefined, 1699564900, 100],
    ["content in the future of the server", '"1699565000,a"', undefined, 1699564900, -100],
  ])("%s", (_, content, modified, serverNow, age) => {
    expect(heartbeatAge(record(content, modified), serverNow)).toBe(age);
  });

  test("unknown when neither is readable", () => {
    expect(heartbeatAge(record("garbage"), 1699564900)).toBeUndefined();
  });
});

describe("which managed domain a name belongs to", () => {
  const domains = [D, "all.example.com"];
  test.each([
    ["the domain itself", D, D],
    ["in another case", "Internal.EXAMPLE.com", D],
    ["a heartbeat name one label below", heartbeatName("10.0.0.1", D), D],
    ["any heartbeat-prefixed label (judged later)", `_heartbeat-x.${D}`, D],
    ["a second managed domain", heartbeatName("fd00::1", "all.example.com"), "all.example.com"],
    ["a look-alike", `x${D}`, undefined],
    ["a plain label below", `www.${D}`, undefined],
    ["a heartbeat two labels below", `_heartbeat-10-0-0-1.sub.${D}`, undefined],
    ["the parent zone", "example.com", undefined],
    ["a heartbeat of the parent zone", "_heartbeat-10-0-0-1.example.com", undefined],
  ])("%s: %s -> %p", (_, name, expected) => {
    expect(domainOf(name, domains)).toBe(expected);
  });
});

describe("the longest heartbeat name", () => {
  test.each([
    ["ipv4", "255.255.255.255"],
    ["ipv6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ] as const)("%s: the overhead is exactly what the longest address adds", (family, ip) => {
    expect(heartbeatName(ip, D).length - D.length).toBe(HEARTBEAT_NAME_OVERHEAD[family]);
  });
});

describe("the owner of a record", () => {
  test.each([
    ["a quoted heartbeat", "TXT", '"1699564820,web-01"', "web-01"],
    ["an unquoted heartbeat", "TXT", "1699564820,web-01", "web-01"],
    ["TXT that is no heartbeat", "TXT", '"v=spf1 -all"', undefined],
    ["a heartbeat's content in an A record", "A", '"1699564820,web-01"', undefined],
    ["an address", "A", "10.0.0.1", undefined],
  ])("%s", (_, type, content, owner) => {
    expect(ownerOf({ type, content })).toBe(owner);
  });
});
