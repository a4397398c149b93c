/**
 * DNS messages on the wire, by hand: the UPDATE messages of RFC 2136 (no npm library encodes
 * class NONE and ANY records the way RFC 2136 §2.4–2.5 needs them), the AXFR query, and a
 * decoder for every answer dynip reads. TSIG signing lives in tsig.ts, the TCP exchange in
 * transport.ts.
 *
 * Conventions of the whole module:
 * - Every integer on the wire is big-endian (network byte order, RFC 1035 §2.3.2).
 * - Names are text without the trailing dot (`internal.example.test`; the root is `.`), the
 *   escapes of RFC 1035 §5.1 (`\.`, `\\`, `\DDD`) standing for bytes that are not printable
 *   ASCII or would be read as a separator. The encoder also accepts a trailing dot. Case is
 *   kept as written: DNS compares names case-insensitively (RFC 4343), dynip compares lowered.
 * - Record content is what Cloudflare calls `content`: a dotted quad for A, RFC 5952 text for
 *   AAAA, and for TXT the presentation form described at {@link txtStrings}.
 * - The decoder never trusts a length: every read is checked against the message's end, a name
 *   is at most 255 octets, and a compression pointer must point before every position already
 *   read for that name, so pointer loops end in a {@link DnsFormatError}, never a hang.
 */
import ipaddr from "ipaddr.js";

/** The largest DNS message: TCP frames it with a 16-bit length (RFC 1035 §4.2.2). */
export const MAX_MESSAGE_BYTES = 65_535;

/** RR TYPE values (RFC 1035 §3.2.2, RFC 3596 for AAAA, RFC 6891 for OPT, RFC 8945 for TSIG). */
export const RR_TYPE = {
  A: 1,
  NS: 2,
  SOA: 6,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  TSIG: 250,
  AXFR: 252,
  ANY: 255,
} as const;

/** CLASS values: IN for data, NONE and ANY for UPDATE's deletes and prerequisites (RFC 2136 §1.3). */
export const RR_CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;

/** OPCODE values (RFC 1035 §4.1.1, RFC 2136 §1.3). */
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

/**
 * RCODE values: 0–10 from the header (RFC 1035 §4.1.1, RFC 2136 §2.2), 16–22 only in a TSIG
 * record's error field (RFC 8945 §3), where 16 means BADSIG (not EDNS's BADVERS).
 */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADTRUNC: 22,
} as const;

export type RcodeName = keyof typeof RCODE;

const RCODE_NAMES = new Map<number, RcodeName>(
  Object.entries(RCODE).map(([name, code]) => [code, name as RcodeName]),
);

/** `5` → `REFUSED`; a code without a name here is `RCODE<n>` (`RCODE23`). */
export function rcodeName(code: number): string {
  return RCODE_NAMES.get(code) ?? `RCODE${code}`;
}

const TYPE_NAMES = new Map<number, string>(
  Object.entries(RR_TYPE).map(([name, code]) => [code, name]),
);

/** `28` → `AAAA`; other types in RFC 3597's generic form, `TYPE65`. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** The bytes are not a well-formed DNS message; `offset` is where reading stopped. */
export class DnsFormatError extends Error {
  override name = "DnsFormatError";
  constructor(
    readonly detail: string,
    readonly offset: number,
  ) {
    super(`malformed DNS message: ${detail} (at byte ${offset})`);
  }
}

/** A name, content, TTL or count that cannot be put on the wire: a bug or bad input upstream. */
export class DnsEncodeError extends Error {
  override name = "DnsEncodeError";
}

/** The message would be longer than 65,535 bytes: split the changes into several messages. */
export class MessageTooLargeError extends DnsEncodeError {
  override name = "MessageTooLargeError";
  constructor(readonly limit: number = MAX_MESSAGE_BYTES) {
    super(`DNS message larger than ${limit} bytes`);
  }
}

/** The record types dynip writes. */
export type RecordType = "A" | "AAAA" | "TXT";

/** RDATA as decoded, or as given to {@link encodeMessage}. */
export type RData =
  /** A, AAAA and TXT in Cloudflare's `content` form (see the module comment). */
  | { kind: "A" | "AAAA" | "TXT"; content: string }
  | { kind: "NS"; host: string }
  | {
      kind: "SOA";
      mname: string;
      rname: string;
      /** All five are unsigned 32-bit numbers; the last four are seconds. */
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    }
  | ({ kind: "TSIG" } & TsigData)
  /**
   * Any other type (kept byte for byte), and the empty RDATA of UPDATE's class ANY and NONE
   * records (RFC 2136 §2.4.1, §2.5.2), whatever their type.
   */
  | { kind: "raw"; bytes: Uint8Array };

