import ipaddr from "ipaddr.js";
import type { CloudflareRecord } from "../../src/providers/cloudflare/api-types.ts";
import { dnsValidationError, errors, FakeApiError } from "./fake-errors.ts";

/** A record as the fake stores and answers it: every field of the live API's record response. */
export interface FakeRecord extends CloudflareRecord {
  proxied: boolean;
  proxiable: boolean;
  comment: string | null;
  tags: string[];
  settings: Record<string, unknown>;
  meta: Record<string, unknown>;
}

/** One zone's records. Records are replaced, never mutated, so a copy of the array is a snapshot. */
export interface ZoneStore {
  name: string;
  records: FakeRecord[];
}

export interface WriteContext {
  /** ISO 8601 time of the write, from the fake clock. */
  now: string;
  maxRecords: number;
}

type Body = Record<string, unknown>;

const PROXIABLE_TYPES = new Set(["A", "AAAA", "CNAME"]);
const FREE_PLAN_COMMENT_LENGTH = 100;
const TXT_MAX_LENGTH = 2048;

export function randomHex(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(length / 2)));
  return Buffer.from(bytes).toString("hex").slice(0, length);
}

/** Private, reserved, loopback… anything but public unicast cannot sit behind the proxy. */
function isPublicAddress(content: string): boolean {
  return ipaddr.isValid(content) && ipaddr.parse(content).range() === "unicast";
}

function proxiable(type: string, content: string): boolean {
  if (type === "A" || type === "AAAA") return isPublicAddress(content);
  return PROXIABLE_TYPES.has(type);
}

/** Fill the fields a record needs; used by `seed`, which skips validation on purpose. */
export function completeRecord(
  fields: Partial<FakeRecord> & { name: string; type: string; content: string },
  now: string,
): FakeRecord {
  return {
    id: randomHex(32),
    proxied: false,
    proxiable: proxiable(fields.type, fields.content),
    ttl: 1,
    settings: {},
    meta: {},
    comment: null,
    tags: [],
    created_on: now,
    modified_on: now,
    ...fields,
  };
}

function normalizeName(value: unknown, zoneName: string): string {
  const name = String(value ?? "")
    .toLowerCase()
    .replace(/\.$/, "");
  if (name !== zoneName && !name.endsWith(`.${zoneName}`)) {
    throw dnsValidationError(`Record name ${name} is not inside the zone ${zoneName}.`);
  }
  return name;
}

function normalizeContent(type: string, value: unknown): string {
  const content = typeof value === "string" ? value : "";
  if (type === "A") {
    if (!ipaddr.IPv4.isValidFourPartDecimal(content)) throw errors.invalidIpv4();
    return content;
  }
  if (type === "AAAA") {
    if (!ipaddr.IPv6.isValid(content)) throw errors.invalidIpv6();
    return ipaddr.IPv6.parse(content).toString();
  }
  if (type === "TXT" && content.length > TXT_MAX_LENGTH) {
    throw dnsValidationError(`Content for TXT record is longer than ${TXT_MAX_LENGTH} characters.`);
  }
  if (content === "") throw dnsValidationError(`Content for ${type} record is invalid.`);
  return content;
}

function checkTtl(ttl: unknown): number {
  const valid = ttl === 1 || (Number.isInteger(ttl) && Number(ttl) >= 60 && Number(ttl) <= 86400);
  if (!valid) throw errors.ttl();
  return ttl as number;
}

/** Validate a complete record body (a POST or PUT, or a PATCH merged onto its record). */
function buildRecord(
  zoneName: string,
  body: Body,
  base: { id: string; created_on: string },
  now: string,
): FakeRecord {
  const type = String(body.type ?? "");
  const name = normalizeName(body.name, zoneName);
  const content = normalizeContent(type, body.content);
  let ttl = checkTtl(body.ttl ?? 1);
  const proxied = body.proxied === true;
  if (proxied) {
    if (!PROXIABLE_TYPES.has(type)) throw errors.notProxiableType(type);
    if (!proxiable(type, content)) throw errors.notProxiableTarget(content);
    ttl = 1; // proxied records always answer with automatic TTL
  }
  const comment = typeof body.comment === "string" && body.comment !== "" ? body.comment : null;
  if (comment && comment.length > FREE_PLAN_COMMENT_LENGTH) {
    throw dnsValidationError(`Comment is longer than ${FREE_PLAN_COMMENT_LENGTH} characters.`);
  }
  const tags = Array.isArray(body.tags) ? body.tags.map(String) : [];
  if (tags.length > 0) {
    throw dnsValidationError(`DNS record has ${tags.length} tags, exceeding the quota of 0.`);
  }
  const settings = (body.settings as Record<string, unknown> | undefined) ?? {};
  return {
    id: base.id,
    name,
    type,
    content,
    proxiable: proxiable(type, content),
    proxied,
    ttl,
    settings,
    meta: {},
    comment,
    tags,
    created_on: base.created_on,
    modified_on: now,
  };
}

