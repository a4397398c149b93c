/**
 * TSIG (RFC 8945): HMAC signatures over DNS messages with a key shared with the server, the
 * way BIND's `tsig-keygen` makes them. A request is signed once; its response is verified
 * against the request's MAC; a zone transfer's messages are verified as a chain, each signed
 * message covering the previous MAC (§5.3.1).
 *
 * Times are seconds since 1970; all integers big-endian. Nothing here does I/O.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { secretBytes, type TsigAlgorithm, type TsigKey } from "../../dns/tsig-key.ts";
import {
  canonicalNameBytes,
  type DecodedMessage,
  DnsEncodeError,
  encodeTsigRecord,
  MAX_MESSAGE_BYTES,
  MessageTooLargeError,
  nameLabels,
  RCODE,
  rcodeName,
  type TsigData,
  tsigRecord,
} from "./wire.ts";

/** node:crypto's name and the MAC's full length in bytes. */
const HASHES: Record<TsigAlgorithm, { hash: string; size: number }> = {
  "hmac-sha256": { hash: "sha256", size: 32 },
  "hmac-sha512": { hash: "sha512", size: 64 },
  "hmac-sha384": { hash: "sha384", size: 48 },
  "hmac-sha224": { hash: "sha224", size: 28 },
  "hmac-sha1": { hash: "sha1", size: 20 },
};

/** RFC 8945 §10 recommends 300 seconds; BIND and nsupdate use it. */
export const DEFAULT_FUDGE = 300;

/**
 * RFC 8945 §5.3.1: at most 99 messages of a transfer may come without TSIG between two signed
 * ones (BIND signs every message; other servers may not).
 */
export const MAX_UNSIGNED_MESSAGES = 99;

/** What went wrong with a TSIG, by the code RFC 8945 §3 gives it, or the checks of §5.3. */
export type TsigProblem =
  | "BADSIG"
  | "BADKEY"
  | "BADTIME"
  | "BADTRUNC"
  /** The answer carries no TSIG although the request was signed. */
  | "UNSIGNED"
  /** A TSIG error code this module has no name for. */
  | "OTHER";

/**
 * A TSIG check failed. `by` says who found it: `server` (it refused our signature: the key name,
 * secret or algorithm is not one it knows, or the clocks differ) or `client` (the answer's
 * signature is wrong, missing, or signed at a time too far from ours). `rcode` is the answer's
 * header RCODE (NOTAUTH when the server refused). With BADTIME from the server, `serverTime` is
 * the server's clock in seconds (RFC 8945 §5.2.3).
 */
export class TsigError extends Error {
  override name = "TsigError";
  constructor(
    readonly problem: TsigProblem,
    readonly by: "server" | "client",
    message: string,
    readonly rcode: number,
    readonly serverTime?: number,
  ) {
    super(message);
  }
}

/**
 * The secret's bytes. Throws DnsEncodeError when it is not base64 (standard alphabet, padding
 * optional) or empty; the message never contains the secret.
 */
export function decodeSecret(secret: string): Buffer {
  const bytes = secretBytes(secret);
  if (!bytes) throw new DnsEncodeError("the TSIG secret is not base64 (as tsig-keygen prints it)");
  return bytes;
}

/** Throws DnsEncodeError for an unknown algorithm or a bad key name or secret. */
function checkKey(key: TsigKey): void {
  if (!(key.algorithm in HASHES)) {
    throw new DnsEncodeError(`unknown TSIG algorithm ${key.algorithm}`);
  }
  nameLabels(key.name);
  decodeSecret(key.secret);
}

export interface SignOptions {
  /** Seconds since 1970; default the local clock. */
  timeSigned?: number;
  /** Seconds; default {@link DEFAULT_FUDGE}. */
  fudge?: number;
  /** A response covers its request's MAC (§4.3.2); a request has none. */
  requestMac?: Uint8Array;
  /**
   * A later message of a transfer (§5.3.1): it covers the previous signed message's MAC, the
   * unsigned messages since then, then this message, and only the time and fudge.
   */
  prior?: { mac: Uint8Array; unsigned: readonly Uint8Array[] };
  /** TSIG error to send (a server's answer); default 0. */
  error?: number;
  otherData?: Uint8Array;
}

export interface Signed {
  /** The message with the TSIG record appended and ARCOUNT raised by one. */
  message: Uint8Array;
  /** The MAC, which a response must cover. */
  mac: Uint8Array;
  timeSigned: number;
}

/**
 * Signs a whole wire message (no TSIG yet) with `key` (RFC 8945 §4.3): the MAC covers the
 * message as is, then the TSIG variables. Throws DnsEncodeError for a bad key,
 * MessageTooLargeError when the signed message would pass 65,535 bytes.
 */