/** The RDATA of a TSIG record (RFC 8945 §4.2). */
export interface TsigData {
  /** Algorithm name, such as `hmac-sha256`. */
  algorithm: string;
  /** Seconds since 1970 (48 bits on the wire). */
  timeSigned: number;
  /** Seconds of clock difference allowed. */
  fudge: number;
  mac: Uint8Array;
  /** The message id the signer used; the MAC covers the message with this id. */
  originalId: number;
  /** 0, or BADSIG (16), BADKEY (17), BADTIME (18), BADTRUNC (22). */
  error: number;
  /** Six bytes of the server's time with BADTIME (RFC 8945 §5.2.3), else usually empty. */
  otherData: Uint8Array;
}

export interface ResourceRecord {
  name: string;
  /** Numeric TYPE; see {@link RR_TYPE}. */
  type: number;
  /** Numeric CLASS; see {@link RR_CLASS}. */
  class: number;
  /** Seconds, unsigned 32-bit. */
  ttl: number;
  data: RData;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

/**
 * One DNS message. In an UPDATE (RFC 2136 §2) the four sections are the zone, prerequisite,
 * update and additional sections; here they keep RFC 1035's names.
 */
export interface Message {
  /** 16-bit message id. */
  id: number;
  /** True in a response. */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** The header's 4-bit RCODE; see {@link responseCode} for the whole code. */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

export interface DecodedMessage extends Message {
  /**
   * Byte offset where the TSIG record starts when the message carries one (it must be the
   * last additional record, RFC 8945 §5.1): what the MAC covers ends there.
   */
  tsigOffset?: number;
}

// ---------------------------------------------------------------------------------------
// Names

const MAX_NAME_OCTETS = 255;
const MAX_LABEL_OCTETS = 63;
/** Compression pointers hold 14-bit offsets (RFC 1035 §4.1.4). */
const MAX_POINTER_OFFSET = 0x3fff;

/**
 * The labels of a name in text form, without the root label. Accepts a trailing dot and the
 * escapes `\.`, `\\`, `\X` and `\DDD` (a decimal byte, RFC 1035 §5.1); other characters are
 * taken as UTF-8. Throws DnsEncodeError for an empty name or label, a label over 63 octets
 * or a name over 255 octets (RFC 1035 §2.3.4).
 */
export function nameLabels(text: string): Uint8Array[] {
  if (text === ".") return [];
  if (text === "") throw new DnsEncodeError("empty domain name");
  const labels: Uint8Array[] = [];
  let current: number[] = [];
  const closeLabel = () => {
    if (current.length === 0) throw new DnsEncodeError(`empty label in domain name ${text}`);
    if (current.length > MAX_LABEL_OCTETS) {
      throw new DnsEncodeError(`label longer than ${MAX_LABEL_OCTETS} octets in ${text}`);
    }
    labels.push(Uint8Array.from(current));
    current = [];
  };
  const chars = [...text];
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i] as string;
    if (char === ".") {
      closeLabel();
      continue;
    }
    if (char === "\\") {
      const escaped = readEscape(chars, i, text);
      current.push(...escaped.bytes);
      i = escaped.last;
      continue;
    }
    current.push(...new TextEncoder().encode(char));
  }
  if (current.length > 0) closeLabel();
  // One length octet per label plus the root's zero (RFC 1035 §3.1).
  const octets = labels.reduce((sum, label) => sum + label.length + 1, 1);
  if (octets > MAX_NAME_OCTETS) {
    throw new DnsEncodeError(`domain name longer than ${MAX_NAME_OCTETS} octets: ${text}`);
  }
  return labels;
}

/** `\DDD` or `\X` at chars[at]: the bytes it stands for and the index of its last character. */
function readEscape(
  chars: string[],
  at: number,
  text: string,
): { bytes: Uint8Array | number[]; last: number } {
  const digits = chars.slice(at + 1, at + 4).join("");
  if (/^\d{3}$/.test(digits)) {
    const value = Number(digits);
    if (value > 255) throw new DnsEncodeError(`escape \\${digits} is not a byte in ${text}`);
    return { bytes: [value], last: at + 3 };
  }
  const next = chars[at + 1];
  if (next === undefined) throw new DnsEncodeError(`dangling backslash in ${text}`);
  return { bytes: new TextEncoder().encode(next), last: at + 1 };
}

