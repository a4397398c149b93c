/**
 * An authoritative DNS server of your own behind the Provider interface (docs/provider.md,
 * "RFC 2136"): reads by TSIG-signed zone transfer (AXFR, RFC 5936), writes by TSIG-signed
 * DNS UPDATE (RFC 2136, RFC 8945), one message per zone, with the deletions' prerequisites.
 * BIND, Knot and PowerDNS speak it.
 */
import type { DnsRecord, RecordData } from "../../dns/record.ts";
import { ttlStyle } from "../../dns/record.ts";
import type { TsigKey } from "../../dns/tsig-key.ts";
import { RaceError } from "../../errors.ts";
import { type Change, inApplyOrder, type Prerequisite } from "../../plan/changes.ts";
import { domainOf, heartbeatName } from "../../registry/heartbeat.ts";
import { backoffDelay } from "../backoff.ts";
import type { Applied, Lifecycle, OnApplied, Provider, RequestInfo } from "../provider.ts";
import { describeFailure, type FailureContext, isTransient, Rfc2136Error } from "./failures.ts";
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
  /** Attempts after the first for an exchange that got no answer or SERVFAIL; default 3. */
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
 * replacements as a deletion and an addition, and additions.
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
 * transfers with (TSIG), and prerequisites are kept (conditional). Reads are one zone transfer,
 * shared by every read started at the same moment and atomic; records carry no times, so
 * heartbeat ages come from their content. Address records are written with RECORD_TTL alone.
 */
export function createRfc2136Provider(options: Rfc2136Options): Provider {
  const { zone, key } = options;
  const server = describeServer(options.server);
  const retries = options.retries ?? 3;
  const context = (operation: FailureContext["operation"]): FailureContext => ({
    operation,
    server,
    zone,
    keyName: key.name,
    algorithm: key.algorithm,
  });

  const exchangeOptions = (): DnsClientOptions => ({
    server: options.server,
    timeoutMs: options.timeoutMs,
    key,
    ...(options.lifecycle ? { signal: options.lifecycle.cancel() } : {}),
    ...(options.now ? { now: options.now } : {}),
  });

  /**
   * Runs one exchange, again after no answer or SERVFAIL; every attempt is reported, with the
   * RCODE `statusOf` reads from an answer (NOERROR unless it says otherwise).
   */
  async function exchange<T>(
    method: "AXFR" | "UPDATE",
    run: () => Promise<T>,
    statusOf: (result: T) => number = () => RCODE.NOERROR,
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
        if (!transient || attempt > retries || stopping) throw error;
        const delay = backoffDelay(attempt, {
          baseDelayMs: options.baseDelayMs ?? 500,
          maxDelayMs: options.maxDelayMs ?? 8000,
        });
        await (options.lifecycle?.sleep(delay) ?? Bun.sleep(delay));
      }
    }
  }

  let inflight: Promise<Snapshot> | undefined;
  /** The zone as one transfer; reads started while one is under way share it. */
  function snapshot(): Promise<Snapshot> {
    inflight ??= exchange("AXFR", () => transferZone(zone, exchangeOptions()))
      .then((transfer) => ({
        records: transfer.records.map(fromWire),
        ...(transfer.serverTime === undefined ? {} : { now: transfer.serverTime }),
      }))
      .catch((error: unknown) => {
        throw describeFailure(error, context("transfer"));
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  /** Sends `changes` in as few messages as fit, halving a list too long for one. */
  async function send(changes: Change[], applied: Applied, onApplied?: OnApplied): Promise<void> {
    let result: Awaited<ReturnType<typeof sendUpdate>>;
    try {
      result = await exchange(
        "UPDATE",
        () => sendUpdate(toUpdate(zone, changes), exchangeOptions()),
        (answer) => (answer.outcome === "race" ? RCODE[answer.rcode] : RCODE.NOERROR),
      );
    } catch (error) {
      if (error instanceof MessageTooLargeError && changes.length > 1) {
        const half = Math.ceil(changes.length / 2);
        await send(changes.slice(0, half), applied, onApplied);
        await send(changes.slice(half), applied, onApplied);
        return;
      }
      throw describeFailure(error, context("update"));
    }
    if (result.outcome === "race") {
      throw new RaceError(
        new Rfc2136Error(
          `DNS server ${server} refused the UPDATE of zone ${zone}: a prerequisite no longer holds (${result.rcode}), the records changed since they were read`,
          false,
          undefined,
        ),
      );
    }
    const records = changes.flatMap((c) => (c.kind === "delete" ? [] : [written(c.record)]));
    applied.written.push(...records);
    applied.deleted.push(...changes.flatMap((c) => (c.kind === "delete" ? [c.record.ref] : [])));
    onApplied?.(changes, records);
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
      if (changes.length > 0) await send(inApplyOrder(changes), applied, onApplied);
      return applied;
    },

    // The zone is known: configuration already refused a managed name at its apex.
    async checkDeletable() {},
  };
}
