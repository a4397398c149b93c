/**
 * The Cloudflare API as dynip uses it. The only module that speaks HTTP: commands receive a
 * client, so tests hand them one pointed at a local fake.
 */

import { DynipError } from "../../errors.ts";
import { collectGarbage } from "../../util/garbage.ts";
import type { Lifecycle } from "../provider.ts";
import { CloudflareResponseError, ListingChangedError } from "./api-errors.ts";
import type {
  BatchOperations,
  BatchResult,
  CloudflareRecord,
  ListFilter,
  RecordInput,
} from "./api-types.ts";
import { batchBody, chunkBatch, countOperations, mergeBatchResults, recordBody } from "./batch.ts";
import { type Answer, createTransport, type HttpRequestInfo, type Transport } from "./http.ts";
import {
  BatchResultSchema,
  DeletedSchema,
  DnsRecordListSchema,
  DnsRecordSchema,
  TokenSchema,
  ZoneListSchema,
  ZoneSchema,
} from "./schemas.ts";

export { CloudflareQuotaError, RECORD_QUOTA_CODE } from "./api-errors.ts";
export type { HttpRequestInfo } from "./http.ts";

export interface ClientOptions {
  /** e.g. https://api.cloudflare.com/client/v4 (a trailing slash is fine) */
  apiUrl: string;
  /** Bearer token; registered as a secret so no log line or error ever shows it. */
  token?: string;
  /** Per attempt, body included (API_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** Attempts after the first; default 3. */
  retries?: number;
  /** Backoff base; default 500. */
  baseDelayMs?: number;
  /** Backoff cap; default 8000. */
  maxDelayMs?: number;
  /** Longest `Retry-After` honoured; default 60,000. Longer: the request fails at once. */
  maxRetryAfterMs?: number;
  /** No retry starts later than this after the first attempt; default 120,000. */
  maxElapsedMs?: number;
  /** Operations per batch request (BATCH_SIZE). */
  batchSize: number;
  /** Records per list page; default 5000. */
  perPage?: number;
  /** Largest answer body read, in bytes; default 32 MiB (a page of 5,000 records is about 3 MB). */
  maxAnswerBytes?: number;
  /** Called after every attempt, retries included: for metrics and request counting. */
  onRequest?: (info: HttpRequestInfo) => void;
  /** A long-lived process's stop: no retries after it, requests cut at its deadlines. */
  lifecycle?: Lifecycle;
}

/** A listing as read: the records and the clock they were read by. */
export interface RecordList<T = CloudflareRecord> {
  /** Each record once (by id), in the order the API listed them; as `select` made them. */
  records: T[];
  /**
   * The earliest `Date` among the answers (Cloudflare's clock when the read began, so ages
   * measured against it are never too long); undefined when any answer lacked a usable Date.
   */
  serverDate?: Date;
  /** Requests the listing took. One answer is one consistent snapshot; several are not. */
  pages: number;
  /** How the list was seen to move while being read (only when moves were tolerated). */
  moved?: string;
}

/** The first page of a listing, never paged further. */
export interface PageList extends RecordList {
  /**
   * True when this one answer is the whole list (its total count is what it holds): a
   * consistent snapshot of every matching record, which offset paging cannot give.
   */
  complete: boolean;
}

export interface ListOptions<T> {
  tolerateMoves?: boolean;
  select?: (record: CloudflareRecord) => T | undefined;
}

