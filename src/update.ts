import { type Applier, createApplier, isRace } from "./apply.ts";
import type { CloudflareClient } from "./cloudflare/client.ts";
import type { DnsRecord } from "./cloudflare/types.ts";
import { type Config, managedDomains } from "./config.ts";
import { DynipError } from "./errors.ts";
import { summarize } from "./ip/detect.ts";
import type { Detection } from "./ip/types.ts";
import { log } from "./log.ts";
import { buildDesired, failedSources } from "./plan/desired.ts";
import { describeOperation, type Operation } from "./plan/types.ts";
import { planDeregister, planUpdate } from "./plan/update.ts";
import { createZoneResolver, domainOf, readDomain } from "./zone-records.ts";

/** Re-read and re-plan at most this many times when another writer races us (SPEC §3.5). */
const MAX_ATTEMPTS = 3;
/** A long-lived updater re-reads the zone at least this often even when nothing changes. */
const FULL_READ_EVERY = 12;

export interface UpdaterDeps {
  config: Config;
  /** Absent only for a dry run without a token: plan against an empty zone. */
  client?: CloudflareClient;
  detect: () => Promise<Detection>;
  /** Unix seconds on this host, written into heartbeats. */
  now: () => number;
  dryRun: boolean;
  /** Where a dry run prints its plan (stdout). */
  print: (line: string) => void;
}

export interface PassResult {
  /** False when a detection source failed: the pass did what it could, then exits 1. */
  ok: boolean;
  changed: number;
  refreshed: number;
}

type Records = Map<string, DnsRecord[]>;

/** A refresh leaves the set of records as it was; anything else is a change. */
function isRefresh(op: Operation): boolean {
  return op.kind === "patch" && op.record.type === "TXT";
}

export function createUpdater(deps: UpdaterDeps) {
  const { config, client } = deps;
  const domains = managedDomains(config);
  const zoneOf = client ? createZoneResolver(client, config.zoneId) : undefined;
  const applier: Applier | undefined = client ? createApplier(client) : undefined;
  /** Records as of the last successful pass; undefined forces a full read. */
  let cache: Records | undefined;
  let passesSinceRead = 0;

  async function read(): Promise<Records> {
    if (!client || !zoneOf) return new Map(domains.map((d) => [d, []]));
    // One list per domain, all at once: a pass costs one round trip of latency, not four.
    const lists = await Promise.all(
      domains.map(async (d) => [d, await readDomain(client, await zoneOf(d), d)] as const),
    );
    const records: Records = new Map(lists);
    passesSinceRead = 0;
    return records;
  }

  function plan(detection: Detection, records: Records): Operation[] {
    return planUpdate({
      desired: buildDesired(detection, config.domains, config.internalCidrs, staticInternal()),
      records: [...records.values()].flat(),
      instanceId: config.instanceId,
      now: deps.now(),
      ttl: config.ttl,
      proxied: config.proxied,
    });
  }

  function staticInternal(): string[] {
    return config.internalSource.kind === "static" ? config.internalSource.addresses : [];
  }

  /** Applies per zone (domains may live in different zones) and returns the records after it. */
  async function apply(ops: Operation[], records: Records): Promise<Records> {
    if (!applier || !zoneOf) return records;
    const byZone = new Map<string, Operation[]>();
    for (const op of ops) {
      const domain = domainOf(op.record.name, domains);
      if (!domain)
        throw new Error(
          `planner produced an operation outside the managed names: ${op.record.name}`,
        );
      const zone = await zoneOf(domain);
      byZone.set(zone, [...(byZone.get(zone) ?? []), op]);
    }
    const after: Records = new Map([...records].map(([d, list]) => [d, [...list]]));
    for (const [zone, zoneOps] of byZone) {
      const { written, deleted } = await applier.apply(zone, zoneOps);
      const gone = new Set([...deleted, ...written.map((r) => r.id)]);
      for (const [d, list] of after)
        after.set(
          d,
          list.filter((r) => !gone.has(r.id)),
        );
      for (const r of written) {
        const d = domainOf(r.name, domains);
        if (d) after.get(d)?.push(r);
      }
    }
    return after;
  }

  /** Plans against the cache when it is fresh enough and the plan is only refreshes. */
  async function planned(detection: Detection): Promise<{ ops: Operation[]; records: Records }> {
    if (cache && passesSinceRead < FULL_READ_EVERY) {
      const ops = plan(detection, cache);
      if (ops.every(isRefresh)) return { ops, records: cache };
      log.debug("the plan changes records: re-reading the zone before writing");
    }
    const records = await read();
    return { ops: plan(detection, records), records };
  }

  async function writeWithRetries(
    makePlan: () => Promise<{ ops: Operation[]; records: Records }>,
  ): Promise<Operation[]> {
    for (let attempt = 1; ; attempt++) {
      const { ops, records } = await makePlan();
      try {
        cache = await apply(ops, records);
        // After a change, read again next pass: a host that raced this one (a sharer
        // withdrawing the address just joined) may have changed what the cache believes.
        passesSinceRead = ops.every(isRefresh) ? passesSinceRead + 1 : FULL_READ_EVERY;
        return ops;
      } catch (error) {
        cache = undefined;
        if (!isRace(error)) throw error;
        if (attempt >= MAX_ATTEMPTS) {
          throw new DynipError(
            `another writer kept changing the same records; gave up after ${MAX_ATTEMPTS} attempts: ${(error as Error).message}`,
          );
        }
        log.info(
          `another writer changed the records first (${(error as Error).message}); re-reading`,
        );
      }
    }
  }

  function report(ops: Operation[]): { changed: number; refreshed: number } {
    const refreshed = ops.filter(isRefresh).length;
    for (const op of ops) {
      if (deps.dryRun) deps.print(`would ${describeOperation(op)}`);
      else if (isRefresh(op)) log.debug(describeOperation(op));
      else log.info(describeOperation(op));
    }
    return { changed: ops.length - refreshed, refreshed };
  }

  return {
    async pass(): Promise<PassResult> {
      const detection = await deps.detect();
      for (const line of summarize(detection)) {
        if (deps.dryRun) deps.print(`detected ${line}`);
        else log.debug(`detected ${line}`);
      }
      const failures = failedSources(detection);
      for (const f of failures) log.warn(`${f}; keeping the records it could have produced`);
      if (deps.dryRun) {
        const ops = plan(detection, await read());
        if (ops.length === 0) deps.print("nothing to do");
        return { ok: failures.length === 0, ...report(ops) };
      }
      const ops = await writeWithRetries(() => planned(detection));
      const counts = report(ops);
      log.info(
        `pass done: ${counts.changed} change(s), ${counts.refreshed} heartbeat(s) refreshed`,
      );
      return { ok: failures.length === 0, ...counts };
    },

    async deregister(): Promise<number> {
      const makePlan = async () => {
        const records = await read();
        const ops = planDeregister({
          domains,
          records: [...records.values()].flat(),
          instanceId: config.instanceId,
          now: deps.now(),
          ttl: config.ttl,
          proxied: config.proxied,
        });
        return { ops, records };
      };
      if (deps.dryRun) {
        const { ops } = await makePlan();
        report(ops);
        return ops.length;
      }
      const ops = await writeWithRetries(makePlan);
      report(ops);
      log.info(`deregistered ${config.instanceId}: ${ops.length} record(s) deleted`);
      return ops.length;
    },
  };
}
