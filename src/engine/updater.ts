/**
 * `dynip update`: one pass publishes what this host has and refreshes its heartbeats
 * (docs/architecture.md, "Data flow"): detect → read (or the cache) → plan → apply → report.
 */
import { type Config, managedDomains } from "../config/load.ts";
import { summarize } from "../detect/detect.ts";
import type { Detection } from "../detect/source-types.ts";
import type { AddressStyle, DnsRecord } from "../dns/record.ts";
import { DynipError, RaceError } from "../errors.ts";
import { log } from "../observe/log.ts";
import {
  type Change,
  describeChange,
  isRefresh,
  isUpkeep,
  removesAddress,
} from "../plan/changes.ts";
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
import type { Applied, Provider } from "../providers/provider.ts";
import { canonicalIp, domainOf, heartbeatName } from "../registry/heartbeat.ts";
import { append } from "../util/multimap.ts";
import { createOwnWrites } from "./own-writes.ts";
import { RACE_ATTEMPTS, retryRaces } from "./races.ts";
import { createRecordCache, type RecordsByDomain } from "./record-cache.ts";

export interface UpdaterDeps {
  config: Config;
  /** Where records are read and written; a dry run passes a dry-run provider. */
  provider: Provider;
  detect: () => Promise<Detection>;
  /** Unix seconds on this host, written into heartbeats. */
  now: () => number;
  /**
   * A preview's output (`--dry-run`): what was detected is printed here instead of logged, and
   * the pass is not logged as done (the provider printed what it would do).
   */
  preview?: (line: string) => void;
}

export interface PassResult {
  /** False when a detection source failed: the pass did what it could, then exits 1. */
  ok: boolean;
  /** Changes other than heartbeat refreshes. */
  changed: number;
  refreshed: number;
  /** What was detected, and the changes applied (or, in a dry run, given to the provider). */
  detection: Detection;
  changes: Change[];
  /** Heartbeats naming this instance that another host wrote: left alone, warned about. */
  conflicts: Conflict[];
  /** What this host publishes after the pass, per managed domain (canonical addresses). */
  published: { domain: string; addresses: string[] }[];
}

/**
 * The updater of one process. `pass()` runs one pass; `deregister()` deletes this instance's
 * records. Both throw the provider's errors (after RACE_ATTEMPTS races, a DynipError); what
 * landed before an error is logged as it lands. A long-lived process keeps the records between
 * passes (createRecordCache) and what it wrote (createOwnWrites).
 */
