import { dnsValidationError } from "./fake-errors.ts";
import type { FakeRecord } from "./fake-records.ts";

/** Listing: the filters, ordering and paging of `GET /zones/{zone}/dns_records` and `GET /zones`. */

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

const TEXT_FIELDS = ["name", "content", "comment"] as const;
const TEXT_OPERATORS: Record<string, (value: string, wanted: string) => boolean> = {
  exact: (value, wanted) => value === wanted,
  contains: (value, wanted) => value.includes(wanted),
  startswith: (value, wanted) => value.startsWith(wanted),
  endswith: (value, wanted) => value.endsWith(wanted),
};

type Condition = (record: FakeRecord) => boolean;

function textConditions(query: URLSearchParams): Condition[] {
  const conditions: Condition[] = [];
  for (const field of TEXT_FIELDS) {
    const read = (record: FakeRecord) => record[field]?.toLowerCase();
    const add = (operator: string, wanted: string) => {
      const test = TEXT_OPERATORS[operator];
      if (!test) return;
      conditions.push((record) => {
        const value = read(record);
        return value !== undefined && test(value, wanted.toLowerCase());
      });
    };
    // `name` is an alias of `name.exact`, and so on for content and comment.
    const alias = query.get(field);
    if (alias !== null) add("exact", alias);
    for (const operator of Object.keys(TEXT_OPERATORS)) {
      const wanted = query.get(`${field}.${operator}`);
      if (wanted !== null) add(operator, wanted);
    }
  }
  return conditions;
}

function otherConditions(query: URLSearchParams): Condition[] {
  const conditions: Condition[] = [];
  const type = query.get("type");
  if (type !== null) conditions.push((r) => r.type.toLowerCase() === type.toLowerCase());
  const proxied = query.get("proxied");
  if (proxied !== null) conditions.push((r) => String(r.proxied) === proxied);
  if (query.has("comment.present")) conditions.push((r) => r.comment !== null);
  if (query.has("comment.absent")) conditions.push((r) => r.comment === null);
  return conditions;
}

/** Case-insensitive filters combined by `match` (all, the default, or any). */
export function filterRecords(records: FakeRecord[], query: URLSearchParams): FakeRecord[] {
  const conditions = [...textConditions(query), ...otherConditions(query)];
  if (conditions.length === 0) return records;
  const any = query.get("match") === "any";
  return records.filter((record) =>
    any ? conditions.some((c) => c(record)) : conditions.every((c) => c(record)),
  );
}

function compareValues(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const left = String(a);
  const right = String(b);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** The order `records()` promises: name, then type, then content. */
export function compareRecords(a: FakeRecord, b: FakeRecord): number {
  return (
    compareValues(a.name, b.name) ||
    compareValues(a.type, b.type) ||
    compareValues(a.content, b.content)
  );
}

/** `order` (default type) and `direction` (default asc); ties broken by name, type, content. */
export function sortRecords(records: FakeRecord[], query: URLSearchParams): FakeRecord[] {
  const order = (query.get("order") ?? "type") as keyof FakeRecord;
  const sign = query.get("direction") === "desc" ? -1 : 1;
  return records.toSorted(
    (a, b) => sign * (compareValues(a[order], b[order]) || compareRecords(a, b)),
  );
}

function integerParam(query: URLSearchParams, name: string, fallback: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  // The schema says "number"; a page number that is not a whole number is refused all the same.
  if (!Number.isInteger(value)) throw dnsValidationError(`${name} must be a whole number`);
  return value;
}

/** One page of `items`; bounds are checked by the query schema, so only whole numbers here. */
export function paginate<T>(
  items: T[],
  query: URLSearchParams,
  defaultPerPage: number,
): { result: T[]; result_info: ResultInfo } {
  const page = integerParam(query, "page", 1);
  const perPage = integerParam(query, "per_page", defaultPerPage);
  const result = items.slice((page - 1) * perPage, page * perPage);
  return {
    result,
    result_info: {
      page,
      per_page: perPage,
      count: result.length,
      total_count: items.length,
      total_pages: Math.max(1, Math.ceil(items.length / perPage)),
    },
  };
}
