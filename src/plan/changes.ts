import type { DnsRecord, ManagedRecordType, RecordData } from "../dns/record.ts";

/**
 * A condition a change rests on: the RRset at `name` of `type` holds exactly `contents` (any
 * order; empty: no such RRset). RFC 2136 §2.4.2 "RRset exists (value dependent)" and §2.4.3
 * "RRset does not exist" express it; a provider that cannot (capabilities.conditional false)
 * ignores it, and the engine's confirming reads stand in (docs/provider.md).
 */
export interface Prerequisite {
  name: string;
  type: ManagedRecordType;
  contents: string[];
}

/** One change to a domain's records; `reason` is what logs and `--dry-run` show. */
export type Change =
  | { kind: "create"; record: RecordData; reason: string }
  /**
   * `before` as read, turned into `record` (same name and type; content, TTL, settings may
   * differ). With `verify`, `record` is `before`'s name, type, content and TTL alone, with no
   * back-end settings (Cloudflare's `proxied` is left as it is): the write only proves the
   * record still exists (a provider answers a race when it does not) and puts back a
   * hand-edited content or TTL. `writer`: this host keeps the record's settings (judged on
   * the records it planned from), so settings found changed in the answer are worth a fresh
   * read (see the updater).
   */
  | {
      kind: "replace";
      before: DnsRecord;
      record: RecordData;
      reason: string;
      verify?: true;
      writer?: true;
    }
  /** `record` as read; with `onlyIf`, only while those RRsets are as the decision saw them. */
  | { kind: "delete"; record: DnsRecord; reason: string; onlyIf?: Prerequisite[] };

const KIND_ORDER = { delete: 0, replace: 1, create: 2 } as const;

/**
 * The order every provider applies changes in: deletions, then replacements, then creations,
 * the given order kept within each kind; a new array. Planners list a heartbeat before the
 * address it vouches for and an address deletion before its heartbeat's, so however a provider
 * splits the list (Cloudflare's batch chunks), no address is ever without its heartbeat.
 */
export function inApplyOrder(changes: readonly Change[]): Change[] {
  return changes.toSorted((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
}

const VERBS = { create: "create", replace: "update", delete: "delete" } as const;

/** One line for logs and dry runs: `create A internal.example.com 192.168.1.10 (new address …)`. */
export function describeChange(change: Change): string {
  const r = change.record;
  return `${VERBS[change.kind]} ${r.type} ${r.name} ${r.content} (${change.reason})`;
}

/** A refresh rewrites a heartbeat in place: the set of records stays as it was. */
export function isRefresh(change: Change): boolean {
  return change.kind === "replace" && change.record.type === "TXT";
}

/**
 * Upkeep changes nothing a reader of the zone would call a change: a heartbeat refresh, or a
 * verification that re-asserts an address record as it was read.
 */
export function isUpkeep(change: Change): boolean {
  return isRefresh(change) || (change.kind === "replace" && change.verify === true);
}

/** A change that takes an address out of DNS. */
export function removesAddress(change: Change): boolean {
  return change.kind === "delete" && change.record.type !== "TXT";
}

/**
 * The prerequisite that the RRset at `name` of `type` is still what was read: exactly the
 * contents of `records` (none: no such RRset). Names compare lower-case.
 */
export function stillAsRead(
  name: string,
  type: ManagedRecordType,
  records: readonly DnsRecord[],
): Prerequisite {
  return { name: name.toLowerCase(), type, contents: records.map((r) => r.content) };
}
