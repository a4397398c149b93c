/**
 * An authoritative DNS server of your own behind the Provider interface (docs/provider.md,
 * "RFC 2136"): reads by TSIG-signed zone transfer (AXFR, RFC 5936), writes by TSIG-signed
 * DNS UPDATE (RFC 2136, RFC 8945), one message per zone, with the deletions' prerequisites,
 * its parts sent apart when the server refuses part of it (parts.ts). BIND, Knot and PowerDNS
 * speak it.
 */
import type { DnsRecord, RecordData } from "../../dns/record.ts";
import { ttlStyle } from "../../dns/record.ts";
import type { TsigKey } from "../../dns/tsig-key.ts";
import { RaceError } from "../../errors.ts";
import { type Change, inApplyOrder, type Prerequisite } from "../../plan/changes.ts";
import { domainOf, heartbeatName } from "../../registry/heartbeat.ts";
import { backoffDelay } from "../backoff.ts";
import type { Applied, Lifecycle, OnApplied, Provider, RequestInfo } from "../provider.ts";
import {
  atRrsetLimit,
  describeFailure,
  describeRefusals,
  type FailureContext,
  isRefusal,
  isServfail,
  isTransient,
  type Operation,
  Rfc2136Error,
} from "./failures.ts";
import { sendInParts } from "./parts.ts";
import {
  type DnsClientOptions,
  DnsRcodeError,
  describeServer,
  type ServerAddress,
  sendUpdate,
  transferZone,
} from "./transport.ts";
import {
  MessageTooLargeError,
  RCODE,
  type RecordType,
  type ResourceRecord,
  rdataContent,
  typeName,
  type UpdateOperation,
  type UpdatePrerequisite,
} from "./wire.ts";

export interface Rfc2136Options {
  server: ServerAddress;
  /** The zone every managed name is in: lower-case, no trailing dot. */
  zone: string;
  key: TsigKey;
  /** Per exchange, connecting and a whole transfer included (RFC2136_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** RECORD_TTL in seconds. */
  ttl: number;
  /**
   * Attempts after the first for an exchange that got no answer or SERVFAIL (an UPDATE: when
   * every part of it got SERVFAIL); default 3.
   */
  retries?: number;
  /** Backoff base in milliseconds; default 500. */
  baseDelayMs?: number;
  /** Backoff cap in milliseconds; default 8000. */
  maxDelayMs?: number;
  /** Hears every exchange, retries included. */
  onRequest?: (info: RequestInfo) => void;
  /** A long-lived process's stop: no retries after it, exchanges cut at its deadlines. */
  lifecycle?: Lifecycle;
  /** This host's clock in seconds, for TSIG (tests move it); default Date.now()/1000. */
  now?: () => number;
}

/** One zone transfer, as the reads of a moment share it. */
interface Snapshot {
  records: DnsRecord[];
  /** The server's clock when it answered: the time it signed the transfer with. */
  now?: number;
}

/**
 * The ref of a record read from or written to the server: DNS records have no ids, and an
 * RRset holds each value once, so owner (lower-case), type and data name one record.
 */
export function refOf(record: Pick<DnsRecord, "name" | "type" | "content">): string {
  return `${record.name.toLowerCase()} ${record.type} ${record.content}`;
}

/** A record of a transfer in DNS terms: no times (DNS keeps none), the ref from its data. */
function fromWire(record: ResourceRecord): DnsRecord {
  const type = typeName(record.type);
  const content = rdataContent(record.data);
  return {
    ref: refOf({ name: record.name, type, content }),
    name: record.name,
    type,
    content,
    ttl: record.ttl,
  };
}

