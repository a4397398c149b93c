import { log } from "../observe/log.ts";
import { canonical, type Family, familyOf, inCidrs } from "./cidr.ts";
import { detectExternal } from "./external.ts";
import { detectInternal, type Interfaces } from "./interfaces.ts";
import type {
  Cidr,
  Detection,
  ExternalSource,
  InternalSource,
  SourceResult,
} from "./source-types.ts";

export interface DetectOptions {
  internalSource: InternalSource;
  ipv4Source: ExternalSource;
  ipv6Source: ExternalSource;
  internalCidrs: Cidr[];
  /** INTERFACES globs; empty means every interface. */
  include: string[];
  /** EXCLUDE_INTERFACES globs. */
  exclude: string[];
  /** Per echo-service request (DETECT_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** Replaces the built-in echo services (tests point them at loopback). */
  httpSources?: Record<Family, string[]>;
  /** Replaces os.networkInterfaces() (tests). */
  interfaces?: Interfaces;
  /** Replaces the text of /proc/net/if_inet6 (tests). */
  ifInet6?: string;
  /** Replaces /sys/class/net, where link kinds are read (tests). */
  sysfs?: string;
}

/** The three detections of one pass, run concurrently; none of them throws. */
export async function detect(options: DetectOptions): Promise<Detection> {
  const [ipv4, ipv6] = await Promise.all([
    external(options.ipv4Source, "ipv4", options),
    external(options.ipv6Source, "ipv6", options),
  ]);
  return { internal: internal(options), ipv4, ipv6 };
}

function internal(options: DetectOptions): SourceResult {
  const source = options.internalSource;
  switch (source.kind) {
    case "none":
      return { ok: true, source: "none", addresses: [] };
    case "static": {
      const invalid = source.addresses.filter((ip) => familyOf(ip) === undefined);
      if (invalid.length > 0) {
        return { ok: false, source: "static", error: `not IP addresses: ${invalid.join(", ")}` };
      }
      return {
        ok: true,
        source: "static",
        addresses: [...new Set(source.addresses.map(canonical))],
      };
    }
    case "interfaces":
      return detectInternal({ ...options, cidrs: options.internalCidrs });
  }
}

/**
 * Addresses inside INTERNAL_CIDRS belong to the internal detection, whatever source reported
 * them: docs/detection.md ("Failed sources") scopes an external source's records to addresses outside those ranges, so
 * publishing one here would make two sources own the same record.
 */
async function external(
  source: ExternalSource,
  family: Family,
  options: DetectOptions,
): Promise<SourceResult> {
  const result = await detectExternal(source, {
    ...options,
    family,
    httpSources: options.httpSources?.[family],
  });
  if (!result.ok) return result;
  const internalOnes = result.addresses.filter((ip) => inCidrs(ip, options.internalCidrs));
  if (internalOnes.length === 0) return result;
  log.debug(
    `${family} ${result.source}: ignoring ${internalOnes.join(", ")} (inside INTERNAL_CIDRS)`,
  );
  return { ...result, addresses: result.addresses.filter((ip) => !internalOnes.includes(ip)) };
}

/** One line per detection source, e.g. `internal (interfaces): 192.168.1.10`. */
export function summarize(detection: Detection): string[] {
  return (["internal", "ipv4", "ipv6"] as const).map((kind) => {
    const r = detection[kind];
    const found = r.ok ? r.addresses.join(", ") || "no address" : `FAILED: ${r.error}`;
    return `${kind} (${r.source}): ${found}`;
  });
}
