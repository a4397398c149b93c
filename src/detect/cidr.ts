import ipaddr, { type IPv4, type IPv6 } from "ipaddr.js";
import type { Cidr } from "./source-types.ts";

export type Family = "ipv4" | "ipv6";

/**
 * Strictly parses one address: dotted-quad IPv4 or IPv6 without a zone id. ipaddr.js alone
 * would also accept forms such as `127.1` or `0x7f.0.0.1`, which no echo service or
 * interface ever reports and which would only hide a garbage answer.
 */
export function parseAddress(text: string): IPv4 | IPv6 | undefined {
  if (IPV4.test(text)) return ipaddr.IPv4.parse(text);
  // IPv6: hex groups and colons, an embedded IPv4 last in dotted-quad form, no zone id.
  if (!text.includes(":") || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const tail = text.slice(text.lastIndexOf(":") + 1);
  if (tail.includes(".") && !IPV4.test(tail)) return undefined;
  return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined;
}

/**
 * Dotted-quad IPv4 as `node:net`'s isIPv4 has it (its import costs start-up time): four decimal
 * octets from 0 to 255, without leading zeros.
 */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The one spelling dynip compares and publishes: dotted quad, or RFC 5952 for IPv6. */
export function canonical(ip: string): string {
  const parsed = parseAddress(ip);
  if (!parsed) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
  return format(parsed);
}

/** The one text form of a parsed address: dotted quad, or RFC 5952 for IPv6. */
export function format(ip: IPv4 | IPv6): string {
  return ip instanceof ipaddr.IPv6 ? ip.toRFC5952String() : ip.toString();
}

/** Family-aware: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) never matches an IPv4 range. */
export function inCidrs(ip: string, cidrs: Cidr[]): boolean {
  const parsed = parseAddress(ip);
  if (!parsed) return false;
  return cidrs.some(([base, bits]) => base.kind() === parsed.kind() && parsed.match(base, bits));
}

const GLOBAL_UNICAST: Cidr = ipaddr.parseCIDR("2000::/3");

/**
 * Reachable from the internet: IPv4 outside every special range (private, CGNAT, loopback,
 * link-local, documentation, ...), or IPv6 global unicast (not ULA, link-local, mapped,
 * Teredo, 6to4, documentation, ...).
 */
export function isPublic(ip: string): boolean {
  const parsed = parseAddress(ip);
  if (parsed?.range() !== "unicast") return false;
  return parsed.kind() === "ipv4" || parsed.match(GLOBAL_UNICAST);
}

/** The record type that publishes a canonical address. */
export function recordTypeOf(ip: string): "A" | "AAAA" {
  return ip.includes(":") ? "AAAA" : "A";
}

/** "ipv4" or "ipv6" for an address in text; undefined for anything else. */
export function familyOf(ip: string): Family | undefined {
  return parseAddress(ip)?.kind();
}

/** "IPv4" or "IPv6", for messages. */
export function familyName(family: Family): string {
  return family === "ipv4" ? "IPv4" : "IPv6";
}

/**
 * Distinct addresses sorted the way people read them: IPv4 before IPv6, numerically within a
 * family; text that is no address last. Each key is computed once (n log n compares of 50,000
 * addresses would otherwise parse millions of times).
 */
export function sortAddresses(addresses: Iterable<string>): string[] {
  const v4: { ip: string; key: number }[] = [];
  const v6: { ip: string; key: string }[] = [];
  const other: string[] = [];
  for (const ip of new Set(addresses)) {
    if (IPV4.test(ip)) {
      v4.push({ ip, key: ipv4Number(ip) });
      continue;
    }
    const parsed = parseAddress(ip);
    if (!parsed) other.push(ip);
    else
      v6.push({
        ip,
        key: parsed
          .toByteArray()
          .map((b) => b.toString(16).padStart(2, "0"))
          .join(""),
      });
  }
  v4.sort((a, b) => a.key - b.key);
  v6.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  other.sort();
  return [...v4.map((a) => a.ip), ...v6.map((a) => a.ip), ...other];
}

/** A dotted quad as the 32-bit number it stands for, read without allocating. */
function ipv4Number(ip: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < ip.length; i++) {
    const code = ip.charCodeAt(i);
    if (code === DOT) {
      value = value * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (code - ZERO);
  }
  return value * 256 + octet;
}

const DOT = ".".charCodeAt(0);
const ZERO = "0".charCodeAt(0);

/**
 * True for a dotted quad, which is already in its one text form: a fast path for the
 * hundreds of thousands of addresses cleanup reads in a large zone.
 */
export function isDottedQuad(text: string): boolean {
  return IPV4.test(text);
}
