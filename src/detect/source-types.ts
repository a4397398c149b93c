import type { IPv4, IPv6 } from "ipaddr.js";

/** A parsed CIDR range, as `ipaddr.parseCIDR` returns it. */
export type Cidr = [IPv4 | IPv6, number];

/**
 * What one detection source reported. A source that failed is not a source that found
 * nothing: after a failure the records it could have produced are left alone (docs/detection.md, "Failed sources").
 */
export type SourceResult =
  | { ok: true; source: string; addresses: string[] }
  | { ok: false; source: string; error: string };

/** The three detections of one pass. Addresses are canonical strings (IPv6 RFC 5952). */
export interface Detection {
  internal: SourceResult;
  ipv4: SourceResult;
  ipv6: SourceResult;
}

/** EXTERNAL_IPV4_SOURCE / EXTERNAL_IPV6_SOURCE, parsed. */
export type ExternalSource =
  | { kind: "auto" }
  | { kind: "interfaces" }
  | { kind: "http" }
  | { kind: "url"; url: string }
  | { kind: "static"; addresses: string[] }
  | { kind: "none" };

/** INTERNAL_IP_SOURCE, parsed. */
export type InternalSource =
  | { kind: "interfaces" }
  | { kind: "static"; addresses: string[] }
  | { kind: "none" };
