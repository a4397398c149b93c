/**
 * Shapes of Cloudflare's answers. Everything the API returns is checked here before the rest of
 * dynip sees it, so a proxy's error page or a changed API becomes a clear error, not a TypeError.
 */
import * as v from "valibot";
import type { CloudflareErrorDetail } from "./api-errors.ts";

const ErrorDetailSchema: v.GenericSchema<CloudflareErrorDetail> = v.object({
  code: v.number(),
  message: v.string(),
  error_chain: v.optional(v.array(v.lazy(() => ErrorDetailSchema))),
});

/** How deep an answer's `error_chain` is followed; deeper links are dropped before validation. */
const CHAIN_DEPTH = 3;

/**
 * The parsed answer with every `error_chain` cut after three levels: validating, redacting or
 * searching a chain nested 30,000 deep would overflow the stack. Anything that is not an
 * envelope-shaped object comes back as it is, for the schema to refuse. Never throws.
 */
export function withShallowChains(json: unknown): unknown {
  const cut = (errors: unknown, depth: number): unknown => {
    if (!Array.isArray(errors)) return errors;
    return errors.map((e) => {
      if (typeof e !== "object" || e === null || !("error_chain" in e)) return e;
      const { error_chain, ...rest } = e as { error_chain: unknown };
      return depth >= CHAIN_DEPTH ? rest : { ...rest, error_chain: cut(error_chain, depth + 1) };
    });
  };
  if (typeof json !== "object" || json === null || !("errors" in json)) return json;
  return { ...json, errors: cut((json as { errors: unknown }).errors, 1) };
}

export const EnvelopeSchema = v.object({
  success: v.boolean(),
  errors: v.array(ErrorDetailSchema),
  result: v.optional(v.unknown()),
  result_info: v.optional(
    v.object({
      page: v.optional(v.number()),
      per_page: v.optional(v.number()),
      count: v.optional(v.number()),
      total_count: v.optional(v.number()),
      total_pages: v.optional(v.number()),
    }),
  ),
});

export type Envelope = v.InferOutput<typeof EnvelopeSchema>;

export const DnsRecordSchema = v.object({
  id: v.pipe(v.string(), v.minLength(1)),
  name: v.string(),
  type: v.string(),
  content: v.string(),
  ttl: v.number(),
  proxied: v.optional(v.boolean()),
  comment: v.nullish(v.string()),
  created_on: v.string(),
  modified_on: v.string(),
});

export const DnsRecordListSchema = v.array(DnsRecordSchema);

export const DeletedSchema = v.object({ id: v.string() });

const RecordListOrEmpty = v.optional(DnsRecordListSchema, []);

export const BatchResultSchema = v.object({
  deletes: RecordListOrEmpty,
  patches: RecordListOrEmpty,
  puts: RecordListOrEmpty,
  posts: RecordListOrEmpty,
});

export const ZoneSchema = v.object({ id: v.pipe(v.string(), v.minLength(1)), name: v.string() });

export const ZoneListSchema = v.array(
  v.object({ id: v.pipe(v.string(), v.minLength(1)), name: v.string() }),
);

export const TokenSchema = v.object({ id: v.string(), status: v.string() });

/** The first few problems, with where they are (`result.3.ttl: Invalid type ...`). */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[], root: string): string {
  const shown = issues.slice(0, 3).map((issue) => {
    const path = v.getDotPath(issue);
    return `${path ? `${root}.${path}` : root}: ${issue.message}`;
  });
  const more = issues.length > shown.length ? ` (and ${issues.length - shown.length} more)` : "";
  return `${shown.join("; ")}${more}`;
}
