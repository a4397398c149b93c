/**
 * Hosts publishing into a real DNS server on loopback (named.ts, knot.ts), for the RFC 2136
 * suites: the zone and its managed name, a host's environment for the real CLI, a provider on
 * the server's key, and what the server holds, as dig reads it over TCP.
 */
import type { TsigKey } from "../../src/dns/tsig-key.ts";
import type { Provider } from "../../src/providers/provider.ts";
import { createRfc2136Provider, type Rfc2136Options } from "../../src/providers/rfc2136/rfc2136.ts";
import { heartbeatName } from "../../src/registry/heartbeat.ts";

export const ZONE = "example.test";
/** The managed name: INTERNAL_DOMAIN. */
export const D = `internal.${ZONE}`;
/** The local clock, in Unix seconds. */
export const now = () => Math.floor(Date.now() / 1000);

/** Where a server listens and the key it grants: a NamedServer or a KnotServer. */
export interface ServerKey {
  host: string;
  port: number;
  key: TsigKey;
}

/** A server dig can ask: a NamedServer or a KnotServer. */
export interface Digging {
  dig(args: string[]): Promise<string>;
}

/**
 * The environment of host `id` publishing `ips` (comma-separated) at D through `server`, with
 * no public address source; `extra` last (COMBINED_DOMAIN, HEALTH_PORT, another key).
 */
export function hostEnv(
  server: ServerKey,
  id: string,
  ips: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    DNS_PROVIDER: "rfc2136",
    RFC2136_SERVER: `${server.host}:${server.port}`,
    RFC2136_ZONE: ZONE,
    RFC2136_TSIG_KEY: server.key.name,
    RFC2136_TSIG_SECRET: server.key.secret,
    RFC2136_TSIG_ALGORITHM: server.key.algorithm,
    RFC2136_TIMEOUT_SECONDS: "5",
    INTERNAL_DOMAIN: D,
    INTERNAL_IP_SOURCE: `static:${ips}`,
    EXTERNAL_IPV4_SOURCE: "none",
    EXTERNAL_IPV6_SOURCE: "none",
    INSTANCE_ID: id,
    ...extra,
  };
}

/**
 * A provider for ZONE at `server` with its key, a 5 s timeout and TTL 120 (`options` on top),
 * and the RCODE of each UPDATE's answer as it comes (null: none came), retries included.
 */
export function providerOn(
  server: ServerKey,
  options: Partial<Rfc2136Options> = {},
): { provider: Provider; answers: (number | null)[] } {
  const answers: (number | null)[] = [];
  const provider = createRfc2136Provider({
    server,
    zone: ZONE,
    key: server.key,
    timeoutMs: 5000,
    ttl: 120,
    onRequest: (info) => {
      if (info.method === "UPDATE") answers.push(info.status);
    },
    ...options,
  });
  return { provider, answers };
}

/** The lines `dig +short` prints for `name` and `type`, asked over TCP without recursion. */
async function short(server: Digging, name: string, type: string): Promise<string[]> {
  const text = await server.dig(["+short", "+tcp", "+norecurse", name, type]);
  return text.split("\n").filter((line) => line !== "");
}

/** The A records at `name`, as dig shows them. */
export function addresses(server: Digging, name = D): Promise<string[]> {
  return short(server, name, "A");
}

/** The heartbeat timestamps at `ip`'s heartbeat name of `domain`, by instance id. */
export async function heartbeats(
  server: Digging,
  ip: string,
  domain = D,
): Promise<Record<string, number>> {
  const lines = await short(server, heartbeatName(ip, domain), "TXT");
  return Object.fromEntries(
    lines.map((line) => {
      const [time, id] = line.replaceAll('"', "").split(",");
      return [id, Number(time)];
    }),
  );
}

/** The zone's SOA serial: each UPDATE the server applies moves it by one. */
export async function serial(server: Digging): Promise<number> {
  const [soa = ""] = await short(server, ZONE, "SOA");
  return Number(soa.trim().split(/\s+/)[2]);
}

/**
 * The managed records as a signed transfer shows them (`dig AXFR`), one `name type data` line
 * each, sorted; heartbeat timestamps replaced by `T` so a test can compare whole sets.
 */
export async function managed(server: Digging & { key: TsigKey }): Promise<string[]> {
  const { key } = server;
  const text = await server.dig([
    "+noall",
    "+answer",
    "+tcp",
    "-y",
    `${key.algorithm}:${key.name}:${key.secret}`,
    "-t",
    "AXFR",
    ZONE,
  ]);
  return text
    .split("\n")
    .map((line) => line.split(/\s+/))
    .filter(([name]) => name === `${D}.` || name?.endsWith(`.${D}.`))
    .map(([name, , , type, ...data]) => `${name?.slice(0, -1)} ${type} ${data.join(" ")}`)
    .map((line) => line.replace(/"\d+,/, '"T,'))
    .sort();
}
