/**
 * The one place that picks a provider from configuration (docs/architecture.md): DNS_PROVIDER
 * names it, and its settings build it.
 */
import {
  type Config,
  managedDomains,
  missingCredentials,
  requireCredentials,
} from "../config/load.ts";
import { type AddressStyle, ttlStyle } from "../dns/record.ts";
import { cloudflareStyle } from "./cloudflare/records.ts";
import { createDryRun } from "./dry-run.ts";
import { createMemoryProvider } from "./memory.ts";
import type { Lifecycle, Provider, RequestInfo } from "./provider.ts";

export interface ProviderSetup {
  /** Hears every request, retries included: metrics, the cleanup brake's trouble watch. */
  onRequest?: (info: RequestInfo) => void;
  /** A long-lived process's stop: no retries after it, requests cut at its deadlines. */
  lifecycle?: Lifecycle;
}

/**
 * The configured back end, its code loaded only now (a back end's libraries cost start-up
 * time the other's users should not pay). Rejects with a ConfigError (exit 2, before any
 * request) naming the settings it still needs (CF_API_TOKEN; RFC2136_SERVER, RFC2136_ZONE,
 * RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET).
 */
export async function providerFor(config: Config, setup: ProviderSetup = {}): Promise<Provider> {
  requireCredentials(config);
  return config.provider === "rfc2136" ? rfc2136For(config, setup) : cloudflareFor(config, setup);
}

async function cloudflareFor(
  config: Config,
  { onRequest, lifecycle }: ProviderSetup,
): Promise<Provider> {
  const [{ createCloudflareClient }, { createCloudflareProvider, requestInfo }] = await Promise.all(
    [import("./cloudflare/client.ts"), import("./cloudflare/cloudflare.ts")],
  );
  const client = createCloudflareClient({
    apiUrl: config.apiUrl,
    ...(config.token ? { token: config.token } : {}),
    timeoutMs: config.apiTimeoutSeconds * 1000,
    batchSize: config.batchSize,
    ...(onRequest ? { onRequest: (info) => onRequest(requestInfo(info)) } : {}),
    ...(lifecycle ? { lifecycle } : {}),
  });
  return createCloudflareProvider({
    client,
    domains: managedDomains(config),
    ...(config.zoneId ? { zoneId: config.zoneId } : {}),
    allowApex: config.allowZoneApex,
    ttl: config.ttl,
    proxied: config.proxied,
  });
}

async function rfc2136For(
  config: Config,
  { onRequest, lifecycle }: ProviderSetup,
): Promise<Provider> {
  const { createRfc2136Provider } = await import("./rfc2136/rfc2136.ts");
  const { server, zone, keyName, secret, algorithm, timeoutSeconds } = config.rfc2136;
  // requireCredentials has seen every one of them set.
  if (!server || !zone || !keyName || !secret) throw new Error("RFC 2136 settings incomplete");
  return createRfc2136Provider({
    server,
    zone,
    key: { name: keyName, algorithm, secret },
    timeoutMs: timeoutSeconds * 1000,
    ttl: config.ttl,
    ...(onRequest ? { onRequest } : {}),
    ...(lifecycle ? { lifecycle } : {}),
  });
}

/** How the configured back end writes address records: Cloudflare's proxying, or TTL alone. */
function styleFor(config: Config): AddressStyle {
  return config.provider === "rfc2136" ? ttlStyle(config.ttl) : cloudflareStyle(config);
}

/** True when the configured back end has what it needs to be asked (missingCredentials). */
export function hasCredentials(config: Config): boolean {
  return missingCredentials(config).length === 0;
}

/**
 * A preview's provider (`--dry-run`): reads from the configured back end, or, without its
 * credentials, from an empty zone in memory; prints what it would write to `print`, and
 * writes nothing. Throws what providerFor throws.
 */
export async function previewProvider(
  config: Config,
  print: (line: string) => void,
): Promise<Provider> {
  const inner = hasCredentials(config)
    ? await providerFor(config)
    : createMemoryProvider({ style: styleFor(config) });
  return createDryRun(inner, print);
}
