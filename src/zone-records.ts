import type { CloudflareClient } from "./cloudflare/client.ts";
import type { DnsRecord } from "./cloudflare/types.ts";

/**
 * Where each managed domain lives: with CF_ZONE_ID every domain is in that zone; otherwise
 * the client looks each domain up (longest suffix first) and remembers the answers.
 */
export function createZoneResolver(client: CloudflareClient, zoneId: string | undefined) {
  return (domain: string): Promise<string> =>
    zoneId ? Promise.resolve(zoneId) : client.findZoneId(domain);
}

/** The managed domain a record name belongs to: `D` itself or `<one label>.D`. */
export function domainOf(name: string, domains: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  if (domains.includes(lower)) return lower;
  const parent = lower.slice(lower.indexOf(".") + 1);
  return lower.startsWith("_heartbeat-") && domains.includes(parent) ? parent : undefined;
}

/**
 * Reads the managed names of one domain with one list (paged): `D` and `_heartbeat-*.D`.
 * `name.endswith` also returns look-alikes (`xinternal.example.com`) and deeper names;
 * they are dropped here so nothing downstream can ever touch them.
 */
export async function readDomain(
  client: CloudflareClient,
  zoneId: string,
  domain: string,
): Promise<DnsRecord[]> {
  const records = await client.listRecords(zoneId, { nameEndsWith: domain });
  return records.filter((r) => domainOf(r.name, [domain]) === domain);
}
