/**
 * Cloudflare's records in DNS terms and back: the record id is the ref, `created_on` and
 * `modified_on` become unix seconds, `proxied` travels in `extra`. CF_PROXIED's rules live here.
 */
import { isPublic } from "../../detect/cidr.ts";
import type { AddressStyle, DnsRecord, RecordData } from "../../dns/record.ts";
import type { CloudflareRecord, RecordInput } from "./api-types.ts";

/** `extra` of every record Cloudflare says is (not) proxied: shared, as a zone has 100,000. */
const PROXIED = Object.freeze({ proxied: true });
const NOT_PROXIED = Object.freeze({ proxied: false });

/** A record as Cloudflare listed it, in DNS terms; an unreadable timestamp is left out. */
export function fromCloudflare(record: CloudflareRecord): DnsRecord {
  const createdAt = unixSeconds(record.created_on);
  const modifiedAt = unixSeconds(record.modified_on);
  const converted: DnsRecord = {
    ref: record.id,
    name: record.name,
    type: record.type,
    content: record.content,
    ttl: record.ttl,
  };
  if (typeof record.comment === "string") converted.comment = record.comment;
  if (record.proxied !== undefined) converted.extra = record.proxied ? PROXIED : NOT_PROXIED;
  if (createdAt !== undefined) converted.createdAt = createdAt;
  if (modifiedAt !== undefined) converted.modifiedAt = modifiedAt;
  return converted;
}

/** The body Cloudflare wants for a record; `extra.proxied` becomes `proxied`, nothing else does. */
export function toCloudflare(record: RecordData): RecordInput {
  const proxied = record.extra?.proxied;
  return {
    name: record.name,
    type: record.type,
    content: record.content,
    ttl: record.ttl,
    ...(proxied === undefined ? {} : { proxied }),
    ...(record.comment === undefined ? {} : { comment: record.comment }),
  };
}

/**
 * Whole unix seconds of a Cloudflare timestamp (`created_on`, `modified_on`) or of an answer's
 * `Date`; undefined when absent or unreadable.
 */
export function unixSeconds(time: string | Date | undefined): number | undefined {
  const ms =
    time instanceof Date ? time.getTime() : time === undefined ? Number.NaN : Date.parse(time);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/**
 * Address records on Cloudflare: RECORD_TTL, and CF_PROXIED for public addresses only
 * (Cloudflare refuses to proxy the rest). A proxied record's TTL is Cloudflare's (automatic), so
 * it is compared only for records that are not to be proxied; a record whose `proxied` the API
 * did not say is judged by its TTL alone.
 */
export function cloudflareStyle(settings: { ttl: number; proxied: boolean }): AddressStyle {
  const wanted = (ip: string) => ({
    ttl: settings.ttl,
    proxied: settings.proxied && isPublic(ip),
  });
  return {
    settings(ip) {
      const { ttl, proxied } = wanted(ip);
      return { ttl, extra: { proxied } };
    },
    difference(record, ip) {
      const want = wanted(ip);
      const proxied = record.extra?.proxied;
      const changes: string[] = [];
      if (proxied !== undefined && proxied !== want.proxied) {
        changes.push(`proxied ${proxied} -> ${want.proxied}`);
      }
      if (!want.proxied && record.ttl !== want.ttl) {
        changes.push(`TTL ${record.ttl} -> ${want.ttl}`);
      }
      return changes.length > 0 ? changes.join(", ") : undefined;
    },
  };
}
