/**
 * DNS records as the planners, the registry and every provider see them: in DNS terms, with no
 * back end's shapes. A provider converts its own answers into these and these into its requests
 * (docs/provider.md).
 */

/** Record types dynip writes; other types are read only to be left alone. */
export type ManagedRecordType = "A" | "AAAA" | "TXT";

/** A record to write: what a create sends, and what a replace turns a record into. */
export interface RecordData {
  /** Owner name, fully qualified without the trailing dot: `internal.example.com`. */
  name: string;
  type: ManagedRecordType;
  /**
   * Presentation form: a dotted quad (A), RFC 5952 text (AAAA), or one double-quoted string
   * (TXT, as in a zone file: `"1699564820,web-01"`).
   */
  content: string;
  /** Seconds. */
  ttl: number;
  /** RECORD_COMMENT, kept where the back end stores notes beside records; others drop it. */
  comment?: string;
  /**
   * Settings only one back end has (Cloudflare: `{ proxied: true }`). Planners never look
   * inside: they take them from the provider's AddressStyle and pass them through.
   */
  extra?: Readonly<Record<string, boolean>>;
}

/** A record as a provider read it. */
export interface DnsRecord {
  /**
   * Opaque to everyone but the provider that read it: what it needs to address this record
   * again (Cloudflare: the record id; RFC 2136: owner, type and data). Unique within one read.
   */
  ref: string;
  /** Owner name as read; compare it lower-case. */
  name: string;
  /** Any type: records dynip does not manage are read only to be left alone. */
  type: string;
  /** Presentation form, as in RecordData. */
  content: string;
  /** Seconds. */
  ttl: number;
  comment?: string;
  /** See RecordData.extra; absent when the back end did not say. */
  extra?: Readonly<Record<string, boolean>>;
  /** When the record was created, unix seconds on the provider's clock; absent when unknown. */
  createdAt?: number;
  /** When the record was last written, unix seconds on the provider's clock; absent when unknown. */
  modifiedAt?: number;
}

/**
 * How a back end wants address records to look beyond name, type and content: the TTL and its
 * own settings (Cloudflare: proxying). The provider builds it from configuration; the update
 * planner writes `settings` into new records and rewrites records that `difference` reports.
 */
export interface AddressStyle {
  /** The TTL and `extra` of an address record for `ip` (canonical text). */
  settings(ip: string): Pick<RecordData, "ttl" | "extra">;
  /**
   * How `record` (an address record of `ip`) differs from `settings(ip)`, in words for a log
   * line (`proxied false -> true, TTL 300 -> 120`); undefined when it does not.
   */
  difference(record: DnsRecord, ip: string): string | undefined;
}

/** The style of a back end whose records have nothing but a TTL (RECORD_TTL, in seconds). */
export function ttlStyle(ttl: number): AddressStyle {
  return {
    settings: () => ({ ttl }),
    difference: (record) => (record.ttl === ttl ? undefined : `TTL ${record.ttl} -> ${ttl}`),
  };
}