/** One label as text: printable ASCII as is, `.` and `\` escaped, other bytes as `\DDD`. */
function labelText(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    if (byte === 0x2e || byte === 0x5c) text += `\\${String.fromCharCode(byte)}`;
    else if (byte > 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\${byte.toString().padStart(3, "0")}`;
  }
  return text;
}

/**
 * True when `name` is `zone` or below it, comparing labels ASCII case-insensitively
 * (RFC 4343). Throws DnsEncodeError when either is not a valid name.
 */
export function isInZone(name: string, zone: string): boolean {
  const labels = nameLabels(name);
  const zoneLabels = nameLabels(zone);
  if (zoneLabels.length > labels.length) return false;
  const offset = labels.length - zoneLabels.length;
  return zoneLabels.every((label, i) => sameLabel(label, labels[offset + i] as Uint8Array));
}

function sameLabel(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return a.every((byte, i) => lowerAscii(byte) === lowerAscii(b[i] as number));
}

function lowerAscii(byte: number): number {
  return byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte;
}

/**
 * The uncompressed wire form of a name with ASCII letters lowered: the canonical form TSIG
 * digests use for the key and algorithm names (RFC 8945 §4.3.3, RFC 4034 §6.2).
 */
export function canonicalNameBytes(name: string): Uint8Array {
  const labels = nameLabels(name);
  const out: number[] = [];
  for (const label of labels) out.push(label.length, ...Array.from(label, lowerAscii));
  out.push(0);
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------
// TXT content

/**
 * The character-strings of TXT content (RFC 1035 §3.3.14), in the form Cloudflare's API
 * uses, so that dynip's heartbeat `"1699564820,web-01"` is one string `1699564820,web-01`:
 *
 * - Content that starts with `"` is one or more quoted strings separated by spaces or tabs.
 *   Inside the quotes `\"` is a quote, `\\` a backslash, `\DDD` the byte of that decimal value
 *   and `\X` the character X (RFC 1035 §5.1); other characters are UTF-8. Each string must fit
 *   in 255 bytes. `"a" "b"` is two strings; `""` is one empty string.
 * - Any other content is taken literally, spaces and quotes included, as UTF-8 and cut into
 *   strings of 255 bytes (one empty string when the content is empty), as Cloudflare stores
 *   long unquoted content.
 *
 * Throws DnsEncodeError for an unterminated quote, text between quoted strings, a bad escape,
 * or a quoted string over 255 bytes.
 */
export function txtStrings(content: string): Uint8Array[] {
  if (!content.startsWith('"')) {
    const bytes = new TextEncoder().encode(content);
    const strings: Uint8Array[] = [];
    for (let at = 0; at < bytes.length; at += 255) strings.push(bytes.subarray(at, at + 255));
    return strings.length > 0 ? strings : [new Uint8Array(0)];
  }
  const chars = [...content];
  const strings: Uint8Array[] = [];
  let i = 0;
  while (i < chars.length) {
    if (chars[i] === " " || chars[i] === "\t") {
      i++;
      continue;
    }
    if (chars[i] !== '"') {
      throw new DnsEncodeError(`TXT content has text outside quotes: ${content}`);
    }
    const bytes: number[] = [];
    i++;
    for (;;) {
      const char = chars[i];
      if (char === undefined) throw new DnsEncodeError(`TXT content has an open quote: ${content}`);
      if (char === '"') break;
      if (char === "\\") {
        const escaped = readEscape(chars, i, content);
        bytes.push(...escaped.bytes);
        i = escaped.last + 1;
        continue;
      }
      bytes.push(...new TextEncoder().encode(char));
      i++;
    }
    i++; // past the closing quote
    if (i < chars.length && chars[i] !== " " && chars[i] !== "\t") {
      throw new DnsEncodeError(`TXT content needs a space between quoted strings: ${content}`);
    }
    if (bytes.length > 255) {
      throw new DnsEncodeError(`TXT character-string longer than 255 bytes in ${content}`);
    }
    strings.push(Uint8Array.from(bytes));
  }
  return strings;
}

/**
 * TXT content for character-strings: each quoted, separated by one space; `"` and `\` escaped
 * with a backslash, bytes outside printable ASCII as `\DDD`. The inverse of
 * {@link txtStrings}, so decoded content can be sent back to delete that very record.
 */
export function txtContent(strings: readonly Uint8Array[]): string {
  return strings
    .map((bytes) => {
      let text = "";
      for (const byte of bytes) {
        if (byte === 0x22 || byte === 0x5c) text += `\\${String.fromCharCode(byte)}`;
        else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
        else text += `\\${byte.toString().padStart(3, "0")}`;
      }
      return `"${text}"`;
    })
    .join(" ");
}

// ---------------------------------------------------------------------------------------
// Encoding

/** A bounded byte writer: throws MessageTooLargeError past 65,535 bytes. */
interface Writer {
  bytes: Uint8Array;
  view: DataView;
  length: number;
  /** Suffix (its labels' bytes, length-prefixed) → offset, for compression. */
  names: Map<string, number> | undefined;
}

function createWriter(compress: boolean): Writer {
  const bytes = new Uint8Array(MAX_MESSAGE_BYTES);
  return {
    bytes,
    view: new DataView(bytes.buffer),
    length: 0,
    names: compress ? new Map() : undefined,
  };
}

function reserve(writer: Writer, size: number): number {
  const at = writer.length;
  if (at + size > MAX_MESSAGE_BYTES) throw new MessageTooLargeError();
  writer.length += size;
  return at;
}

function writeU8(writer: Writer, value: number): void {
  writer.view.setUint8(reserve(writer, 1), value);
}

function writeU16(writer: Writer, value: number): void {
  writer.view.setUint16(reserve(writer, 2), value);
}

function writeU32(writer: Writer, value: number): void {
  writer.view.setUint32(reserve(writer, 4), value);
}

function writeBytes(writer: Writer, bytes: Uint8Array): void {
  writer.bytes.set(bytes, reserve(writer, bytes.length));
}

/**
 * A name, compressed against every suffix written before when the writer compresses (RFC 1035
 * §4.1.4): the longest earlier suffix that matches byte for byte (so case is kept) becomes a
 * pointer. BIND 9.18 looks only at the whole name and its parent, so its messages can be
 * longer; both are valid.
 */
function writeName(writer: Writer, name: string, compress = true): void {
  const labels = nameLabels(name);
  const table = compress ? writer.names : undefined;
  const keys = labels.map((_, i) => suffixKey(labels.slice(i)));
  for (let i = 0; i < labels.length; i++) {
    const pointer = table?.get(keys[i] as string);
    if (pointer !== undefined) {
      writeU16(writer, 0xc000 | pointer);
      return;
    }
    const at = writer.length;
    if (table && at <= MAX_POINTER_OFFSET) table.set(keys[i] as string, at);
    const label = labels[i] as Uint8Array;
    writeU8(writer, label.length);
    writeBytes(writer, label);
  }
  writeU8(writer, 0);
}

function suffixKey(labels: Uint8Array[]): string {
  return labels.map((label) => `${label.length}:${Array.from(label).join(",")}`).join("|");
}

function writeRData(writer: Writer, type: number, data: RData): void {
  const lengthAt = reserve(writer, 2);
  const start = writer.length;
  switch (data.kind) {
    case "A":
      if (type !== RR_TYPE.A) throw new DnsEncodeError(`A content for a ${typeName(type)} record`);
      writeBytes(writer, addressBytes("A", data.content));
      break;
    case "AAAA":
      if (type !== RR_TYPE.AAAA)
        throw new DnsEncodeError(`AAAA content for a ${typeName(type)} record`);
      writeBytes(writer, addressBytes("AAAA", data.content));
      break;
    case "TXT":
      if (type !== RR_TYPE.TXT)
        throw new DnsEncodeError(`TXT content for a ${typeName(type)} record`);
      for (const string of txtStrings(data.content)) {
        writeU8(writer, string.length);
        writeBytes(writer, string);
      }
      break;
    case "NS":
      writeName(writer, data.host);
      break;
    case "SOA":
      writeName(writer, data.mname);
      writeName(writer, data.rname);
      for (const value of [data.serial, data.refresh, data.retry, data.expire, data.minimum]) {
        writeU32(writer, checkU32(value, "SOA field"));
      }
      break;
    case "TSIG":
      writeTsigData(writer, data);
      break;
    case "raw":
      writeBytes(writer, data.bytes);
      break;
  }
  writer.view.setUint16(lengthAt, writer.length - start);
}

/** RFC 8945 §4.2; the algorithm name is never compressed (RFC 3597 §4). */
function writeTsigData(writer: Writer, data: TsigData): void {
  writeName(writer, data.algorithm, false);
  writeU48(writer, data.timeSigned);
  writeU16(writer, checkU16(data.fudge, "TSIG fudge"));
  writeU16(writer, checkU16(data.mac.length, "TSIG MAC size"));
  writeBytes(writer, data.mac);
  writeU16(writer, checkU16(data.originalId, "TSIG original id"));
  writeU16(writer, checkU16(data.error, "TSIG error"));
  writeU16(writer, checkU16(data.otherData.length, "TSIG other data size"));
  writeBytes(writer, data.otherData);
}

function writeU48(writer: Writer, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** 48) {
    throw new DnsEncodeError(`not a 48-bit time: ${value}`);
  }
  writeU16(writer, Math.floor(value / 2 ** 32));
  writeU32(writer, value % 2 ** 32);
}

/** The 4 or 16 address bytes; throws DnsEncodeError for anything but a plain address. */
function addressBytes(kind: "A" | "AAAA", content: string): Uint8Array {
  if (kind === "A" && ipaddr.IPv4.isValidFourPartDecimal(content)) {
    return Uint8Array.from(ipaddr.IPv4.parse(content).toByteArray());
  }
  // A zone id (fe80::1%eth0) names an interface of this host, nothing DNS can carry.
  if (kind === "AAAA" && ipaddr.IPv6.isValid(content) && !content.includes("%")) {
    return Uint8Array.from(ipaddr.IPv6.parse(content).toByteArray());
  }
  throw new DnsEncodeError(`not an ${kind === "A" ? "IPv4" : "IPv6"} address: ${content}`);
}

function checkU16(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new DnsEncodeError(`${what} out of range: ${value}`);
  }
  return value;
}

