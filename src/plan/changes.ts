import type { BatchOperations, DnsRecord, RecordInput } from "../providers/cloudflare/types.ts";

/** One change to the zone; `reason` is what logs and `--dry-run` show. */
export type Operation =
  | { kind: "create"; record: RecordInput; reason: string }
  /** `record` is the full body (name, type, content, ttl), as Cloudflare's schema requires. */
  | { kind: "patch"; id: string; record: RecordInput; reason: string }
  | { kind: "delete"; id: string; record: DnsRecord; reason: string };

const KIND_ORDER = { delete: 0, patch: 1, create: 2 } as const;

/**
 * The order Cloudflare runs a batch in (deletes, patches, creates), plan order kept within a
 * kind; a new array. Single calls made in this order behave like the batch.
 */
export function inBatchOrder(operations: readonly Operation[]): Operation[] {
  return operations.toSorted((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
}

/** Cloudflare runs a batch as deletes, patches, puts, posts, each list in the given order. */
export function toBatch(operations: Operation[]): BatchOperations {
  const batch: BatchOperations = { deletes: [], patches: [], puts: [], posts: [] };
  for (const op of operations) {
    if (op.kind === "delete") batch.deletes.push({ id: op.id });
    else if (op.kind === "patch") batch.patches.push({ id: op.id, ...op.record });
    else batch.posts.push(op.record);
  }
  return batch;
}

const VERBS = { create: "create", patch: "update", delete: "delete" } as const;

/** One line for logs and dry runs: `create A internal.example.com 192.168.1.10 (new address …)`. */
export function describeOperation(op: Operation): string {
  const r = op.record;
  return `${VERBS[op.kind]} ${r.type} ${r.name} ${r.content} (${op.reason})`;
}