export function signMessage(message: Uint8Array, key: TsigKey, options: SignOptions = {}): Signed {
  checkKey(key);
  const data: TsigData = {
    algorithm: key.algorithm,
    timeSigned: options.timeSigned ?? Math.floor(Date.now() / 1000),
    fudge: options.fudge ?? DEFAULT_FUDGE,
    mac: new Uint8Array(0),
    originalId: new DataView(message.buffer, message.byteOffset).getUint16(0),
    error: options.error ?? 0,
    otherData: options.otherData ?? new Uint8Array(0),
  };
  const mac = computeMac(key, message, data, options);
  const record = encodeTsigRecord(key.name, { ...data, mac });
  if (message.length + record.length > MAX_MESSAGE_BYTES) throw new MessageTooLargeError();
  const signed = new Uint8Array(message.length + record.length);
  signed.set(message);
  signed.set(record, message.length);
  const view = new DataView(signed.buffer);
  view.setUint16(10, view.getUint16(10) + 1);
  return { message: signed, mac, timeSigned: data.timeSigned };
}

/**
 * The MAC over, in this order (§4.3.1–4.3.3, §5.3.1): the request MAC or the prior MAC (each
 * after its 2-byte length), the unsigned messages in between, the message without its TSIG
 * (with the original id and its ARCOUNT as before signing), then the TSIG variables: key name
 * and algorithm in canonical form, class ANY, TTL 0, time, fudge, error, other data; or for a
 * later transfer message only time and fudge.
 */
function computeMac(
  key: TsigKey,
  message: Uint8Array,
  data: TsigData,
  options: Pick<SignOptions, "requestMac" | "prior">,
): Uint8Array {
  const hmac = createHmac(HASHES[key.algorithm].hash, decodeSecret(key.secret));
  const previous = options.prior?.mac ?? options.requestMac;
  if (previous) {
    hmac.update(u16(previous.length));
    hmac.update(previous);
  }
  for (const unsigned of options.prior?.unsigned ?? []) hmac.update(unsigned);
  hmac.update(message);
  const time = new Uint8Array(6);
  const view = new DataView(time.buffer);
  view.setUint16(0, Math.floor(data.timeSigned / 2 ** 32));
  view.setUint32(2, data.timeSigned % 2 ** 32);
  if (options.prior) {
    hmac.update(time);
    hmac.update(u16(data.fudge));
  } else {
    hmac.update(canonicalNameBytes(key.name));
    hmac.update(u16(255)); // class ANY
    hmac.update(new Uint8Array(4)); // TTL 0
    hmac.update(canonicalNameBytes(data.algorithm));
    hmac.update(time);
    hmac.update(u16(data.fudge));
    hmac.update(u16(data.error));
    hmac.update(u16(data.otherData.length));
    hmac.update(data.otherData);
  }
  return new Uint8Array(hmac.digest());
}

function u16(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff);
}

/**
 * The message as it was before the TSIG was added: cut at the TSIG, the original id put back
 * and ARCOUNT lowered by one (RFC 8945 §4.3.2, §5.4.1).
 */
function unsignedPart(raw: Uint8Array, decoded: DecodedMessage, originalId: number): Uint8Array {
  const part = raw.slice(0, decoded.tsigOffset);
  const view = new DataView(part.buffer);
  view.setUint16(0, originalId);
  view.setUint16(10, view.getUint16(10) - 1);
  return part;
}

/**
 * Verifies the TSIG of an answer to a request signed with `key` whose MAC was `requestMac`
 * (RFC 8945 §5.3): the record must name our key and algorithm, its MAC must match (a truncated
 * MAC is accepted down to max(10 bytes, half the hash), §5.2.2.1), and its time must be within
 * its fudge of `now` (seconds). Returns the answer's MAC. Throws TsigError: by the server when
 * its TSIG error is BADSIG, BADKEY, BADTIME or BADTRUNC (it could not verify us), by the client
 * when the answer is unsigned, signed with another key, its MAC is wrong, or its time is off.
 */
export function verifyResponse(
  raw: Uint8Array,
  decoded: DecodedMessage,
  key: TsigKey,
  requestMac: Uint8Array,
  now: number,
): Uint8Array {
  return verifySigned(raw, decoded, key, { requestMac }, now);
}