function checkU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new DnsEncodeError(`${what} out of range: ${value}`);
  }
  return value;
}

/**
 * A whole message in wire form (RFC 1035 §4.1), names compressed unless `compress` is false
 * (TSIG records are never compressed). Throws DnsEncodeError for a value that does not fit
 * its field or content that does not parse, MessageTooLargeError past 65,535 bytes.
 */
export function encodeMessage(message: Message, options: { compress?: boolean } = {}): Uint8Array {
  const writer = createWriter(options.compress ?? true);
  writeU16(writer, checkU16(message.id, "message id"));
  if (!Number.isInteger(message.opcode) || message.opcode < 0 || message.opcode > 15) {
    throw new DnsEncodeError(`opcode out of range: ${message.opcode}`);
  }
  if (!Number.isInteger(message.rcode) || message.rcode < 0 || message.rcode > 15) {
    throw new DnsEncodeError(`header rcode out of range: ${message.rcode}`);
  }
  // QR(1) OPCODE(4) AA TC RD RA Z AD CD RCODE(4), RFC 1035 §4.1.1 and RFC 4035 §3.2.
  const flags =
    (bit(message.qr) << 15) |
    (message.opcode << 11) |
    (bit(message.aa) << 10) |
    (bit(message.tc) << 9) |
    (bit(message.rd) << 8) |
    (bit(message.ra) << 7) |
    (bit(message.ad) << 5) |
    (bit(message.cd) << 4) |
    message.rcode;
  writeU16(writer, flags);
  for (const section of [
    message.questions,
    message.answers,
    message.authority,
    message.additional,
  ]) {
    writeU16(writer, checkU16(section.length, "section count"));
  }
  for (const question of message.questions) {
    writeName(writer, question.name);
    writeU16(writer, checkU16(question.type, "question type"));
    writeU16(writer, checkU16(question.class, "question class"));
  }
  for (const record of [...message.answers, ...message.authority, ...message.additional]) {
    writeRecord(writer, record);
  }
  return writer.bytes.slice(0, writer.length);
}

