/**
 * Reading managed names from Cloudflare so that deletions can rest on the read: offset paging
 * watched for moves, and heartbeat names read each from one complete answer.
 */
import type { DnsRecord } from "../../dns/record.ts";
import { DynipError } from "../../errors.ts";
import { log } from "../../observe/log.ts";
import { domainOf, heartbeatName } from "../../registry/heartbeat.ts";
import { append } from "../../util/multimap.ts";
import type { DomainRead, HeartbeatRead } from "../provider.ts";
import { ListingChangedError } from "./api-errors.ts";
import type { CloudflareRecord } from "./api-types.ts";
import type { CloudflareClient } from "./client.ts";
import { fromCloudflare, unixSeconds } from "./records.ts";

/** Paged reads that see the records move are repeated this often before the pass gives up. */
const READ_ATTEMPTS = 3;

/**
 * Reads the managed names of one domain with one list (paged): `D` and `_heartbeat-*.D`.
 * `name.endswith` also returns look-alikes (`xinternal.example.com`) and deeper names;
 * they are dropped here so nothing downstream can ever touch them. A read during which the
 * records visibly moved between pages is repeated, at most three times in all; then it
 * throws a DynipError, or, with `tolerateMoves` (the updater, whose withdrawals are confirmed
 * by readHeartbeats and whose refreshes must not stop in a busy zone), the third read is used
 * as it came, not atomic. Other API errors are thrown as they come.
 */
export async function readDomain(
  client: CloudflareClient,
  zoneId: string,
  domain: string,
  options: { tolerateMoves?: boolean } = {},
): Promise<DomainRead> {
  const domains = [domain];
  for (let attempt = 1; ; attempt++) {
    const last = attempt >= READ_ATTEMPTS;
    try {
      const tolerateMoves = last && options.tolerateMoves === true;
      // Converted page by page, look-alikes dropped at once: a large zone is held only once.
      const select = (r: CloudflareRecord) => {
        if (domainOf(r.name, domains) !== domain) return undefined;
        const record = fromCloudflare(r);
        // Every address record carries the domain's name: one string for all of them.
        if (record.name === domain) record.name = domain;
        return record;
      };
      const list = await client.listRecords(
        zoneId,
        { nameEndsWith: domain },
        { tolerateMoves, select },
      );
      if (list.moved)
        log.info(`the records of ${domain} kept moving (${list.moved}); read as they came`);
      const now = unixSeconds(list.serverDate);
      return {
        records: list.records,
        ...(now === undefined ? {} : { now }),
        // One answer is a snapshot only when it holds what it counts: a tolerated move is none.
        atomic: list.pages === 1 && list.moved === undefined,
      };
    } catch (error) {
      if (!(error instanceof ListingChangedError)) throw error;
      if (last) {
        throw new DynipError(
          `the records of ${domain} kept changing while being read page by page ` +
            `(${READ_ATTEMPTS} reads), so no complete read of them was had: ${error.detail}`,
        );
      }
      log.info(`${error.message}; reading ${domain} again`);
    }
  }
}

/** Requests of a heartbeat read in flight at once. */
const CONCURRENT_READS = 4;

/**
 * Reads the heartbeats of `ips` at `domain` so that every name judged comes from one complete
 * answer, a consistent snapshot, which offset paging cannot give (records deleted on an earlier
 * page shift later ones past the page boundary unseen). Names are grouped under common
 * prefixes (`name.startswith`): a group the earlier read `known` counts above half a page is
 * split by the next character first, and a group whose answer still does not fit one page is
 * split again. A single name that does not fit one page is reported `unread`. Answers are
 * asked four at a time. Throws what the client throws.
 */
export async function readHeartbeats(
  client: CloudflareClient,
  zoneId: string,
  domain: string,
  ips: readonly string[],
  known: readonly Pick<DnsRecord, "name" | "type">[],
): Promise<HeartbeatRead> {
  const byName = new Map(ips.map((ip) => [heartbeatName(ip, domain).toLowerCase(), ip]));
  const counts = sortedNames(known.filter((r) => r.type === "TXT"));
  const budget = Math.floor(client.pageSize / 2);
  const read: HeartbeatRead = { byIp: new Map(ips.map((ip) => [ip, []])), unread: [], requests: 0 };
  let dated = true;
  let pending = splitUntil([...byName.keys()].sort(), (prefix) => counts(prefix) <= budget);
  while (pending.length > 0) {
    const wave = pending.slice(0, CONCURRENT_READS);
    pending = pending.slice(CONCURRENT_READS);
    const answers = await Promise.all(
      wave.map((group) =>
        client.listPage(zoneId, {
          type: "TXT",
          nameStartsWith: group.prefix,
          nameEndsWith: `.${domain}`,
        }),
      ),
    );
    answers.forEach((answer, i) => {
      const group = wave[i] as Group;
      read.requests++;
      dated &&= answer.serverDate !== undefined;
      const seconds = unixSeconds(answer.serverDate);
      if (seconds !== undefined) read.now = Math.min(read.now ?? seconds, seconds);
      if (!answer.complete) {
        if (group.names.length > 1) pending.push(...split(group));
        else read.unread.push(byName.get(group.prefix) as string);
        return;
      }
      // Sibling groups differ at the character they were split on, so no other group's name
      // can come back under this prefix: every wanted name in the answer is this group's. (A
      // group split off as the name equal to its parent's prefix would be the exception, but
      // one heartbeat name is never a prefix of another: both end in `.D` and their first
      // label holds no dot.)
      for (const record of answer.records) {
        const ip = byName.get(record.name.toLowerCase());
        if (ip !== undefined && record.type === "TXT")
          read.byIp.get(ip)?.push(fromCloudflare(record));
      }
    });
  }
  for (const ip of read.unread) read.byIp.delete(ip);
  if (!dated) delete read.now;
  return read;
}

/** Sorted, distinct, lower-case names that share `prefix`, the longest prefix they share. */
interface Group {
  prefix: string;
  names: string[];
}

/** Splits sorted `names` into groups until `small(prefix)` holds or a group is one name. */
function splitUntil(names: string[], small: (prefix: string) => boolean): Group[] {
  if (names.length === 0) return [];
  const done: Group[] = [];
  const todo: Group[] = [group(names)];
  for (let next = todo.pop(); next; next = todo.pop()) {
    if (next.names.length === 1 || small(next.prefix)) done.push(next);
    else todo.push(...split(next));
  }
  return done;
}

/** The groups of the names by the character after their common prefix (a name equal to it alone). */
function split({ prefix, names }: Group): Group[] {
  const parts = new Map<string, string[]>();
  for (const name of names) {
    const key = name.charAt(prefix.length);
    append(parts, key, name);
  }
  return [...parts.values()].map(group);
}

function group(names: string[]): Group {
  const first = names[0] ?? "";
  const last = names.at(-1) ?? "";
  let length = 0;
  while (length < first.length && first[length] === last[length]) length++;
  return { prefix: first.slice(0, length), names };
}

/** How many of `records` have a lower-case name starting with a prefix: two binary searches. */
function sortedNames(
  records: readonly Pick<DnsRecord, "name" | "type">[],
): (prefix: string) => number {
  const names = records.map((r) => r.name.toLowerCase()).sort();
  const firstAtLeast = (key: string) => {
    let [low, high] = [0, names.length];
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((names[mid] as string) < key) low = mid + 1;
      else high = mid;
    }
    return low;
  };
  return (prefix) => firstAtLeast(`${prefix}\uffff`) - firstAtLeast(prefix);
}
