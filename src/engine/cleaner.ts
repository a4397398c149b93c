/**
 * `dynip cleanup`: one cycle deletes the records of hosts whose heartbeat went stale
 * (docs/safety.md): read → judge → confirm → brake → apply → report.
 */

import type { DnsRecord } from "../dns/record.ts";
import { DynipError } from "../errors.ts";
import { log } from "../observe/log.ts";
import { lateAddresses, type Metrics } from "../observe/metrics.ts";
import { applyBrake, entryRemovesAddress } from "../plan/brake.ts";
import { type Change, describeChange } from "../plan/changes.ts";
import { planCleanup } from "../plan/cleanup-plan.ts";
import type { Entry, State } from "../registry/classify.ts";
import { heartbeatAge, ownerOf } from "../registry/heartbeat.ts";
import { collectGarbage, LARGE_READ } from "../util/garbage.ts";
import { RACE_ATTEMPTS, retryRaces } from "./races.ts";
import { createReader, type DomainView, type ReaderOptions } from "./reader.ts";

export interface CleanerDeps extends ReaderOptions {
  metrics?: Metrics;
  /** `--force`: deletions the brake would hold go anyway. */
  force: boolean;
  /** CLEANUP_MAX_DELETE_RATIO */
  maxDeleteRatio: number;
  /** CLEANUP_BRAKE_HOLD_SECONDS */
  holdSeconds: number;
  /**
   * Seconds since one of cleanup's requests was strained (createTroubleWatch); undefined if
   * never.
   */
  troubleAgoSeconds: () => number | undefined;
  /** A preview's output (`--dry-run`): what the brake would hold is printed here too. */
  preview?: (line: string) => void;
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

/** A host whose records cleanup deleted in a domain: it stopped beating (or never did). */
export interface HostGone {
  domain: string;
  /** Its instance id, from its heartbeat; null for an address that had no parsable one. */
  host: string | null;
  /** The addresses whose records of this host went (an address record, or its heartbeat). */
  addresses: string[];
  /** Seconds since its heartbeat was written, the freshest of them; null when unknown. */
  lastHeartbeatAgeSeconds: number | null;
}

export interface CycleResult {
  /** Records deleted, over every attempt of the cycle. */
  deleted: number;
  /** Whose records those were, by domain and host, in the order deleted. */
  gone: HostGone[];
  /** What the last attempt gave the provider to delete (in a dry run: what it would delete). */
  changes: Change[];
  /** Per domain where the brake held deletions back. */
  held: Held[];
  /**
   * Why part of the cycle judged nothing (no provider clock, a name too big to read whole):
   * the records there were kept, and the cycle did not fully succeed.
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

/**
 * A domain's deletions, and what the report needs of its read: no records and no entries
 * beyond those deleted, so the read of a large zone is garbage before the first deletion.
 */
interface DomainPlan {
  domain: string;
  /** The provider's clock of the read (DomainView.serverNow), for the ages of hosts gone. */
  serverNow: number;
  /** Entries by state; undefined when the read had no provider clock. */
  states?: Record<State, number>;
  /** Addresses kept for now whose age is past half the threshold (lateAddresses). */
  late?: number;
  /** Records the read held. */
  records: number;
  changes: Change[];
  /** Each change's entry (the address it belongs to), for saying whose records went. */
  entries: Map<Change, Entry>;
  held?: Held;
  problems: string[];
}

/** What a cycle's attempts deleted so far: counted, and whose it was by domain and host. */
interface Counter {
  deleted: number;
  gone: Map<string, HostGone>;
}

/** Entries by state, for the per-domain gauges. */
function countStates(entries: readonly Entry[]): Record<State, number> {
  const counts: Record<State, number> = { fresh: 0, stale: 0, missing: 0, orphan: 0 };
  for (const entry of entries) counts[entry.state]++;
  return counts;
}

/**
 * Adds a landed deletion to whose records went: an address record goes for every host with a
 * heartbeat there (all dead: the freshest is stale), or for nobody known when there was none;
 * a heartbeat goes for the host that wrote it.
 */
function noteGone(gone: Map<string, HostGone>, change: Change, entry: Entry, now: number): void {
  if (change.kind !== "delete") return;
  const record = change.record;
  const hosts: { host: string | null; age: number | null }[] =
    record.type === "TXT"
      ? [{ host: ownerOf(record) ?? null, age: ageOf(record, now) }]
      : entry.owners.length > 0
        ? entry.owners.map((host) => ({
            host,
            age: youngestAge(
              entry.heartbeats.filter((r) => ownerOf(r) === host),
              now,
            ),
          }))
        : [{ host: null, age: null }];
  for (const { host, age } of hosts) {
    const key = `${entry.domain} ${host}`;
    const found = gone.get(key) ?? {
      domain: entry.domain,
      host,
      addresses: [],
      lastHeartbeatAgeSeconds: null,
    };
    if (!found.addresses.includes(entry.ip)) found.addresses.push(entry.ip);
    if (age !== null) {
      const known = found.lastHeartbeatAgeSeconds;
      found.lastHeartbeatAgeSeconds = known === null ? age : Math.min(known, age);
    }
    gone.set(key, found);
  }
}

function ageOf(record: DnsRecord, now: number): number | null {
  const age = heartbeatAge(record, now);
  return age === undefined ? null : Math.max(0, age);
}

function youngestAge(records: DnsRecord[], now: number): number | null {
  const ages = records.flatMap((r) => {
    const age = ageOf(r, now);
    return age === null ? [] : [age];
  });
  return ages.length > 0 ? Math.min(...ages) : null;
}

/** The error of a cycle that fails after part of its deletions landed: the count is kept. */
export class CleanupFailedError extends DynipError {
  override name = "CleanupFailedError";
  constructor(
    readonly deleted: number,
    cause: Error,
  ) {
    const message =
      deleted > 0 ? `after deleting ${deleted} record(s): ${cause.message}` : cause.message;
    super(message, 1, { cause });
  }
}

/**
 * The cleaner of one process. `cycle()` runs one cycle and returns what it did; it throws a
 * CleanupFailedError wrapping the cause (the provider's error, a DynipError after RACE_ATTEMPTS
 * races, an exit-2 DynipError for a zone apex), with the records deleted before it.
 */
export function createCleaner(deps: CleanerDeps) {
  const { provider } = deps;
  const reader = createReader(deps);
  const clock = provider.capabilities.clock;

  /**
   * When this process first saw each domain silent (no host beating, see isSilent), cycle
   * after cycle without a break; monotonic milliseconds. A cycle that fails, or a domain read
   * without the provider's clock, ends the watch.
   */
  const silentSince = new Map<string, number>();

  /** One domain's candidates, judged only on the provider's clock and confirmed by a second read. */
  async function confirmDomain(view: DomainView): Promise<Confirmed> {
    const noClock = clock
      ? `${clock.absent} while reading ${view.domain}: ages cannot be measured on ${clock.owner}'s clock, so nothing there is deleted this cycle`
      : `${provider.name} tells no time, so ages at ${view.domain} cannot be measured on its clock: nothing there is deleted`;
    if (!view.dated) return { view, deletable: [], judged: false, problems: [noClock] };
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
    const read = {
      domain: view.domain,
      serverNow: view.serverNow,
      records: view.records.length,
      ...(view.dated
        ? {
            states: countStates(view.entries),
            late: lateAddresses(view.entries, deps.thresholdSeconds),
          }
        : {}),
    };
    if (!c.judged) {
      silentSince.delete(view.domain);
      return { ...read, changes: [], entries: new Map(), problems };
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
    const entries = new Map<Change, Entry>();
    for (const entry of decision.release) {
      for (const change of planCleanup([entry])) entries.set(change, entry);
    }
    const changes = [...entries.keys()];
    if (decision.reason && decision.held.length === 0) {
      const why = deps.force
        ? "overridden by --force"
        : "engaged, but these have been stale for longer than the hold";
      if (decision.release.some(entryRemovesAddress))
        log.warn(`brake ${why} in ${view.domain}: ${decision.reason}`);
    }
    if (decision.held.length === 0) return { ...read, changes, entries, problems };
    const held: Held = {
      domain: view.domain,
      addresses: decision.held.map((e) => e.ip),
      records: decision.held.reduce((sum, e) => sum + e.toDelete.length, 0),
      reason: decision.reason ?? "",
    };
    return { ...read, changes, entries, held, problems };
  }

  /** Read, judge, confirm and brake every managed domain. */
  async function plan(): Promise<DomainPlan[]> {
    const views = await reader.readAll();
    const confirmed = await Promise.all(views.map(confirmDomain));
    const troubleAgo = deps.troubleAgoSeconds();
    const now = (deps.monotonic ?? performance.now.bind(performance))();
    return confirmed.map((c) => brakeDomain(c, troubleAgo, now));
  }

  /** plan(), with a large read's records collected before anything is deleted (util/garbage.ts). */
  async function planReleasing(): Promise<DomainPlan[]> {
    const plans = await plan();
    if (plans.reduce((sum, p) => sum + p.records, 0) >= LARGE_READ) collectGarbage();
    return plans;
  }

  function reportHeld(plans: DomainPlan[]): Held[] {
    const held = plans.flatMap((p) => (p.held ? [p.held] : []));
    for (const p of plans) deps.metrics?.held(p.domain, p.held?.records ?? 0);
    for (const h of held) {
      const shown = h.addresses.slice(0, 10).join(", ");
      const more = h.addresses.length > 10 ? ` and ${h.addresses.length - 10} more` : "";
      log.warn(
        `brake: holding the deletion of ${h.addresses.length} address(es) in ${h.domain} ` +
          `(${shown}${more}): ${h.reason}. They go once the cause is gone and they have been ` +
          `stale for longer than CLEANUP_BRAKE_HOLD_SECONDS=${deps.holdSeconds}; ` +
          "`dynip cleanup --once --force` deletes them now",
      );
      deps.preview?.(`would hold ${h.addresses.length} address(es) in ${h.domain}: ${h.reason}`);
    }
    return held;
  }

  /** One attempt: plan from fresh reads, then delete; `deleted` counts what lands. */
  async function attempt(counter: Counter): Promise<CycleResult> {
    const plans = await planReleasing();
    for (const p of plans) {
      if (p.states) deps.metrics?.addresses(p.domain, p.states);
      if (p.late !== undefined) deps.metrics?.late(p.domain, p.late);
    }
    const held = reportHeld(plans);
    const problems = plans.flatMap((p) => p.problems);
    for (const problem of problems) log.warn(problem);
    const changes = plans.flatMap((p) => p.changes);
    if (changes.length > 0) {
      await provider.checkDeletable(plans.map((p) => p.domain));
      // Logged and counted as each part lands, so a later failure cannot hide them.
      const origin = new Map(plans.flatMap((p) => [...p.entries].map(([c, e]) => [c, { e, p }])));
      await provider.apply(changes, (landed) => {
        for (const change of landed) {
          log.info(describeChange(change));
          deps.metrics?.deleted(1, change.record.type as "A" | "AAAA" | "TXT");
          const from = origin.get(change);
          if (from) noteGone(counter.gone, change, from.e, from.p.serverNow);
        }
        counter.deleted += landed.length;
      });
    }
    return { deleted: counter.deleted, gone: [...counter.gone.values()], changes, held, problems };
  }

  return {
    /** A failed cycle saw nothing: whatever silence was being watched, the watch starts again. */
    async cycle(): Promise<CycleResult> {
      const counter: Counter = { deleted: 0, gone: new Map() };
      try {
        return await retryRaces(() => attempt(counter), {
          // Another replica (or a refreshing host) got there first: start again from a fresh read.
          retrying: (error) =>
            log.info(`the records changed during the cycle (${error.message}); re-reading`),
          exhausted: (error) =>
            new DynipError(
              `records kept changing under this cycle; gave up after ${RACE_ATTEMPTS} attempts: ${error.message}`,
            ),
        });
      } catch (error) {
        silentSince.clear();
        throw new CleanupFailedError(counter.deleted, error as Error);
      }
    },
  };
}
