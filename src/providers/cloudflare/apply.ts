/** Writing changes to Cloudflare: the batch endpoint, or one request per change once refused. */
import type { DnsRecord } from "../../dns/record.ts";
import { RaceError } from "../../errors.ts";
import { log } from "../../observe/log.ts";
import { type Change, inApplyOrder } from "../../plan/changes.ts";
import type { Applied, OnApplied } from "../provider.ts";
import { CloudflareApiError, isAuthFailure, isRace } from "./api-errors.ts";
import type { BatchOperations, BatchResult } from "./api-types.ts";
import type { CloudflareClient } from "./client.ts";
import { fromCloudflare, toCloudflare } from "./records.ts";

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

/**
 * Changes as Cloudflare's batch wants them: deletes by id, replacements as patches (the full
 * body, as the schema requires), creations as posts. The batch runs deletes, patches, puts,
 * posts, each list in the given order, which is inApplyOrder.
 */
export function toBatch(changes: readonly Change[]): BatchOperations {
  const batch: BatchOperations = { deletes: [], patches: [], puts: [], posts: [] };
  for (const change of inApplyOrder(changes)) {
    if (change.kind === "delete") batch.deletes.push({ id: change.record.ref });
    else if (change.kind === "replace")
      batch.patches.push({ id: change.before.ref, ...toCloudflare(change.record) });
    else batch.posts.push(toCloudflare(change.record));
  }
  return batch;
}

/** Applies the changes of one zone. */
export interface Applier {
  /**
   * Applies `changes` to zone `zoneId`. `onApplied` hears every change that landed, chunk by
   * chunk (or one by one after a fallback), also when a later chunk then fails and `apply`
   * throws. Throws RaceError when Cloudflare says another writer got there first (81044,
   * 81057, 81058), the client's errors otherwise.
   */
  apply(zoneId: string, changes: readonly Change[], onApplied?: OnApplied): Promise<Applied>;
}

/**
 * Applies changes in one batch request (chunked by the client), or one request per change in
 * inApplyOrder once the batch endpoint has been refused. The fallback is remembered so a
 * long-lived process does not knock on a closed door every pass.
 */
export function createApplier(client: CloudflareClient): Applier {
  let batchRefused = false;

  async function single(
    zoneId: string,
    changes: Change[],
    onApplied?: OnApplied,
  ): Promise<Applied> {
    const applied: Applied = { written: [], deleted: [] };
    for (const change of changes) {
      const written: DnsRecord[] = [];
      if (change.kind === "create") {
        written.push(
          fromCloudflare(await client.createRecord(zoneId, toCloudflare(change.record))),
        );
      } else if (change.kind === "replace") {
        const body = toCloudflare(change.record);
        written.push(fromCloudflare(await client.patchRecord(zoneId, change.before.ref, body)));
      } else {
        await client.deleteRecord(zoneId, change.record.ref);
        applied.deleted.push(change.record.ref);
      }
      applied.written.push(...written);
      onApplied?.([change], written);
    }
    return applied;
  }

  async function batch(zoneId: string, ordered: Change[], onApplied?: OnApplied): Promise<Applied> {
    let reported = 0;
    const progress = (done: number, chunk: BatchResult) => {
      const written = [...chunk.patches, ...chunk.puts, ...chunk.posts].map(fromCloudflare);
      onApplied?.(ordered.slice(reported, done), written);
      reported = done;
    };
    const result = await client.batch(zoneId, toBatch(ordered), progress);
    return {
      written: [...result.patches, ...result.puts, ...result.posts].map(fromCloudflare),
      deleted: result.deletes.map((r) => r.id),
    };
  }

  async function attempt(
    zoneId: string,
    ordered: Change[],
    onApplied?: OnApplied,
  ): Promise<Applied> {
    if (batchRefused) return single(zoneId, ordered, onApplied);
    try {
      return await batch(zoneId, ordered, onApplied);
    } catch (error) {
      if (!isBatchRefused(error)) throw error;
      log.warn(
        `the batch endpoint was refused (${(error as Error).message}); using one request per record`,
      );
      batchRefused = true;
      return single(zoneId, ordered, onApplied);
    }
  }

  return {
    async apply(zoneId, changes, onApplied) {
      if (changes.length === 0) return { written: [], deleted: [] };
      try {
        // The batch runs deletes, patches, then creates: single calls and reports follow suit.
        return await attempt(zoneId, inApplyOrder(changes), onApplied);
      } catch (error) {
        if (!isRace(error)) throw error;
        throw new RaceError(error, { mayHaveLanded: error.afterUnanswered });
      }
    },
  };
}
