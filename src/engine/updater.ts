import { type Config, managedDomains } from "../config/load.ts";
import { summarize } from "../detect/detect.ts";
import type { Detection } from "../detect/types.ts";
import { DynipError } from "../errors.ts";
import { log } from "../observe/log.ts";
import { describeOperation, type Operation } from "../plan/changes.ts";
import { buildDesired, type DomainDesire, emptyDomains, failedSources } from "../plan/desired.ts";
import {
  type Conflict,
  type Drift,
  findConflicts,
  findDrifts,
  planDeregister,
  planUpdate,
  type UpdatePlanInput,
  withdrawAll,
} from "../plan/update-plan.ts";
import {
  type Applier,
  createApplier,
  isRace,
  type OnApplied,
} from "../providers/cloudflare/apply.ts";
import type { CloudflareClient } from "../providers/cloudflare/client.ts";
import {
  createZoneResolver,
  domainOf,
  readDomain,
  readHeartbeats,
} from "../providers/cloudflare/reads.ts";
import type { DnsRecord } from "../providers/cloudflare/types.ts";
import { canonicalIp, heartbeatName, parseHeartbeat } from "../registry/heartbeat.ts";

/** Re-read and re-plan at most this many times when another writer races us (SPEC §3.5). */
const MAX_ATTEMPTS = 3;
/** A long-lived updater re-reads the zone at least this often even when nothing changes. */
const FULL_READ_EVERY = 12;
/** Heartbeat contents sent lately that a long-lived updater remembers as its own. */
const SENT_KEPT = 256;

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
  /** What was detected, and the operations planned (a dry run) or applied. */
  detection: Detection;
  operations: Operation[];
}

type Records = Map<string, DnsRecord[]>;

/** A read of every managed domain: records by domain, and which domains were read in one answer. */
interface ZoneRead {
  records: Records;
  /** Domains read in one answer each (a consistent snapshot); paged reads may miss a moved record. */
  atomic: Set<string>;
}

/** A refresh leaves the set of records as it was; anything else is a change. */
function isRefresh(op: Operation): boolean {
  return op.kind === "patch" && op.record.type === "TXT";
}

/** An operation that takes an address out of DNS. */
function removesAddress(op: Operation): boolean {
  return op.kind === "delete" && op.record.type !== "TXT";
}