function verifySigned(
  raw: Uint8Array,
  decoded: DecodedMessage,
  key: TsigKey,
  covers: Pick<SignOptions, "requestMac" | "prior">,
  now: number,
): Uint8Array {
  checkKey(key);
  const tsig = tsigRecord(decoded);
  const rcode = decoded.rcode;
  if (!tsig) {
    throw new TsigError(
      "UNSIGNED",
      "client",
      `the server's answer (${rcodeName(rcode)}) carries no TSIG signature`,
      rcode,
    );
  }
  const { data } = tsig;
  // The server could not verify our request: it says why and cannot sign (§5.3.2).
  if (data.error === RCODE.BADSIG || data.error === RCODE.BADKEY) {
    throw serverError(data, rcode, key);
  }
  const sameKey =
    equalBytes(canonicalNameBytes(tsig.name), canonicalNameBytes(key.name)) &&
    equalBytes(canonicalNameBytes(data.algorithm), canonicalNameBytes(key.algorithm));
  if (!sameKey) {
    throw new TsigError(
      "BADKEY",
      "client",
      `the answer is signed with key ${tsig.name} (${data.algorithm}), not ${key.name} (${key.algorithm})`,
      rcode,
    );
  }
  const full = HASHES[key.algorithm].size;
  const minimum = Math.max(10, Math.ceil(full / 2));
  if (data.mac.length > full || data.mac.length < minimum) {
    throw new TsigError(
      "BADTRUNC",
      "client",
      `the answer's ${key.algorithm} MAC is ${data.mac.length} bytes; ${minimum} to ${full} are valid`,
      rcode,
    );
  }
  const expected = computeMac(
    key,
    unsignedPart(raw, decoded, data.originalId),
    { ...data, mac: new Uint8Array(0) },
    covers,
  ).subarray(0, data.mac.length);
  if (!timingSafeEqual(expected, data.mac)) {
    throw new TsigError(
      "BADSIG",
      "client",
      `the answer's TSIG signature does not match key ${key.name}: the answer was changed or the secret differs`,
      rcode,
    );
  }
  if (Math.abs(now - data.timeSigned) > data.fudge) {
    throw new TsigError(
      "BADTIME",
      "client",
      `the answer was signed at ${data.timeSigned}, ${Math.round(now - data.timeSigned)} s from the local clock (fudge ${data.fudge} s): is the clock right (NTP)?`,
      rcode,
      data.timeSigned,
    );
  }
  if (data.error !== 0) throw serverError(data, rcode, key);
  return data.mac;
}

function serverError(data: TsigData, rcode: number, key: TsigKey): TsigError {
  switch (data.error) {
    case RCODE.BADSIG:
      return new TsigError(
        "BADSIG",
        "server",
        `the server rejected the signature of key ${key.name} (BADSIG): the secret or the algorithm differs from the server's`,
        rcode,
      );
    case RCODE.BADKEY:
      return new TsigError(
        "BADKEY",
        "server",
        `the server does not know key ${key.name} with ${key.algorithm} (BADKEY): check the key name and algorithm`,
        rcode,
      );
    case RCODE.BADTIME: {
      const serverTime = otherTime(data.otherData);
      const skew = serverTime === undefined ? "" : `; its clock says ${serverTime}`;
      return new TsigError(
        "BADTIME",
        "server",
        `the server found the request's time ${data.timeSigned} outside its fudge (BADTIME${skew}): is the clock right (NTP)?`,
        rcode,
        serverTime,
      );
    }
    case RCODE.BADTRUNC:
      return new TsigError("BADTRUNC", "server", "the server refused a truncated MAC", rcode);
    default:
      return new TsigError(
        "OTHER",
        "server",
        `the server answered TSIG error ${rcodeName(data.error)}`,
        rcode,
      );
  }
}

/** BADTIME's other data: the server's 48-bit time (§5.2.3). */
function otherTime(other: Uint8Array): number | undefined {
  if (other.length !== 6) return undefined;
  const view = new DataView(other.buffer, other.byteOffset, 6);
  return view.getUint16(0) * 2 ** 32 + view.getUint32(2);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export interface TransferVerifier {
  /**
   * Checks the next message of the transfer, in the order received. The first must be signed
   * and cover the request's MAC; each later signed one covers the previous MAC and the unsigned
   * messages since (§5.3.1). Throws TsigError as {@link verifyResponse}, or UNSIGNED when the
   * first message, or more than 99 in a row, come without TSIG.
   */
  verify(raw: Uint8Array, decoded: DecodedMessage): void;
  /** After the last message: throws TsigError UNSIGNED when it was not signed (§5.3.1). */
  finish(): void;
}

/**
 * A verifier for the answers of one zone transfer signed with `key`; `requestMac` is the AXFR
 * query's MAC and `now` gives the local time in seconds.
 */
export function createTransferVerifier(
  key: TsigKey,
  requestMac: Uint8Array,
  now: () => number,
): TransferVerifier {
  let previous: Uint8Array | undefined;
  let unsigned: Uint8Array[] = [];
  return {
    verify(raw, decoded) {
      if (previous !== undefined && tsigRecord(decoded) === undefined) {
        unsigned.push(raw);
        if (unsigned.length > MAX_UNSIGNED_MESSAGES) {
          throw new TsigError(
            "UNSIGNED",
            "client",
            `more than ${MAX_UNSIGNED_MESSAGES} transfer messages in a row carry no TSIG`,
            decoded.rcode,
          );
        }
        return;
      }
      const covers =
        previous === undefined ? { requestMac } : { prior: { mac: previous, unsigned } };
      previous = verifySigned(raw, decoded, key, covers, now());
      unsigned = [];
    },
    finish() {
      if (unsigned.length > 0) {
        throw new TsigError(
          "UNSIGNED",
          "client",
          `the transfer's last ${unsigned.length} message(s) carry no TSIG`,
          0,
        );
      }
    },
  };
}
