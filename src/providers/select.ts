/**
 * The one place that picks a provider from configuration (docs/architecture.md). Cloudflare is
 * the only back end so far; the next one is chosen here too.
 */
import { type Config, managedDomains, requireToken } from "../config/load.ts";
import { createCloudflareClient } from "./cloudflare/client.ts";
import { createCloudflareProvider, requestInfo } from "./cloudflare/cloudflare.ts";
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
 * The configured back end. Throws a ConfigError (exit 2, before any request) when its
 * credentials are missing (CF_API_TOKEN).
 */
export function providerFor(config: Config, setup: ProviderSetup = {}): Provider {
  const { onRequest, lifecycle } = setup;
  const client = createCloudflareClient({
    apiUrl: config.apiUrl,
    token: requireToken(config),
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

/** True when the configured back end has what it needs to be asked (CF_API_TOKEN). */
export function hasCredentials(config: Config): boolean {
  return Boolean(config.token);
}

/**
 * A preview's provider (`--dry-run`): reads from the configured back end, or, without
 * credentials, from an empty zone in memory; prints what it would write to `print`, and
 * writes nothing. Throws what providerFor throws.
 */
export function previewProvider(config: Config, print: (line: string) => void): Provider {
  const inner = hasCredentials(config)
    ? providerFor(config)
    : createMemoryProvider({ style: cloudflareStyle(config) });
  return createDryRun(inner, print);
}
