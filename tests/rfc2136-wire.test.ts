/**
 * The RFC 2136 wire layer (src/providers/rfc2136/) against BIND itself:
 *
 * 1. Pure tables: names, TXT content, encode/decode round trips, malformed messages and fuzz.
 * 2. Byte strings from BIND's own tools: what `nsupdate -v` and `dig +tcp -y … AXFR` send,
 *    caught by a local TCP listener, compared byte for byte with our encoding signed with the
 *    same id and time (BIND 9.18 compresses names less than we do, so where its compression
 *    differs the messages are compared with compression expanded), and our MAC computed over
 *    their message with their time must be their MAC.
 * 3. A real named on loopback: signed updates read back with dig, prerequisite races,
 *    multi-message AXFR with TSIG, and every way the server refuses.
 * 4. Fake servers for what named will not do on request: each RCODE and TSIG error, answers
 *    signed wrongly, transfers with unsigned messages, hangs, garbage, floods.
 *
 * Part 2 needs `dig` and `nsupdate` (Debian's bind9-dnsutils), part 3 also `named` and
 * `tsig-keygen` (bind9); each is skipped, with the reason printed, when they are missing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Socket } from "node:net";
import fc from "fast-check";
import type { TsigKey } from "../src/dns/tsig-key.ts";
import { TSIG_ALGORITHMS, type TsigAlgorithm } from "../src/dns/tsig-key.ts";
import {
  type DnsClientOptions,
  DnsNetworkError,
  DnsRcodeError,
  type RaceRcode,
  sendUpdate,
  transferZone,
} from "../src/providers/rfc2136/transport.ts";
import {
  decodeSecret,
  signMessage,
  TsigError,
  verifyResponse,
} from "../src/providers/rfc2136/tsig.ts";
import {
  type DecodedMessage,
  DnsEncodeError,
  DnsFormatError,
  decodeMessage,
  encodeAxfrQuery,
  encodeMessage,
  encodeTsigRecord,
  encodeUpdate,
  isInZone,
  type Message,
  MessageTooLargeError,
  nameLabels,
  OPCODE,
  RCODE,
  type RData,
  type ResourceRecord,
  RR_CLASS,
  RR_TYPE,
  rdataContent,
  responseCode,
  type TsigData,
  tsigRecord,
  txtContent,
  txtStrings,
  type Update,
  type UpdatePrerequisite,
} from "../src/providers/rfc2136/wire.ts";
import { type FakeServer, fakeServer, frame, header } from "./support/fake-dns.ts";
import {
  bindClientsUnavailable,
  type NamedServer,
  namedUnavailable,
  startNamed,
} from "./support/named.ts";

const SEED = 20_240_611;
/** A secret as `tsig-keygen` prints one (32 random bytes, base64). */
const SECRET = "tGOk06+AiQ0DhohOL2aazyzL8VkTfzyrr63SbKe1xU8=";
const KEY: TsigKey = { name: "dynip-key", algorithm: "hmac-sha256", secret: SECRET };
const ZONE = "example.test";
const D = `internal.${ZONE}`;
const HB = `_heartbeat-192-168-1-10.${D}`;
const HB2 = `_heartbeat-192-168-1-11.${D}`;

const EMPTY: RData = { kind: "raw", bytes: new Uint8Array(0) };
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const bytesOf = (text: string) => new TextEncoder().encode(text);

// ---------------------------------------------------------------------------------------
// Helpers shared by the parts below

/** The message as before signing: TSIG cut off, ARCOUNT lowered, original id back. */
function unsignedPart(signed: Uint8Array): Uint8Array {
  const decoded = decodeMessage(signed);
  const tsig = tsigRecord(decoded);
  if (!tsig || decoded.tsigOffset === undefined) throw new Error("not signed");
  const part = signed.slice(0, decoded.tsigOffset);
  const view = new DataView(part.buffer);
  view.setUint16(0, tsig.data.originalId);
  view.setUint16(10, view.getUint16(10) - 1);
  return part;
}

/** The same message with every name written out in full: compression choices set aside. */
function expand(bytes: Uint8Array): Uint8Array {
  return encodeMessage(decodeMessage(bytes), { compress: false });
}

function timeOf(signed: Uint8Array): number {
  const tsig = tsigRecord(decodeMessage(signed));
  if (!tsig) throw new Error("not signed");
  return tsig.data.timeSigned;
}

/** Appends a TSIG record as given (an unsigned error answer has an empty MAC). */
function appendTsig(message: Uint8Array, keyName: string, data: TsigData): Uint8Array {
  const record = encodeTsigRecord(keyName, data);
  const out = new Uint8Array(message.length + record.length);
  out.set(message);
  out.set(record, message.length);
  const view = new DataView(out.buffer);
  view.setUint16(10, view.getUint16(10) + 1);
  return out;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const fake = await fakeServer(() => undefined);
  await fake.close();
  return fake.port;
}

