import { familyOf, inCidrs } from "../detect/cidr.ts";
import type { Cidr, Detection } from "../detect/source-types.ts";
import { canonicalIp } from "../registry/heartbeat.ts";

/** The three detections; each managed domain is fed by some of them. */
export type DetectionKind = keyof Detection;

/**
 * Addresses a failed source could have produced (docs/detection.md, "Failed sources"). A pass never deletes them:
 * without an answer it cannot tell a vanished address from a source that is down.
 */
export type Protection =
  /** Internal: inside INTERNAL_CIDRS, or listed as a static internal address. */
  | { source: "internal"; cidrs: Cidr[]; addresses: string[] }
  /** External IPv4 or IPv6: that family, outside INTERNAL_CIDRS. */
  | { source: "ipv4" | "ipv6"; outside: Cidr[] };

export interface DomainDesire {
  domain: string;
  /** Canonical addresses to publish at `domain`. */
  addresses: string[];
  protect: Protection[];
  /** The detections that feed `domain` (set by buildDesired). */
  feeds?: DetectionKind[];
}

/** INTERNAL_DOMAIN, EXTERNAL_DOMAIN, IPV6_DOMAIN, COMBINED_DOMAIN. */
export interface ManagedDomains {
  internal?: string;
  external?: string;
  ipv6?: string;
  combined?: string;
}

const FEEDS: Record<keyof ManagedDomains, DetectionKind[]> = {
  internal: ["internal"],
  external: ["ipv4"],
  ipv6: ["ipv6"],
  combined: ["internal", "ipv4", "ipv6"],
};

const SETTINGS: Record<DetectionKind, string> = {
  internal: "INTERNAL_IP_SOURCE",
  ipv4: "EXTERNAL_IPV4_SOURCE",
  ipv6: "EXTERNAL_IPV6_SOURCE",
};

/**
 * The desired set of a pass: one entry per distinct managed domain (lower-case; a name set for
 * several roles is planned once, fed by all of them), in the order internal, external, ipv6,
 * combined. Addresses come from the detections that worked; each failed one adds a Protection
 * (docs/detection.md, "Failed sources"). Pure; never throws.
 */
export function buildDesired(
  detection: Detection,
  domains: ManagedDomains,
  internalCidrs: Cidr[],
  internalStatic: string[],
): DomainDesire[] {
  // Configuration refuses one name under two variables; should one get here all the same, it
  // is planned once, fed by all of them: planned twice, each plan would delete the other's.
  const feeds = new Map<string, Set<DetectionKind>>();
  for (const [role, kinds] of Object.entries(FEEDS) as [keyof ManagedDomains, DetectionKind[]][]) {
    const domain = domains[role]?.toLowerCase();
    if (!domain) continue;
    const set = feeds.get(domain) ?? new Set();
    for (const kind of kinds) set.add(kind);
    feeds.set(domain, set);
  }
  return [...feeds].map(([domain, kinds]) => {
    const addresses = new Set<string>();
    const protect: Protection[] = [];
    for (const kind of kinds) {
      const result = detection[kind];
      if (result.ok) for (const ip of result.addresses) addresses.add(ip);
      else if (kind === "internal") {
        protect.push({ source: kind, cidrs: internalCidrs, addresses: internalStatic });
      } else protect.push({ source: kind, outside: internalCidrs });
    }
    return { domain, addresses: [...addresses], protect, feeds: [...kinds] };
  });
}

/**
 * One line per managed domain that gets no address at all this pass although every source
 * feeding it worked (a failure is reported on its own): what each of them found, so a pass
 * that publishes nothing says why instead of "0 change(s)". In desired order.
 */
export function emptyDomains(detection: Detection, desired: DomainDesire[]): string[] {
  return desired.flatMap((desire) => {
    const feeds = desire.feeds ?? [];
    if (desire.addresses.length > 0 || feeds.some((kind) => !detection[kind].ok)) return [];
    const found = feeds.map((kind) => {
      const source = detection[kind].source;
      const where =
        kind === "internal" && source === "interfaces"
          ? "no address inside INTERNAL_CIDRS on the interfaces it reads"
          : source === "none"
            ? "set to publish nothing"
            : "no address";
      return `${SETTINGS[kind]}=${source}: ${where}`;
    });
    return [`${desire.domain} gets no address this pass (${found.join("; ")})`];
  });
}

/** True when a failed source could have produced this address, so it must stay. */
export function isProtected(ip: string, protect: Protection[]): boolean {
  return protect.some((p) =>
    p.source === "internal"
      ? inCidrs(ip, p.cidrs) || p.addresses.some((a) => canonicalIp(a) === canonicalIp(ip))
      : familyOf(ip) === p.source && !inCidrs(ip, p.outside),
  );
}

/** One line per failed source, for the log; any failure makes the pass exit 1. */
export function failedSources(detection: Detection): string[] {
  return (Object.keys(SETTINGS) as DetectionKind[]).flatMap((kind) => {
    const result = detection[kind];
    return result.ok ? [] : [`${SETTINGS[kind]} ${result.source} failed: ${result.error}`];
  });
}
