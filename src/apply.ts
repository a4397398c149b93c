import type { CloudflareClient } from "./cloudflare/client.ts";
import type { DnsRecord } from "./cloudflare/types.ts";
import { CloudflareApiError } from "./errors.ts";
import { log } from "./log.ts";
import { type Operation, toBatch } from "./plan/types.ts";

/** Error codes meaning another writer got there first: re-read and re-plan (SPEC §3.5, §4). */
const RACE_CODES = [81058, 81044] as const;

export function isRace(error: unknown): boolean {
  return error instanceof CloudflareApiError && RACE_CODES.some((code) => error.hasCode(code));
}

/** Authentication and authorization failures: single calls would fail the same way. */
const AUTH_CODES = [1001, 6003, 9109, 10000] as const;

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
    !AUTH_CODES.some((code) => error.hasCode(code))
  );
}

/** What applying a plan did to the zone: records now present, ids now gone. */
export interface Applied {
  written: DnsRecord[];
  deleted: string[];
}

export interface Applier {
  apply(zoneId: string, ops: Operation[]): Promise<Applied>;
}

/**
 * Applies operations in one batch request (chunked by the client), or one request per
 * operation in plan order once the batch endpoint has been refused. The fallback is
 * remembered so a long-lived process does not knock on a closed door every pass.
 */
export function createApplier(client: CloudflareClient): Applier {
  let batchRefused = false;

  async function single(zoneId: string, ops: Operation[]): Promise<Applied> {
    const applied: Applied = { written: [], deleted: [] };
    for (const op of ops) {
      if (op.kind === "create") applied.written.push(await client.createRecord(zoneId, op.record));
      if (op.kind === "patch") {
        applied.written.push(await client.patchRecord(zoneId, op.id, op.record));
      }
      if (op.kind === "delete") {
        await client.deleteRecord(zoneId, op.id);
        applied.deleted.push(op.id);
      }
    }
    return applied;
  }

  return {
    async apply(zoneId, ops) {
      if (ops.length === 0) return { written: [], deleted: [] };
      if (batchRefused) return single(zoneId, ops);
      try {
        const result = await client.batch(zoneId, toBatch(ops));
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
        return single(zoneId, ops);
      }
    },
  };
}
