import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { CloudflareErrorDetail } from "../../src/providers/cloudflare/api-errors.ts";
import type { CloudflareRecord } from "../../src/providers/cloudflare/api-types.ts";
import { errors, FakeApiError, statusErrors } from "./fake-errors.ts";
import { compareRecords } from "./fake-list.ts";
import { completeRecord, type FakeRecord, randomHex, ZoneStore } from "./fake-records.ts";
import { envelope, type RouteContext, route } from "./fake-routes.ts";
import { loadSchemaValidator } from "./fake-schema.ts";
import { watchViolations } from "./fake-violations.ts";

/**
 * A stateful, strict fake of the Cloudflare API on a random loopback port. It keeps records
 * per zone, answers like the live API (envelopes, codes, paging, the Date header), validates
 * every request against Cloudflare's OpenAPI schema, and injects faults on demand.
 */

export interface FakeZone {
  id: string;
  name: string;
}

export interface FakeOptions {
  /** Default: a random 40-character token. Requests need `Authorization: Bearer <token>`. */
  token?: string;
  /** Default: one zone `{ id: <32 hex>, name: "example.com" }`. */
  zones?: FakeZone[];
  /** Initial clock, ms since epoch. Default `Date.UTC(2026, 0, 1)`. */
  now?: number;
  /** Operations allowed in one batch. Default 200 (Free plan). */
  maxBatchOperations?: number;
  /** Records allowed per zone. Default 1000 (Free plan); beyond it, error 81045. */
  maxRecords?: number;
  /** Enforced on the fake clock; see `setRateLimit`. Default: none. */
  rateLimit?: RateLimit;
  /**
   * Default true: after every test, any request that broke the OpenAPI document fails it
   * (tests/support/fake-violations.ts). False only where a test sends such requests on
   * purpose and reads `schemaViolations` itself (the fake's own tests).
   */
  checkViolations?: boolean;
}

/**
 * At most `requests` requests let through in any `windowSeconds` of the fake clock (a sliding
 * window). Beyond it: 429, error 971 and `Retry-After` in whole seconds until the oldest
 * counted request leaves the window (at least 1). Answers refused with 429 and requests a
 * fault answered instead of the API are not counted.
 */
export interface RateLimit {
  requests: number;
  /** Whole seconds. */
  windowSeconds: number;
}

export type FaultKind =
  | { kind: "status"; status: number }
  | { kind: "html"; status: number }
  | { kind: "rate-limit"; retryAfter: number }
  | { kind: "drop" }
  | { kind: "truncated" }
  | { kind: "hang" }
  | { kind: "delay"; ms: number }
  /**
   * Held until `until` settles, then handled normally against the state at that moment: a
   * test orders a race exactly instead of guessing a delay long enough on a loaded machine.
   */
  | { kind: "hold"; until: Promise<unknown> }
  /** 200 with this body: JSON-encoded, or as it is when it is a string. */
  | { kind: "malformed"; body: unknown }
  /** Not handled: answered with this status and `{ success: false, errors, result: null }`. */
  | { kind: "error"; status: number; errors: CloudflareErrorDetail[] }
  /** Handled normally (state changes happen), but the answer has no Date header at all. */
  | { kind: "no-date" }
  /** Handled normally, but the Date header carries `value` as it is, e.g. "yesterday". */
  | { kind: "bad-date"; value: string }
  /**
   * 200 `application/json` without Content-Length, and a body that never ends: a success
   * envelope opening `"result":[` followed by records without end. Written only as fast as the
   * client reads, until it disconnects or the fake stops.
   */
  | { kind: "endless" }
  /**
   * 200 with Content-Length and a valid envelope of an empty list, padded in `messages` to
   * `bytes` bytes (or to the envelope's own size when `bytes` is smaller).
   */
  | { kind: "huge"; bytes: number };

export interface Fault {
  /** Matches the request method, case-insensitively. Default: any. */
  method?: string;
  /** Tested against `RecordedRequest.path`. Default: any. */
  path?: RegExp;
  /** How many requests it hits. Default 1; `Infinity` allowed. */
  times?: number;
  /**
   * Matches only requests for which this holds (a query parameter, say), so a test can aim at
   * one client's requests while other clients' requests pass. Default: every request.
   */
  when?: (request: RecordedRequest) => boolean;
  fault: FaultKind;
}

