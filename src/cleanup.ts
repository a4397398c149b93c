import { createApplier, isRace } from "./apply.ts";
import type { CloudflareClient } from "./cloudflare/client.ts";
import type { DnsRecord } from "./cloudflare/types.ts";
import { DynipError } from "./errors.ts";
import { log } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { classify, confirmDeletions, type Entry } from "./plan/classify.ts";
import { planCleanup } from "./plan/cleanup.ts";
import { describeOperation, type Operation } from "./plan/types.ts";
import { createZoneResolver, domainOf, readDomain } from "./zone-records.ts";

/** A replica that keeps losing races gives up the cycle after this many fresh reads. */
const MAX_ATTEMPTS = 3;

export interface DomainView {
  domain: string;
  zoneId: string;
  /** Unix seconds on Cloudflare's clock when the domain was read. */
  serverNow: number;
  records: DnsRecord[];
  entries: Entry[];
}

export interface ReaderOptions {
  client: CloudflareClient;
  domains: string[];
  zoneId: string | undefined;
  thresholdSeconds: number;
}

function serverSeconds(client: CloudflareClient): number {
  const date = client.lastServerDate();
  // Every answer carries Date; without one, the local clock is the only clock left.
  return Math.floor((date?.getTime() ?? Date.now()) / 1000);
}

/**
 * Reads and classifies every managed domain: one paged list per domain. Cleanup and
 * status both look through this, so they always agree on what is stale.
 */
export function createReader(options: ReaderOptions) {
  const { client, thresholdSeconds } = options;
  const zoneOf = createZoneResolver(client, options.zoneId);

  async function readOne(domain: string): Promise<DomainView> {
    const zoneId = await zoneOf(domain);
    const records = await readDomain(client, zoneId, domain);
    const serverNow = serverSeconds(client);
    return {
      domain,
      zoneId,
      serverNow,
      records,
      entries: classify({ domain, records, serverNow, thresholdSeconds }),
    };
  }

  /**
   * Re-reads only the heartbeats of a domain (one list) and reclassifies them beside the
   * address records already read: a heartbeat refreshed since the first read saves its address.
   */
  async function rereadHeartbeats(view: DomainView): Promise<Entry[]> {
    const fresh = await client.listRecords(view.zoneId, {
      type: "TXT",
      nameStartsWith: "_heartbeat-",
      nameEndsWith: `.${view.domain}`,
    });
    const heartbeats = fresh.filter((r) => domainOf(r.name, [view.domain]) === view.domain);
    const addresses = view.records.filter((r) => r.type !== "TXT");
    const serverNow = serverSeconds(client);
    return classify({
      domain: view.domain,
      records: [...addresses, ...heartbeats],
      serverNow,
      thresholdSeconds,
    });
  }

  return {
    readAll: () => Promise.all(options.domains.map(readOne)),
    rereadHeartbeats,
  };
}

export interface CleanerDeps extends ReaderOptions {
  metrics?: Metrics;
  dryRun: boolean;
  print: (line: string) => void;
}

export interface CycleResult {
  deleted: number;
  /** What a dry run would delete, or what was deleted. */
  operations: Operation[];
}

export function createCleaner(deps: CleanerDeps) {
  const reader = createReader(deps);
  const applier = createApplier(deps.client);

  /** Candidates confirmed by a second read of their heartbeats, as operations per zone. */
  async function plan(): Promise<Map<string, Operation[]>> {
    const views = await reader.readAll();
    const byZone = new Map<string, Operation[]>();
    for (const view of views) {
      const candidates = view.entries.filter((e) => e.delete);
      if (candidates.length === 0) continue;
      const confirmed = confirmDeletions(candidates, await reader.rereadHeartbeats(view));
      const ops = planCleanup(confirmed);
      if (ops.length > 0) byZone.set(view.zoneId, [...(byZone.get(view.zoneId) ?? []), ...ops]);
    }
    return byZone;
  }

  async function cycle(): Promise<CycleResult> {
    for (let attempt = 1; ; attempt++) {
      const byZone = await plan();
      const operations = [...byZone.values()].flat();
      if (deps.dryRun) {
        for (const op of operations) deps.print(`would ${describeOperation(op)}`);
        if (operations.length === 0) deps.print("nothing to delete");
        return { deleted: 0, operations };
      }
      try {
        for (const [zoneId, ops] of byZone) {
          await applier.apply(zoneId, ops);
          for (const op of ops) {
            log.info(describeOperation(op));
            deps.metrics?.deleted(1, op.record.type as "A" | "AAAA" | "TXT");
          }
        }
        return { deleted: operations.length, operations };
      } catch (error) {
        if (!isRace(error)) throw error;
        if (attempt >= MAX_ATTEMPTS) {
          throw new DynipError(
            `records kept changing under this cycle; gave up after ${MAX_ATTEMPTS} attempts: ${(error as Error).message}`,
          );
        }
        // Another replica (or a refreshing host) got there first: start again from a fresh read.
        log.info(`the records changed during the cycle (${(error as Error).message}); re-reading`);
      }
    }
  }

  return { cycle };
}
