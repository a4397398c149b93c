/** Splitting a batch into requests Cloudflare accepts, and the request bodies it validates. */
import type { BatchOperations, BatchResult, RecordInput } from "./api-types.ts";

/** Operations in a batch, over its four lists. */
export function countOperations(ops: BatchOperations): number {
  return ops.deletes.length + ops.patches.length + ops.puts.length + ops.posts.length;
}

/**
 * Chunks of at most `size` operations. Cloudflare runs a batch as deletes → patches → puts →
 * posts; cutting that sequence in place keeps the same order across chunks, so a heartbeat
 * posted before its address stays before it. Each chunk is atomic, the whole no longer is.
 */
export function chunkBatch(ops: BatchOperations, size: number): BatchOperations[] {
  const chunks: BatchOperations[] = [];
  const total = countOperations(ops);
  for (let start = 0; start < total; start += size)
    chunks.push(sliceBatch(ops, start, start + size));
  return chunks;
}

/** The operations at positions [from, to) of the sequence deletes, patches, puts, posts. */
function sliceBatch(ops: BatchOperations, from: number, to: number): BatchOperations {
  let offset = 0;
  const part = <T>(list: T[]): T[] => {
    const slice = list.slice(Math.max(0, from - offset), Math.max(0, to - offset));
    offset += list.length;
    return slice;
  };
  // Property order matters: `part` walks the lists in Cloudflare's execution order.
  return {
    deletes: part(ops.deletes),
    patches: part(ops.patches),
    puts: part(ops.puts),
    posts: part(ops.posts),
  };
}

/** The answers of a batch's chunks as one, each list in chunk order. */
export function mergeBatchResults(results: BatchResult[]): BatchResult {
  return {
    deletes: results.flatMap((r) => r.deletes),
    patches: results.flatMap((r) => r.patches),
    puts: results.flatMap((r) => r.puts),
    posts: results.flatMap((r) => r.posts),
  };
}

/**
 * Exactly the fields Cloudflare's schema knows, whatever else the caller's object carries.
 * name, type and ttl go into every body, PATCH included: the published schema requires them.
 */
export function recordBody(record: RecordInput): Record<string, unknown> {
  const { name, type, content, ttl, proxied, comment } = record;
  return {
    name,
    type,
    content,
    ttl,
    ...(proxied === undefined ? {} : { proxied }),
    ...(comment === undefined ? {} : { comment }),
  };
}

/** A chunk as the batch endpoint wants it; empty lists are left out. */
export function batchBody(ops: BatchOperations): Record<string, unknown> {
  const withId = (op: RecordInput & { id: string }) => ({ id: op.id, ...recordBody(op) });
  const lists = {
    deletes: ops.deletes.map((op) => ({ id: op.id })),
    patches: ops.patches.map(withId),
    puts: ops.puts.map(withId),
    posts: ops.posts.map(recordBody),
  };
  return Object.fromEntries(Object.entries(lists).filter(([, list]) => list.length > 0));
}
