/** Cloudflare's wire shapes, as the client sends and receives them. */
import type { ManagedRecordType } from "../../dns/record.ts";

/** A DNS record as Cloudflare returns it (the fields dynip reads). */
export interface CloudflareRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied?: boolean;
  comment?: string | null;
  created_on: string;
  modified_on: string;
}

/** A record body as sent on create, patch, put (Cloudflare's schema wants name, type and ttl every time). */
export interface RecordInput {
  name: string;
  type: ManagedRecordType;
  content: string;
  ttl: number;
  proxied?: boolean;
  comment?: string;
}

export interface BatchOperations {
  deletes: { id: string }[];
  patches: (RecordInput & { id: string })[];
  puts: (RecordInput & { id: string })[];
  posts: RecordInput[];
}

export interface BatchResult {
  deletes: CloudflareRecord[];
  patches: CloudflareRecord[];
  puts: CloudflareRecord[];
  posts: CloudflareRecord[];
}

/** Filters for listing records; each maps to the Cloudflare query parameter of the same meaning. */
export interface ListFilter {
  /** `name.exact` */
  name?: string;
  /** `name.endswith` (note: also matches look-alikes such as `xinternal.example.com`) */
  nameEndsWith?: string;
  /** `name.startswith` */
  nameStartsWith?: string;
  type?: string;
  /** `match=any` ORs the filters; default `all` */
  match?: "any" | "all";
}
