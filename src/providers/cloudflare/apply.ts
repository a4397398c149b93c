import { CloudflareApiError, isAuthFailure } from "../../errors.ts";
import { log } from "../../observe/log.ts";
import { inBatchOrder, type Operation, toBatch } from "../../plan/changes.ts";
import type { CloudflareClient } from "./client.ts";
import type { BatchResult, DnsRecord } from "./types.ts";

/**
 * Error codes meaning another writer got there first: re-read and re-plan (SPEC §3.5, §4).
 * 81058 "An identical record already exists", 81057 "Record already exists" (answered by the
 * live API in some of the same races), 81044 "Record does not exist".
 */
const RACE_CODES = [81058, 81057, 81044] as const;

export function isRace(error: unknown): boolean {
  return error instanceof CloudflareApiError && RACE_CODES.some((code) => error.hasCode(code));
}

/**
 * A batch refused as such (plan or token without access to the batch endpoint) rather
 * than one of its operations failing, or the token failing: fall back to one request per
 * operation. An auth error is not a refusal: it fails the pass and must not switch a
 * long-lived updater to one request per record for the rest of its life.
 */
function isBatchRefused(error: unknown): boolean {
  return (
    error instanceof CloudflareApiError &&
    [403, 404, 405].includes(error.status) &&
    !isRace(error) &&
    !isAuthFailure(error)
  );
}

/** What applying a plan did to the zone: records now present, ids now gone. */
export interface Applied {
  written: DnsRecord[];
  deleted: string[];
}

/**
 * Told about operations as they land, before the rest of the plan is tried, with the records
 * they wrote (created or patched, as Cloudflare answered them).
 */
export type OnApplied = (ops: Operation[], written: DnsRecord[]) => void;

export interface Applier {
  /**
   * Applies `ops` to one zone. `onApplied` hears every operation that landed, chunk by chunk
   * (or one by one after a fallback), also when a later chunk then fails and `apply` throws:
   * what happened is never lost with the error. Throws the client's errors.
   */
  apply(zoneId: string, ops: Operation[], onApplied?: OnApplied): Promise<Applied>;
}

/**
 * Applies operations in one batch request (chunked by the client), or one request per
 * operation in plan order once the batch endpoint has been refused. The fallback is
 * remembered so a long-lived process does not knock on a closed door every pass.
 */
export function createApplier(client: CloudflareClient): Applier {
  let batchRefused = false;

  async function single(zoneId: string, ops: Operation[], onApplied?: OnApplied): Promise<Applied> {
    const applied: Applied = { written: [], deleted: [] };
    for (const op of ops) {
      const written: DnsRecord[] = [];
      if (op.kind === "create") written.push(await client.createRecord(zoneId, op.record));
      if (op.kind === "patch") written.push(await client.patchRecord(zoneId, op.id, op.record));
      if (op.kind === "delete") {
        await client.deleteRecord(zoneId, op.id);
        applied.deleted.push(op.id);
      }
      applied.written.push(...written);
      onApplied?.([op], written);
    }
    return applied;
  }

  return {
    async apply(zoneId, ops, onApplied) {
      if (ops.length === 0) return { written: [], deleted: [] };
      if (batchRefused) return single(zoneId, ops, onApplied);
      // The batch runs deletes, patches, then creates: report in that order.
      const ordered = inBatchOrder(ops);
      let reported = 0;
      const progress = (done: number, chunk: BatchResult) => {
        onApplied?.(ordered.slice(reported, done), [
          ...chunk.patches,
          ...chunk.puts,
          ...chunk.posts,
        ]);
        reported = done;
      };
      try {
        const result = await client.batch(zoneId, toBatch(ordered), progress);
        return {
          written: [...result.patches, ...result.puts, ...result.posts],
          deleted: result.deletes.map((r) => r.id),
        };
      } catch (error) {
        if (!isBatchRefused(error)) throw error;
        log.warn(
          `the batch endpoint was refused (${(error as Error).message}); using one request per record`,
        );
        batchRefused = true;
        return single(zoneId, ops, onApplied);
      }
    },
  };
}