function writeRecord(writer: Writer, record: ResourceRecord): void {
  writeName(writer, record.name, record.type !== RR_TYPE.TSIG);
  writeU16(writer, checkU16(record.type, "record type"));
  writeU16(writer, checkU16(record.class, "record class"));
  writeU32(writer, checkU32(record.ttl, "TTL"));
  writeRData(writer, record.type, record.data);
}

/** One TSIG record in wire form, uncompressed: what tsig.ts appends to a signed message. */
export function encodeTsigRecord(keyName: string, data: TsigData): Uint8Array {
  const writer = createWriter(false);
  writeRecord(writer, {
    name: keyName,
    type: RR_TYPE.TSIG,
    class: RR_CLASS.ANY,
    ttl: 0,
    data: { kind: "TSIG", ...data },
  });
  return writer.bytes.slice(0, writer.length);
}

function bit(flag: boolean): number {
  return flag ? 1 : 0;
}

/** A random 16-bit message id (RFC 5452 §9.2: ids must not be guessable). */
export function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0] as number;
}

// ---------------------------------------------------------------------------------------
// UPDATE (RFC 2136)

/** One prerequisite (RFC 2136 §2.4); the server checks them all before changing anything. */
export type UpdatePrerequisite =
  /** §2.4.1: an RRset of this type exists at the name, whatever its values (class ANY). */
  | { kind: "rrset-exists"; name: string; type: RecordType }
  /**
   * §2.4.2, value dependent: the RRset is exactly these values, no more and no fewer (each
   * sent as a class IN record with TTL 0). This is how cleanup proves the heartbeats it judged
   * are still the ones it read. `contents` must not be empty.
   */
  | { kind: "rrset-equals"; name: string; type: RecordType; contents: readonly string[] }
  /** §2.4.3: no RRset of this type at the name (class NONE). */
  | { kind: "rrset-absent"; name: string; type: RecordType }
  /** §2.4.4: the name owns at least one record (class ANY, type ANY). */
  | { kind: "name-in-use"; name: string }
  /** §2.4.5: the name owns no record at all (class NONE, type ANY). */
  | { kind: "name-not-in-use"; name: string };

/** One change (RFC 2136 §2.5), applied in order when every prerequisite holds. */
export type UpdateOperation =
  /** §2.5.1: add a record (class IN); adding a value that exists changes nothing. */
  | { kind: "add"; name: string; type: RecordType; ttl: number; content: string }
  /** §2.5.4: delete one record by value (class NONE, TTL 0): a shared RRset keeps the rest. */
  | { kind: "delete"; name: string; type: RecordType; content: string }
  /** §2.5.2: delete the whole RRset of this type at the name (class ANY, TTL 0, no RDATA). */
  | { kind: "delete-rrset"; name: string; type: RecordType };

export interface Update {
  /** The zone's apex name: the zone section's one SOA/IN entry (§2.3). */
  zone: string;
  prerequisites: readonly UpdatePrerequisite[];
  updates: readonly UpdateOperation[];
}

