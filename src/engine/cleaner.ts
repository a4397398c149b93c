import { apexRefusal } from "../config/fields.ts";
import { CloudflareApiError, DynipError, isAuthFailure } from "../errors.ts";
import { log } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import { applyBrake, removesAddress } from "../plan/brake.ts";
import { describeOperation, type Operation } from "../plan/changes.ts";
import { planCleanup } from "../plan/cleanup-plan.ts";
import { createApplier, isRace } from "../providers/cloudflare/apply.ts";
import type { CloudflareClient, RequestInfo } from "../providers/cloudflare/client.ts";
import { createZoneResolver, readDomain, readHeartbeats } from "../providers/cloudflare/reads.ts";
import type { DnsRecord } from "../providers/cloudflare/types.ts";
import { classify, confirmDeletions, type Entry } from "../registry/classify.ts";

/** A replica that keeps losing races gives up the cycle after this many fresh reads. */
const MAX_ATTEMPTS = 3;

export interface DomainView {
  domain: string;
  zoneId: string;
  /**
   * Unix seconds when the domain was read: Cloudflare's clock (the earliest `Date` of the
   * listing), or this host's clock when `clock` is "local" because no usable `Date` came.
   */
  serverNow: number;
  /** Whose clock `serverNow` is. Cleanup judges nothing on the local clock. */
  clock: "cloudflare" | "local";
  records: DnsRecord[];
  entries: Entry[];
}

export interface ReaderOptions {
  client: CloudflareClient;
  domains: string[];
  zoneId: string | undefined;
  thresholdSeconds: number;
  /** ALLOW_ZONE_APEX */
  allowApex: boolean;
}

/** What the confirming read of a domain's deletion candidates allows. */
export interface Confirmation {
  /** Candidates still deletable on the fresh read, with fresh ages; only records deletable both times. */
  entries: Entry[];
  /** Candidate addresses left alone because their heartbeat name did not fit one answer. */
  unread: string[];
  /** False when an answer of the re-read had no usable `Date`: then `entries` is empty. */
  dated: boolean;
}

/**
 * Reads and classifies every managed domain: one paged list per domain. Cleanup and
 * status both look through this, so they always agree on what is stale.
 */
export function createReader(options: ReaderOptions) {
  const { client, thresholdSeconds } = options;
  const zoneOf = createZoneResolver(client, options.zoneId, options.allowApex);

  async function readOne(domain: string): Promise<DomainView> {
    const zoneId = await zoneOf(domain);
    const { records, serverNow } = await readDomain(client, zoneId, domain);
    const clock = serverNow === undefined ? "local" : "cloudflare";
    const now = serverNow ?? Math.floor(Date.now() / 1000);
    return {
      domain,
      zoneId,
      serverNow: now,
      clock,
      records,
      entries: classify({ domain, records, serverNow: now, thresholdSeconds }),
    };
  }

  /**
   * Reads the heartbeats of the candidates again, right before deleting, each heartbeat name
   * from one complete answer (src/providers/cloudflare/reads.ts: offset paging cannot shift a record out of a
   * single answer), and judges the candidates again beside the address records already read: a
   * heartbeat refreshed or written since the first read saves its address.
   */
  async function confirm(view: DomainView, candidates: Entry[]): Promise<Confirmation> {
    const ips = candidates.map((e) => e.ip);
    const read = await readHeartbeats(client, view.zoneId, view.domain, ips, view.records);
    if (read.serverNow === undefined) return { entries: [], unread: read.unread, dated: false };
    const records = candidates.flatMap((e) =>
      read.byIp.has(e.ip) ? [...e.addresses, ...(read.byIp.get(e.ip) ?? [])] : [],
    );
    const after = classify({
      domain: view.domain,
      records,
      serverNow: read.serverNow,
      thresholdSeconds,
    });
    return { entries: confirmDeletions(candidates, after), unread: read.unread, dated: true };
  }

  return {
    readAll: () => Promise.all(options.domains.map(readOne)),
    confirm,
  };
}

export interface CleanerDeps extends ReaderOptions {
  metrics?: Metrics;
  dryRun: boolean;
  /** `--force`: deletions the brake would hold go anyway. */
  force: boolean;
  /** CLEANUP_MAX_DELETE_RATIO */
  maxDeleteRatio: number;
  /** CLEANUP_BRAKE_HOLD_SECONDS */
  holdSeconds: number;
  /**
   * Seconds since cleanup's client last saw a 429, a 5xx, no answer or a nearly spent request
   * budget (createTroubleWatch); undefined if never.
   */
  troubleAgoSeconds: () => number | undefined;
  print: (line: string) => void;
  /** Monotonic milliseconds, for watching a silent domain; default performance.now. */
  monotonic?: () => number;
}

/** Deletions of one domain the brake held back this cycle. */
export interface Held {
  domain: string;
  /** The addresses kept, in classifier order. */
  addresses: string[];
  /** Records those deletions would have removed (addresses and their heartbeats). */
  records: number;
  reason: string;
}