/** The first framed message a tool sends to a listener on 127.0.0.1, which then hangs up. */
async function capture(
  tool: (port: number) => { command: string[]; stdin?: string },
): Promise<Uint8Array> {
  let received: (bytes: Uint8Array) => void = () => undefined;
  const got = new Promise<Uint8Array>((resolve) => {
    received = resolve;
  });
  const fake = await fakeServer((request, socket) => {
    received(request);
    socket.destroy();
  });
  const { command, stdin } = tool(fake.port);
  const proc = Bun.spawn(command, {
    stdin: stdin === undefined ? "ignore" : bytesOf(stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: 15_000,
  });
  const failed = proc.exited.then(async () => {
    await Bun.sleep(500);
    const output = await new Response(proc.stderr).text();
    throw new Error(`${command[0]} sent nothing: ${output}`);
  });
  try {
    return await Promise.race([got, failed]);
  } finally {
    proc.kill();
    await proc.exited;
    await fake.close();
  }
}

function options(port: number, key?: TsigKey, timeoutMs = 10_000) {
  return { server: { host: "127.0.0.1", port }, timeoutMs, ...(key ? { key } : {}) };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

// ---------------------------------------------------------------------------------------
// 1. Pure tables

describe("names", () => {
  test.each([
    ["example.test", ["example", "test"]],
    ["example.test.", ["example", "test"]],
    [".", []],
    ["a\\.b.test", ["a.b", "test"]],
    ["a\\\\b.test", ["a\\b", "test"]],
    ["\\065bc.test", ["Abc", "test"]],
    ["Mixed.Case.test", ["Mixed", "Case", "test"]],
  ])("%s has labels %j", (text, labels) => {
    expect(nameLabels(text).map((label) => new TextDecoder().decode(label))).toEqual(labels);
  });

  test.each([
    ["", "empty domain name"],
    ["a..b", "empty label"],
    [".a", "empty label"],
    [`${"a".repeat(64)}.test`, "longer than 63"],
    [Array.from({ length: 128 }, () => "a").join("."), "longer than 255"],
    ["a\\256.test", "not a byte"],
    ["a\\", "dangling backslash"],
  ])("%j is refused (%s)", (text, problem) => {
    expect(() => nameLabels(text)).toThrow(DnsEncodeError);
    expect(() => nameLabels(text)).toThrow(problem);
  });

  test("the longest legal name (255 octets) passes", () => {
    const name = [..."abc"].map((c) => c.repeat(63)).join(".");
    const longest = `${name}.${"d".repeat(61)}`;
    expect(nameLabels(longest)).toHaveLength(4);
    expect(() => nameLabels(`${longest}d`)).toThrow("longer than 255");
  });

  test.each([
    ["internal.example.test", "example.test", true],
    ["EXAMPLE.test", "example.TEST.", true],
    ["example.test", "example.test", true],
    ["badexample.test", "example.test", false],
    ["example.test", "internal.example.test", false],
  ])("%s in zone %s: %p", (name, zone, inside) => {
    expect(isInZone(name, zone)).toBe(inside);
  });
});

describe("TXT content ↔ character-strings", () => {
  const strings = (content: string) => txtStrings(content).map((s) => Buffer.from(s).toString());
  test.each([
    ['"1699564820,web-01"', ["1699564820,web-01"]],
    ["1699564820,web-01", ["1699564820,web-01"]],
    ['"a b" "c"', ["a b", "c"]],
    ['"a"\t"b"', ["a", "b"]],
    ['""', [""]],
    ["", [""]],
    ['"quote\\"back\\\\slash"', ['quote"back\\slash']],
    ['"\\065\\066"', ["AB"]],
    ['v=spf1 "include" -all', ['v=spf1 "include" -all']],
    ["x".repeat(300), ["x".repeat(255), "x".repeat(45)]],
  ])("%j → %j", (content, expected) => {
    expect(strings(content)).toEqual(expected);
  });

  test("UTF-8 inside quotes is kept as bytes and comes back escaped", () => {
    expect(txtStrings('"é"')).toEqual([Uint8Array.of(0xc3, 0xa9)]);
    expect(txtContent([Uint8Array.of(0xc3, 0xa9)])).toBe('"\\195\\169"');
  });

  test.each([
    ['"open', "open quote"],
    ['"a"b', "space between"],
    ['"a" b', "outside quotes"],
    [`"${"x".repeat(256)}"`, "longer than 255"],
  ])("%j is refused (%s)", (content, problem) => {
    expect(() => txtStrings(content)).toThrow(problem);
  });

  test("content made from any strings parses back to the same bytes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 255 }), { minLength: 1, maxLength: 4 }),
        (s) => {
          expect(txtStrings(txtContent(s))).toEqual(s);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});

const UPDATE: Update = {
  zone: ZONE,
  prerequisites: [
    { kind: "rrset-equals", name: HB, type: "TXT", contents: ['"1699564820,web-01"'] },
    { kind: "rrset-exists", name: D, type: "A" },
    { kind: "rrset-absent", name: D, type: "AAAA" },
    { kind: "name-in-use", name: D },
    { kind: "name-not-in-use", name: `new.${ZONE}` },
  ],
  updates: [
    { kind: "delete", name: D, type: "A", content: "192.168.1.10" },
    { kind: "delete-rrset", name: HB, type: "TXT" },
    { kind: "add", name: D, type: "AAAA", ttl: 60, content: "2001:DB8:0:0::10" },
    { kind: "add", name: HB2, type: "TXT", ttl: 60, content: '"1699564820,web-01"' },
  ],
};

describe("encoding and decoding", () => {
  test("an UPDATE decodes to the records RFC 2136 §2.4–2.5 prescribe", () => {
    const decoded = decodeMessage(encodeUpdate(0x1234, UPDATE));
    expect(decoded).toMatchObject({ id: 0x1234, qr: false, opcode: OPCODE.UPDATE, rcode: 0 });
    expect(decoded.questions).toEqual([{ name: ZONE, type: RR_TYPE.SOA, class: RR_CLASS.IN }]);
    const empty = EMPTY;
    const rr = (name: string, type: number, cls: number, ttl: number, data: RData) => ({
      name,
      type,
      class: cls,
      ttl,
      data,
    });
    expect(decoded.answers).toEqual([
      rr(HB, RR_TYPE.TXT, RR_CLASS.IN, 0, { kind: "TXT", content: '"1699564820,web-01"' }),
      rr(D, RR_TYPE.A, RR_CLASS.ANY, 0, empty),
      rr(D, RR_TYPE.AAAA, RR_CLASS.NONE, 0, empty),
      rr(D, RR_TYPE.ANY, RR_CLASS.ANY, 0, empty),
      rr(`new.${ZONE}`, RR_TYPE.ANY, RR_CLASS.NONE, 0, empty),
    ]);
    expect(decoded.authority).toEqual([
      rr(D, RR_TYPE.A, RR_CLASS.NONE, 0, { kind: "A", content: "192.168.1.10" }),
      rr(HB, RR_TYPE.TXT, RR_CLASS.ANY, 0, empty),
      rr(D, RR_TYPE.AAAA, RR_CLASS.IN, 60, { kind: "AAAA", content: "2001:db8::10" }),
      rr(HB2, RR_TYPE.TXT, RR_CLASS.IN, 60, { kind: "TXT", content: '"1699564820,web-01"' }),
    ]);
    expect(decoded.additional).toEqual([]);
  });

  test("names are compressed against the longest earlier suffix, and case is kept", () => {
    const bytes = encodeUpdate(1, {
      zone: ZONE,
      prerequisites: [],
      updates: [
        { kind: "add", name: HB, type: "A", ttl: 1, content: "10.0.0.1" },
        { kind: "add", name: "X.Internal.example.test", type: "A", ttl: 1, content: "10.0.0.1" },
      ],
    });
    const text = Buffer.from(bytes).toString("latin1");
    // The zone name once; the heartbeat's labels point at it; different case is written out.
    expect(text.split("\x07example\x04test\x00")).toHaveLength(2);
    expect(text).toContain("\x08internal\xc0\x0c");
    expect(text).toContain("\x01X\x08Internal\xc0\x0c");
    expect(decodeMessage(bytes).authority.map((r) => r.name)).toEqual([
      HB,
      "X.Internal.example.test",
    ]);
  });

  test.each<[string, Update, string]>([
    [
      "a name outside the zone",
      {
        zone: ZONE,
        prerequisites: [],
        updates: [{ kind: "delete-rrset", name: "x.other.test", type: "A" }],
      },
      "not inside the zone",
    ],
    [
      "a TTL past 2^31-1",
      {
        zone: ZONE,
        prerequisites: [],
        updates: [{ kind: "add", name: D, type: "A", ttl: 2 ** 31, content: "10.0.0.1" }],
      },
      "TTL out of range",
    ],
    [
      "an IPv6 address as A",
      {
        zone: ZONE,
        prerequisites: [],
        updates: [{ kind: "add", name: D, type: "A", ttl: 1, content: "::1" }],
      },
      "not an IPv4 address",
    ],
    [
      "an IPv6 address with a zone id",
      {
        zone: ZONE,
        prerequisites: [],
        updates: [{ kind: "add", name: D, type: "AAAA", ttl: 1, content: "fe80::1%eth0" }],
      },
      "not an IPv6 address",
    ],
    [
      "a shortened IPv4 address",
      {
        zone: ZONE,
        prerequisites: [],
        updates: [{ kind: "delete", name: D, type: "A", content: "10.1" }],
      },
      "not an IPv4 address",
    ],
    [
      "an rrset-equals without values",
      {
        zone: ZONE,
        prerequisites: [{ kind: "rrset-equals", name: HB, type: "TXT", contents: [] }],
        updates: [],
      },
      "lists no value",
    ],
  ])("%s is refused before anything is sent", (_, update, problem) => {
    expect(() => encodeUpdate(1, update)).toThrow(DnsEncodeError);
    expect(() => encodeUpdate(1, update)).toThrow(problem);
  });

  test("an UPDATE past 65,535 bytes is MessageTooLargeError, so the caller can split it", () => {
    const updates = Array.from({ length: 1200 }, (_, i) => ({
      kind: "add" as const,
      name: `_heartbeat-10-0-${i >> 8}-${i & 255}.${D}`,
      type: "TXT" as const,
      ttl: 60,
      content: `"${"x".repeat(40)}"`,
    }));
    expect(() => encodeUpdate(1, { zone: ZONE, prerequisites: [], updates })).toThrow(
      MessageTooLargeError,
    );
    expect(() =>
      encodeUpdate(1, { zone: ZONE, prerequisites: [], updates: updates.slice(0, 600) }),
    ).not.toThrow();
  });

  test("SOA, NS, unknown types and 48-bit TSIG times survive a round trip", () => {
    const message: Message = {
      ...header(7, OPCODE.QUERY),
      questions: [{ name: ZONE, type: RR_TYPE.AXFR, class: RR_CLASS.IN }],
      answers: [
        {
          name: ZONE,
          type: RR_TYPE.SOA,
          class: RR_CLASS.IN,
          ttl: 300,
          data: {
            kind: "SOA",
            mname: `ns.${ZONE}`,
            rname: `hostmaster.${ZONE}`,
            serial: 0xffffffff,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 60,
          },
        },
        {
          name: ZONE,
          type: RR_TYPE.NS,
          class: RR_CLASS.IN,
          ttl: 300,
          data: { kind: "NS", host: `ns.${ZONE}` },
        },
        {
          name: `x.${ZONE}`,
          type: 65,
          class: RR_CLASS.IN,
          ttl: 1,
          data: { kind: "raw", bytes: Uint8Array.of(1, 2, 3) },
        },
        {
          name: `y.${ZONE}`,
          type: RR_TYPE.TXT,
          class: RR_CLASS.IN,
          ttl: 1,
          data: { kind: "TXT", content: '"a" "" "b\\"c"' },
        },
      ],
    };
    const signed = signMessage(encodeMessage(message), KEY, { timeSigned: 2 ** 40 + 5 });
    const decoded = decodeMessage(signed.message);
    const { additional, tsigOffset, ...rest } = decoded;
    expect(rest).toEqual({ ...message, additional: undefined } as unknown as typeof rest);
    expect(additional).toHaveLength(1);
    expect(tsigOffset).toBe(encodeMessage(message).length);
    expect(tsigRecord(decoded)?.data.timeSigned).toBe(2 ** 40 + 5);
    expect(decodeMessage(expand(signed.message)).answers).toEqual(message.answers);
    expect(message.answers.map((r) => rdataContent(r.data))).toEqual([
      `ns.${ZONE} hostmaster.${ZONE} 4294967295 3600 600 86400 60`,
      `ns.${ZONE}`,
      "\\# 3 010203",
      '"a" "" "b\\"c"',
    ]);
    expect(rdataContent(EMPTY)).toBe("\\# 0");
  });

  test.each([
    [Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "truncated header"],
    [Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0), "truncated domain name"],
    // A question whose name points at itself.
    [
      Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1),
      "does not point back",
    ],
    // A label, then a pointer back to that label: a loop through one label.
    [
      Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xc0, 12, 0, 1, 0, 1),
      "does not point back",
    ],
    // Two pointers pointing at each other, reached from a later name.
    [
      Uint8Array.of(
        0,
        0,
        0,
        0,
        0,
        2,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        0,
        1,
        0xc0,
        20,
        0xc0,
        18,
        0,
        1,
        0,
        1,
      ),
      "does not point back",
    ],
    // A forward pointer.
    [
      Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0, 0, 1, 0, 1),
      "does not point back",
    ],
    // Label type 0x40 (extended labels, RFC 6891 deprecated them).
    [Uint8Array.of(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 1, 0, 1), "unknown label type"],
    // One record announced, none there.
    [Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0), "truncated"],
    // A record whose RDLENGTH runs past the end.
    [
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1),
      "truncated RDATA",
    ],
    // An A record with 5 bytes.
    [
      Uint8Array.of(
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        5,
        1,
        2,
        3,
        4,
        5,
      ),
      "left over",
    ],
    // A TXT string longer than its RDATA.
    [
      Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 5, 1),
      "TXT string",
    ],
    // Bytes after the last record.
    [Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "after the last record"],
  ])("%#: malformed input is DnsFormatError (%s)", (bytes, problem) => {
    expect(() => decodeMessage(bytes)).toThrow(DnsFormatError);
    expect(() => decodeMessage(bytes)).toThrow(problem);
  });

  test("a name made longer than 255 octets by pointers is refused", () => {
    // 5 names of 63-octet labels, each pointing at the one before: the last expands to 320.
    const parts: number[] = [0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0];
    let previous = -1;
    for (let i = 0; i < 5; i++) {
      const at = parts.length;
      parts.push(63, ...new Array(63).fill(0x61));
      if (previous < 0) parts.push(0);
      else parts.push(0xc0 | (previous >> 8), previous & 0xff);
      parts.push(0, 1, 0, 1);
      previous = at;
    }
    expect(() => decodeMessage(Uint8Array.from(parts))).toThrow("longer than 255 octets");
  });

  test("a TSIG record anywhere but last is refused (RFC 8945 §5.1)", () => {
    const signed = signMessage(encodeAxfrQuery(1, ZONE), KEY, { timeSigned: 1 }).message;
    const twice = appendTsig(signed, "dynip-key", {
      algorithm: "hmac-sha256",
      timeSigned: 1,
      fudge: 300,
      mac: new Uint8Array(0),
      originalId: 1,
      error: 0,
      otherData: new Uint8Array(0),
    });
    expect(() => decodeMessage(twice)).toThrow("TSIG record is not the last record");
  });

  test("the response code: header RCODE, OPT's extended bits, TSIG's error", () => {
    const base = encodeMessage({ ...header(1, 0, RCODE.NOTAUTH), questions: [] });
    expect(responseCode(decodeMessage(base))).toBe(RCODE.NOTAUTH);
    const withOpt = encodeMessage({
      ...header(1, 0, 0),
      questions: [],
      additional: [
        {
          name: ".",
          type: RR_TYPE.OPT,
          class: 4096,
          ttl: 1 << 24,
          data: { kind: "raw", bytes: new Uint8Array(0) },
        },
      ],
    });
    expect(responseCode(decodeMessage(withOpt))).toBe(16);
    const withTsig = appendTsig(base, "dynip-key", {
      algorithm: "hmac-sha256",
      timeSigned: 1,
      fudge: 300,
      mac: new Uint8Array(0),
      originalId: 1,
      error: RCODE.BADKEY,
      otherData: new Uint8Array(0),
    });
    expect(responseCode(decodeMessage(withTsig))).toBe(RCODE.BADKEY);
  });
});

