/** Cloudflare behind the Provider interface (docs/provider.md, "Cloudflare"). */
import type { Change } from "../../plan/changes.ts";
import { domainOf } from "../../registry/heartbeat.ts";
import { append } from "../../util/multimap.ts";
import type { Applied, Provider, RequestInfo } from "../provider.ts";
import { createApplier } from "./apply.ts";
import type { CloudflareClient, HttpRequestInfo } from "./client.ts";
import { readDomain, readHeartbeats } from "./reads.ts";
import { cloudflareStyle } from "./records.ts";
import { createZones } from "./zones.ts";

export interface CloudflareProviderOptions {
  client: CloudflareClient;
  /** The managed domains, lower-case: every change must be at one of their names. */
  domains: readonly string[];
  /** CF_ZONE_ID */
  zoneId?: string;
  /** ALLOW_ZONE_APEX */
  allowApex: boolean;
  /** RECORD_TTL in seconds. */
  ttl: number;
  /** CF_PROXIED */
  proxied: boolean;
}

/** A budget with this share or less left counts as strain: the hosts share it. */
const LOW_BUDGET = 0.1;

/**
 * One Cloudflare request as the engine's metrics and brake see it: strained on a 429, a 5xx,
 * no answer at all (timeouts, resets), or `Ratelimit` headers saying at most 10 % of the
 * token's request budget is left.
 */
export function requestInfo(info: HttpRequestInfo): RequestInfo {
  const { status, budget } = info;
  const spent = budget !== undefined && budget.remaining <= LOW_BUDGET * budget.quota;
  const strained = status === null || status === 429 || status >= 500 || spent;
  return {
    method: info.method,
    path: info.path,
    status,
    ...(info.error === undefined ? {} : { error: info.error }),
    strained,
  };
}

/**
 * Cloudflare as a Provider: domains map to zones (CF_ZONE_ID, or a lookup by name, refusing a
 * zone apex without ALLOW_ZONE_APEX); a domain is read with one paged list, re-read when it
 * moves; heartbeat names are re-read each from one complete answer; changes go per zone in one
 * batch request per BATCH_SIZE changes, or one request per change where the batch endpoint is
 * refused. Reads carry Cloudflare's clock (the `Date` header). Prerequisites are not kept:
 * Cloudflare has no conditional writes.
 */
export function createCloudflareProvider(options: CloudflareProviderOptions): Provider {
  const { client } = options;
  const zones = createZones(client, options);
  const applier = createApplier(client);
  const domains = options.domains.map((d) => d.toLowerCase());

  function domainFor(change: Change): string {
    const domain = domainOf(change.record.name, domains);
    if (!domain) {
      throw new Error(
        `a change outside the managed names reached the provider: ${change.record.name}`,
      );
    }
    return domain;
  }

  return {
    name: "Cloudflare",
    capabilities: {
      clock: {
        id: "cloudflare",
        owner: "Cloudflare",
        absent: "Cloudflare sent no usable Date header",
      },
      conditional: false,
    },
    style: cloudflareStyle(options),

    async readDomain(domain, readOptions) {
      return readDomain(client, await zones.zoneOf(domain), domain, readOptions);
    },

    async readHeartbeats(domain, ips, known) {
      return readHeartbeats(client, await zones.zoneOf(domain), domain, ips, known);
    },

    async apply(changes, onApplied) {
      // Domains may live in different zones: one group, and one batch, per zone.
      const byZone = new Map<string, Change[]>();
      for (const change of changes) {
        const zone = await zones.zoneOf(domainFor(change));
        append(byZone, zone, change);
      }
      const applied: Applied = { written: [], deleted: [] };
      for (const [zone, inZone] of byZone) {
        const done = await applier.apply(zone, inZone, onApplied);
        // concat, not push(...): a cleanup's deletions can outnumber a call's arguments.
        applied.written = applied.written.concat(done.written);
        applied.deleted = applied.deleted.concat(done.deleted);
      }
      return applied;
    },

    async checkDeletable(names) {
      await zones.checkApex(names);
    },
  };
}