export interface CloudflareClient {
  /** Records per list page (`per_page`): what one `listPage` answer can hold. */
  readonly pageSize: number;
  /**
   * Every record matching the filter, page by page (offset paging). Throws ListingChangedError
   * when the list visibly changed between pages (total count moved, a record listed on two
   * pages, fewer records than counted): records may then have shifted past a page unseen.
   * A change that keeps the count and shifts nothing in view can still go unnoticed; decisions
   * that delete must rest on `listPage` answers that are `complete`. With `tolerateMoves` it
   * reads on instead and says so in `moved` (records may be missing or out of date).
   * `select` turns each record into what the caller keeps, or undefined to drop it, page by
   * page, so a zone of 100,000 records is never held twice (default: the record as listed).
   */
  listRecords<T = CloudflareRecord>(
    zoneId: string,
    filter: ListFilter,
    options?: ListOptions<T>,
  ): Promise<RecordList<T>>;
  /** One request: the first `perPage` records matching the filter, and whether that is all. */
  listPage(zoneId: string, filter: ListFilter): Promise<PageList>;
  createRecord(zoneId: string, record: RecordInput): Promise<CloudflareRecord>;
  patchRecord(zoneId: string, id: string, record: RecordInput): Promise<CloudflareRecord>;
  deleteRecord(zoneId: string, id: string): Promise<void>;
  /**
   * One request per `batchSize` operations, in Cloudflare's order (deletes, patches, puts,
   * posts); no request when empty. Chunks go one after the other, each atomic on its own:
   * `onProgress(done, chunk)` is called after each applied chunk with the number of operations
   * applied so far in that order and the chunk's answer, so a caller can report what landed
   * (and which records it wrote) before a later chunk fails.
   */
  batch(
    zoneId: string,
    ops: BatchOperations,
    onProgress?: (done: number, chunk: BatchResult) => void,
  ): Promise<BatchResult>;
  /**
   * The zone holding `domain` (its id and lower-case name), longest suffix first
   * (a.b.example.com, b.example.com, example.com). Throws a DynipError when none does.
   */
  findZone(domain: string): Promise<{ id: string; name: string }>;
  /** The lower-case name of the zone `zoneId` (`GET /zones/{id}`, Zone → Zone → Read). */
  zoneName(zoneId: string): Promise<string>;
  verifyToken(): Promise<{ id: string; status: string }>;
}

const BATCH_LISTS = ["deletes", "patches", "puts", "posts"] as const;

/** Far beyond any plan's record quota at 5,000 a page; more means the server is misbehaving. */
const MAX_PAGES = 200;

const FILTER_PARAMS = {
  name: "name.exact",
  nameEndsWith: "name.endswith",
  nameStartsWith: "name.startswith",
  type: "type",
  match: "match",
} as const satisfies Record<keyof ListFilter, string>;

/**
 * A Cloudflare API client over createTransport (see ClientOptions for units and defaults).
 * Throws a RangeError at once for a `batchSize` that is not a positive integer; its methods
 * throw the transport's errors, and ListingChangedError from listRecords.
 */