/** RFC 2181 §8: TTLs are 31-bit; a larger value is read as 0 by some servers. */
const MAX_TTL = 2_147_483_647;

/**
 * An UPDATE message (opcode 5, RFC 2136 §2): header with ZOCOUNT 1, then the zone, the
 * prerequisites and the updates, names compressed, no additional records (tsig.ts appends the
 * TSIG). Throws DnsEncodeError when a name is not inside `zone` (the server would answer
 * NOTZONE, §3.4.1.3), a TTL is outside 0–2147483647 seconds, an `rrset-equals` has no value,
 * or content does not parse; MessageTooLargeError past 65,535 bytes.
 */
export function encodeUpdate(id: number, update: Update): Uint8Array {
  const inZone = (name: string) => {
    if (!isInZone(name, update.zone)) {
      throw new DnsEncodeError(`${name} is not inside the zone ${update.zone}`);
    }
    return name;
  };
  const answers: ResourceRecord[] = [];
  for (const p of update.prerequisites) answers.push(...prerequisiteRecords(p, inZone));
  const authority = update.updates.map((u) => updateRecord(u, inZone));
  return encodeMessage({
    id,
    qr: false,
    opcode: OPCODE.UPDATE,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [{ name: update.zone, type: RR_TYPE.SOA, class: RR_CLASS.IN }],
    answers,
    authority,
    additional: [],
  });
}

const EMPTY: RData = { kind: "raw", bytes: new Uint8Array(0) };

function prerequisiteRecords(
  p: UpdatePrerequisite,
  inZone: (name: string) => string,
): ResourceRecord[] {
  const empty = (type: number, cls: number): ResourceRecord => ({
    name: inZone(p.name),
    type,
    class: cls,
    ttl: 0,
    data: EMPTY,
  });
  switch (p.kind) {
    case "rrset-exists":
      return [empty(RR_TYPE[p.type], RR_CLASS.ANY)];
    case "rrset-absent":
      return [empty(RR_TYPE[p.type], RR_CLASS.NONE)];
    case "name-in-use":
      return [empty(RR_TYPE.ANY, RR_CLASS.ANY)];
    case "name-not-in-use":
      return [empty(RR_TYPE.ANY, RR_CLASS.NONE)];
    case "rrset-equals":
      if (p.contents.length === 0) {
        throw new DnsEncodeError(`rrset-equals for ${p.name} ${p.type} lists no value`);
      }
      return p.contents.map((content) => ({
        name: inZone(p.name),
        type: RR_TYPE[p.type],
        class: RR_CLASS.IN,
        ttl: 0,
        data: { kind: p.type, content },
      }));
  }
}

function updateRecord(u: UpdateOperation, inZone: (name: string) => string): ResourceRecord {
  switch (u.kind) {
    case "add":
      if (!Number.isInteger(u.ttl) || u.ttl < 0 || u.ttl > MAX_TTL) {
        throw new DnsEncodeError(`TTL out of range for ${u.name}: ${u.ttl}`);
      }
      return {
        name: inZone(u.name),
        type: RR_TYPE[u.type],
        class: RR_CLASS.IN,
        ttl: u.ttl,
        data: { kind: u.type, content: u.content },
      };
    case "delete":
      return {
        name: inZone(u.name),
        type: RR_TYPE[u.type],
        class: RR_CLASS.NONE,
        ttl: 0,
        data: { kind: u.type, content: u.content },
      };
    case "delete-rrset":
      return {
        name: inZone(u.name),
        type: RR_TYPE[u.type],
        class: RR_CLASS.ANY,
        ttl: 0,
        data: EMPTY,
      };
  }
}

/**
 * A zone transfer query (RFC 5936 §2.2): one question `zone AXFR IN`, all flags clear, no EDNS.
 * It must go over TCP. Throws DnsEncodeError for an invalid zone name.
 */
export function encodeAxfrQuery(id: number, zone: string): Uint8Array {
  return encodeMessage({
    id,
    qr: false,
    opcode: OPCODE.QUERY,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [{ name: zone, type: RR_TYPE.AXFR, class: RR_CLASS.IN }],
    answers: [],
    authority: [],
    additional: [],
  });
}

// ---------------------------------------------------------------------------------------
// Decoding

interface Reader {
  bytes: Uint8Array;
  view: DataView;
  pos: number;
}

function need(reader: Reader, size: number, what: string): number {
  const at = reader.pos;
  if (at + size > reader.bytes.length) {
    throw new DnsFormatError(`truncated ${what}: ${size} bytes needed`, at);
  }
  reader.pos += size;
  return at;
}

function readU8(reader: Reader, what: string): number {
  return reader.view.getUint8(need(reader, 1, what));
}

function readU16(reader: Reader, what: string): number {
  return reader.view.getUint16(need(reader, 2, what));
}

function readU32(reader: Reader, what: string): number {
  return reader.view.getUint32(need(reader, 4, what));
}

