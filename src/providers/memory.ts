import { type AddressStyle, type DnsRecord, type RecordData, ttlStyle } from "../dns/record.ts";
import { DynipError, RaceError } from "../errors.ts";
import { type Change, inApplyOrder, type Prerequisite } from "../plan/changes.ts";
import { domainOf, heartbeatName } from "../registry/heartbeat.ts";
import type { Applied, Provider } from "./provider.ts";

export interface MemoryOptions {
  /** The records to start with; refs are given where missing (`m1`, `m2`, …). */
  records?: (RecordData | DnsRecord)[];
  /**
   * The provider's clock, unix seconds; undefined: a read without it. Default: this host's
   * clock. New and rewritten records are stamped with it.
   */
  clock?: () => number | undefined;
  /** Default ttlStyle(300). */
  style?: AddressStyle;
  /** Whether `onlyIf` prerequisites are kept (default true, as RFC 2136 keeps them). */
  conditional?: boolean;
  /**
   * ProviderCapabilities.freeVerification (default false). When true, a verification of a
   * record that is gone writes it again, as an RFC 2136 add does, instead of failing as a race.
   */
  freeVerification?: boolean;
  /**
   * Called with the changes of each `apply` before they are checked: a test's other writer
   * changes the records here, between a read and a write.
   */
  beforeApply?: (changes: readonly Change[]) => void;
  /** Called after each readDomain: another writer acting between a read and what follows it. */
  afterRead?: (domain: string) => void;
  /**
   * Makes readDomain behave like a read in several parts (atomic: false) that missed the
   * records this returns true for, as offset paging can while records move.
   */
  missed?: (record: DnsRecord) => boolean;
}

/** The state a test looks at and changes behind the engine's back. */
export interface MemoryState {
  /** Every record, in the order created. */
  records(): DnsRecord[];
  /** Adds a record (a ref is given where missing) and returns it as stored. */
  put(record: RecordData | DnsRecord): DnsRecord;
  /** Removes a record; false when there was none. */
  remove(ref: string): boolean;
  /** Requests so far, by kind. */
  readonly requests: { reads: number; heartbeatReads: number; applies: number };
}

/**
 * A provider that keeps records in memory: for previews without credentials, and for tests of
 * the engine without a network. Reads are single snapshots (atomic) of the domain's managed
 * names. `apply` is all or nothing: a change whose record is gone (a delete or a replace), a
 * creation of a record that exists already, or a prerequisite that no longer holds throws a
 * RaceError and changes nothing; otherwise every change lands, in inApplyOrder, and
 * `onApplied` hears all of them at once.
 */
export function createMemoryProvider(options: MemoryOptions = {}): Provider & MemoryState {
  const clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  const conditional = options.conditional ?? true;
  const free = options.freeVerification ?? false;
  const store = new Map<string, DnsRecord>();
  const requests = { reads: 0, heartbeatReads: 0, applies: 0 };
  let next = 0;

  function put(record: RecordData | DnsRecord): DnsRecord {
    const now = clock();
    const stored: DnsRecord = {
      ...(now === undefined ? {} : { createdAt: now, modifiedAt: now }),
      ...record,
      ref: "ref" in record ? record.ref : `m${++next}`,
    };
    store.set(stored.ref, stored);
    return stored;
  }
  for (const record of options.records ?? []) put(record);

  const at = (name: string, type: string) =>
    [...store.values()].filter((r) => r.type === type && r.name.toLowerCase() === name);

  function holds(p: Prerequisite): boolean {
    const found = at(p.name.toLowerCase(), p.type)
      .map((r) => r.content)
      .sort();
    const wanted = [...p.contents].sort();
    return found.length === wanted.length && found.every((c, i) => c === wanted[i]);
  }

  /** Why `change` cannot land on the records as they are now; undefined when it can. */
  function refusal(change: Change): string | undefined {
    if (change.kind === "delete" && !store.has(change.record.ref)) {
      return `no record ${change.record.ref} to delete (${change.record.name})`;
    }
    if (change.kind === "replace" && !store.has(change.before.ref)) {
      if (free && change.verify === true) return undefined; // written again (land)
      return `no record ${change.before.ref} to replace (${change.before.name})`;
    }
    if (change.kind === "create") {
      const { name, type, content } = change.record;
      if (at(name.toLowerCase(), type).some((r) => r.content === content)) {
        return `an identical record exists already: ${type} ${name} ${content}`;
      }
    }
    if (conditional && change.kind === "delete") {
      const failed = (change.onlyIf ?? []).find((p) => !holds(p));
      if (failed) return `prerequisite failed: the ${failed.type} RRset at ${failed.name} changed`;
    }
    return undefined;
  }

  function land(change: Change): DnsRecord[] {
    if (change.kind === "delete") {
      store.delete(change.record.ref);
      return [];
    }
    const now = clock();
    const times = now === undefined ? {} : { modifiedAt: now };
    if (change.kind === "replace") {
      const before = store.get(change.before.ref);
      if (before === undefined) return [put(change.record)];
      const after: DnsRecord = { ...before, ...change.record, ...times };
      store.set(after.ref, after);
      return [after];
    }
    return [put(change.record)];
  }

  return {
    name: "memory",
    capabilities: {
      clock: {
        id: "memory",
        owner: "the memory provider",
        absent: "the memory provider had no clock",
      },
      conditional,
      freeVerification: free,
    },
    style: options.style ?? ttlStyle(300),

    async readDomain(domain) {
      requests.reads++;
      const now = clock();
      const lower = domain.toLowerCase();
      const records = [...store.values()].filter(
        (r) => domainOf(r.name, [lower]) === lower && !options.missed?.(r),
      );
      options.afterRead?.(lower);
      return {
        records: records.map((r) => ({ ...r })),
        ...(now === undefined ? {} : { now }),
        atomic: options.missed === undefined,
      };
    },

    async readHeartbeats(domain, ips) {
      requests.heartbeatReads++;
      const now = clock();
      const byIp = new Map(
        ips.map((ip) => [
          ip,
          at(heartbeatName(ip, domain).toLowerCase(), "TXT").map((r) => ({ ...r })),
        ]),
      );
      return { byIp, unread: [], ...(now === undefined ? {} : { now }), requests: 1 };
    },

    async apply(changes, onApplied) {
      requests.applies++;
      options.beforeApply?.(changes);
      const ordered = inApplyOrder(changes);
      const before = new Map(store);
      const applied: Applied = { written: [], deleted: [] };
      for (const change of ordered) {
        // Checked against the records as the earlier changes of this request left them.
        const why = refusal(change);
        if (why) {
          store.clear();
          for (const [ref, record] of before) store.set(ref, record);
          throw new RaceError(new DynipError(`memory provider: ${why}`));
        }
        applied.written.push(...land(change));
        if (change.kind === "delete") applied.deleted.push(change.record.ref);
      }
      if (ordered.length > 0) onApplied?.(ordered, applied.written);
      return applied;
    },

    async checkDeletable() {},

    records: () => [...store.values()].map((r) => ({ ...r })),
    put,
    remove: (ref) => store.delete(ref),
    requests,
  };
}