export function createCloudflareClient(options: ClientOptions): CloudflareClient {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
  }
  const transport = createTransport({
    apiUrl: options.apiUrl,
    token: options.token,
    timeoutMs: options.timeoutMs,
    retries: options.retries ?? 3,
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 8000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
    maxElapsedMs: options.maxElapsedMs ?? 120_000,
    maxAnswerBytes: options.maxAnswerBytes ?? 32 * 1024 * 1024,
    onRequest: options.onRequest,
    ...(options.lifecycle ? { lifecycle: options.lifecycle } : {}),
  });
  const perPage = options.perPage ?? 5000;
  const records = (zoneId: string) => `/zones/${encodeURIComponent(zoneId)}/dns_records`;
  const record = (zoneId: string, id: string) => `${records(zoneId)}/${encodeURIComponent(id)}`;

  return {
    pageSize: perPage,
    listRecords: <T>(zoneId: string, filter: ListFilter, options: ListOptions<T> = {}) =>
      listAll(
        transport,
        records(zoneId),
        filterQuery(filter),
        perPage,
        options.tolerateMoves ?? false,
        options.select ?? ((record) => record as T),
      ),

    async listPage(zoneId, filter) {
      const query = { ...filterQuery(filter), page: "1", per_page: String(perPage) };
      const path = records(zoneId);
      const answer = await transport.send({
        method: "GET",
        path,
        query,
        result: DnsRecordListSchema,
      });
      const found = unique(answer.result);
      return {
        records: found,
        serverDate: answer.serverDate,
        pages: 1,
        complete: isWholeList(answer, found.length, perPage),
      };
    },

    async createRecord(zoneId, input) {
      const body = recordBody(input);
      const path = records(zoneId);
      return (await transport.send({ method: "POST", path, body, result: DnsRecordSchema })).result;
    },

    async patchRecord(zoneId, id, input) {
      const body = recordBody(input);
      const path = record(zoneId, id);
      return (await transport.send({ method: "PATCH", path, body, result: DnsRecordSchema }))
        .result;
    },

    async deleteRecord(zoneId, id) {
      await transport.send({ method: "DELETE", path: record(zoneId, id), result: DeletedSchema });
    },

    async batch(zoneId, ops, onProgress) {
      const results: BatchResult[] = [];
      let done = 0;
      const chunks = chunkBatch(ops, options.batchSize);
      // Sequential: chunk n+1 may patch what chunk n created, and a failure stops the rest.
      for (const chunk of chunks) {
        const answer = await transport.send({
          method: "POST",
          path: `${records(zoneId)}/batch`,
          body: batchBody(chunk),
          result: BatchResultSchema,
        });
        const short = BATCH_LISTS.find((list) => answer.result[list].length !== chunk[list].length);
        // A "success" that does not list what it did may not have done it: never assume it did.
        if (short) {
          const got = `${answer.result[short].length} ${short} for ${chunk[short].length} sent`;
          throw new CloudflareResponseError(
            `unexpected batch answer: ${got}`,
            200,
            `POST ${records(zoneId)}/batch`,
          );
        }
        results.push(answer.result);
        done += countOperations(chunk);
        onProgress?.(done, answer.result);
        // A batch of several requests is a large one: each answer's garbage (young) goes before
        // the next request.
        if (chunks.length > 1) collectGarbage(false);
      }
      return mergeBatchResults(results);
    },

    findZone: createZoneFinder(transport),

    async zoneName(zoneId) {
      const path = `/zones/${encodeURIComponent(zoneId)}`;
      const answer = await transport.send({ method: "GET", path, result: ZoneSchema });
      return answer.result.name.toLowerCase();
    },

    async verifyToken() {
      return (
        await transport.send({ method: "GET", path: "/user/tokens/verify", result: TokenSchema })
      ).result;
    },
  };
}

function filterQuery(filter: ListFilter): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, param] of Object.entries(FILTER_PARAMS)) {
    const value = filter[key as keyof ListFilter];
    if (value !== undefined) query[param] = value;
  }
  return query;
}

/**
 * Follows `total_pages`, watching for the list moving under it. A listing that would be cut
 * short is an error, never a partial answer: cleanup reading half a zone would take live
 * addresses for ones without heartbeat.
 */