function sameContent(a: FakeRecord, b: FakeRecord): boolean {
  return a.type === "TXT"
    ? a.content === b.content
    : a.content.toLowerCase() === b.content.toLowerCase();
}

/** Rules between records at one name: no duplicates, and a CNAME stands alone among A/AAAA/CNAME. */
function checkConflicts(records: FakeRecord[], candidate: FakeRecord): void {
  const others = records.filter(
    (r) => r.id !== candidate.id && r.name.toLowerCase() === candidate.name,
  );
  if (others.some((r) => r.type === candidate.type && sameContent(r, candidate)))
    throw errors.identical();
  if (candidate.type === "CNAME" && others.some((r) => PROXIABLE_TYPES.has(r.type))) {
    throw errors.hostExists();
  }
  if (PROXIABLE_TYPES.has(candidate.type) && others.some((r) => r.type === "CNAME")) {
    throw errors.cnameExists();
  }
}

function indexOf(store: ZoneStore, id: unknown): number {
  const index = store.records.findIndex((r) => r.id === id);
  if (index < 0) throw errors.recordMissing();
  return index;
}

export function getRecord(store: ZoneStore, id: string): FakeRecord {
  return store.records[indexOf(store, id)] as FakeRecord;
}

export function createRecord(store: ZoneStore, body: Body, context: WriteContext): FakeRecord {
  const record = buildRecord(
    store.name,
    body,
    { id: randomHex(32), created_on: context.now },
    context.now,
  );
  checkConflicts(store.records, record);
  if (store.records.length >= context.maxRecords) throw errors.quota();
  store.records = [...store.records, record];
  return record;
}

function replaceRecord(
  store: ZoneStore,
  id: unknown,
  merge: (old: FakeRecord) => Body,
  now: string,
): FakeRecord {
  const index = indexOf(store, id);
  const old = store.records[index] as FakeRecord;
  const record = buildRecord(store.name, merge(old), old, now);
  checkConflicts(store.records, record);
  store.records = store.records.with(index, record);
  return record;
}

/** PATCH: the fields named in the body change, the rest stay. */
export function patchRecord(
  store: ZoneStore,
  id: unknown,
  body: Body,
  context: WriteContext,
): FakeRecord {
  const { id: _ignored, ...changes } = body;
  return replaceRecord(store, id, (old) => ({ ...old, ...changes }), context.now);
}

/** PUT: the body is the whole record; omitted fields fall back to their defaults. */
export function putRecord(
  store: ZoneStore,
  id: unknown,
  body: Body,
  context: WriteContext,
): FakeRecord {
  const { id: _ignored, ...record } = body;
  return replaceRecord(store, id, () => record, context.now);
}

export function deleteRecord(store: ZoneStore, id: unknown): FakeRecord {
  const index = indexOf(store, id);
  const record = store.records[index] as FakeRecord;
  store.records = store.records.toSpliced(index, 1);
  return record;
}

export interface BatchLists<T> {
  deletes: T[];
  patches: T[];
  puts: T[];
  posts: T[];
}

/**
 * Deletes, then patches, then puts, then posts, each in order, as one transaction: the
 * operations run on a snapshot that replaces the zone only when all of them succeeded.
 */
export function runBatch(
  store: ZoneStore,
  body: Partial<BatchLists<Body>>,
  context: WriteContext & { maxOperations: number },
): BatchLists<FakeRecord> {
  const lists: BatchLists<Body> = {
    deletes: body.deletes ?? [],
    patches: body.patches ?? [],
    puts: body.puts ?? [],
    posts: body.posts ?? [],
  };
  const total = Object.values(lists).reduce((sum, list) => sum + list.length, 0);
  if (total > context.maxOperations) {
    throw dnsValidationError(
      `The batch holds ${total} operations, more than the ${context.maxOperations} allowed per request.`,
    );
  }
  const work: ZoneStore = { name: store.name, records: store.records };
  const run = (list: keyof BatchLists<Body>, apply: (item: Body) => FakeRecord) =>
    lists[list].map((item, index) => {
      try {
        return apply(item);
      } catch (error) {
        if (error instanceof FakeApiError) throw error.withContext(`${list}[${index}]`);
        throw error;
      }
    });
  const result: BatchLists<FakeRecord> = {
    deletes: run("deletes", (item) => deleteRecord(work, item.id)),
    patches: run("patches", (item) => patchRecord(work, item.id, item, context)),
    puts: run("puts", (item) => putRecord(work, item.id, item, context)),
    posts: run("posts", (item) => createRecord(work, item, context)),
  };
  store.records = work.records;
  return result;
}
