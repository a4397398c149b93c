import { isIPv4, isIPv6 } from "node:net";
import ipaddr, { type IPv4, type IPv6 } from "ipaddr.js";
import type { Cidr } from "./source-types.ts";

export type Family = "ipv4" | "ipv6";

/**
 * Strictly parses one address: dotted-quad IPv4 or IPv6 without a zone id. ipaddr.js alone
 * would also accept forms such as `127.1` or `0x7f.0.0.1`, which no echo service or
 * interface ever reports and which would only hide a garbage answer.
 */
export function parseAddress(text: string): IPv4 | IPv6 | undefined {
  if (isIPv4(text)) return ipaddr.IPv4.parse(text);
  if (isIPv6(text) && !text.includes("%")) return ipaddr.IPv6.parse(text);
  return undefined;
}

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

/** Sorted the way people read addresses: IPv4 before IPv6, numerically within a family. */
export function sortAddresses(addresses: Iterable<string>): string[] {
  const key = (ip: string): string => {
    const parsed = parseAddress(ip);
    if (!parsed) return `9${ip}`;
    const bytes = parsed.toByteArray().map((b) => b.toString(16).padStart(2, "0"));
    return `${parsed.kind() === "ipv4" ? 4 : 6}${bytes.join("")}`;
  };
  return [...new Set(addresses)].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
