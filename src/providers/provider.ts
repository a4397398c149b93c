/**
 * The seam between dynip's core and a DNS back end (docs/provider.md). The engine reads and
 * writes only through a Provider; the planners and the registry know nothing of providers.
 * Everything here is in DNS terms: names, RRsets, changes, prerequisites, unix seconds.
 */
import type { AddressStyle, DnsRecord } from "../dns/record.ts";
import type { Change } from "../plan/changes.ts";

/** One managed domain as read. */
export interface DomainRead {
  /**
   * The records at `D` and at `_heartbeat-*.D`, of any type, each once; never a look-alike
   * (`xD`) or a deeper name. In no particular order.
   */
  records: DnsRecord[];
  /**
   * Unix seconds on the provider's clock when the read began; undefined when this read came
   * without it (then no age may be judged from it).
   */
  now?: number;
  /**
   * One consistent snapshot (one answer, one zone transfer). False for a read in several parts
   * (offset paging), which may have missed a record that moved between them.
   */
  atomic: boolean;
}

/** The heartbeats at chosen names, each name read as one consistent snapshot. */
export interface HeartbeatRead {
  /** Every TXT record (parsable or not) at `_heartbeat-<ip>.D`, by address as passed in. */
  byIp: Map<string, DnsRecord[]>;
  /** Addresses whose heartbeat name could not be read as one snapshot: nothing is judged there. */
  unread: string[];
  /** As DomainRead.now: the earliest of the answers; undefined when any answer had no clock. */
  now?: number;
  /** Requests it took. */
  requests: number;
}

/** What applying changes did: records now present (created or replaced), refs now gone. */
export interface Applied {
  written: DnsRecord[];
  deleted: string[];
}

/**
 * Told about changes as they land, before the rest is tried, with the records they wrote:
 * what happened is never lost with a later error.
 */
export type OnApplied = (changes: Change[], written: DnsRecord[]) => void;

/** How a provider's reads tell the time, in the words logs and `dynip status` use. */
export interface ProviderClock {
  /** `clock` in `dynip status --json` when reads carried it: "cloudflare". */
  id: string;
  /** Whose clock, for sentences: "Cloudflare" ("Cloudflare's clock", "Cloudflare time"). */
  owner: string;
  /** Why a read had none: "Cloudflare sent no usable Date header". */
  absent: string;
}

export interface ProviderCapabilities {
  /**
   * The clock reads carry (`now`); undefined for a back end that never tells the time: then
   * cleanup can judge no age there.
   */
  clock?: ProviderClock;
  /**
   * True when the back end applies a change's `onlyIf` prerequisites itself, refusing the whole
   * request (a RaceError) when one no longer holds (RFC 2136 §3.2). False: they are ignored,
   * and the engine's confirming read just before a deletion is all that rules out a heartbeat
   * refreshed in between.
   */
  conditional: boolean;
  /**
   * True when a write that re-asserts records as they are costs nothing and changes nothing
   * (RFC 2136: adding an RR already present is ignored, §3.4.2.2, and it travels in the pass's
   * one UPDATE): a long-lived updater then verifies its address records on every pass, so one
   * deleted by hand or by a cleanup that took this host for dead is back at the next pass.
   * False or absent (Cloudflare: each verification rewrites the record): every VERIFY_EVERY-th
   * pass (src/engine/record-cache.ts).
   */
  freeVerification?: boolean;
}

/** One request to the back end and how it went, for metrics and the cleanup brake. */
export interface RequestInfo {
  /** What was asked: an HTTP method (`GET`), or a DNS operation (`UPDATE`, `AXFR`). */
  method: string;
  /** Where, without the query, so metrics can group by it. */
  path: string;
  /** The answer's status (HTTP status, DNS RCODE number); null when no answer came. */
  status: number | null;
  /** Why no answer came. */
  error?: string;
  /**
   * The back end was overloaded, failing or out of reach, or said the request budget is
   * nearly spent (Cloudflare: 429, 5xx, no answer, at most 10 % of the budget left). Hosts share
   * the back end: when cleanup cannot get through, their heartbeats may be stale although they
   * live.
   */
  strained: boolean;
}

/** What a provider asks before it retries and when it sends (src/engine/lifecycle.ts). */
export interface Lifecycle {
  /** True once a stop signal came: nothing is retried any more. */
  stopping(): boolean;
  /** Aborted when the requests of the current phase must give up; never before a stop. */
  cancel(): AbortSignal;
  /** Resolves after `ms`, or at once when a stop signal comes. */
  sleep(ms: number): Promise<void>;
}

/**
 * A DNS back end. Every method may throw the provider's own DynipErrors (network, refused
 * credentials: `awaitsOperator`, a configuration found wrong at run time: exit code 2), and a
 * RaceError when the records changed under a write. Domains are passed lower-case.
 */
export interface Provider {
  /** For logs: "Cloudflare". */
  readonly name: string;
  readonly capabilities: ProviderCapabilities;
  /** How address records are written (TTL, the back end's own settings). */
  readonly style: AddressStyle;
  /**
   * The managed names of `domain` (`D`, `_heartbeat-*.D`). A read the back end saw change under
   * it is repeated; when it keeps changing, this throws, or with `tolerateMoves` (the updater,
   * whose withdrawals are confirmed by readHeartbeats) returns the last read, not atomic.
   */
  readDomain(domain: string, options?: { tolerateMoves?: boolean }): Promise<DomainRead>;
  /**
   * The heartbeats of `ips` (canonical) at `domain`, each name from one consistent snapshot:
   * what a deletion rests on. `known` is an earlier read of the domain, a hint for how to
   * split the work.
   */
  readHeartbeats(
    domain: string,
    ips: readonly string[],
    known: readonly DnsRecord[],
  ): Promise<HeartbeatRead>;
  /**
   * Applies `changes` (any managed domains, in inApplyOrder) as atomically as the back end
   * allows, in that order. `onApplied` hears what landed part by part, also when a later part
   * fails and this throws. A change refused because the records moved throws RaceError.
   */
  apply(changes: readonly Change[], onApplied?: OnApplied): Promise<Applied>;
  /**
   * Called by cleanup before its first deletion in `domains`: throws a DynipError with exit
   * code 2 where the back end knows deleting would touch what is not dynip's (Cloudflare: a
   * managed name at its zone's apex, unless ALLOW_ZONE_APEX).
   */
  checkDeletable(domains: readonly string[]): Promise<void>;
}