function readBytes(reader: Reader, size: number, what: string): Uint8Array {
  const at = need(reader, size, what);
  return reader.bytes.slice(at, at + size);
}

/**
 * A possibly compressed name (RFC 1035 §4.1.4). A pointer must point before the start of every
 * stretch of this name read so far, so each jump goes strictly backwards and any loop is
 * refused; the name's octets, as expanded, must stay within 255.
 */
function readName(reader: Reader): string {
  const { bytes, view } = reader;
  const labels: string[] = [];
  let pos = reader.pos;
  let floor = pos;
  let resume: number | undefined;
  let octets = 1;
  for (;;) {
    if (pos >= bytes.length) throw new DnsFormatError("truncated domain name", pos);
    const length = view.getUint8(pos);
    if (length === 0) {
      pos += 1;
      break;
    }
    const tag = length & 0xc0;
    if (tag === 0xc0) {
      if (pos + 2 > bytes.length) throw new DnsFormatError("truncated compression pointer", pos);
      const target = view.getUint16(pos) & 0x3fff;
      if (target >= floor) {
        throw new DnsFormatError(`compression pointer to byte ${target} does not point back`, pos);
      }
      resume ??= pos + 2;
      floor = target;
      pos = target;
      continue;
    }
    if (tag !== 0) {
      throw new DnsFormatError(`unknown label type 0x${tag.toString(16)}`, pos);
    }
    octets += length + 1;
    if (octets > MAX_NAME_OCTETS) {
      throw new DnsFormatError(`domain name longer than ${MAX_NAME_OCTETS} octets`, pos);
    }
    if (pos + 1 + length > bytes.length) throw new DnsFormatError("truncated label", pos);
    labels.push(labelText(bytes.subarray(pos + 1, pos + 1 + length)));
    pos += 1 + length;
  }
  reader.pos = resume ?? pos;
  return labels.length === 0 ? "." : labels.join(".");
}

function readRecord(reader: Reader): ResourceRecord {
  const name = readName(reader);
  const type = readU16(reader, "record type");
  const cls = readU16(reader, "record class");
  const ttl = readU32(reader, "record TTL");
  const rdlength = readU16(reader, "RDLENGTH");
  const start = reader.pos;
  need(reader, rdlength, `RDATA of ${typeName(type)} ${name}`);
  const end = start + rdlength;
  // The RDATA is read through a view that ends where it ends, so no field can run past it;
  // names inside it may still point back into the whole message.
  const rdata: Reader = { bytes: reader.bytes.subarray(0, end), view: reader.view, pos: start };
  const data = rdlength === 0 ? EMPTY : readRData(rdata, type, name);
  if (rdata.pos !== end) {
    throw new DnsFormatError(
      `${rdlength - (rdata.pos - start)} bytes left over in ${typeName(type)} RDATA`,
      rdata.pos,
    );
  }
  return { name, type, class: cls, ttl, data };
}

function readRData(reader: Reader, type: number, owner: string): RData {
  switch (type) {
    case RR_TYPE.A:
      return { kind: "A", content: readBytes(reader, 4, `A of ${owner}`).join(".") };
    case RR_TYPE.AAAA: {
      const bytes = readBytes(reader, 16, `AAAA of ${owner}`);
      return { kind: "AAAA", content: new ipaddr.IPv6([...bytes]).toRFC5952String() };
    }
    case RR_TYPE.TXT: {
      const strings: Uint8Array[] = [];
      while (reader.pos < reader.bytes.length) {
        const size = readU8(reader, "TXT string length");
        strings.push(readBytes(reader, size, `TXT string of ${owner}`));
      }
      return { kind: "TXT", content: txtContent(strings) };
    }
    case RR_TYPE.NS:
      return { kind: "NS", host: readName(reader) };
    case RR_TYPE.SOA:
      return {
        kind: "SOA",
        mname: readName(reader),
        rname: readName(reader),
        serial: readU32(reader, "SOA serial"),
        refresh: readU32(reader, "SOA refresh"),
        retry: readU32(reader, "SOA retry"),
        expire: readU32(reader, "SOA expire"),
        minimum: readU32(reader, "SOA minimum"),
      };
    case RR_TYPE.TSIG: {
      const algorithm = readName(reader);
      const high = readU16(reader, "TSIG time");
      const timeSigned = high * 2 ** 32 + readU32(reader, "TSIG time");
      const fudge = readU16(reader, "TSIG fudge");
      const mac = readBytes(reader, readU16(reader, "TSIG MAC size"), "TSIG MAC");
      const originalId = readU16(reader, "TSIG original id");
      const error = readU16(reader, "TSIG error");
      const otherData = readBytes(reader, readU16(reader, "TSIG other size"), "TSIG other data");
      return { kind: "TSIG", algorithm, timeSigned, fudge, mac, originalId, error, otherData };
    }
    default:
      return { kind: "raw", bytes: readBytes(reader, reader.bytes.length - reader.pos, "RDATA") };
  }
}