export interface CycleResult {
  /** Records deleted, over every attempt of the cycle. */
  deleted: number;
  /** What a dry run would delete, or what the last attempt deleted. */
  operations: Operation[];
  /** Per domain where the brake held deletions back. */
  held: Held[];
  /**
   * Why part of the cycle judged nothing (no usable clock, a name too big to read in one
   * answer): the records there were kept, and the cycle did not fully succeed.
   */
  problems: string[];
}

/** A domain after its confirming read, before the brake. */
interface Confirmed {
  view: DomainView;
  /** Candidates the confirming read still finds deletable. */
  deletable: Entry[];
  /** False when nothing could be judged here (no clock): nothing is deleted. */
  judged: boolean;
  problems: string[];
}

interface DomainPlan {
  view: DomainView;
  operations: Operation[];
  held?: Held;
  problems: string[];
}

/** The error of a cycle that fails after part of its deletions landed: the count is kept. */
export class CleanupFailedError extends DynipError {
  override name = "CleanupFailedError";
  constructor(
    readonly deleted: number,
    cause: Error,
  ) {
    super(
      deleted > 0 ? `after deleting ${deleted} record(s): ${cause.message}` : cause.message,
      1,
      {
        cause,
      },
    );
  }
}

export function createCleaner(deps: CleanerDeps) {
  const reader = createReader(deps);
  const applier = createApplier(deps.client);

  /**
   * When this process first saw each domain silent (no host beating, see isSilent), cycle
   * after cycle without a break; monotonic milliseconds. A cycle that fails, or a domain read
   * without Cloudflare's clock, ends the watch.
   */
  const silentSince = new Map<string, number>();

  /** One domain's candidates, judged only on Cloudflare's clock and confirmed by a second read. */
  async function confirmDomain(view: DomainView): Promise<Confirmed> {
    const noClock = `no usable Date header from Cloudflare while reading ${view.domain}: ages cannot be measured on Cloudflare's clock, so nothing there is deleted this cycle`;
    if (view.clock !== "cloudflare")
      return { view, deletable: [], judged: false, problems: [noClock] };
    const candidates = view.entries.filter((e) => e.delete);
    if (candidates.length === 0) return { view, deletable: [], judged: true, problems: [] };
    const confirmed = await reader.confirm(view, candidates);
    if (!confirmed.dated) return { view, deletable: [], judged: false, problems: [noClock] };
    const problems =
      confirmed.unread.length === 0
        ? []
        : [
            `the heartbeat names of ${confirmed.unread.join(", ")} at ${view.domain} hold more records than one answer lists, so they cannot be read as one snapshot: kept`,
          ];
    return { view, deletable: confirmed.entries, judged: true, problems };
  }

  /**
   * One domain through the brake. `troubleAgo` is read once for the whole cycle, after every
   * read of it, so no domain decides before a later read's trouble is known.
   */
  function brakeDomain(c: Confirmed, troubleAgo: number | undefined, now: number): DomainPlan {
    const { view, problems } = c;
    if (!c.judged) {
      silentSince.delete(view.domain);
      return { view, operations: [], problems };
    }
    const since = silentSince.get(view.domain);
    const decision = applyBrake({
      entries: view.entries,
      deletable: c.deletable,
      maxDeleteRatio: deps.maxDeleteRatio,
      holdSeconds: deps.holdSeconds,
      thresholdSeconds: deps.thresholdSeconds,
      troubleAgoSeconds: troubleAgo,
      silentForSeconds: since === undefined ? 0 : (now - since) / 1000,
      force: deps.force,
    });
    if (decision.silent) silentSince.set(view.domain, since ?? now);
    else silentSince.delete(view.domain);
    const operations = planCleanup(decision.release);
    if (decision.reason && decision.held.length === 0) {
      const why = deps.force
        ? "overridden by --force"
        : "engaged, but these have been stale for longer than the hold";
      if (decision.release.some(removesAddress))
        log.warn(`brake ${why} in ${view.domain}: ${decision.reason}`);
    }
    if (decision.held.length === 0) return { view, operations, problems };
    const held: Held = {
      domain: view.domain,
      addresses: decision.held.map((e) => e.ip),
      records: decision.held.reduce((sum, e) => sum + e.toDelete.length, 0),
      reason: decision.reason ?? "",
    };
    return { view, operations, held, problems };
  }

  async function plan(): Promise<DomainPlan[]> {
    const views = await reader.readAll();
    const confirmed = await Promise.all(views.map(confirmDomain));
    const troubleAgo = deps.troubleAgoSeconds();
    const now = (deps.monotonic ?? performance.now.bind(performance))();
    return confirmed.map((c) => brakeDomain(c, troubleAgo, now));
  }

  function reportHeld(plans: DomainPlan[]): Held[] {
    const held = plans.flatMap((p) => (p.held ? [p.held] : []));
    for (const p of plans) deps.metrics?.held(p.view.domain, p.held?.records ?? 0);
    for (const h of held) {
      const shown = h.addresses.slice(0, 10).join(", ");
      const more = h.addresses.length > 10 ? ` and ${h.addresses.length - 10} more` : "";
      log.warn(
        `brake: holding the deletion of ${h.addresses.length} address(es) in ${h.domain} ` +
          `(${shown}${more}): ${h.reason}. They go once the cause is gone and they have been ` +
          `stale for longer than CLEANUP_BRAKE_HOLD_SECONDS=${deps.holdSeconds}; ` +
          "`dynip cleanup --once --force` deletes them now",
      );
      if (deps.dryRun)
        deps.print(`would hold ${h.addresses.length} address(es) in ${h.domain}: ${h.reason}`);
    }
    return held;
  }

  const apexChecked = new Set<string>();

  /**
   * With CF_ZONE_ID nothing looked the zone up by name, so nothing saw whether a managed name
   * is its apex, where cleanup would delete hand-made records: before the first deletion in a
   * zone, its name is asked once (`GET /zones/{id}`). A token that may not read it is said once,
   * and cleanup goes on. Throws a DynipError (exit 2) for an apex without ALLOW_ZONE_APEX.
   */
  async function checkApex(zoneId: string, domains: string[]): Promise<void> {
    if (deps.zoneId === undefined || deps.allowApex || apexChecked.has(zoneId)) return;
    let name: string;
    try {
      name = await deps.client.zoneName(zoneId);
    } catch (error) {
      if (!isAuthFailure(error) && !(error instanceof CloudflareApiError && error.status === 403)) {
        throw error;
      }
      apexChecked.add(zoneId);
      log.warn(
        "cannot read the name of zone CF_ZONE_ID (the token lacks Zone → Zone → Read), so a " +
          "managed name at the zone's apex would go unnoticed; give it that permission",
      );
      return;
    }
    apexChecked.add(zoneId);
    const apex = domains.find((d) => d === name);
    if (apex) throw new DynipError(apexRefusal(apex, "is the apex of zone CF_ZONE_ID"), 2);
  }

  /** A failed cycle saw nothing: whatever silence was being watched, the watch starts again. */
  async function cycle(): Promise<CycleResult> {
    try {
      return await attempts();
    } catch (error) {
      silentSince.clear();
      throw error;
    }
  }

  async function attempts(): Promise<CycleResult> {
    let deleted = 0;
    for (let attempt = 1; ; attempt++) {
      const plans = await plan();
      const held = reportHeld(plans);
      const problems = plans.flatMap((p) => p.problems);
      for (const problem of problems) log.warn(problem);
      const operations = plans.flatMap((p) => p.operations);
      const byZone = new Map<string, Operation[]>();
      for (const p of plans) {
        if (p.operations.length === 0) continue;
        byZone.set(p.view.zoneId, [...(byZone.get(p.view.zoneId) ?? []), ...p.operations]);
      }
      for (const [zoneId] of byZone) {
        const inZone = plans.filter((p) => p.view.zoneId === zoneId).map((p) => p.view.domain);
        await checkApex(zoneId, inZone);
      }
      if (deps.dryRun) {
        for (const op of operations) deps.print(`would ${describeOperation(op)}`);
        if (operations.length === 0) deps.print("nothing to delete");
        return { deleted: 0, operations, held, problems };
      }
      try {
        for (const [zoneId, ops] of byZone) {
          // Logged and counted as each chunk lands, so a later failure cannot hide them.
          await applier.apply(zoneId, ops, (landed) => {
            for (const op of landed) {
              log.info(describeOperation(op));
              deps.metrics?.deleted(1, op.record.type as "A" | "AAAA" | "TXT");
            }
            deleted += landed.length;
          });
        }
        return { deleted, operations, held, problems };
      } catch (error) {
        if (!isRace(error)) throw new CleanupFailedError(deleted, error as Error);
        if (attempt >= MAX_ATTEMPTS) {
          throw new CleanupFailedError(
            deleted,
            new DynipError(
              `records kept changing under this cycle; gave up after ${MAX_ATTEMPTS} attempts: ${(error as Error).message}`,
            ),
          );
        }
        // Another replica (or a refreshing host) got there first: start again from a fresh read.
        log.info(`the records changed during the cycle (${(error as Error).message}); re-reading`);
      }
    }
  }

  return { cycle };
}

/** A budget with this share or less left counts as rate limiting: the hosts share it. */
const LOW_BUDGET = 0.1;

/**
 * Remembers when cleanup's own API requests last ran into trouble: a 429, a 5xx, no answer at
 * all (timeouts, resets), or an answer saying the token's request budget is nearly spent
 * (`Ratelimit` headers: at most 10 % left). Hosts share the API and usually the token: when
 * cleanup cannot get through, they probably could not either, and their heartbeats may be stale
 * although they live. `now` is a monotonic clock in milliseconds.
 */
export function createTroubleWatch(now: () => number = () => performance.now()) {
  let last: number | undefined;
  return {
    /** Shaped like `ClientOptions.onRequest`. */
    note(info: Pick<RequestInfo, "status" | "budget">): void {
      const { status, budget } = info;
      const spent = budget !== undefined && budget.remaining <= LOW_BUDGET * budget.quota;
      if (status === null || status === 429 || status >= 500 || spent) last = now();
    },
    /** Seconds since the last trouble; undefined when there was none. */
    secondsSince(): number | undefined {
      return last === undefined ? undefined : (now() - last) / 1000;
    },
  };
}
