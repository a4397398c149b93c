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

/**
 * One zone's records, indexed so that a zone of 100,000 records answers as fast as a small one:
 * by id (in insertion order, which a replaced record keeps), by lower-case name (the conflict
 * rules), and one cached listing per query, recomputed after any change (`version`), so page
 * after page of an unchanged zone is a slice while a zone that changes between pages shifts
 * records across them as the live API's offset paging does. Records are replaced, never
 * mutated. `transaction` undoes every change of a function that throws.
 */
export class ZoneStore {
  /** Bumped by every change; a listing cached at an older version is recomputed. */
  version = 0;
  private readonly byId = new Map<string, FakeRecord>();
  /** Insertion order of each id, so a removal undone puts its record back in its place. */
  private readonly order = new Map<string, number>();
  private inserted = 0;
  /** An undone removal appended a record out of its place in `byId`. */
  private reordered = false;
  private readonly atName = new Map<string, Set<FakeRecord>>();
  private cached?: { key: string; version: number; records: FakeRecord[] };
  private undo?: (() => void)[];

  constructor(readonly name: string) {}

  get size(): number {
    return this.byId.size;
  }

  /** Every record, in insertion order. */
  all(): FakeRecord[] {
    if (this.reordered) {
      const records = [...this.byId.values()];
      records.sort((a, b) => (this.order.get(a.id) ?? 0) - (this.order.get(b.id) ?? 0));
      this.byId.clear();
      for (const record of records) this.byId.set(record.id, record);
      this.reordered = false;
    }
    return [...this.byId.values()];
  }

  get(id: unknown): FakeRecord | undefined {
    return typeof id === "string" ? this.byId.get(id) : undefined;
  }

  /** Records whose lower-case name is `name`. */
  named(name: string): Iterable<FakeRecord> {
    return this.atName.get(name) ?? [];
  }

  insert(record: FakeRecord): void {
    this.byId.set(record.id, record);
    this.order.set(record.id, this.inserted++);
    this.index(record);
    this.changed(() => this.remove(record));
  }

  /** `record` takes the place of the record with its id (same position in `all()`). */
  replace(record: FakeRecord): void {
    const old = this.byId.get(record.id);
    if (!old) throw new Error(`fake API: no record ${record.id} to replace`);
    this.unindex(old);
    this.byId.set(record.id, record);
    this.index(record);
    this.changed(() => this.replace(old));
  }

  remove(record: FakeRecord): void {
    const place = this.order.get(record.id) ?? 0;
    this.byId.delete(record.id);
    this.order.delete(record.id);
    this.unindex(record);
    this.changed(() => {
      this.byId.set(record.id, record);
      this.order.set(record.id, place);
      this.index(record);
      this.reordered = true;
      this.version++;
    });
  }

  /**
   * The records `list(all())` selects, cached for `key` until the next change; `list` is
   * given a copy it may sort in place.
   */
  listing(key: string, list: (records: FakeRecord[]) => FakeRecord[]): FakeRecord[] {
    const cached = this.cached;
    if (cached?.key === key && cached.version === this.version) return cached.records;
    const records = list(this.all());
    this.cached = { key, version: this.version, records };
    return records;
  }

  /** Runs `work`; if it throws, every change it made is undone before the error goes on. */
  transaction<T>(work: () => T): T {
    const undo: (() => void)[] = [];
    this.undo = undo;
    try {
      return work();
    } catch (error) {
      this.undo = undefined;
      for (const step of undo.reverse()) step();
      throw error;
    } finally {
      this.undo = undefined;
    }
  }

  private changed(inverse: () => void): void {
    this.version++;
    this.undo?.push(inverse);
  }

  private index(record: FakeRecord): void {
    const name = record.name.toLowerCase();
    const set = this.atName.get(name) ?? new Set();
    this.atName.set(name, set.add(record));
  }

  private unindex(record: FakeRecord): void {
    const name = record.name.toLowerCase();
    const set = this.atName.get(name);
    set?.delete(record);
    if (set?.size === 0) this.atName.delete(name);
  }
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
function checkConflicts(store: ZoneStore, candidate: FakeRecord): void {
  const others = [...store.named(candidate.name)].filter((r) => r.id !== candidate.id);
  if (others.some((r) => r.type === candidate.type && sameContent(r, candidate)))
    throw errors.identical();
  if (candidate.type === "CNAME" && others.some((r) => PROXIABLE_TYPES.has(r.type))) {
    throw errors.hostExists();
  }
  if (PROXIABLE_TYPES.has(candidate.type) && others.some((r) => r.type === "CNAME")) {
    throw errors.cnameExists();
  }
}

function found(store: ZoneStore, id: unknown): FakeRecord {
  const record = store.get(id);
  if (!record) throw errors.recordMissing();
  return record;
}

export function getRecord(store: ZoneStore, id: string): FakeRecord {
  return found(store, id);
}

export function createRecord(store: ZoneStore, body: Body, context: WriteContext): FakeRecord {
  const record = buildRecord(
    store.name,
    body,
    { id: randomHex(32), created_on: context.now },
    context.now,
  );
  checkConflicts(store, record);
  if (store.size >= context.maxRecords) throw errors.quota();
  store.insert(record);
  return record;
}

function replaceRecord(
  store: ZoneStore,
  id: unknown,
  merge: (old: FakeRecord) => Body,
  now: string,
): FakeRecord {
  const old = found(store, id);
  const record = buildRecord(store.name, merge(old), old, now);
  checkConflicts(store, record);
  store.replace(record);
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
  const record = found(store, id);
  store.remove(record);
  return record;
}

export interface BatchLists<T> {
  deletes: T[];
  patches: T[];
  puts: T[];
  posts: T[];
}

/**
 * Deletes, then patches, then puts, then posts, each in order, as one transaction: when one
 * fails, the ones before it are undone, so the zone changes only when all of them succeed.
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
  const run = (list: keyof BatchLists<Body>, apply: (item: Body) => FakeRecord) =>
    lists[list].map((item, index) => {
      try {
        return apply(item);
      } catch (error) {
        if (error instanceof FakeApiError) throw error.withContext(`${list}[${index}]`);
        throw error;
      }
    });
  return store.transaction(() => ({
    deletes: run("deletes", (item) => deleteRecord(store, item.id)),
    patches: run("patches", (item) => patchRecord(store, item.id, item, context)),
    puts: run("puts", (item) => putRecord(store, item.id, item, context)),
    posts: run("posts", (item) => createRecord(store, item, context)),
  }));
}