/** Decodes, asserting the only failure is DnsFormatError. */
function decodesOrRefuses(bytes: Uint8Array): DecodedMessage | undefined {
  try {
    return decodeMessage(bytes);
  } catch (error) {
    if (!(error instanceof DnsFormatError)) throw error;
    return undefined;
  }
}

describe("the decoder under fuzz: only DnsFormatError, never a hang", () => {
  const sample = (() => {
    const signed = signMessage(encodeUpdate(0xbeef, UPDATE), KEY, { timeSigned: 1_700_000_000 });
    return signed.message;
  })();

  test("random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (bytes) => {
        decodesOrRefuses(bytes);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  test("random bytes behind a plausible header", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 4 }),
        fc.uint8Array({ maxLength: 400 }),
        (counts, body) => {
          const head = new Uint8Array(12);
          const view = new DataView(head.buffer);
          counts.forEach((count, i) => {
            view.setUint16(4 + 2 * i, count);
          });
          decodesOrRefuses(Uint8Array.from([...head, ...body]));
        },
      ),
      { seed: SEED, numRuns: 3000 },
    );
  });

  test("every truncation of a real signed UPDATE", () => {
    for (let length = 0; length < sample.length; length++) {
      expect(() => decodeMessage(sample.subarray(0, length))).toThrow(DnsFormatError);
    }
  });

  test("random byte changes to a real signed UPDATE", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(sample.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (changes) => {
          const bytes = sample.slice();
          for (const [at, value] of changes) bytes[at] = value;
          decodesOrRefuses(bytes);
        },
      ),
      { seed: SEED, numRuns: 3000 },
    );
  });

  test("pointer chains of any shape end", () => {
    // Every two-byte slot is a pointer to a random slot: loops everywhere.
    fc.assert(
      fc.property(fc.array(fc.nat(40), { minLength: 20, maxLength: 20 }), (targets) => {
        const bytes = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for (const target of targets) bytes.push(0xc0, 12 + target);
        decodesOrRefuses(Uint8Array.from(bytes));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe("TSIG over our own messages", () => {
  test.each(TSIG_ALGORITHMS)(
    "%s: a signed answer verifies, a changed byte does not",
    (algorithm) => {
      const key: TsigKey = { ...KEY, algorithm };
      const request = signMessage(encodeAxfrQuery(9, ZONE), key, { timeSigned: 1000 });
      const answer = signMessage(
        encodeMessage({ ...header(9, 0), questions: [{ name: ZONE, type: 252, class: 1 }] }),
        key,
        { timeSigned: 1001, requestMac: request.mac },
      );
      const decoded = decodeMessage(answer.message);
      expect(verifyResponse(answer.message, decoded, key, request.mac, 1002)).toEqual(answer.mac);
      const changed = answer.message.slice();
      changed[13] = (changed[13] as number) ^ 0x20; // a letter's case in the question
      expect(() => verifyResponse(changed, decodeMessage(changed), key, request.mac, 1002)).toThrow(
        TsigError,
      );
      // A different request MAC is a different answer (§4.3.2: the response covers it).
      const other = new Uint8Array(request.mac.length);
      expect(() => verifyResponse(answer.message, decoded, key, other, 1002)).toThrow(
        "does not match",
      );
    },
  );

  test("a secret that is not base64 is refused without showing it", () => {
    for (const secret of ["not base64!", "", "abcde"]) {
      expect(() => decodeSecret(secret)).toThrow(DnsEncodeError);
      expect(() => signMessage(encodeAxfrQuery(1, ZONE), { ...KEY, secret })).toThrow("not base64");
    }
    expect(decodeSecret(SECRET)).toHaveLength(32);
  });
});

// ---------------------------------------------------------------------------------------
// 2. Byte strings from BIND's tools

const clientsUnavailable = bindClientsUnavailable();
const unavailable = namedUnavailable();
const skipped = unavailable ? ` (skipped: ${unavailable})` : "";

interface NsupdateCase {
  name: string;
  commands: string[];
  update: Update;
  /** BIND 9.18 compresses a name only against a whole earlier name or its parent. */
  sameCompression: boolean;
}

const NSUPDATE_CASES: NsupdateCase[] = [
  {
    name: "an address and its heartbeat, address first",
    commands: [`update add ${D} 60 A 192.168.1.10`, `update add ${HB} 60 TXT "1699564820,web-01"`],
    update: {
      zone: ZONE,
      prerequisites: [],
      updates: [
        { kind: "add", name: D, type: "A", ttl: 60, content: "192.168.1.10" },
        { kind: "add", name: HB, type: "TXT", ttl: 60, content: '"1699564820,web-01"' },
      ],
    },
    sameCompression: true,
  },
  {
    name: "heartbeat first, as dynip writes",
    commands: [`update add ${HB} 60 TXT "1699564820,web-01"`, `update add ${D} 60 A 192.168.1.10`],
    update: {
      zone: ZONE,
      prerequisites: [],
      updates: [
        { kind: "add", name: HB, type: "TXT", ttl: 60, content: '"1699564820,web-01"' },
        { kind: "add", name: D, type: "A", ttl: 60, content: "192.168.1.10" },
      ],
    },
    sameCompression: false,
  },
  {
    name: "cleanup's conditional delete: the heartbeats it read are the prerequisite",
    commands: [
      `prereq yxrrset ${HB} TXT "1699564820,web-01"`,
      `prereq yxrrset ${HB} TXT "1699564900,web-02"`,
      `update delete ${D} A 192.168.1.10`,
      `update delete ${HB} TXT "1699564820,web-01"`,
    ],
    update: {
      zone: ZONE,
      prerequisites: [
        {
          kind: "rrset-equals",
          name: HB,
          type: "TXT",
          contents: ['"1699564820,web-01"', '"1699564900,web-02"'],
        },
      ],
      updates: [
        { kind: "delete", name: D, type: "A", content: "192.168.1.10" },
        { kind: "delete", name: HB, type: "TXT", content: '"1699564820,web-01"' },
      ],
    },
    sameCompression: false,
  },
  {
    name: "every prerequisite and delete form",
    commands: [
      `prereq yxrrset ${D} A`,
      `prereq nxrrset ${D} AAAA`,
      `prereq yxdomain ${D}`,
      `prereq nxdomain new.${ZONE}`,
      `update delete ${D} A 192.168.1.10`,
      `update delete ${D} TXT`,
      `update add ${D} 3600 AAAA 2001:db8::10`,
    ],
    update: {
      zone: ZONE,
      prerequisites: [
        { kind: "rrset-exists", name: D, type: "A" },
        { kind: "rrset-absent", name: D, type: "AAAA" },
        { kind: "name-in-use", name: D },
        { kind: "name-not-in-use", name: `new.${ZONE}` },
      ],
      updates: [
        { kind: "delete", name: D, type: "A", content: "192.168.1.10" },
        { kind: "delete-rrset", name: D, type: "TXT" },
        { kind: "add", name: D, type: "AAAA", ttl: 3600, content: "2001:db8::10" },
      ],
    },
    sameCompression: true,
  },
  {
    name: "TXT: several strings, escapes, bytes; unquoted content is one string",
    commands: [
      `update add t.${ZONE} 60 TXT "a b" "quote\\"back\\\\slash" "\\195\\169"`,
      `update add u.${ZONE} 60 TXT "v=spf1 -all"`,
      `update add v.${ZONE} 60 TXT "${"x".repeat(255)}" "${"x".repeat(45)}"`,
    ],
    update: {
      zone: ZONE,
      prerequisites: [],
      updates: [
        {
          kind: "add",
          name: `t.${ZONE}`,
          type: "TXT",
          ttl: 60,
          content: '"a b" "quote\\"back\\\\slash" "\\195\\169"',
        },
        { kind: "add", name: `u.${ZONE}`, type: "TXT", ttl: 60, content: "v=spf1 -all" },
        { kind: "add", name: `v.${ZONE}`, type: "TXT", ttl: 60, content: "x".repeat(300) },
      ],
    },
    sameCompression: true,
  },
];

describe.skipIf(clientsUnavailable !== undefined)(
  `byte strings from nsupdate and dig${clientsUnavailable ? ` (skipped: ${clientsUnavailable})` : ""}`,
  () => {
    const keyArg = (key: TsigKey) => `${key.algorithm}:${key.name}:${key.secret}`;

    const nsupdate = (commands: string[]) =>
      capture((port) => ({
        command: ["nsupdate", "-v", "-t", "3", "-y", keyArg(KEY)],
        stdin: [`server 127.0.0.1 ${port}`, `zone ${ZONE}`, ...commands, "send", ""].join("\n"),
      }));

    test.each(NSUPDATE_CASES)("nsupdate: $name", async (c) => {
      const sent = await nsupdate(c.commands);
      const theirs = unsignedPart(sent);
      const id = decodeMessage(sent).id;
      const timeSigned = timeOf(sent);

      // Our MAC over nsupdate's own message and time is nsupdate's MAC: the whole message matches.
      expect(hex(signMessage(theirs, KEY, { timeSigned }).message)).toBe(hex(sent));

      // Our message says the same, name for name and byte for byte once compression is expanded.
      const ours = encodeUpdate(id, c.update);
      expect(hex(expand(ours))).toBe(hex(expand(theirs)));
      const signed = signMessage(ours, KEY, { timeSigned }).message;
      if (c.sameCompression) expect(hex(signed)).toBe(hex(sent));
      else expect(ours.length).toBeLessThan(theirs.length);
    });

    test("nsupdate's message decodes to the records it was told to send", async () => {
      const sent = await nsupdate((NSUPDATE_CASES[3] as NsupdateCase).commands);
      const decoded = decodeMessage(sent);
      const empty = EMPTY;
      expect(decoded).toMatchObject({ qr: false, opcode: OPCODE.UPDATE });
      expect(decoded.questions).toEqual([{ name: ZONE, type: RR_TYPE.SOA, class: RR_CLASS.IN }]);
      expect(decoded.answers.map((r) => [r.name, r.type, r.class, r.ttl, r.data])).toEqual([
        [D, RR_TYPE.A, RR_CLASS.ANY, 0, empty],
        [D, RR_TYPE.AAAA, RR_CLASS.NONE, 0, empty],
        [D, RR_TYPE.ANY, RR_CLASS.ANY, 0, empty],
        [`new.${ZONE}`, RR_TYPE.ANY, RR_CLASS.NONE, 0, empty],
      ]);
      expect(decoded.authority.map((r) => [r.name, r.type, r.class, r.ttl, r.data])).toEqual([
        [D, RR_TYPE.A, RR_CLASS.NONE, 0, { kind: "A", content: "192.168.1.10" }],
        [D, RR_TYPE.TXT, RR_CLASS.ANY, 0, empty],
        [D, RR_TYPE.AAAA, RR_CLASS.IN, 3600, { kind: "AAAA", content: "2001:db8::10" }],
      ]);
      const tsig = tsigRecord(decoded);
      expect(tsig?.name).toBe("dynip-key");
      expect(tsig?.data).toMatchObject({
        algorithm: "hmac-sha256",
        fudge: 300,
        originalId: decoded.id,
        error: 0,
      });
      expect(tsig?.data.mac).toHaveLength(32);
    });

    test.each(TSIG_ALGORITHMS)(
      "dig +tcp -y %s … AXFR is our AXFR query, MAC included",
      async (algorithm) => {
        const key: TsigKey = { ...KEY, algorithm: algorithm as TsigAlgorithm };
        const sent = await capture((port) => ({
          command: [
            "dig",
            "+tcp",
            "+noedns",
            "+noadflag",
            "+tries=1",
            "+time=3",
            "-y",
            keyArg(key),
            "-p",
            String(port),
            "@127.0.0.1",
            ZONE,
            "AXFR",
          ],
        }));
        const ours = signMessage(encodeAxfrQuery(decodeMessage(sent).id, ZONE), key, {
          timeSigned: timeOf(sent),
        });
        expect(hex(ours.message)).toBe(hex(sent));
      },
    );
  },
);

// ---------------------------------------------------------------------------------------
// 3. A real named

const BIG = "big.test";
const BIG_RECORDS = Array.from({ length: 2000 }, (_, i) =>
  i % 2 === 0
    ? `host-${i} 300 IN A 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
    : `_heartbeat-${i} 300 IN TXT "${1_699_564_820 + i},web-${i}"`,
);
const LOCKED = "locked.test";

describe.skipIf(unavailable !== undefined)(`against a real named${skipped}`, () => {
  let named: NamedServer;
  const to = (
    key: TsigKey | undefined,
    extra: Partial<DnsClientOptions> = {},
  ): DnsClientOptions => ({
    server: { host: "127.0.0.1", port: named.port },
    timeoutMs: 10_000,
    ...(key ? { key } : {}),
    ...extra,
  });
  const add = (name: string, type: "A" | "AAAA" | "TXT", content: string) =>
    ({ kind: "add", name, type, ttl: 60, content }) as const;
  const hb = (seconds: number, instance: string) => `"${seconds},${instance}"`;

  beforeAll(async () => {
    named = await startNamed({
      deniedKey: true,
      zones: [
        { name: ZONE },
        { name: BIG, records: BIG_RECORDS },
        { name: LOCKED, policy: "restricted" },
      ],
    });
  });
  afterAll(async () => {
    await named?.stop();
  });

  test("one signed UPDATE adds an address and its heartbeat; dig reads both back", async () => {
    const result = await sendUpdate(
      {
        zone: ZONE,
        prerequisites: [{ kind: "rrset-absent", name: HB, type: "TXT" }],
        updates: [
          add(HB, "TXT", hb(1_699_564_820, "web-01")),
          add(D, "A", "192.168.1.10"),
          add(D, "AAAA", "2001:db8::10"),
        ],
      },
      to(named.key),
    );
    expect(result).toEqual({ outcome: "applied" });
    expect(await named.lookup(D, "A")).toEqual(["192.168.1.10"]);
    expect(await named.lookup(D, "AAAA")).toEqual(["2001:db8::10"]);
    expect(await named.lookup(HB, "TXT")).toEqual(['"1699564820,web-01"']);
  });

  test("a second host's heartbeat at a shared address; deleting one by value keeps the other", async () => {
    const second = hb(1_699_564_830, "web-02");
    await sendUpdate(
      {
        zone: ZONE,
        prerequisites: [],
        updates: [add(HB, "TXT", second), add(D, "A", "192.168.1.10")],
      },
      to(named.key),
    );
    expect(await named.lookup(HB, "TXT")).toEqual(['"1699564820,web-01"', '"1699564830,web-02"']);
    const result = await sendUpdate(
      {
        zone: ZONE,
        prerequisites: [],
        updates: [{ kind: "delete", name: HB, type: "TXT", content: second }],
      },
      to(named.key),
    );
    expect(result).toEqual({ outcome: "applied" });
    expect(await named.lookup(HB, "TXT")).toEqual(['"1699564820,web-01"']);
    expect(await named.lookup(D, "A")).toEqual(["192.168.1.10"]);
  });

  test("the transfer reads back exactly what was written, content as dynip compares it", async () => {
    const transfer = await transferZone(ZONE, to(named.key));
    expect(transfer.soa.data.kind).toBe("SOA");
    const mine = transfer.records
      .filter((r) => r.name.endsWith(D))
      .map((r) => `${r.name} ${r.ttl} ${r.data.kind} ${"content" in r.data ? r.data.content : ""}`)
      .sort();
    expect(mine).toEqual([
      `${HB} 60 TXT "1699564820,web-01"`,
      `${D} 60 A 192.168.1.10`,
      `${D} 60 AAAA 2001:db8::10`,
    ]);
  });

  test("cleanup's conditional delete applies while the heartbeats are what it read", async () => {
    const old = hb(1_699_000_000, "dead-01");
    const name = `_heartbeat-192-168-1-99.${D}`;
    await named.nsupdate([`update add ${name} 60 TXT ${old}`, `update add ${D} 60 A 192.168.1.99`]);
    const result = await sendUpdate(
      {
        zone: ZONE,
        prerequisites: [{ kind: "rrset-equals", name, type: "TXT", contents: [old] }],
        updates: [
          { kind: "delete", name: D, type: "A", content: "192.168.1.99" },
          { kind: "delete", name, type: "TXT", content: old },
        ],
      },
      to(named.key),
    );
    expect(result).toEqual({ outcome: "applied" });
    expect(await named.lookup(D, "A")).toEqual(["192.168.1.10"]);
    expect(await named.lookup(name, "TXT")).toEqual([]);
  });

  test("a heartbeat refreshed between read and delete: NXRRSET, a race, the address survives", async () => {
    const old = hb(1_699_000_000, "web-03");
    const name = `_heartbeat-192-168-1-33.${D}`;
    await named.nsupdate([`update add ${name} 60 TXT ${old}`, `update add ${D} 60 A 192.168.1.33`]);
    // web-03 refreshes after cleanup read the zone and judged its heartbeat stale.
    await named.nsupdate([
      `update delete ${name} TXT ${old}`,
      `update add ${name} 60 TXT ${hb(1_699_999_999, "web-03")}`,
    ]);
    const result = await sendUpdate(
      {
        zone: ZONE,
        prerequisites: [{ kind: "rrset-equals", name, type: "TXT", contents: [old] }],
        updates: [
          { kind: "delete", name: D, type: "A", content: "192.168.1.33" },
          { kind: "delete", name, type: "TXT", content: old },
        ],
      },
      to(named.key),
    );
    expect(result).toEqual({ outcome: "race", rcode: "NXRRSET" });
    expect(await named.lookup(D, "A")).toEqual(["192.168.1.10", "192.168.1.33"]);
    expect(await named.lookup(name, "TXT")).toEqual(['"1699999999,web-03"']);
  });

  test.each<[string, UpdatePrerequisite, string]>([
    ["an RRset that appeared (YXRRSET)", { kind: "rrset-absent", name: D, type: "A" }, "YXRRSET"],
    ["an RRset that vanished (NXRRSET)", { kind: "rrset-exists", name: D, type: "TXT" }, "NXRRSET"],
    ["a name now in use (YXDOMAIN)", { kind: "name-not-in-use", name: D }, "YXDOMAIN"],
    ["a name gone (NXDOMAIN)", { kind: "name-in-use", name: `gone.${ZONE}` }, "NXDOMAIN"],
  ])("a prerequisite on %s is a race and changes nothing", async (_, prerequisite, rcode) => {
    const result = await sendUpdate(
      {
        zone: ZONE,
        prerequisites: [prerequisite],
        updates: [add(`race.${ZONE}`, "A", "10.9.9.9")],
      },
      to(named.key),
    );
    expect(result).toEqual({ outcome: "race", rcode: rcode as RaceRcode });
    expect(await named.lookup(`race.${ZONE}`, "A")).toEqual([]);
  });

  test("AXFR of 2,000 records spans several messages, each TSIG-verified", async () => {
    const transfer = await transferZone(BIG, to(named.key));
    expect(transfer.messages).toBeGreaterThan(2);
    // Every zone-file record plus the apex NS and ns A; the SOA is apart.
    expect(transfer.records).toHaveLength(2002);
    const byName = new Map(transfer.records.map((r) => [r.name, r.data]));
    expect(byName.get(`host-1998.${BIG}`)).toEqual({ kind: "A", content: "10.0.7.206" });
    expect(byName.get(`_heartbeat-1999.${BIG}`)).toEqual({
      kind: "TXT",
      content: '"1699566819,web-1999"',
    });
    // named's own count: 2,002 records and the SOA twice. It logs after the last message.
    const ended = /transfer of 'big.test\/IN': AXFR ended: (\d+) messages, 2004 records/;
    for (let waited = 0; waited < 5_000 && !ended.test(named.log()); waited += 20) {
      await Bun.sleep(20);
    }
    expect(Number(ended.exec(named.log())?.[1])).toBe(transfer.messages);
  });

  test("AXFR's byte cap stops a transfer larger than allowed", async () => {
    const error = await rejection(transferZone(BIG, to(named.key, { maxBytes: 20_000 })));
    expect(error).toBeInstanceOf(DnsNetworkError);
    expect((error as DnsNetworkError).problem).toBe("too-large");
  });

  const wrong = () => ({
    name: { ...named.key, name: "no-such-key" },
    secret: { ...named.key, secret: Buffer.alloc(32, 7).toString("base64") },
    algorithm: { ...named.key, algorithm: "hmac-sha512" as const },
  });
  test.each<["name" | "secret" | "algorithm", string]>([
    ["name", "BADKEY"],
    ["secret", "BADSIG"],
    ["algorithm", "BADKEY"],
  ])("a wrong key %s: named answers NOTAUTH with TSIG error %s", async (which, problem) => {
    const key = wrong()[which];
    for (const attempt of [
      sendUpdate(
        { zone: ZONE, prerequisites: [], updates: [add(`x.${ZONE}`, "A", "10.0.0.1")] },
        to(key),
      ),
      transferZone(ZONE, to(key)),
    ]) {
      const error = await rejection(attempt);
      expect(error).toBeInstanceOf(TsigError);
      expect(error).toMatchObject({ problem, by: "server", rcode: RCODE.NOTAUTH });
    }
    expect(await named.lookup(`x.${ZONE}`, "A")).toEqual([]);
  });

  test("a clock an hour off: named answers BADTIME, signed, with its own time", async () => {
    const skewed = to(named.key, { now: () => Date.now() / 1000 + 3600 });
    const error = await rejection(
      sendUpdate(
        { zone: ZONE, prerequisites: [], updates: [add(`x.${ZONE}`, "A", "10.0.0.1")] },
        skewed,
      ),
    );
    expect(error).toBeInstanceOf(TsigError);
    expect(error).toMatchObject({ problem: "BADTIME", by: "server" });
    expect(Math.abs(((error as TsigError).serverTime ?? 0) - Date.now() / 1000)).toBeLessThan(60);
  });

  test("transfer refused: a key allow-transfer does not name, and a zone closed to all", async () => {
    for (const [zone, key] of [
      [ZONE, named.deniedKey],
      [LOCKED, named.key],
      [ZONE, undefined],
    ] as const) {
      const error = await rejection(transferZone(zone, to(key)));
      expect(error).toBeInstanceOf(DnsRcodeError);
      expect(error).toMatchObject({ rcodeName: "REFUSED", operation: "transfer", zone });
    }
  });

  test("update refused: a key update-policy does not grant, a name outside the grant, no key", async () => {
    for (const [zone, name, key] of [
      [ZONE, `x.${ZONE}`, named.deniedKey],
      [LOCKED, `other.${LOCKED}`, named.key],
      [ZONE, `x.${ZONE}`, undefined],
    ] as const) {
      const error = await rejection(
        sendUpdate({ zone, prerequisites: [], updates: [add(name, "A", "10.0.0.1")] }, to(key)),
      );
      expect(error).toBeInstanceOf(DnsRcodeError);
      expect(error).toMatchObject({ rcodeName: "REFUSED", operation: "update", zone });
    }
    // The grant itself works: only allowed.locked.test A.
    const granted = await sendUpdate(
      { zone: LOCKED, prerequisites: [], updates: [add(`allowed.${LOCKED}`, "A", "10.0.0.7")] },
      to(named.key),
    );
    expect(granted).toEqual({ outcome: "applied" });
  });

  test("a zone the server does not serve: NOTAUTH as an RCODE, not a TSIG failure", async () => {
    const update = sendUpdate(
      {
        zone: "elsewhere.test",
        prerequisites: [],
        updates: [add("a.elsewhere.test", "A", "10.0.0.1")],
      },
      to(named.key),
    );
    const error = await rejection(update);
    expect(error).toBeInstanceOf(DnsRcodeError);
    expect(error).toMatchObject({ rcodeName: "NOTAUTH" });
  });

  test("named logs no trouble with our connections (we close cleanly once answered)", () => {
    const trouble = named
      .log()
      .split("\n")
      .filter((line) => /FORMERR|unexpected|reset|protocol error|timed out/i.test(line))
      // The byte cap test closes mid-transfer; named may or may not have sent it all by then.
      .filter((line) => !line.includes("transfer of 'big.test/IN': send: connection reset"));
    expect(trouble).toEqual([]);
  });
});

test("a server that is down: connection refused, at once", async () => {
  const port = await closedPort();
  const started = Date.now();
  const error = await rejection(transferZone(ZONE, options(port, KEY)));
  expect(error).toBeInstanceOf(DnsNetworkError);
  expect((error as DnsNetworkError).problem).toBe("refused");
  expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  expect(Date.now() - started).toBeLessThan(2_000);
});

// ---------------------------------------------------------------------------------------
// 4. Fake servers

const ADD: Update = {
  zone: ZONE,
  prerequisites: [],
  updates: [{ kind: "add", name: D, type: "A", ttl: 60, content: "10.0.0.1" }],
};
const now = () => Math.floor(Date.now() / 1000);

type Reply = Uint8Array[] | "hang" | "close";

/** A server that answers every request with the frames `reply` makes, or hangs, or hangs up. */
function answering(reply: (raw: Uint8Array, request: DecodedMessage) => Reply) {
  return fakeServer((raw, socket) => {
    const answer = reply(raw, decodeMessage(raw));
    if (answer === "close") socket.end();
    else if (answer !== "hang") for (const message of answer) socket.write(frame(message));
  });
}

function requestMac(request: DecodedMessage): Uint8Array {
  const tsig = tsigRecord(request);
  if (!tsig) throw new Error("request not signed");
  return tsig.data.mac;
}

/** A signed answer with `rcode` to a signed request, as a server makes it. */
function signedAnswer(
  request: DecodedMessage,
  rcode: number,
  tsig: { error?: number; otherData?: Uint8Array; timeSigned?: number; key?: TsigKey } = {},
): Uint8Array {
  const message = encodeMessage({
    ...header(request.id, request.opcode, rcode),
    questions: request.questions,
  });
  return signMessage(message, tsig.key ?? KEY, {
    requestMac: requestMac(request),
    timeSigned: tsig.timeSigned ?? now(),
    ...(tsig.error !== undefined ? { error: tsig.error } : {}),
    ...(tsig.otherData ? { otherData: tsig.otherData } : {}),
  }).message;
}

const soa = (serial: number): ResourceRecord => ({
  name: ZONE,
  type: RR_TYPE.SOA,
  class: RR_CLASS.IN,
  ttl: 300,
  data: {
    kind: "SOA",
    mname: `ns.${ZONE}`,
    rname: `hostmaster.${ZONE}`,
    serial,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum: 60,
  },
});
const a = (i: number): ResourceRecord => ({
  name: `h${i}.${ZONE}`,
  type: RR_TYPE.A,
  class: RR_CLASS.IN,
  ttl: 60,
  data: { kind: "A", content: `10.0.${i >> 8}.${i & 255}` },
});

/**
 * A transfer's messages as a server signs them (RFC 8945 §5.3.1): `signed(i)` says which
 * carry a TSIG; the unsigned ones in between are covered by the next signed one.
 */
function transferMessages(
  request: DecodedMessage,
  sections: ResourceRecord[][],
  signed: (i: number) => boolean,
): Uint8Array[] {
  let prior: Uint8Array | undefined;
  let unsigned: Uint8Array[] = [];
  return sections.map((answers, i) => {
    const message = encodeMessage({
      ...header(request.id, OPCODE.QUERY),
      questions: i === 0 ? request.questions : [],
      answers,
    });
    if (!signed(i)) {
      unsigned.push(message);
      return message;
    }
    const covers = prior
      ? { prior: { mac: prior, unsigned } }
      : { requestMac: requestMac(request) };
    const result = signMessage(message, KEY, { ...covers, timeSigned: now() });
    prior = result.mac;
    unsigned = [];
    return result.message;
  });
}

/** `count` messages of 10 records, SOA first and last. */
function zoneSections(count: number): ResourceRecord[][] {
  return Array.from({ length: count }, (_, m) => {
    const records = Array.from({ length: 10 }, (_, r) => a(m * 10 + r));
    if (m === 0) records.unshift(soa(7));
    if (m === count - 1) records.push(soa(7));
    return records;
  });
}

describe("fake servers: each RCODE and TSIG error, as typed results", () => {
  let fake: FakeServer | undefined;
  afterAll(async () => {
    await fake?.close();
  });
  const serve = async (reply: (raw: Uint8Array, request: DecodedMessage) => Reply) => {
    await fake?.close();
    fake = await answering(reply);
    return fake.port;
  };

  test.each(["FORMERR", "SERVFAIL", "NOTIMP", "REFUSED", "NOTAUTH", "NOTZONE"] as const)(
    "%s is a DnsRcodeError naming it",
    async (name) => {
      const port = await serve((_, request) => [signedAnswer(request, RCODE[name])]);
      const error = await rejection(sendUpdate(ADD, options(port, KEY)));
      expect(error).toBeInstanceOf(DnsRcodeError);
      expect(error).toMatchObject({ rcode: RCODE[name], rcodeName: name, operation: "update" });
      expect((error as Error).message).toContain(name);
    },
  );

  test.each(["YXDOMAIN", "NXDOMAIN", "YXRRSET", "NXRRSET"] as const)(
    "%s is a race, not an error",
    async (name) => {
      const port = await serve((_, request) => [signedAnswer(request, RCODE[name])]);
      expect(await sendUpdate(ADD, options(port, KEY))).toEqual({ outcome: "race", rcode: name });
    },
  );

  test.each(["BADSIG", "BADKEY"] as const)(
    "TSIG error %s from the server (unsigned, NOTAUTH) is a TsigError by the server",
    async (name) => {
      const port = await serve((_, request) => [
        appendTsig(
          encodeMessage({
            ...header(request.id, OPCODE.UPDATE, RCODE.NOTAUTH),
            questions: request.questions,
          }),
          KEY.name,
          {
            algorithm: KEY.algorithm,
            timeSigned: now(),
            fudge: 300,
            mac: new Uint8Array(0),
            originalId: request.id,
            error: RCODE[name],
            otherData: new Uint8Array(0),
          },
        ),
      ]);
      const error = await rejection(sendUpdate(ADD, options(port, KEY)));
      expect(error).toBeInstanceOf(TsigError);
      expect(error).toMatchObject({ problem: name, by: "server", rcode: RCODE.NOTAUTH });
    },
  );

  test("BADTIME from the server carries its clock; BADTRUNC is named", async () => {
    const serverTime = Uint8Array.of(0, 0, 0x65, 0x4d, 0x6a, 0x14); // 1699572244
    let port = await serve((_, request) => [
      signedAnswer(request, RCODE.NOTAUTH, { error: RCODE.BADTIME, otherData: serverTime }),
    ]);
    expect(await rejection(sendUpdate(ADD, options(port, KEY)))).toMatchObject({
      problem: "BADTIME",
      by: "server",
      serverTime: 1_699_572_244,
    });
    port = await serve((_, request) => [
      signedAnswer(request, RCODE.NOTAUTH, { error: RCODE.BADTRUNC }),
    ]);
    expect(await rejection(sendUpdate(ADD, options(port, KEY)))).toMatchObject({
      problem: "BADTRUNC",
      by: "server",
    });
  });

  test.each<[string, (raw: Uint8Array, request: DecodedMessage) => Uint8Array, string]>([
    [
      "an answer changed after signing",
      (_, request) => {
        const answer = signedAnswer(request, 0);
        answer[3] = (answer[3] as number) | 0x80; // sets RA
        return answer;
      },
      "BADSIG",
    ],
    [
      "an unsigned answer",
      (_, request) =>
        encodeMessage({ ...header(request.id, OPCODE.UPDATE), questions: request.questions }),
      "UNSIGNED",
    ],
    [
      "an answer signed with another key",
      (_, request) => signedAnswer(request, 0, { key: { ...KEY, name: "other-key" } }),
      "BADKEY",
    ],
    [
      "an answer signed an hour away from our clock",
      (_, request) => signedAnswer(request, 0, { timeSigned: now() - 3600 }),
      "BADTIME",
    ],
    [
      "an answer whose MAC is cut to 8 bytes",
      (_, request) => {
        const answer = signedAnswer(request, 0);
        const decoded = decodeMessage(answer);
        const tsig = tsigRecord(decoded);
        if (!tsig) throw new Error("unsigned");
        return appendTsig(unsignedPart(answer), KEY.name, {
          ...tsig.data,
          mac: tsig.data.mac.subarray(0, 8),
        });
      },
      "BADTRUNC",
    ],
  ])("%s is a TsigError by the client", async (_, answer, problem) => {
    const port = await serve((raw, request) => [answer(raw, request)]);
    const error = await rejection(sendUpdate(ADD, options(port, KEY)));
    expect(error).toBeInstanceOf(TsigError);
    expect(error).toMatchObject({ problem, by: "client" });
  });

  test("a MAC truncated to half its length verifies (RFC 8945 §5.2.2.1)", async () => {
    const port = await serve((raw, request) => {
      // Truncation is signed as such: the MAC is computed in full, then cut.
      const answer = signedAnswer(request, 0);
      const tsig = tsigRecord(decodeMessage(answer));
      if (!tsig) throw new Error("unsigned");
      void raw;
      return [
        appendTsig(unsignedPart(answer), KEY.name, {
          ...tsig.data,
          mac: tsig.data.mac.subarray(0, 16),
        }),
      ];
    });
    expect(await sendUpdate(ADD, options(port, KEY))).toEqual({ outcome: "applied" });
  });

  test.each<[string, (request: DecodedMessage) => Uint8Array]>([
    ["another id", (request) => signedAnswer({ ...request, id: (request.id + 1) & 0xffff }, 0)],
    [
      "a query instead of a response",
      (request) =>
        encodeMessage({ ...header(request.id, OPCODE.UPDATE), qr: false, questions: [] }),
    ],
    ["a different opcode", (request) => signedAnswer({ ...request, opcode: OPCODE.QUERY }, 0)],
    ["random bytes", () => Uint8Array.from({ length: 40 }, (_, i) => (i * 37) & 0xff)],
    ["nothing at all (a zero-length message)", () => new Uint8Array(0)],
  ])("an answer with %s is a DnsFormatError", async (_, answer) => {
    const port = await serve((_raw, request) => [answer(request)]);
    const error = await rejection(sendUpdate(ADD, options(port, KEY)));
    expect(error).toBeInstanceOf(DnsFormatError);
  });

  test("without a key, requests go unsigned and answers are taken as they come", async () => {
    let signed = true;
    const port = await serve((_, request) => {
      signed = tsigRecord(request) !== undefined;
      return [
        encodeMessage({ ...header(request.id, OPCODE.UPDATE), questions: request.questions }),
      ];
    });
    expect(await sendUpdate(ADD, options(port))).toEqual({ outcome: "applied" });
    expect(signed).toBe(false);
  });
});

describe("fake servers: zone transfers signed message by message", () => {
  let fake: FakeServer | undefined;
  afterAll(async () => {
    await fake?.close();
  });
  const serve = async (reply: (raw: Uint8Array, request: DecodedMessage) => Reply) => {
    await fake?.close();
    fake = await answering(reply);
    return fake.port;
  };

  test("every message signed, or only every third, or only first and last: all verify", async () => {
    for (const signed of [
      () => true,
      (i: number) => i % 3 === 0 || i === 9,
      (i: number) => i === 0 || i === 9,
    ]) {
      const port = await serve((_, request) => transferMessages(request, zoneSections(10), signed));
      const transfer = await transferZone(ZONE, options(port, KEY));
      expect(transfer.messages).toBe(10);
      expect(transfer.records).toHaveLength(100);
      expect(transfer.records[99]).toEqual(a(99));
    }
  });

  test("99 unsigned messages in a row pass; 100 do not", async () => {
    let port = await serve((_, request) =>
      transferMessages(request, zoneSections(101), (i) => i === 0 || i === 100),
    );
    expect((await transferZone(ZONE, options(port, KEY))).messages).toBe(101);
    port = await serve((_, request) =>
      transferMessages(request, zoneSections(102), (i) => i === 0 || i === 101),
    );
    expect(await rejection(transferZone(ZONE, options(port, KEY)))).toMatchObject({
      problem: "UNSIGNED",
      by: "client",
    });
  });

  test.each<[string, (messages: Uint8Array[]) => Uint8Array[], string]>([
    [
      "an unsigned message changed in between",
      (messages) => {
        const changed = (messages[2] as Uint8Array).slice();
        const last = changed.length - 1;
        changed[last] = (changed[last] as number) ^ 1; // the last A record's last byte
        return messages.with(2, changed);
      },
      "BADSIG",
    ],
    ["an unsigned message dropped", (messages) => messages.toSpliced(2, 1), "BADSIG"],
    [
      "the last message unsigned",
      (messages) => messages.with(4, unsignedPart(messages[4] as Uint8Array)),
      "UNSIGNED",
    ],
    [
      "the first message unsigned",
      (messages) => messages.with(0, unsignedPart(messages[0] as Uint8Array)),
      "UNSIGNED",
    ],
  ])("%s fails the transfer", async (_, spoil, problem) => {
    const port = await serve((_raw, request) =>
      spoil(transferMessages(request, zoneSections(5), (i) => i === 0 || i === 4)),
    );
    const error = await rejection(transferZone(ZONE, options(port, KEY)));
    expect(error).toBeInstanceOf(TsigError);
    expect(error).toMatchObject({ problem, by: "client" });
  });

  test.each<[string, ResourceRecord[][], string]>([
    ["no SOA first", [[a(1), soa(7)]], "does not start with the zone's SOA"],
    [
      "records after the closing SOA",
      [[soa(7), a(1), soa(7), a(2)]],
      "after the transfer's closing SOA",
    ],
    ["an empty first message", [[], [soa(7), soa(7)]], "first answer is empty"],
  ])("a transfer with %s is a DnsFormatError", async (_, sections, problem) => {
    const port = await serve((_raw, request) => transferMessages(request, sections, () => true));
    const error = await rejection(transferZone(ZONE, options(port, KEY)));
    expect(error).toBeInstanceOf(DnsFormatError);
    expect((error as Error).message).toContain(problem);
  });

  test("a server that hangs up half way through the transfer: closed", async () => {
    await fake?.close();
    fake = await fakeServer((raw, socket) => {
      const messages = transferMessages(decodeMessage(raw), zoneSections(5), () => true);
      for (const message of messages.slice(0, 3)) socket.write(frame(message));
      socket.end();
    });
    const error = await rejection(transferZone(ZONE, options(fake.port, KEY, 2_000)));
    expect(error).toBeInstanceOf(DnsNetworkError);
    expect(error).toMatchObject({ problem: "closed" });
    expect((error as Error).message).toContain("in the middle of the answer");
  });
});

describe("fake servers: the network", () => {
  const servers: FakeServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });
  const start = async (onRequest: (request: Uint8Array, socket: Socket) => void) => {
    const server = await fakeServer(onRequest);
    servers.push(server);
    return server.port;
  };

  test("a server that accepts and never answers: timeout, on time", async () => {
    const port = await start(() => undefined);
    const started = Date.now();
    const error = await rejection(sendUpdate(ADD, options(port, KEY, 300)));
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ problem: "timeout" });
    expect((error as Error).message).toContain("within 300 ms");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
  });

  test("a server that stops part way through an answer: timeout, saying so", async () => {
    const port = await start((_, socket) => socket.write(Uint8Array.of(0, 100, 1, 2, 3)));
    const error = await rejection(sendUpdate(ADD, options(port, KEY, 300)));
    expect(error).toMatchObject({ problem: "timeout" });
    expect((error as Error).message).toContain("part way");
  });

  test("a server that drips a transfer forever: the timeout bounds the whole exchange", async () => {
    const port = await start((raw, socket) => {
      const request = decodeMessage(raw);
      const [first] = transferMessages(request, [[soa(7), a(0)]], () => true);
      socket.write(frame(first as Uint8Array));
      const more = encodeMessage({ ...header(request.id, 0), questions: [], answers: [a(1)] });
      const timer = setInterval(() => socket.write(frame(more)), 20);
      socket.on("close", () => clearInterval(timer));
    });
    const started = Date.now();
    const error = await rejection(transferZone(ZONE, options(port, KEY, 400)));
    expect(error).toMatchObject({ problem: "timeout" });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  test("a server that floods: too-large at the byte cap", async () => {
    const port = await start((raw, socket) => {
      const request = decodeMessage(raw);
      const [first] = transferMessages(request, [[soa(7), a(0)]], () => true);
      socket.write(frame(first as Uint8Array));
      const more = frame(
        encodeMessage({
          ...header(request.id, 0),
          questions: [],
          answers: Array.from({ length: 500 }, (_, i) => a(i)),
        }),
      );
      const pump = () => {
        while (!socket.destroyed && socket.write(more));
      };
      socket.on("drain", pump);
      pump();
    });
    const error = await rejection(
      transferZone(ZONE, { ...options(port, KEY), maxBytes: 1_000_000 }),
    );
    expect(error).toMatchObject({ problem: "too-large" });
    expect((error as Error).message).toContain("1000000 bytes");
  });

  test("a server that hangs up without answering: closed", async () => {
    const port = await start((_, socket) => socket.end());
    expect(await rejection(sendUpdate(ADD, options(port, KEY)))).toMatchObject({
      problem: "closed",
    });
  });

  test("an abort signal ends the exchange at once", async () => {
    const port = await start(() => undefined);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const error = await rejection(
      sendUpdate(ADD, { ...options(port, KEY, 10_000), signal: controller.signal }),
    );
    expect(error).toMatchObject({ problem: "aborted" });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  test("garbage frames of every length are DnsFormatError, never a hang", async () => {
    for (const size of [1, 2, 11, 12, 13, 300]) {
      const port = await start((_, socket) => {
        socket.write(frame(Uint8Array.from({ length: size }, (_, i) => (i * 91 + 7) & 0xff)));
      });
      const error = await rejection(transferZone(ZONE, options(port, KEY, 2_000)));
      expect(error).toBeInstanceOf(DnsFormatError);
    }
  });

  test("an answer split into one-byte writes is put back together", async () => {
    const port = await start((raw, socket) => {
      const answer = frame(signedAnswer(decodeMessage(raw), 0));
      let at = 0;
      const timer = setInterval(() => {
        if (at >= answer.length) clearInterval(timer);
        else socket.write(answer.subarray(at, ++at));
      }, 1);
    });
    expect(await sendUpdate(ADD, options(port, KEY))).toEqual({ outcome: "applied" });
  });

  test("IPv6 literals (with or without brackets) and host names connect", async () => {
    const v6 = createServer((socket) => {
      socket.on("data", (chunk: Buffer) => {
        const raw = new Uint8Array(chunk.subarray(2));
        socket.write(frame(signedAnswer(decodeMessage(raw), 0)));
      });
    });
    const listening = await new Promise<boolean>((resolve) => {
      v6.once("error", () => resolve(false));
      v6.listen(0, "::1", () => resolve(true));
    });
    if (!listening) console.log("IPv6 loopback unavailable here: only the host name is tried");
    const address = v6.address();
    const port = typeof address === "object" && address ? address.port : 0;
    try {
      const hosts = listening ? ["::1", "[::1]"] : [];
      for (const host of hosts) {
        const result = await sendUpdate(ADD, {
          server: { host, port },
          timeoutMs: 5_000,
          key: KEY,
        });
        expect(result).toEqual({ outcome: "applied" });
      }
    } finally {
      await new Promise((resolve) => v6.close(resolve));
    }
  });

  test("a host name is resolved (localhost, which /etc/hosts may map to 127.0.0.1 only)", async () => {
    const port = await start((raw, socket) => {
      socket.write(frame(signedAnswer(decodeMessage(raw), 0)));
    });
    const result = await sendUpdate(ADD, {
      server: { host: "localhost", port },
      timeoutMs: 5_000,
      key: KEY,
    });
    expect(result).toEqual({ outcome: "applied" });
  });

  test("a host name that does not resolve is `unresolved`", async () => {
    const error = await rejection(
      sendUpdate(ADD, {
        server: { host: "no-such-host.invalid", port: 53 },
        timeoutMs: 5_000,
        key: KEY,
      }),
    );
    expect(error).toBeInstanceOf(DnsNetworkError);
    expect((error as DnsNetworkError).problem).toBe("unresolved");
  });
});
