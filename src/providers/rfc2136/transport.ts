/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766): one connection per exchange, each message framed
 * by its 2-byte big-endian length, one request and its answer, or the many answers of a zone
 * transfer. On top of it, the two exchanges the RFC 2136 provider needs: a signed UPDATE and a
 * signed AXFR. Every error is one of DnsNetworkError, DnsFormatError, TsigError or
 * DnsRcodeError, and an UPDATE whose prerequisite failed is a result, not an error.
 */
import { connect, type Socket } from "node:net";
import type { TsigKey } from "../../dns/tsig-key.ts";
import { createTransferVerifier, DEFAULT_FUDGE, signMessage, verifyResponse } from "./tsig.ts";
import {
  type DecodedMessage,
  DnsFormatError,
  decodeMessage,
  encodeAxfrQuery,
  encodeUpdate,
  MAX_MESSAGE_BYTES,
  OPCODE,
  RCODE,
  type RcodeName,
  type ResourceRecord,
  RR_TYPE,
  randomId,
  rcodeName,
  responseCode,
  tsigRecord,
  type Update,
} from "./wire.ts";

/** A zone transfer of more than this is refused rather than held in memory. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

export interface ServerAddress {
  /** IPv4 or IPv6 literal (brackets allowed), or a host name node:net resolves. */
  host: string;
  port: number;
}

export interface ExchangeOptions {
  server: ServerAddress;
  /** Bounds the whole exchange, connecting included, in milliseconds. */
  timeoutMs: number;
  /** Bytes read, framing included, past which the exchange fails; default 64 MiB. */
  maxBytes?: number;
  /** Aborting ends the exchange at once with a DnsNetworkError `aborted`. */
  signal?: AbortSignal;
}

export type NetworkProblem =
  | "refused"
  | "timeout"
  | "unreachable"
  | "unresolved"
  | "reset"
  | "closed"
  | "too-large"
  | "aborted"
  | "other";

/** No complete answer came: the server could not be reached, hung, hung up, or sent too much. */
export class DnsNetworkError extends Error {
  override name = "DnsNetworkError";
  constructor(
    readonly problem: NetworkProblem,
    readonly server: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`DNS server ${server}: ${detail}`, options);
  }
}

