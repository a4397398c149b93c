/**
 * Shapes of Cloudflare's answers. Everything the API returns is checked here before the rest of
 * dynip sees it, so a proxy's error page or a changed API becomes a clear error, not a TypeError.
 */
import * as v from "valibot";
import type { CloudflareErrorDetail } from "../errors.ts";

const ErrorDetailSchema: v.GenericSchema<CloudflareErrorDetail> = v.object({
  code: v.number(),
  message: v.string(),
  error_chain: v.optional(v.array(v.lazy(() => ErrorDetailSchema))),
});

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