export function createUpdater(deps: UpdaterDeps) {
  const { config, client } = deps;
  const domains = managedDomains(config);
  const zoneOf = client
    ? createZoneResolver(client, config.zoneId, config.allowZoneApex)
    : undefined;
  const applier: Applier | undefined = client ? createApplier(client) : undefined;
  /** Records as of the last successful pass; undefined forces a full read. */
  let cache: Records | undefined;
  let passesSinceRead = 0;
  /**
   * The heartbeats this process wrote (record id -> content, as Cloudflare answered each
   * landed chunk, so also when a later chunk failed), the heartbeat contents it sent lately
   * (a write whose answer was lost may still have landed), and Cloudflare's time of its first
   * read: a heartbeat naming this instance that changed after that read and is none of these
   * was written by another host with the same INSTANCE_ID.
   */
  const written = new Map<string, string>();
  const sent = new Set<string>();
  let since: number | undefined;

  async function read(): Promise<ZoneRead> {
    if (!client || !zoneOf)
      return { records: new Map(domains.map((d) => [d, []])), atomic: new Set(domains) };
    // One list per domain, all at once: a pass costs one round trip of latency, not four.
    const reads = await Promise.all(
      domains.map(async (d) => {
        const zone = await zoneOf(d);
        return [d, await readDomain(client, zone, d, { tolerateMoves: true })] as const;
      }),
    );
    passesSinceRead = 0;
    for (const [, r] of reads) if (r.serverNow !== undefined) since ??= r.serverNow;
    return {
      records: new Map(reads.map(([d, r]) => [d, r.records])),
      atomic: new Set(reads.flatMap(([d, r]) => (r.atomic ? [d] : []))),
    };
  }

  /** Ids of heartbeats naming this instance that this process did not write, changed after its first read. */
  function foreign(records: Records): Set<string> {
    const ids = new Set<string>();
    if (since === undefined) return ids;
    const known = new Set(written.values());
    for (const record of [...records.values()].flat()) {
      if (record.type !== "TXT" || written.get(record.id) === record.content) continue;
      // Sent, and no answer named the record that got it: this one, whose answer was lost.
      if (sent.has(record.content) && !known.has(record.content)) continue;
      if (parseHeartbeat(record.content)?.instanceId !== config.instanceId) continue;
      // Whole seconds, like the Date header `since` comes from.
      if (Math.floor(Date.parse(record.modified_on) / 1000) > since) ids.add(record.id);
    }
    return ids;
  }

  /** Each operation as it lands: logged at once (a later failure cannot hide it) and remembered. */
  function landed(ops: Operation[], records: DnsRecord[]): void {
    for (const op of ops) {
      if (op.kind === "delete") written.delete(op.id);
      if (isRefresh(op)) log.debug(describeOperation(op));
      else log.info(describeOperation(op));
    }
    for (const r of records) {
      if (r.type === "TXT" && parseHeartbeat(r.content)?.instanceId === config.instanceId) {
        written.set(r.id, r.content);
      }
    }
  }

  function planInput(desired: DomainDesire[], records: Records): UpdatePlanInput {
    return {
      desired,
      records: [...records.values()].flat(),
      instanceId: config.instanceId,
      now: deps.now(),
      ttl: config.ttl,
      proxied: config.proxied,
      ...(config.comment ? { comment: config.comment } : {}),
      foreign: foreign(records),
    };
  }

  function desiredOf(detection: Detection): DomainDesire[] {
    return buildDesired(detection, config.domains, config.internalCidrs, staticInternal());
  }

  /** The plan of a pass, or of a deregistration when `desired` is `withdrawAll`. */
  interface Planned {
    ops: Operation[];
    /** Hosts sharing this INSTANCE_ID: their records are kept, and the pass warns. */
    conflicts: Conflict[];
    /** Shared address records whose settings differ from this host's: left, and warned about. */
    drifts: Drift[];
  }

  function plan(desired: DomainDesire[], records: Records, deregister = false): Planned {
    const input = planInput(desired, records);
    const ops = deregister ? planDeregister({ ...input, domains }) : planUpdate(input);
    return { ops, conflicts: findConflicts(input), drifts: deregister ? [] : findDrifts(input) };
  }

  /** Reads the zone and plans, confirming withdrawals from paged reads (see confirmWithdrawals). */
  async function readAndPlan(
    desired: DomainDesire[],
    deregister = false,
  ): Promise<Planned & { records: Records }> {
    const zone = await read();
    const first = plan(desired, zone.records, deregister);
    const records = await confirmWithdrawals(first.ops, zone);
    return { ...(records === zone.records ? first : plan(desired, records, deregister)), records };
  }

  /**
   * A paged read may have missed a sharer's heartbeat that moved between pages; an address is
   * taken out of DNS only when no other host has a heartbeat there, so before withdrawing one
   * from a domain read in several pages, its heartbeat names are read again, each in one
   * complete answer, and those replace what the paged read said about them. Returns the
   * records to plan with (the same object when nothing needed reading).
   */
  async function confirmWithdrawals(ops: Operation[], zone: ZoneRead): Promise<Records> {
    if (!client || !zoneOf) return zone.records;
    const byDomain = new Map<string, string[]>();
    for (const op of ops.filter(removesAddress)) {
      const domain = domainOf(op.record.name, domains);
      if (!domain || zone.atomic.has(domain)) continue;
      const ip = canonicalIp(op.record.content) ?? op.record.content;
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), ip]);
    }
    if (byDomain.size === 0) return zone.records;
    const records: Records = new Map(zone.records);
    for (const [domain, ips] of byDomain) {
      const read = await readHeartbeats(
        client,
        await zoneOf(domain),
        domain,
        ips,
        zone.records.get(domain) ?? [],
      );
      if (read.unread.length > 0) {
        throw new DynipError(
          `the heartbeats of ${read.unread.join(", ")} at ${domain} cannot be read as one snapshot; not withdrawing`,
        );
      }
      const names = new Set(ips.map((ip) => heartbeatName(ip, domain).toLowerCase()));
      const others = (records.get(domain) ?? []).filter(
        (r) => !(r.type === "TXT" && names.has(r.name.toLowerCase())),
      );
      records.set(domain, [...others, ...[...read.byIp.values()].flat()]);
    }
    return records;
  }

  function staticInternal(): string[] {
    return config.internalSource.kind === "static" ? config.internalSource.addresses : [];
  }

  /** Applies per zone (domains may live in different zones) and returns the records after it. */
  async function apply(ops: Operation[], records: Records, onApplied: OnApplied): Promise<Records> {
    if (!applier || !zoneOf) return records;
    for (const op of ops)
      if (op.kind !== "delete" && op.record.type === "TXT") sent.add(op.record.content);
    // Only the last few passes' contents matter: a lost answer is known after the next read.
    for (const old of [...sent].slice(0, Math.max(0, sent.size - SENT_KEPT))) sent.delete(old);
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
      const applied = await applier.apply(zone, zoneOps, onApplied);
      const gone = new Set([...applied.deleted, ...applied.written.map((r) => r.id)]);
      for (const [d, list] of after)
        after.set(
          d,
          list.filter((r) => !gone.has(r.id)),
        );
      for (const r of applied.written) {
        const d = domainOf(r.name, domains);
        if (d) after.get(d)?.push(r);
      }
    }
    return after;
  }

  /** Plans against the cache when it is fresh enough and the plan is only refreshes. */
  async function planned(detection: Detection): Promise<Planned & { records: Records }> {
    const desired = desiredOf(detection);
    if (cache && passesSinceRead < FULL_READ_EVERY) {
      const cached = plan(desired, cache);
      if (cached.ops.every(isRefresh)) return { ...cached, records: cache };
      log.debug("the plan changes records: re-reading the zone before writing");
    }
    return readAndPlan(desired);
  }

  async function writeWithRetries(
    makePlan: () => Promise<Planned & { records: Records }>,
  ): Promise<Operation[]> {
    for (let attempt = 1; ; attempt++) {
      const planned = await makePlan();
      const { ops, records } = planned;
      try {
        cache = await apply(ops, records, landed);
        // After a change, read again next pass: a host that raced this one (a sharer
        // withdrawing the address just joined) may have changed what the cache believes.
        passesSinceRead = ops.every(isRefresh) ? passesSinceRead + 1 : FULL_READ_EVERY;
        warn(planned); // once a pass: about the plan that was applied
        return ops;
      } catch (error) {
        cache = undefined;
        if (!isRace(error) || attempt >= MAX_ATTEMPTS) warn(planned);
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
    if (deps.dryRun) for (const op of ops) deps.print(`would ${describeOperation(op)}`);
    return { changed: ops.length - refreshed, refreshed };
  }

  /**
   * What the plan leaves alone but someone should know, said every pass: hosts sharing this
   * INSTANCE_ID (each keeps the other's records), and shared address records whose settings
   * differ from this host's (only a sole owner rewrites them).
   */
  function warn({ conflicts, drifts }: Pick<Planned, "conflicts" | "drifts">): void {
    for (const c of conflicts) {
      const kept = c.published ? "it stays published" : "this host does not withdraw it";
      log.warn(
        `instance id conflict: ${c.ip} at ${c.domain}: ${c.reason}; ${kept}. Another host uses ` +
          `INSTANCE_ID=${config.instanceId}: give every host its own`,
      );
    }
    for (const d of drifts) {
      log.warn(
        `${d.ip} at ${d.domain} differs from this host's CF_PROXIED/RECORD_TTL (${d.change}), ` +
          `but ${d.writer}, which shares it, keeps its settings (the lowest INSTANCE_ID there ` +
          "does): give the sharers the same settings",
      );
    }
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
      for (const line of emptyDomains(detection, desiredOf(detection))) log.warn(line);
      if (deps.dryRun) {
        const planned = await readAndPlan(desiredOf(detection));
        const { ops } = planned;
        warn(planned);
        if (ops.length === 0) deps.print("nothing to do");
        return { ok: failures.length === 0, ...report(ops), detection, operations: ops };
      }
      const ops = await writeWithRetries(() => planned(detection));
      const counts = report(ops);
      log.info(
        `pass done: ${counts.changed} change(s), ${counts.refreshed} heartbeat(s) refreshed`,
      );
      return { ok: failures.length === 0, ...counts, detection, operations: ops };
    },

    async deregister(): Promise<number> {
      const makePlan = () => readAndPlan(withdrawAll(domains), true);
      if (deps.dryRun) {
        const planned = await makePlan();
        const { ops } = planned;
        warn(planned);
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
