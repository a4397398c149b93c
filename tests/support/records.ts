import type { DnsRecord } from "../../src/providers/cloudflare/types.ts";

/** Seconds since the epoch as Cloudflare writes a timestamp. */
export const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

/**
 * Ages in seconds before `now` on Cloudflare's clock; a string is written as is (an
 * unreadable timestamp). `modified` defaults to `created`, which defaults to 60.
 */
export interface Ages {
  created?: number | string;
  modified?: number | string;
}

export interface RecordsOptions {
  /** Ids are `<prefix><n>`, n counting from 1. Default "r". */
  idPrefix?: string;
  /** Set on every record when given; left out otherwise, as some listings leave it out. */
  proxied?: boolean;
}

export interface Records {
  /** A record with TTL 120; a number for `ages` is both its created and modified age. */
  record(name: string, type: string, content: string, ages?: number | Ages): DnsRecord;
  /** The next unused id, for records made outside `record` (e.g. by an applied create). */
  nextId(): string;
}

/** A DnsRecord builder whose ids are unique within it and whose ages count back from `now`. */
export function makeRecords(
  now: number,
  { idPrefix = "r", proxied }: RecordsOptions = {},
): Records {
  let count = 0;
  const nextId = (): string => `${idPrefix}${++count}`;
  const stamp = (age: number | string): string => (typeof age === "string" ? age : iso(now - age));
  function record(
    name: string,
    type: string,
    content: string,
    ages: number | Ages = {},
  ): DnsRecord {
    const { created = 60, modified = created } =
      typeof ages === "number" ? { created: ages, modified: ages } : ages;
    return {
      id: nextId(),
      name,
      type,
      content,
      ttl: 120,
      ...(proxied === undefined ? {} : { proxied }),
      created_on: stamp(created),
      modified_on: stamp(modified),
    };
  }
  return { record, nextId };
}
