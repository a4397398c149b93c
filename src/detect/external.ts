import ipaddr from "ipaddr.js";
import { readBounded } from "../bounded-read.ts";
import {
  canonical,
  type Family,
  familyName,
  familyOf,
  inCidrs,
  isPublic,
  parseAddress,
} from "./cidr.ts";
import { type Interfaces, publicFromInterfaces } from "./interfaces.ts";
import type { Cidr, ExternalSource, SourceResult } from "./source-types.ts";

/**
 * Built-in echo services for `http`, tried in order until one answers an address of the
 * family asked for. Cloudflare's trace on a host name first: the bare-address form answers
 * error 1034 / HTTP 403 on some networks. A dual-stack name may answer the other family; the
 * next service is then tried. The single-stack names and the bare addresses come after.
 */
export const HTTP_SOURCES: Record<Family, string[]> = {
  ipv4: [
    "https://api.cloudflare.com/cdn-cgi/trace",
    "https://api4.ipify.org",
    "https://ipv4.icanhazip.com",
    "https://1.1.1.1/cdn-cgi/trace",
  ],
  ipv6: [
    "https://api.cloudflare.com/cdn-cgi/trace",
    "https://api6.ipify.org",
    "https://ipv6.icanhazip.com",
    "https://[2606:4700:4700::1111]/cdn-cgi/trace",
  ],
};

/**
 * Cloudflare's own published ranges (https://www.cloudflare.com/ips-v4 and ips-v6). An echo
 * service answering one of them saw Cloudflare (a proxy, WARP, a misrouted request), never this
 * host: publishing it would send the host's traffic to Cloudflare's edge.
 */
export const CLOUDFLARE_RANGES: Cidr[] = [
  "173.245.48.0/20",
  "103.21.244.0/22",
  "103.22.200.0/22",
  "103.31.4.0/22",
  "141.101.64.0/18",
  "108.162.192.0/18",
  "190.93.240.0/20",
  "188.114.96.0/20",
  "197.234.240.0/22",
  "198.41.128.0/17",
  "162.158.0.0/15",
  "104.16.0.0/13",
  "104.24.0.0/14",
  "172.64.0.0/13",
  "131.0.72.0/22",
  "2400:cb00::/32",
  "2606:4700::/32",
  "2803:f800::/32",
  "2405:b500::/32",
  "2405:8100::/32",
  "2a06:98c0::/29",
  "2c0f:f248::/32",
].map((cidr) => ipaddr.parseCIDR(cidr));

/** An echo answer is one address; anything bigger is not an echo service. */
const MAX_ANSWER_BYTES = 4096;

export interface ExternalOptions {
  family: Family;
  /** Per request, body included. */
  timeoutMs: number;
  include: string[];
  exclude: string[];
  /** Replaces HTTP_SOURCES[family] (tests point it at loopback servers). */
  httpSources?: string[];
  interfaces?: Interfaces;
  ifInet6?: string;
  sysfs?: string;
}

/** EXTERNAL_IPV4_SOURCE / EXTERNAL_IPV6_SOURCE. Never throws: a failure is `ok: false`. */
export async function detectExternal(
  source: ExternalSource,
  options: ExternalOptions,
): Promise<SourceResult> {
  switch (source.kind) {
    case "none":
      return { ok: true, source: "none", addresses: [] };
    case "static":
      return staticAddresses(source.addresses, options.family);
    case "url":
      return fromUrl(source.url, options);
    case "http":
      return fromHttp(options);
    case "interfaces":
      return fromInterfaces(options);
    case "auto": {
      const local = fromInterfaces(options);
      if (!local.ok || local.addresses.length > 0) return local;
      const remote = await fromHttp(options);
      if (remote.ok) return remote;
      const none = `no public ${familyName(options.family)} address on any interface`;
      return { ...remote, error: `${none}, and ${remote.error}` };
    }
  }
}

function fromInterfaces(options: ExternalOptions): SourceResult {
  const source = "interfaces";
  try {
    return { ok: true, source, addresses: publicFromInterfaces(options.family, options) };
  } catch (error) {
    return { ok: false, source, error: describe(error) };
  }
}

function staticAddresses(addresses: string[], family: Family): SourceResult {
  const source = "static";
  const foreign = addresses.filter((ip) => familyOf(ip) !== family);
  if (foreign.length > 0) {
    return {
      ok: false,
      source,
      error: `not ${familyName(family)} addresses: ${foreign.join(", ")}`,
    };
  }
  return { ok: true, source, addresses: [...new Set(addresses.map(canonical))] };
}

async function fromUrl(url: string, options: ExternalOptions): Promise<SourceResult> {
  const source = `url ${displayUrl(url)}`;
  try {
    const address = await fetchAddress(url, options.family, options.timeoutMs);
    return { ok: true, source, addresses: [address] };
  } catch (error) {
    return { ok: false, source, error: describe(error) };
  }
}

/** The first echo service that gives a valid answer wins; every failure is kept for the report. */
async function fromHttp(options: ExternalOptions): Promise<SourceResult> {
  const urls = options.httpSources ?? HTTP_SOURCES[options.family];
  const failures: string[] = [];
  for (const url of urls) {
    try {
      const address = await fetchAddress(url, options.family, options.timeoutMs);
      return { ok: true, source: `http ${displayUrl(url)}`, addresses: [address] };
    } catch (error) {
      failures.push(`${displayUrl(url)}: ${describe(error)}`);
    }
  }
  const count = `${urls.length} http source${urls.length === 1 ? "" : "s"}`;
  return { ok: false, source: "http", error: `all ${count} failed: ${failures.join("; ")}` };
}

/** Asks one echo service for this host's address; throws an Error saying what was wrong. */
export async function fetchAddress(
  url: string,
  family: Family,
  timeoutMs: number,
): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, { signal, headers: { accept: "text/plain" } });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status}`);
    }
    return parseEchoAnswer(await readBounded(response.body, MAX_ANSWER_BYTES), family);
  } catch (error) {
    if (signal.aborted) throw new Error(`timeout after ${timeoutMs / 1000}s`);
    throw error;
  }
}

/**
 * Plain text (the address alone) or Cloudflare trace format (`key=value` lines, `ip=` wanted).
 * The answer must be one public address of the requested family: a private one means the
 * request went through something that rewrote it, so the service is no use here.
 */
export function parseEchoAnswer(body: string, family: Family): string {
  const trace = body.split("\n").find((line) => line.trim().startsWith("ip="));
  const text = (trace ? trace.trim().slice("ip=".length) : body).trim();
  const parsed = parseAddress(text);
  if (!parsed) throw new Error(`answered ${JSON.stringify(text.slice(0, 60))}, not an IP address`);
  const address = canonical(text);
  if (parsed.kind() !== family) {
    throw new Error(`answered ${address}, not an ${familyName(family)} address`);
  }
  if (!isPublic(address)) throw new Error(`answered ${address}, which is not a public address`);
  if (inCidrs(address, CLOUDFLARE_RANGES)) {
    throw new Error(`answered ${address}, one of Cloudflare's own addresses, not this host's`);
  }
  return address;
}

/** URLs may carry credentials (`https://user:token@host/`); those never reach a log line. */
function displayUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return url;
  parsed.username = "***";
  parsed.password = "";
  return parsed.href;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