export interface RecordedRequest {
  method: string;
  /** Path below the API base, e.g. `/zones/<id>/dns_records` (no `/client/v4`). */
  path: string;
  query: URLSearchParams;
  /** Parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  authorization: string | null;
}

export interface FakeCloudflare {
  /** `http://127.0.0.1:<port>/client/v4` */
  url: string;
  token: string;
  /** The first zone. */
  zone: FakeZone;
  clock: { now(): number; set(ms: number): void; advance(ms: number): void };
  /** Deep copy, sorted by name, type, content. */
  records(zoneId?: string): CloudflareRecord[];
  /** How many records the zone holds (no copy: for zones of 100,000 records). */
  count(zoneId?: string): number;
  /** Inserted as given, without validation; id and timestamps filled from the clock. */
  seed(
    record: Partial<CloudflareRecord> & { name: string; type: string; content: string },
    zoneId?: string,
  ): CloudflareRecord;
  /** Every request received, in order, faulted ones included. */
  requests: RecordedRequest[];
  resetRequests(): void;
  /** Faults match in order of injection; each hit uses up one of its `times`. */
  inject(fault: Fault): void;
  clearFaults(): void;
  /**
   * Every request that broke Cloudflare's OpenAPI schema, as `METHOD path: why`, since the last
   * test ended (unless `checkViolations` is false: then since the start).
   */
  schemaViolations: string[];
  /**
   * Enforce `limit` from now on, or no limit with undefined. Requests let through earlier
   * stay counted. The Ratelimit headers follow it; without one they show 1200 per 300 s.
   */
  setRateLimit(limit: RateLimit | undefined): void;
  /** Answers of the "endless" fault: how many are still being written, and bytes written by all. */
  streams: { open: number; bytes: number };
  stop(): Promise<void>;
}

/** The environment that points `dynip` at this fake: its URL, its token and its first zone. */
export function apiEnv(
  fake: FakeCloudflare,
): Record<"CF_API_URL" | "CF_API_TOKEN" | "CF_ZONE_ID", string> {
  return { CF_API_URL: fake.url, CF_API_TOKEN: fake.token, CF_ZONE_ID: fake.zone.id };
}

/** The batch requests the fake received so far, faulted ones included. */
export function batchRequests(fake: FakeCloudflare): RecordedRequest[] {
  return fake.requests.filter((r) => r.path.endsWith("/batch"));
}

const API_PREFIX = "/client/v4";
const RATE_LIMIT = 1200;
const RATE_WINDOW_SECONDS = 300;

/** Changes a fault makes to the headers of an answer: a value replaces, null removes. */
type HeaderChanges = Record<string, string | null>;

interface Answer {
  status: number;
  /** Sent as JSON, unless `text` is given. */
  body?: unknown;
  text?: string;
  headers?: HeaderChanges;
}