export function createUpdater(deps: UpdaterDeps) {
  const { config, provider } = deps;
  const domains = managedDomains(config);
  const cache = createRecordCache();
  const own = createOwnWrites(config.instanceId);

  /** The plan for `desired` against `records`, as this instance, now. */
  function plan(
    desired: DomainDesire[],
    records: RecordsByDomain,
    deregister: boolean,
    verify = false,
  ) {
    return planAgainst(
      { config, provider, domains, now: deps.now(), own, verify },
      desired,
      records,
      deregister,
    );
  }

  /** Reads every domain afresh and plans, confirming withdrawals a read in parts suggests. */
  async function readAndPlan(desired: DomainDesire[], deregister: boolean): Promise<Planned> {
    const fresh = await readDomains(provider, domains);
    cache.wasRead();
    for (const now of fresh.times) own.read(now);
    const first = plan(desired, fresh.records, deregister);
    const records = await confirmWithdrawals(provider, domains, first.changes, fresh);
    return records === fresh.records ? first : plan(desired, records, deregister);
  }

  /**
   * From the cache when there is one and the plan is only upkeep (refreshes, and every
   * VERIFY_EVERY-th pass the verification of this host's address records); else from a read.
   */
  async function planPass(desired: DomainDesire[]): Promise<Planned> {
    const cached = cache.current();
    if (cached) {
      const verify = provider.capabilities.freeVerification === true || cache.verifyDue();
      const planned = plan(desired, cached, false, verify);
      if (planned.changes.every(isUpkeep)) return planned;
      log.debug("the plan changes records: re-reading the zone before writing");
    }
    return readAndPlan(desired, false);
  }

  /** Each change as it lands: logged at once (a later failure cannot hide it) and remembered. */
  function landed(changes: Change[], written: DnsRecord[]): void {
    for (const change of changes) {
      if (isUpkeep(change)) log.debug(describeChange(change));
      else log.info(describeChange(change));
    }
    own.landed(changes, written);
  }

  /**
   * Plans and writes until no other writer races it (retryRaces), warning once about the plan
   * that was applied, or the last one tried. Returns the plan applied.
   */
  function write(makePlan: () => Promise<Planned>): Promise<Planned> {
    return retryRaces(
      async (attempt) => {
        const planned = await makePlan();
        let moved = false;
        own.sending(planned.changes);
        try {
          const applied = await provider.apply(planned.changes, landed);
          moved = settingsMoved(planned, applied, provider.style);
          const readNext = moved || !planned.changes.every(isUpkeep);
          cache.store(recordsAfter(planned, applied, domains), readNext);
        } catch (error) {
          cache.clear();
          // A refusal of a resent write may be of its own first copy: that content stays its own.
          if (error instanceof RaceError && !error.mayHaveLanded) own.refused(planned.changes);
          // Warned about once: now, unless another attempt follows.
          if (!(error instanceof RaceError) || attempt === RACE_ATTEMPTS) warn(planned, config);
          throw error;
        }
        warn(planned, config);
        return moved ? { ...planned, settingsMoved: true } : planned;
      },
      {
        retrying: (error) =>
          log.info(`another writer changed the records first (${error.message}); re-reading`),
        exhausted: (error) =>
          new DynipError(
            `another writer kept changing the same records; gave up after ${RACE_ATTEMPTS} attempts: ${error.message}`,
          ),
      },
    );
  }

  return {
    async pass(): Promise<PassResult> {
      const detection = await detectAndSay(deps);
      const desired = desiredFrom(detection, config);
      const first = await write(() => planPass(desired));
      let { changes, conflicts } = first;
      if (first.settingsMoved) {
        // A verification found the settings of a record this host keeps changed: by hand, or
        // by a sharer that became the writer since the cache was read. A fresh read decides.
        log.info("a verified record's settings changed since the last read; re-reading");
        const again = await write(() => readAndPlan(desired, false));
        changes = [...changes, ...again.changes];
        conflicts = again.conflicts;
      }
      const refreshed = changes.filter(isRefresh).length;
      const changed = changes.filter((c) => !isUpkeep(c)).length;
      if (!deps.preview) {
        log.info(`pass done: ${changed} change(s), ${refreshed} heartbeat(s) refreshed`);
      }
      const ok = failedSources(detection).length === 0;
      const published = desired.map((d) => ({ domain: d.domain, addresses: d.addresses }));
      return { ok, changed, refreshed, detection, changes, conflicts, published };
    },

    /** Deletes every record of this instance in the managed domains; returns the deletions. */
    async deregister(): Promise<Change[]> {
      const { changes } = await write(() => readAndPlan(withdrawAll(domains), true));
      if (!deps.preview) {
        log.info(`deregistered ${config.instanceId}: ${changes.length} record(s) deleted`);
      }
      return changes;
    },
  };
}

/** A read of every managed domain. */
interface DomainsRead {
  records: RecordsByDomain;
  /** Domains read as one consistent snapshot; the others may have missed a moved record. */
  atomic: Set<string>;
  /** The provider's time of each read that carried it, unix seconds. */
  times: number[];
}

/** A plan and what it leaves alone but someone should know. */
interface Planned {
  changes: Change[];
  /** Hosts sharing this INSTANCE_ID: their records are kept, and the pass warns. */
  conflicts: Conflict[];
  /** Set on a plan once written: a writer's verification found settings changed (settingsMoved). */
  settingsMoved?: boolean;
  /** Shared address records whose settings differ from this host's: left, and warned about. */
  drifts: Drift[];
  /** The records the plan rests on. */
  records: RecordsByDomain;
}

/** What `planAgainst` needs besides the desired set and the records. */
interface PlanContext {
  config: Config;
  provider: Provider;
  domains: string[];
  /** Unix seconds on this host. */
  now: number;
  own: ReturnType<typeof createOwnWrites>;
  /** Verify this host's address records (UpdatePlanInput.verify). */
  verify: boolean;
}

/** Detects, and says what it found: printed in a preview, else logged at debug; failures warned. */
async function detectAndSay(deps: UpdaterDeps): Promise<Detection> {
  const detection = await deps.detect();
  for (const line of summarize(detection)) {
    if (deps.preview) deps.preview(`detected ${line}`);
    else log.debug(`detected ${line}`);
  }
  for (const f of failedSources(detection)) {
    log.warn(`${f}; keeping the records it could have produced`);
  }
  return detection;
}

/** The desired set of a pass; a domain that gets no address although nothing failed is warned about. */
function desiredFrom(detection: Detection, config: Config): DomainDesire[] {
  const staticInternal =
    config.internalSource.kind === "static" ? config.internalSource.addresses : [];
  const desired = buildDesired(detection, config.domains, config.internalCidrs, staticInternal);
  for (const line of emptyDomains(detection, desired)) log.warn(line);
  return desired;
}

