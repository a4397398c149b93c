/**
 * The registry's naming rules (docs/records.md): where an address's heartbeat lives, what it
 * says, which names are dynip's, and how old a heartbeat is.
 */
import ipaddr from "ipaddr.js";
import { format, isDottedQuad, parseAddress } from "../detect/cidr.ts";
import type { DnsRecord } from "../dns/record.ts";

/** The first label of every heartbeat name starts with this. */
export const HEARTBEAT_PREFIX = "_heartbeat-";
const PREFIX = HEARTBEAT_PREFIX;

/**
 * The most characters a heartbeat name puts before its domain, by address family: the prefix,
 * the longest label (IPv4 `255-255-255-255`, IPv6 eight groups of four), and the dot.
 */
export const HEARTBEAT_NAME_OVERHEAD = {
  ipv4: PREFIX.length + 15 + 1,
  ipv6: PREFIX.length + 39 + 1,
} as const;

/**
 * Instance ids: 1–100 printable ASCII characters (0x21–0x7e) except `"` (0x22), `,` (0x2c)
 * and `\` (0x5c), per docs/records.md. ASCII only: ids are host names, and TXT tooling escapes the rest.
 */
const INSTANCE_ID = /^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]{1,100}$/;

/** 9999-12-31T23:59:59Z: later timestamps are garbage, not clock skew. */
const MAX_TIMESTAMP = 253_402_300_799;

export interface Heartbeat {
  timestamp: number;
  instanceId: string;
}

/** True for an instance id dynip may write into a heartbeat (docs/records.md, "Instance ids"). */
export function isValidInstanceId(id: string): boolean {
  return INSTANCE_ID.test(id);
}

/**
 * The one text form of an address, as used in heartbeat names and compared against record
 * content: dotted-quad IPv4, RFC 5952 IPv6. Zone ids and IPv4-mapped IPv6 are refused
 * because they cannot be published as A/AAAA content.
 */
export function canonicalIp(text: string): string | undefined {
  if (isDottedQuad(text)) return text;
  const address = parseAddress(text);
  if (!address || (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress())) {
    return undefined;
  }
  return format(address);
}

function encodeLabel(canonical: string): string {
  return canonical.replaceAll(/[.:]/g, "-");
}

/** `_heartbeat-<ip with dashes>.<domain>`; throws on a non-address, which is a bug upstream. */
export function heartbeatName(ip: string, domain: string): string {
  const canonical = canonicalIp(ip);
  if (canonical === undefined) throw new Error(`not an IP address: ${ip}`);
  return `${PREFIX}${encodeLabel(canonical)}.${domain}`;
}

/**
 * The address a heartbeat name stands for, or undefined when the name is not a heartbeat of
 * this domain. The label must round-trip, so look-alikes (`_heartbeat-192-168-001-010`,
 * `_heartbeat-x`, a heartbeat of a sub-domain) are never mistaken for ours.
 */
export function parseHeartbeatName(name: string, domain: string): string | undefined {
  // Built to allocate little: cleanup runs this over every TXT record of a large zone.
  const suffix = domain.toLowerCase();
  const dot = name.length - suffix.length - 1;
  if (dot <= PREFIX.length) return undefined;
  const lower = name.toLowerCase();
  if (!lower.startsWith(PREFIX) || lower.charCodeAt(dot) !== DOT || !lower.endsWith(suffix)) {
    return undefined;
  }
  const label = lower.slice(PREFIX.length, dot);
  if (label.includes(".")) return undefined;
  // A dotted quad is its own canonical form, and its dashes give back exactly this label.
  const v4 = label.replaceAll("-", ".");
  if (isDottedQuad(v4)) return v4;
  const v6 = canonicalIp(label.replaceAll("-", ":"));
  return v6 !== undefined && encodeLabel(v6) === label ? v6 : undefined;
}

const DOT = ".".charCodeAt(0);

/** TXT content as written: one quoted string, the presentation form of a TXT record's data. */
export function formatHeartbeat(timestamp: number, instanceId: string): string {
  const seconds = Math.floor(timestamp);
  if (!isValidInstanceId(instanceId)) throw new Error(`invalid instance id: ${instanceId}`);
  if (!(seconds >= 0 && seconds <= MAX_TIMESTAMP))
    throw new Error(`invalid timestamp: ${timestamp}`);
  return `"${seconds},${instanceId}"`;
}

/**
 * Reads heartbeat content, quoted or not: `^(0|[1-9]\d{0,11}),(<instance id>)$`, seconds
 * without leading zeros, a comma, an instance id (docs/records.md). Anything else is undefined
 * (unparsable, which counts as missing), including TXT split into several strings.
 */
export function parseHeartbeat(content: string): Heartbeat | undefined {
  // By hand rather than by regular expression: cleanup parses every heartbeat of a large zone,
  // and this allocates only the instance id.
  const text = content.trim();
  const quoted = text.length >= 2 && text.charCodeAt(0) === QUOTE && text.at(-1) === '"';
  const start = quoted ? 1 : 0;
  const end = quoted ? text.length - 1 : text.length;
  let timestamp = 0;
  let at = start;
  for (; at < end && at - start <= MAX_DIGITS; at++) {
    const digit = text.charCodeAt(at) - ZERO;
    if (digit < 0 || digit > 9) break;
    if (digit === 0 && at === start && text.charCodeAt(at + 1) !== COMMA) return undefined;
    timestamp = timestamp * 10 + digit;
  }
  if (at === start || at - start > MAX_DIGITS || text.charCodeAt(at) !== COMMA) return undefined;
  if (timestamp > MAX_TIMESTAMP) return undefined;
  const instanceId = text.slice(at + 1, end);
  // An id never holds a quote or a comma (INSTANCE_ID), so `"1,a"b"` and `1,a,b` are refused.
  return isValidInstanceId(instanceId) ? { timestamp, instanceId } : undefined;
}

const QUOTE = '"'.charCodeAt(0);
const COMMA = ",".charCodeAt(0);
const ZERO = "0".charCodeAt(0);
/** Seconds are written with at most 12 digits (MAX_TIMESTAMP has 12). */
const MAX_DIGITS = 12;

/**
 * The owner of a record: the instance id in a TXT record's parsable heartbeat content;
 * undefined for any other record (another type, content that is no heartbeat). Only the
 * content counts: where the record lives is judged by parseHeartbeatName.
 */
export function ownerOf(record: Pick<DnsRecord, "type" | "content">): string | undefined {
  return record.type === "TXT" ? parseHeartbeat(record.content)?.instanceId : undefined;
}

/**
 * Age in seconds on the provider's clock: `now` (unix seconds) against the record's
 * `modifiedAt`, falling back to the timestamp in the content when the provider keeps no times
 * or sent an unreadable one. Undefined when neither is known. May be negative (clock skew).
 */
export function heartbeatAge(record: DnsRecord, now: number): number | undefined {
  if (record.modifiedAt !== undefined) return now - record.modifiedAt;
  const heartbeat = parseHeartbeat(record.content);
  return heartbeat && now - heartbeat.timestamp;
}

/**
 * The managed domain a record name belongs to, lower-case: `D` itself, or `D` for a heartbeat
 * name `_heartbeat-….D` one label below it; undefined for any other name (a look-alike such
 * as `xD`, a deeper name, a non-heartbeat label below `D`). `domains` are lower-case.
 */
export function domainOf(name: string, domains: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  if (domains.includes(lower)) return lower;
  const parent = lower.slice(lower.indexOf(".") + 1);
  return lower.startsWith(PREFIX) && domains.includes(parent) ? parent : undefined;
}
