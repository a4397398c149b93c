/** Providers for in-process tests: Cloudflare pointed at the fake, one domain, no retries. */
import { createCloudflareClient } from "../../src/providers/cloudflare/client.ts";
import { createCloudflareProvider } from "../../src/providers/cloudflare/cloudflare.ts";
import type { Provider } from "../../src/providers/provider.ts";
import type { FakeCloudflare } from "./fake-cloudflare.ts";

/** The Cloudflare provider for `domain` in the fake's first zone: TTL 120, not proxied. */
export function cloudflareOnFake(fake: FakeCloudflare, domain: string): Provider {
  const client = createCloudflareClient({
    apiUrl: fake.url,
    token: fake.token,
    timeoutMs: 2000,
    batchSize: 200,
    retries: 0,
  });
  return createCloudflareProvider({
    client,
    domains: [domain],
    zoneId: fake.zone.id,
    allowApex: false,
    ttl: 120,
    proxied: false,
  });
}