export async function startFakeCloudflare(options: FakeOptions = {}): Promise<FakeCloudflare> {
  const validator = await loadSchemaValidator();
  const zones = options.zones ?? [{ id: randomHex(32), name: "example.com" }];
  const first = zones[0];
  if (!first) throw new Error("the fake Cloudflare API needs at least one zone");
  let now = options.now ?? Date.UTC(2026, 0, 1);
  const iso = () => new Date(now).toISOString();
  const stores = new Map<string, ZoneStore>(
    zones.map((z) => [z.id, new ZoneStore(z.name.toLowerCase())]),
  );
  const faults: Required<Fault>[] = [];
  const schemaViolations: string[] = [];
  const watch = options.checkViolations === false ? undefined : watchViolations(schemaViolations);
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  /** Fake-clock times of the requests let through, oldest first; pruned to the window. */
  const stamps: number[] = [];
  let rateLimit = checkRateLimit(options.rateLimit);
  // One chunk of the "endless" body: a record as the list answers it, repeated.
  const endlessRecord = completeRecord(
    { id: "e".repeat(32), name: `endless.${first.name}`, type: "A", content: "192.0.2.1" },
    iso(),
  );
  const endlessChunk = Buffer.from(`${JSON.stringify(endlessRecord)},`.repeat(64));
  const routes: RouteContext = {
    token:
      options.token ??
      Buffer.from(crypto.getRandomValues(new Uint8Array(30))).toString("base64url"),
    tokenId: randomHex(32),
    zones,
    stores,
    validator,
    created: iso(),
    now: iso,
    maxBatchOperations: options.maxBatchOperations ?? 200,
    maxRecords: options.maxRecords ?? 1000,
    violation: (text) => schemaViolations.push(text),
  };

  const storeOf = (zoneId = first.id): ZoneStore => {
    const store = stores.get(zoneId);
    if (!store) throw new Error(`the fake Cloudflare API has no zone ${zoneId}`);
    return store;
  };

  /**
   * The window at this moment: requests still counted, how many more may pass, and the whole
   * seconds until the oldest counted one leaves (the window's length when none is counted).
   */
  const rateWindow = () => {
    const { requests, windowSeconds } = rateLimit ?? {
      requests: RATE_LIMIT,
      windowSeconds: RATE_WINDOW_SECONDS,
    };
    const windowStart = now - windowSeconds * 1000;
    while (stamps.length > 0 && (stamps[0] ?? now) <= windowStart) stamps.shift();
    // windowSeconds - floor(elapsed) is ceil(time left) in whole seconds.
    const reset = windowSeconds - Math.floor((now - (stamps[0] ?? now)) / 1000);
    return { requests, windowSeconds, remaining: Math.max(0, requests - stamps.length), reset };
  };

  /** Headers every answer carries: the fake clock's Date and the rate-limit headers. */
  const commonHeaders = (): Record<string, string> => {
    const { requests, windowSeconds, remaining, reset } = rateWindow();
    return {
      Date: new Date(now).toUTCString(),
      Ratelimit: `"default";r=${remaining};t=${reset}`,
      "Ratelimit-Policy": `"default";q=${requests};w=${windowSeconds}`,
    };
  };

  const headersOf = (answer: Answer, contentType: string, length?: number) => {
    const headers: HeaderChanges = {
      ...commonHeaders(),
      "Content-Type": contentType,
      ...(length === undefined ? {} : { "Content-Length": String(length) }),
      // A fresh connection per request: Bun's fetch silently retries a request whose pooled
      // keep-alive connection is reset, which would hide the "drop" fault.
      Connection: "close",
      ...answer.headers,
    };
    return Object.fromEntries(
      Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== null),
    );
  };

  const send = (res: ServerResponse, answer: Answer, contentType = "application/json") => {
    if (res.destroyed) return;
    const text = answer.text ?? JSON.stringify(answer.body);
    // The Date header comes from the fake clock, or from a fault; never from the server, so a
    // "no-date" answer really has none (checked on the wire in the tests).
    res.sendDate = false;
    res.writeHead(answer.status, headersOf(answer, contentType, Buffer.byteLength(text)));
    res.end(text);
  };

  /**
   * The "endless" body. Written only when the socket has room ("drain"): a client that stops
   * reading stops the writing, so the fake's memory stays flat however long it waits. Without
   * Content-Length, Node sends it chunked. Stops when the connection closes (client gone,
   * or `stop()` destroying the socket).
   */
  const stream = (res: ServerResponse) => {
    if (res.destroyed) return;
    res.sendDate = false;
    res.writeHead(200, headersOf({ status: 200 }, "application/json"));
    let open = true;
    fake.streams.open += 1;
    res.on("close", () => {
      open = false;
      fake.streams.open -= 1;
    });
    const pump = () => {
      while (open && !res.destroyed) {
        fake.streams.bytes += endlessChunk.length;
        if (!res.write(endlessChunk)) {
          res.once("drain", pump);
          return;
        }
      }
    };
    res.write('{"success":true,"errors":[],"messages":[],"result":[');
    pump();
  };

  /** The 429 of an enforced rate limit, or undefined when the request may pass. */
  const throttled = (): Answer | undefined => {
    if (!rateLimit) return undefined;
    const { remaining, reset } = rateWindow();
    if (remaining > 0) return undefined;
    return {
      status: 429,
      body: envelope(false, null, errors.rateLimited().errors),
      headers: { "Retry-After": String(Math.max(1, reset)) },
    };
  };

  const takeFault = (request: RecordedRequest): FaultKind | undefined => {
    const index = faults.findIndex(
      (f) =>
        (f.method === "" || f.method.toUpperCase() === request.method) &&
        f.path.test(request.path) &&
        f.when(request),
    );
    const found = faults[index];
    if (!found) return undefined;
    found.times -= 1;
    if (found.times <= 0) faults.splice(index, 1);
    return found.fault;
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  /**
   * Answer with the fault ("answered"), or let the request be handled normally with these
   * changes to the headers of its answer.
   */
  const applyFault = async (
    fault: FaultKind,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<HeaderChanges | "answered"> => {
    switch (fault.kind) {
      case "status":
        send(res, {
          status: fault.status,
          body: envelope(false, null, statusErrors(fault.status)),
        });
        return "answered";
      case "html":
        send(res, { status: fault.status, text: htmlErrorPage(fault.status) }, "text/html");
        return "answered";
      case "rate-limit":
        send(res, {
          status: 429,
          body: envelope(false, null, statusErrors(429)),
          headers: { "Retry-After": String(fault.retryAfter) },
        });
        return "answered";
      case "drop":
        req.socket.destroy();
        return "answered";
      case "truncated": {
        const whole = JSON.stringify(envelope(true, [], []));
        send(res, { status: 200, text: whole.slice(0, Math.floor(whole.length / 2)) });
        return "answered";
      }
      case "hang":
        return "answered";
      case "delay":
        await sleep(fault.ms);
        return {};
      case "hold":
        await fault.until.catch(() => undefined);
        return {};
      case "malformed":
        // A string goes out as it is, so tests can send any text; anything else as JSON.
        send(
          res,
          typeof fault.body === "string"
            ? { status: 200, text: fault.body }
            : { status: 200, body: fault.body },
        );
        return "answered";
      case "error":
        send(res, { status: fault.status, body: envelope(false, null, fault.errors) });
        return "answered";
      case "no-date":
        return { Date: null };
      case "bad-date":
        return { Date: fault.value };
      case "endless":
        stream(res);
        return "answered";
      case "huge":
        send(res, { status: 200, text: hugeEnvelope(fault.bytes) });
        return "answered";
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const routed = url.pathname.startsWith(API_PREFIX);
    const request: RecordedRequest = {
      method: (req.method ?? "GET").toUpperCase(),
      path: routed ? url.pathname.slice(API_PREFIX.length) || "/" : url.pathname,
      query: url.searchParams,
      body: parseBody(raw),
      authorization: req.headers.authorization ?? null,
    };
    fake.requests.push(request);
    // A fault that answers in place of the API comes before the rate limit and is not counted;
    // one that lets the request through (delay, hold, a Date change) leaves it to the limit.
    const fault = takeFault(request);
    const changes = fault ? await applyFault(fault, req, res) : {};
    if (changes === "answered") return;
    const refused = throttled();
    if (refused) {
      send(res, { ...refused, headers: { ...refused.headers, ...changes } });
      return;
    }
    stamps.push(now);
    try {
      if (!routed) throw new FakeApiError(404, statusErrors(404));
      send(res, { status: 200, body: route(routes, request, raw, req.headers), headers: changes });
    } catch (error) {
      if (!(error instanceof FakeApiError)) throw error;
      send(res, {
        status: error.status,
        body: envelope(false, null, error.errors),
        headers: changes,
      });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      send(res, {
        status: 500,
        body: envelope(false, null, [{ code: 1000, message: `fake API bug: ${String(error)}` }]),
      });
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("fake API: no port");

  const fake: FakeCloudflare = {
    url: `http://127.0.0.1:${address.port}${API_PREFIX}`,
    token: routes.token,
    zone: first,
    clock: {
      now: () => now,
      set: (ms) => {
        now = ms;
      },
      advance: (ms) => {
        now += ms;
      },
    },
    records: (zoneId) => structuredClone(storeOf(zoneId).all()).sort(compareRecords),
    count: (zoneId) => storeOf(zoneId).size,
    seed: (record, zoneId) => {
      const complete: FakeRecord = completeRecord(record, iso());
      storeOf(zoneId).insert(complete);
      return structuredClone(complete);
    },
    requests: [],
    resetRequests: () => {
      fake.requests.length = 0;
    },
    inject: (fault) => {
      faults.push({ method: "", path: /(?:)/, times: 1, when: () => true, ...fault });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    schemaViolations,
    setRateLimit: (limit) => {
      rateLimit = checkRateLimit(limit);
    },
    streams: { open: 0, bytes: 0 },
    stop: () =>
      new Promise<void>((resolve) => {
        watch?.retire();
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
  return fake;
}

/** A copy of `limit`; throws unless it counts whole requests over whole seconds, at least 1 each. */
function checkRateLimit(limit: RateLimit | undefined): RateLimit | undefined {
  if (limit === undefined) return undefined;
  const { requests, windowSeconds } = limit;
  if (![requests, windowSeconds].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`fake API: a rate limit needs whole numbers above 0: ${JSON.stringify(limit)}`);
  }
  return { requests, windowSeconds };
}

/**
 * A valid envelope of an empty list whose one message pads it to `bytes` bytes (never below
 * the envelope's own size): a client must refuse or survive a large answer that parses.
 */
function hugeEnvelope(bytes: number): string {
  const result_info = { page: 1, per_page: 100, count: 0, total_count: 0, total_pages: 1 };
  const padded = (padding: string) =>
    JSON.stringify({
      ...envelope(true, [], [], { result_info }),
      messages: [{ code: 1000, message: padding }],
    });
  return padded("x".repeat(Math.max(0, bytes - padded("").length)));
}

/** What Cloudflare's edge answers when the API behind it fails: HTML, not an envelope. */
function htmlErrorPage(status: number): string {
  const title = `${status} ${STATUS_CODES[status] ?? "Error"}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseBody(raw: string): unknown {
  if (raw === "") return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