async function listAll<T>(
  transport: Transport,
  path: string,
  filter: Record<string, string>,
  perPage: number,
  tolerate: boolean,
  select: (record: CloudflareRecord) => T | undefined,
): Promise<RecordList<T>> {
  // Every id listed, with what `select` kept of it (null: dropped, but seen and counted).
  const byId = new Map<string, T | null>();
  const request = `GET ${path}`;
  const inconsistent = (problem: string) =>
    new CloudflareResponseError(`inconsistent paging: ${problem}`, 200, request);
  let moved: string | undefined;
  const changed = (detail: string) => {
    moved ??= detail;
    if (!tolerate) throw new ListingChangedError(detail, request);
  };
  let total: number | undefined;
  let serverDate: Date | undefined;
  let dated = true;
  for (let page = 1; ; page++) {
    const query = { ...filter, page: String(page), per_page: String(perPage) };
    const answer = await transport.send({
      method: "GET",
      path,
      query,
      result: DnsRecordListSchema,
    });
    const { result, totalPages, totalCount } = answer;
    dated &&= answer.serverDate !== undefined;
    serverDate = earliest(serverDate, answer.serverDate);
    if (totalCount !== undefined) {
      if (total !== undefined && totalCount !== total) {
        changed(`${total} records counted on page 1, ${totalCount} on page ${page}`);
      }
      total = totalCount;
    }
    const repeated = result.filter((r) => byId.has(r.id)).length;
    if (repeated > 0 && repeated === result.length) {
      throw inconsistent(`page ${page} only repeats earlier records`);
    }
    if (repeated > 0) changed(`${repeated} record(s) of earlier pages again on page ${page}`);
    for (const found of result) byId.set(found.id, select(found) ?? null);
    // A listing of several pages is a large one: its pages' garbage goes before the next.
    if ((totalPages ?? 1) > 1) collectGarbage();
    // Without result_info an empty page is the only end marker; Cloudflare always sends it.
    if (result.length === 0 || (totalPages !== undefined && page >= totalPages)) {
      if (total !== undefined && byId.size !== total) {
        changed(`${byId.size} records read of ${total} counted`);
      }
      const kept: T[] = [];
      for (const record of byId.values()) if (record !== null) kept.push(record);
      return {
        records: kept,
        serverDate: dated ? serverDate : undefined,
        pages: page,
        ...(moved === undefined ? {} : { moved }),
      };
    }
    if (page >= MAX_PAGES || (totalPages ?? 0) > MAX_PAGES) {
      throw inconsistent(`more than ${MAX_PAGES} pages of ${perPage} records`);
    }
  }
}

function earliest(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (a === undefined) return b;
  return b === undefined || a <= b ? a : b;
}

/** Each record once, by id, in the order listed. */
function unique(records: CloudflareRecord[]): CloudflareRecord[] {
  return [...new Map(records.map((r) => [r.id, r])).values()];
}

/**
 * Whether one answer holds the whole list: its count says so (`total_count` equal to what it
 * holds, or a single page), or, with no `result_info` at all, it is not a full page.
 */
function isWholeList(answer: Answer<unknown>, held: number, perPage: number): boolean {
  if (answer.totalCount !== undefined) return answer.totalCount === held;
  if (answer.totalPages !== undefined) return answer.totalPages <= 1;
  return held < perPage;
}

/** a.b.example.com → [a.b.example.com, b.example.com, example.com]; a lone TLD is never tried. */
export function zoneCandidates(domain: string): string[] {
  const labels = domain.toLowerCase().replace(/\.$/, "").split(".").filter(Boolean);
  const count = Math.max(1, labels.length - 1);
  return Array.from({ length: count }, (_, i) => labels.slice(i).join("."));
}

/**
 * Zone lookups by name, remembered for the life of the client: zones do not move, and
 * several managed domains usually share one (internal.example.com, all.example.com).
 * A failed request or a domain found in no zone is forgotten, so the next pass asks again.
 */
function createZoneFinder(transport: Transport) {
  const byName = new Map<string, Promise<string | undefined>>();
  const lookup = (name: string): Promise<string | undefined> => {
    let found = byName.get(name);
    if (!found) {
      found = transport
        .send({ method: "GET", path: "/zones", query: { name }, result: ZoneListSchema })
        .then(({ result }) => result.find((z) => z.name.toLowerCase() === name)?.id);
      found.catch(() => byName.delete(name));
      byName.set(name, found);
    }
    return found;
  };
  return async (domain: string): Promise<{ id: string; name: string }> => {
    const candidates = zoneCandidates(domain);
    for (const name of candidates) {
      const id = await lookup(name);
      if (id) return { id, name };
    }
    // Not found is often a token without Zone Read: ask again once the permission is there.
    for (const name of candidates) byName.delete(name);
    throw new DynipError(
      `no Cloudflare zone found for ${domain} (tried ${candidates.join(", ")}); set CF_ZONE_ID, ` +
        "or give the token the Zone → Zone → Read permission",
    );
  };
}