/** Every managed domain, one read each, all at once: a pass costs one round trip of latency. */
async function readDomains(provider: Provider, domains: string[]): Promise<DomainsRead> {
  const reads = await Promise.all(
    domains.map(async (d) => [d, await provider.readDomain(d, { tolerateMoves: true })] as const),
  );
  return {
    records: new Map(reads.map(([d, r]) => [d, r.records])),
    atomic: new Set(reads.flatMap(([d, r]) => (r.atomic ? [d] : []))),
    times: reads.flatMap(([, r]) => (r.now === undefined ? [] : [r.now])),
  };
}

/** The update (or deregistration) plan, with the conflicts and drifts it leaves alone. */
function planAgainst(
  context: PlanContext,
  desired: DomainDesire[],
  records: RecordsByDomain,
  deregister: boolean,
): Planned {
  const { config, domains } = context;
  const all = [...records.values()].flat();
  const input: UpdatePlanInput = {
    desired,
    records: all,
    instanceId: config.instanceId,
    now: context.now,
    ttl: config.ttl,
    style: context.provider.style,
    ...(config.comment ? { comment: config.comment } : {}),
    foreign: context.own.foreign(all),
    ...(context.verify ? { verify: true } : {}),
  };
  return {
    changes: deregister ? planDeregister({ ...input, domains }) : planUpdate(input),
    conflicts: findConflicts(input),
    drifts: deregister ? [] : findDrifts(input),
    records,
  };
}

/**
 * A read in several parts may have missed a sharer's heartbeat that moved between them; an
 * address is taken out of DNS only when no other host beats there, so before withdrawing one
 * from such a domain, its heartbeat names are read again, each as one snapshot, and those
 * replace what the first read said about them. Returns the records to plan with (the same
 * object when nothing needed reading). Throws a DynipError when a name cannot be read whole.
 */
async function confirmWithdrawals(
  provider: Provider,
  domains: string[],
  changes: Change[],
  read: DomainsRead,
): Promise<RecordsByDomain> {
  const byDomain = new Map<string, string[]>();
  for (const change of changes.filter(removesAddress)) {
    const domain = domainOf(change.record.name, domains);
    if (!domain || read.atomic.has(domain)) continue;
    append(byDomain, domain, canonicalIp(change.record.content) ?? change.record.content);
  }
  if (byDomain.size === 0) return read.records;
  const records: RecordsByDomain = new Map(read.records);
  for (const [domain, ips] of byDomain) {
    const known = read.records.get(domain) ?? [];
    const heartbeats = await provider.readHeartbeats(domain, ips, known);
    if (heartbeats.unread.length > 0) {
      throw new DynipError(
        `the heartbeats of ${heartbeats.unread.join(", ")} at ${domain} cannot be read as one snapshot; not withdrawing`,
      );
    }
    const names = new Set(ips.map((ip) => heartbeatName(ip, domain).toLowerCase()));
    const others = known.filter((r) => !(r.type === "TXT" && names.has(r.name.toLowerCase())));
    records.set(domain, [...others, ...[...heartbeats.byIp.values()].flat()]);
  }
  return records;
}

/** A verification by the writer of the record (Change `writer`). */
function isVerifiedByWriter(change: Change): boolean {
  return change.kind === "replace" && change.verify === true && change.writer === true;
}

/**
 * True when the provider's answer to a writer's verification shows the record with settings
 * other than this host's style (Provider.style; Cloudflare's `proxied`, which a verification
 * does not send): something changed them since the cache was read.
 */
function settingsMoved(planned: Planned, applied: Applied, style: AddressStyle): boolean {
  const written = new Map(applied.written.map((r) => [r.ref, r]));
  return planned.changes.some((change) => {
    if (!isVerifiedByWriter(change) || change.kind !== "replace") return false;
    const after = written.get(change.before.ref);
    return after !== undefined && style.difference(after, change.record.content) !== undefined;
  });
}

/**
 * The records after a plan landed whole: what it deleted or replaced is gone, what the
 * provider wrote is there (a replaced record may come back under a new ref). Pure.
 */
function recordsAfter(planned: Planned, applied: Applied, domains: string[]): RecordsByDomain {
  const gone = new Set([
    ...applied.deleted,
    ...planned.changes.flatMap((c) => (c.kind === "replace" ? [c.before.ref] : [])),
    ...applied.written.map((r) => r.ref),
  ]);
  const after: RecordsByDomain = new Map(
    [...planned.records].map(([d, list]) => [d, list.filter((r) => !gone.has(r.ref))]),
  );
  for (const r of applied.written) {
    const d = domainOf(r.name, domains);
    if (d) after.get(d)?.push(r);
  }
  return after;
}

/**
 * What a plan leaves alone but someone should know, said every pass: hosts sharing this
 * INSTANCE_ID (each keeps the other's records), and shared address records whose settings
 * differ from this host's (only one writer rewrites them).
 */
function warn({ conflicts, drifts }: Planned, config: Config): void {
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