/**
 * Reads one DNS message (RFC 1035 §4.1) of at most 65,535 bytes: header, the four sections
 * with compressed names followed, RDATA of A, AAAA, TXT, NS, SOA and TSIG decoded and any other
 * type kept as bytes. Throws DnsFormatError (never anything else) for truncated input, bytes
 * left after the last record, a length or count that runs past the end, a pointer that does
 * not point back, a name over 255 octets, RDATA that does not fill its RDLENGTH exactly, or
 * a TSIG record anywhere but last in the additional section (RFC 8945 §5.1).
 */
export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new DnsFormatError(`longer than ${MAX_MESSAGE_BYTES} bytes`, MAX_MESSAGE_BYTES);
  }
  const reader: Reader = {
    bytes,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    pos: 0,
  };
  const id = readU16(reader, "header");
  const flags = readU16(reader, "header");
  const counts = [0, 1, 2, 3].map(() => readU16(reader, "header"));
  const [qdcount, ancount, nscount, arcount] = counts as [number, number, number, number];
  const questions: Question[] = [];
  for (let i = 0; i < qdcount; i++) {
    questions.push({
      name: readName(reader),
      type: readU16(reader, "question type"),
      class: readU16(reader, "question class"),
    });
  }
  const readSection = (count: number) => {
    const records: ResourceRecord[] = [];
    for (let i = 0; i < count; i++) records.push(readRecord(reader));
    return records;
  };
  const answers = readSection(ancount);
  const authority = readSection(nscount);
  const additional: ResourceRecord[] = [];
  let tsigOffset: number | undefined;
  for (let i = 0; i < arcount; i++) {
    const at = reader.pos;
    const record = readRecord(reader);
    if (record.type === RR_TYPE.TSIG) {
      if (i !== arcount - 1) throw new DnsFormatError("TSIG record is not the last record", at);
      tsigOffset = at;
    }
    additional.push(record);
  }
  if (reader.pos !== bytes.length) {
    throw new DnsFormatError(
      `${bytes.length - reader.pos} bytes after the last record`,
      reader.pos,
    );
  }
  for (const record of [...answers, ...authority]) {
    if (record.type === RR_TYPE.TSIG) {
      throw new DnsFormatError("TSIG record outside the additional section", 0);
    }
  }
  const message: DecodedMessage = {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
    questions,
    answers,
    authority,
    additional,
  };
  if (tsigOffset !== undefined) message.tsigOffset = tsigOffset;
  return message;
}

/**
 * RDATA in presentation form, for any record a transfer returns: A, AAAA and TXT content as
 * described in the module comment, NS as its host, SOA as its seven fields separated by spaces
 * (names without the trailing dot), anything else in RFC 3597 §5's generic form `\# 3 010203`
 * (`\# 0` for empty RDATA); TSIG, which no zone holds, as algorithm, time, fudge and error.
 */
/**
 * Record data in presentation form: A, AAAA and TXT as `content` (see the module comment), NS
 * its host, SOA its seven fields, anything else in RFC 3597's `\# <length> <hex>` form.
 */
export function rdataContent(data: RData): string {
  switch (data.kind) {
    case "A":
    case "AAAA":
    case "TXT":
      return data.content;
    case "NS":
      return data.host;
    case "SOA":
      return `${data.mname} ${data.rname} ${data.serial} ${data.refresh} ${data.retry} ${data.expire} ${data.minimum}`;
    case "TSIG":
      return `${data.algorithm} ${data.timeSigned} ${data.fudge} ${rcodeName(data.error)}`;
    case "raw":
      return data.bytes.length === 0
        ? "\\# 0"
        : `\\# ${data.bytes.length} ${Buffer.from(data.bytes).toString("hex")}`;
  }
}

/** The TSIG record of a decoded message, when it has one (always last, RFC 8945 §5.1). */
export function tsigRecord(
  message: DecodedMessage,
): (ResourceRecord & { data: { kind: "TSIG" } & TsigData }) | undefined {
  if (message.tsigOffset === undefined) return undefined;
  const record = message.additional.at(-1);
  return record?.data.kind === "TSIG"
    ? (record as ResourceRecord & { data: { kind: "TSIG" } & TsigData })
    : undefined;
}

/**
 * The whole response code: a TSIG record's error when it has one (16 BADSIG, 17 BADKEY,
 * 18 BADTIME, 22 BADTRUNC; RFC 8945 §5.3.2), else the header's RCODE extended by an OPT
 * record's upper 8 bits (RFC 6891 §6.1.3).
 */
export function responseCode(message: DecodedMessage): number {
  const tsig = tsigRecord(message);
  if (tsig && tsig.data.error !== 0) return tsig.data.error;
  const opt = message.additional.find((record) => record.type === RR_TYPE.OPT);
  return opt ? ((opt.ttl >>> 24) << 4) | message.rcode : message.rcode;
}