/** `[::1]:53` or `192.0.2.1:53`: how errors name a server. */
export function describeServer(server: ServerAddress): string {
  const host = unbracket(server.host);
  return host.includes(":") ? `[${host}]:${server.port}` : `${host}:${server.port}`;
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * Sends `request` (one wire message, at most 65,535 bytes) over a new TCP connection and hands
 * each complete answer message to `onMessage` in order, until it returns true; then closes the
 * connection and resolves. A throw from `onMessage` closes the connection and rejects with that
 * error. Rejects with DnsNetworkError when the connection fails (`refused`, `unreachable`,
 * `unresolved`, `reset`), the server closes it first (`closed`), `timeoutMs` passes
 * (`timeout`), more than `maxBytes` arrive (`too-large`) or `signal` aborts (`aborted`).
 */
export function exchangeTcp(
  request: Uint8Array,
  options: ExchangeOptions,
  onMessage: (message: Uint8Array) => boolean,
): Promise<void> {
  const where = describeServer(options.server);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (request.length > MAX_MESSAGE_BYTES) {
    return Promise.reject(new DnsFormatError("request longer than 65,535 bytes", 0));
  }
  if (options.signal?.aborted) {
    return Promise.reject(new DnsNetworkError("aborted", where, "stopped before connecting"));
  }
  return new Promise((resolve, reject) => {
    let socket: Socket | undefined;
    let settled = false;
    let received = 0;
    let answered = false;
    let pending: Buffer = Buffer.alloc(0);
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      // Our side is done either way: FIN when all was read, and no lingering socket.
      socket?.destroy();
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish(new DnsNetworkError("aborted", where, "stopped"));
    const timer = setTimeout(
      () =>
        finish(
          new DnsNetworkError(
            "timeout",
            where,
            `no complete answer within ${options.timeoutMs} ms${answered ? " (the answer stopped part way)" : ""}`,
          ),
        ),
      options.timeoutMs,
    );
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      socket = connect({ host: unbracket(options.server.host), port: options.server.port });
    } catch (error) {
      finish(networkError(error, where));
      return;
    }
    socket.setNoDelay(true);
    socket.on("connect", () => {
      const frame = Buffer.alloc(2 + request.length);
      frame.writeUInt16BE(request.length, 0);
      frame.set(request, 2);
      socket?.write(frame);
    });
    socket.on("data", (chunk: Buffer) => {
      if (settled) return;
      received += chunk.length;
      if (received > maxBytes) {
        finish(new DnsNetworkError("too-large", where, `answer larger than ${maxBytes} bytes`));
        return;
      }
      answered = true;
      // At most one message (≤ 65,537 bytes framed) is ever pending, so joining stays cheap.
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const size = pending.readUInt16BE(0);
        if (pending.length < 2 + size) break;
        const message = new Uint8Array(pending.subarray(2, 2 + size));
        pending = pending.subarray(2 + size);
        let done: boolean;
        try {
          done = onMessage(message);
        } catch (error) {
          finish(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (done) {
          finish();
          return;
        }
      }
    });
    socket.on("error", (error) => finish(networkError(error, where)));
    socket.on("close", () =>
      finish(
        new DnsNetworkError(
          "closed",
          where,
          answered
            ? "closed the connection in the middle of the answer"
            : "closed the connection without answering",
        ),
      ),
    );
  });
}

function networkError(error: unknown, where: string): DnsNetworkError {
  const code = (error as { code?: unknown })?.code;
  const text = error instanceof Error ? error.message : String(error);
  const problem: NetworkProblem =
    code === "ECONNREFUSED"
      ? "refused"
      : code === "ETIMEDOUT"
        ? "timeout"
        : code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EADDRNOTAVAIL"
          ? "unreachable"
          : code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME"
            ? "unresolved"
            : code === "ECONNRESET" || code === "EPIPE"
              ? "reset"
              : "other";
  const detail = {
    refused: "connection refused (is the DNS server running and listening on TCP?)",
    timeout: "connection timed out",
    unreachable: "unreachable",
    unresolved: "the host name does not resolve",
    reset: "the connection was reset",
  } as Record<NetworkProblem, string | undefined>;
  return new DnsNetworkError(problem, where, detail[problem] ?? text, { cause: error });
}

/** The server answered with an error RCODE that is not a race. */
export class DnsRcodeError extends Error {
  override name = "DnsRcodeError";
  readonly rcodeName: string;
  constructor(
    readonly rcode: number,
    readonly operation: "update" | "transfer",
    readonly zone: string,
    readonly server: string,
  ) {
    const what = operation === "update" ? `UPDATE of zone ${zone}` : `transfer of zone ${zone}`;
    super(`DNS server ${server} answered the ${what} with ${rcodeName(rcode)}`);
    this.rcodeName = rcodeName(rcode);
  }
}

export interface DnsClientOptions extends ExchangeOptions {
  /** TSIG key; without one, requests go unsigned and answers are not checked. */
  key?: TsigKey;
  /** TSIG fudge in seconds; default 300. */
  fudge?: number;
  /** The local clock in seconds since 1970; default Date.now()/1000. Tests move it. */
  now?: () => number;
}

/**
 * The prerequisite RCODEs of RFC 2136 §3.2.5: the records changed since they were read. The
 * caller re-reads and plans again; nothing was changed on the server.
 */
export type RaceRcode = Extract<RcodeName, "YXDOMAIN" | "NXDOMAIN" | "YXRRSET" | "NXRRSET">;

const RACE_RCODES = new Set<number>([RCODE.YXDOMAIN, RCODE.NXDOMAIN, RCODE.YXRRSET, RCODE.NXRRSET]);

export type UpdateResult =
  /** Every prerequisite held and every change was applied, atomically (§3.7). */
  | { outcome: "applied" }
  /** A prerequisite failed (`rcode` says which kind); nothing was changed (§3.2). */
  | { outcome: "race"; rcode: RaceRcode };

function clock(options: DnsClientOptions): number {
  return options.now?.() ?? Date.now() / 1000;
}

/**
 * Sends one UPDATE (RFC 2136) over TCP, signed with `options.key` when given, and reads its
 * answer. Resolves `applied` or `race`. Throws DnsEncodeError (bad input; nothing sent),
 * DnsNetworkError, DnsFormatError (an answer that is not DNS or not to this request),
 * TsigError (the server refused our key, or its answer is not properly signed), or
 * DnsRcodeError for every other RCODE (FORMERR, SERVFAIL, NOTIMP, REFUSED, NOTAUTH, NOTZONE…).
 */
export async function sendUpdate(update: Update, options: DnsClientOptions): Promise<UpdateResult> {
  const id = randomId();
  let request = encodeUpdate(id, update);
  let requestMac: Uint8Array | undefined;
  if (options.key) {
    const signed = signMessage(request, options.key, {
      timeSigned: Math.floor(clock(options)),
      fudge: options.fudge ?? DEFAULT_FUDGE,
    });
    request = signed.message;
    requestMac = signed.mac;
  }
  let answer: { raw: Uint8Array; decoded: DecodedMessage } | undefined;
  await exchangeTcp(request, options, (raw) => {
    answer = { raw, decoded: decodeMessage(raw) };
    return true;
  });
  if (!answer) throw new DnsFormatError("no answer", 0);
  checkAnswers(answer.decoded, id, OPCODE.UPDATE);
  if (options.key && requestMac) {
    verifyResponse(answer.raw, answer.decoded, options.key, requestMac, clock(options));
  }
  const rcode = responseCode(answer.decoded);
  if (rcode === RCODE.NOERROR) return { outcome: "applied" };
  if (RACE_RCODES.has(rcode)) return { outcome: "race", rcode: rcodeName(rcode) as RaceRcode };
  throw new DnsRcodeError(rcode, "update", update.zone, describeServer(options.server));
}

/** Throws DnsFormatError unless `message` is a response to our request `id` with `opcode`. */
function checkAnswers(message: DecodedMessage, id: number, opcode: number): void {
  if (!message.qr) throw new DnsFormatError("the answer is a query, not a response", 2);
  if (message.id !== id) {
    throw new DnsFormatError(`the answer's id ${message.id} is not the request's ${id}`, 0);
  }
  if (message.opcode !== opcode) {
    throw new DnsFormatError(`the answer's opcode ${message.opcode} is not ${opcode}`, 2);
  }
}

export interface Transfer {
  /** The zone's SOA record, first and last of the transfer. */
  soa: ResourceRecord;
  /** Every other record, in the order sent (the closing SOA left out). */
  records: ResourceRecord[];
  /** How many messages the answer took. */
  messages: number;
  /**
   * The server's clock when it began to answer, seconds since 1970: the time it signed into
   * the first message's verified TSIG. Undefined for a transfer without a key.
   */
  serverTime?: number;
}

/**
 * The whole zone by AXFR over TCP (RFC 5936), signed with `options.key` when given: every
 * message is verified (RFC 8945 §5.3.1, unsigned runs of up to 99 allowed) and the transfer
 * ends with the second SOA. Throws DnsNetworkError (including `too-large` past `maxBytes`),
 * DnsFormatError (not DNS, not our answer, or not a transfer: no SOA first), TsigError, or
 * DnsRcodeError (REFUSED when `allow-transfer` does not let this key transfer, NOTAUTH when
 * the server is not authoritative for the zone, …).
 */
export async function transferZone(zone: string, options: DnsClientOptions): Promise<Transfer> {
  const id = randomId();
  let request = encodeAxfrQuery(id, zone);
  let verifier: ReturnType<typeof createTransferVerifier> | undefined;
  if (options.key) {
    const signed = signMessage(request, options.key, {
      timeSigned: Math.floor(clock(options)),
      fudge: options.fudge ?? DEFAULT_FUDGE,
    });
    request = signed.message;
    verifier = createTransferVerifier(options.key, signed.mac, () => clock(options));
  }
  const server = describeServer(options.server);
  let soa: ResourceRecord | undefined;
  const records: ResourceRecord[] = [];
  let messages = 0;
  let serverTime: number | undefined;
  await exchangeTcp(request, options, (raw) => {
    const decoded = decodeMessage(raw);
    messages++;
    checkAnswers(decoded, id, OPCODE.QUERY);
    verifier?.verify(raw, decoded);
    // Verified just now: the first signed message's time is the server's clock.
    if (verifier && serverTime === undefined) serverTime = tsigRecord(decoded)?.data.timeSigned;
    const rcode = responseCode(decoded);
    if (rcode !== RCODE.NOERROR) throw new DnsRcodeError(rcode, "transfer", zone, server);
    for (const [i, record] of decoded.answers.entries()) {
      if (soa === undefined) {
        if (record.type !== RR_TYPE.SOA) {
          throw new DnsFormatError("the transfer does not start with the zone's SOA", 12);
        }
        soa = record;
        continue;
      }
      if (record.type === RR_TYPE.SOA) {
        if (i !== decoded.answers.length - 1) {
          throw new DnsFormatError("records after the transfer's closing SOA", 12);
        }
        verifier?.finish();
        return true;
      }
      records.push(record);
    }
    if (soa === undefined) throw new DnsFormatError("the transfer's first answer is empty", 12);
    return false;
  });
  if (!soa) throw new DnsFormatError("no SOA in the transfer", 0);
  return { soa, records, messages, ...(serverTime === undefined ? {} : { serverTime }) };
}