/** How many records each RRset holds, keyed `<owner lower-case> <type>`. */
function sizesOf(records: readonly DnsRecord[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const r of records) {
    const key = `${r.name.toLowerCase()} ${r.type}`;
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  return sizes;
}

function written(record: RecordData): DnsRecord {
  const { name, type, content, ttl } = record;
  return { ref: refOf(record), name, type, content, ttl };
}

/** The wire form of a change's prerequisite: value dependent, or "no such RRset" when empty. */
function prerequisite(p: Prerequisite): UpdatePrerequisite {
  return p.contents.length === 0
    ? { kind: "rrset-absent", name: p.name, type: p.type }
    : { kind: "rrset-equals", name: p.name, type: p.type, contents: p.contents };
}

/**
 * The UPDATE for changes in apply order: every deletion's prerequisites (each once), then
 * single-record deletions by value (class NONE, never a whole RRset a sharer holds part of),
 * replacements as a deletion and an addition, verifications as an addition alone, and
 * additions.
 */
function toUpdate(zone: string, changes: readonly Change[]) {
  const prerequisites = new Map<string, UpdatePrerequisite>();
  const updates: UpdateOperation[] = [];
  const remove = (r: Pick<DnsRecord, "name" | "type" | "content">): UpdateOperation => ({
    kind: "delete",
    name: r.name,
    type: r.type as RecordType,
    content: r.content,
  });
  const add = (r: RecordData): UpdateOperation => ({
    kind: "add",
    name: r.name,
    type: r.type,
    ttl: r.ttl,
    content: r.content,
  });
  for (const change of changes) {
    if (change.kind === "delete") {
      for (const p of change.onlyIf ?? []) {
        const wire = prerequisite(p);
        prerequisites.set(JSON.stringify(wire), wire);
      }
      updates.push(remove(change.record));
    } else if (change.kind === "replace" && change.verify === true) {
      // Re-asserting a record as read: an add alone, which the server ignores while the RR is
      // there (RFC 2136 §3.4.2.2) and which writes it back when it is gone.
      updates.push(add(change.record));
    } else if (change.kind === "replace") {
      updates.push(remove(change.before), add(change.record));
    } else {
      updates.push(add(change.record));
    }
  }
  return { zone, prerequisites: [...prerequisites.values()], updates };
}

/**
 * An RFC 2136 server as a Provider. Capabilities: the clock is the time the server signs its
 * transfers with (TSIG), prerequisites are kept (conditional), and verification is free (an add
 * of a record that exists changes nothing). Reads are one zone transfer,
 * shared by every read started at the same moment and atomic; records carry no times, so
 * heartbeat ages come from their content. Address records are written with RECORD_TTL alone.
 * Writes are one UPDATE per call, sent again in parts when the server refuses part of it.
 */
export function createRfc2136Provider(options: Rfc2136Options): Provider {
  const { zone, key } = options;
  const server = describeServer(options.server);
  const retries = options.retries ?? 3;
  /** Records per RRset (`<owner lower-case> <type>`) at the last transfer: where limits show. */
  let rrsetSizes = new Map<string, number>();
  /** What the key has done here: after a success, a BADKEY is the server's ACL, not the key. */
  const succeeded = new Set<Operation>();
  const context = (operation: Operation, changes?: readonly Change[]): FailureContext => ({
    operation,
    server,
    zone,
    keyName: key.name,
    algorithm: key.algorithm,
    succeeded,
    rrsetSize: (name, type) => rrsetSizes.get(`${name} ${type}`),
    ...(changes ? { changes } : {}),
  });

  /** Waits before retry number `retry` (1 for the first), or less when a stop comes. */
  const pause = (retry: number): Promise<void> => {
    const delay = backoffDelay(retry, {
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 8000,
    });
    return options.lifecycle?.sleep(delay) ?? Bun.sleep(delay);
  };

  const exchangeOptions = (): DnsClientOptions => ({
    server: options.server,
    timeoutMs: options.timeoutMs,
    key,
    ...(options.lifecycle ? { signal: options.lifecycle.cancel() } : {}),
    ...(options.now ? { now: options.now } : {}),
  });

  /**
   * Runs one exchange, again after no answer or (with `retryServfail`, the default) SERVFAIL;
   * every attempt is reported, with the RCODE `statusOf` reads from an answer (NOERROR unless
   * it says otherwise).
   */
  async function exchange<T>(
    method: "AXFR" | "UPDATE",
    run: () => Promise<T>,
    statusOf: (result: T) => number = () => RCODE.NOERROR,
    retryServfail = true,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await run();
        options.onRequest?.({ method, path: zone, status: statusOf(result), strained: false });
        return result;
      } catch (error) {
        const rcode = error instanceof DnsRcodeError ? error.rcode : null;
        const transient = isTransient(error);
        options.onRequest?.({
          method,
          path: zone,
          status: rcode,
          error: (error as Error).message,
          strained: transient,
        });
        const stopping = options.lifecycle?.stopping() ?? false;
        const again = transient && (retryServfail || !isServfail(error));
        if (!again || attempt > retries || stopping) throw error;
        await pause(attempt);
      }
    }
  }

  let inflight: Promise<Snapshot> | undefined;
  /** The zone as one transfer; reads started while one is under way share it. */
  function snapshot(): Promise<Snapshot> {
    inflight ??= exchange("AXFR", () => transferZone(zone, exchangeOptions()))
      .then((transfer) => {
        succeeded.add("transfer");
        const records = transfer.records.map(fromWire);
        rrsetSizes = sizesOf(records);
        return {
          records,
          ...(transfer.serverTime === undefined ? {} : { now: transfer.serverTime }),
        };
      })
      .catch((error: unknown) => {
        throw describeFailure(error, context("transfer"));
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  /**
   * Sends `changes` as one UPDATE, again only after no answer (`deliver` repeats a SERVFAIL).
   * Resolves undefined when it was applied (recorded in `applied`, told to `onApplied`), or
   * the RaceError when a prerequisite no longer held (nothing of it landed). Throws the wire
   * layer's errors as they are. A change whose message went unanswered or failed (SERVFAIL)
   * joins `uncertain`: a copy of it may have landed, so a later race may be its own.
   */
  async function sendMessage(
    changes: Change[],
    uncertain: Set<Change>,
    applied: Applied,
    onApplied?: OnApplied,
  ): Promise<RaceError | undefined> {
    let copies = 0;
    let result: Awaited<ReturnType<typeof sendUpdate>>;
    try {
      result = await exchange(
        "UPDATE",
        () => {
          copies++;
          return sendUpdate(toUpdate(zone, changes), exchangeOptions());
        },
        (answer) => (answer.outcome === "race" ? RCODE[answer.rcode] : RCODE.NOERROR),
        false,
      );
    } catch (error) {
      if (copies > 1 || isServfail(error)) for (const c of changes) uncertain.add(c);
      throw error;
    }
    if (copies > 1) for (const c of changes) uncertain.add(c);
    if (result.outcome === "race") {
      return new RaceError(
        new Rfc2136Error(
          `DNS server ${server} refused the UPDATE of zone ${zone}: a prerequisite no longer holds (${result.rcode}), the records changed since they were read`,
          false,
          undefined,
        ),
        { mayHaveLanded: changes.some((c) => uncertain.has(c)) },
      );
    }
    succeeded.add("update");
    const records = changes.flatMap((c) => (c.kind === "delete" ? [] : [written(c.record)]));
    applied.written.push(...records);
    applied.deleted.push(...changes.flatMap((c) => (c.kind === "delete" ? [c.record.ref] : [])));
    onApplied?.(changes, records);
    return undefined;
  }

  /**
   * Writes `changes` (apply order) by sendInParts: one UPDATE, and where the server refuses it
   * (isRefusal) or it passes 65,535 bytes, its parts apart, each address with its heartbeats,
   * so one refused record stops no other change. When every part failed with SERVFAIL, none
   * explained by an RRset at BIND's limit, the server is failing: after a backoff the whole is
   * sent again as one message, up to `retries` times, not after a stop. Throws, after every
   * landed part was reported: the first RaceError of a part (the engine reads again), else
   * describeRefusals' error naming each refused change and why, else the first error that is
   * not a refusal (no answer, BADSIG, BADTIME…), described.
   */
  async function deliver(changes: Change[], applied: Applied, onApplied?: OnApplied) {
    const uncertain = new Set<Change>();
    let landed = 0;
    for (let round = 1; ; round++) {
      const outcome = await sendInParts(changes, {
        send: (part) => sendMessage(part, uncertain, applied, onApplied),
        // After a round of nothing but SERVFAIL, splitting again would only repeat it.
        judge: (error) => {
          if (error instanceof MessageTooLargeError) return "split";
          if (!isRefusal(error)) return "throw";
          return round > 1 && isServfail(error) ? "whole" : "split";
        },
      }).catch((error: unknown) => {
        throw describeFailure(error, context("update", changes));
      });
      landed += outcome.landed;
      const raced = outcome.raced[0];
      if (raced) throw raced.race;
      if (outcome.refused.length === 0) return;
      const failing =
        landed === 0 &&
        outcome.refused.every(
          (r) => isServfail(r.error) && !atRrsetLimit(r.changes, context("update")),
        );
      const stopping = options.lifecycle?.stopping() ?? false;
      if (!failing || round > retries || stopping) {
        throw describeRefusals(
          outcome.refused,
          { landed, total: changes.length },
          context("update"),
        );
      }
      await pause(round);
    }
  }

  return {
    name: `DNS server ${server}`,
    capabilities: {
      clock: {
        id: "dns-server",
        owner: `DNS server ${server}`,
        absent: `DNS server ${server} signed no time into its answer`,
      },
      conditional: true,
      freeVerification: true,
    },
    style: ttlStyle(options.ttl),

    async readDomain(domain) {
      const { records, now } = await snapshot();
      const lower = domain.toLowerCase();
      const mine = records.filter((r) => domainOf(r.name, [lower]) === lower);
      return { records: mine, ...(now === undefined ? {} : { now }), atomic: true };
    },

    async readHeartbeats(domain, ips) {
      const { records, now } = await snapshot();
      const byIp = new Map(
        ips.map((ip) => {
          const name = heartbeatName(ip, domain).toLowerCase();
          return [ip, records.filter((r) => r.type === "TXT" && r.name.toLowerCase() === name)];
        }),
      );
      return { byIp, unread: [], ...(now === undefined ? {} : { now }), requests: 1 };
    },

    async apply(changes, onApplied) {
      const applied: Applied = { written: [], deleted: [] };
      if (changes.length > 0) await deliver(inApplyOrder(changes), applied, onApplied);
      return applied;
    },

    // The zone is known: configuration already refused a managed name at its apex.
    async checkDeletable() {},
  };
}
