import type { DnsRecord } from "../../src/dns/record.ts";

/** Seconds since the epoch as Cloudflare writes a timestamp. */
export const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/**
 * Ages in seconds before `now` on the provider's clock; a string stands for a timestamp the
 * provider could not read (the record then has no such time). `modified` defaults to
 * `created`, which defaults to 60.
 */
export interface Ages {
  created?: number | string;
  modified?: number | string;
}

export interface RecordsOptions {
  /** Refs are `<prefix><n>`, n counting from 1. Default "r". */
  idPrefix?: string;
  /** Set on every record when given; left out otherwise, as some listings leave it out. */
  proxied?: boolean;
}

export interface Records {
  /** A record with TTL 120; a number for `ages` is both its created and modified age. */
  record(name: string, type: string, content: string, ages?: number | Ages): DnsRecord;
  /** The next unused ref, for records made outside `record` (e.g. by an applied create). */
  nextId(): string;
}

/** A DnsRecord builder whose refs are unique within it and whose ages count back from `now`. */
export function makeRecords(
  now: number,
  { idPrefix = "r", proxied }: RecordsOptions = {},
): Records {
  let count = 0;
  const nextId = (): string => `${idPrefix}${++count}`;
  const stamp = (age: number | string): number | undefined =>
    typeof age === "string" ? undefined : now - age;
  function record(
    name: string,
    type: string,
    content: string,
    ages: number | Ages = {},
  ): DnsRecord {
    const { created = 60, modified = created } =
      typeof ages === "number" ? { created: ages, modified: ages } : ages;
    const [createdAt, modifiedAt] = [stamp(created), stamp(modified)];
    return {
      ref: nextId(),
      name,
      type,
      content,
      ttl: 120,
      ...(proxied === undefined ? {} : { extra: { proxied } }),
      ...(createdAt === undefined ? {} : { createdAt }),
      ...(modifiedAt === undefined ? {} : { modifiedAt }),
    };
  }
  return { record, nextId };
}
