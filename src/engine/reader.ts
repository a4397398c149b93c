import type { DnsRecord } from "../dns/record.ts";
import type { Provider } from "../providers/provider.ts";
import { classify, confirmDeletions, type Entry } from "../registry/classify.ts";
import { collectGarbage, LARGE_READ } from "../util/garbage.ts";

/** One managed domain as read and judged. */
export interface DomainView {
  domain: string;
  /**
   * Unix seconds when the domain was read: the provider's clock, or this host's clock when
   * `dated` is false because the read came without the provider's.
   */
  serverNow: number;
  /** True when `serverNow` is the provider's clock. Cleanup judges nothing on the local clock. */
  dated: boolean;
  records: DnsRecord[];
  entries: Entry[];
}

export interface ReaderOptions {
  provider: Provider;
  /** The managed domains, lower-case. */
  domains: string[];
  /** STALE_THRESHOLD_SECONDS */
  thresholdSeconds: number;
}

/** What the confirming read of a domain's deletion candidates allows. */
export interface Confirmation {
  /** Candidates still deletable on the fresh read, with fresh ages; only records deletable both times. */
  entries: Entry[];
  /** Candidate addresses left alone because their heartbeat name could not be read whole. */
  unread: string[];
  /** False when the re-read came without the provider's clock: then `entries` is empty. */
  dated: boolean;
}

/**
 * Reads and classifies every managed domain. Cleanup and status both look through this, so
 * they always agree on what is stale (docs/ownership.md).
 */
export function createReader(options: ReaderOptions) {
  const { provider, thresholdSeconds } = options;

  async function readOne(domain: string): Promise<DomainView> {
    const { records, now } = await provider.readDomain(domain);
    const serverNow = now ?? Math.floor(Date.now() / 1000);
    const entries = classify({ domain, records, serverNow, thresholdSeconds });
    if (records.length >= LARGE_READ) collectGarbage();
    return { domain, serverNow, dated: now !== undefined, records, entries };
  }

  return {
    /** Every managed domain, read at once; in the order of `domains`. Throws the provider's errors. */
    readAll: (): Promise<DomainView[]> => Promise.all(options.domains.map(readOne)),

    /**
     * Reads the heartbeats of the candidates again, right before deleting, each heartbeat name
     * as one snapshot (Provider.readHeartbeats), and judges the candidates again beside the
     * address records already read: a heartbeat refreshed or written since the first read saves
     * its address. Throws the provider's errors.
     */
    async confirm(view: DomainView, candidates: Entry[]): Promise<Confirmation> {
      const ips = candidates.map((e) => e.ip);
      const read = await provider.readHeartbeats(view.domain, ips, view.records);
      if (read.now === undefined) return { entries: [], unread: read.unread, dated: false };
      const records = candidates.flatMap((e) =>
        read.byIp.has(e.ip) ? [...e.addresses, ...(read.byIp.get(e.ip) ?? [])] : [],
      );
      const after = classify({
        domain: view.domain,
        records,
        serverNow: read.now,
        thresholdSeconds,
      });
      return { entries: confirmDeletions(candidates, after), unread: read.unread, dated: true };
    },
  };
}
