import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { DnsRecord } from "../../src/cloudflare/types.ts";
import { FakeApiError, statusErrors } from "./fake-errors.ts";
import { compareRecords } from "./fake-list.ts";
import { completeRecord, type FakeRecord, randomHex, type ZoneStore } from "./fake-records.ts";
import { envelope, type RouteContext, route } from "./fake-routes.ts";
import { loadSchemaValidator } from "./fake-schema.ts";

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
  | { kind: "malformed"; body: unknown };

export interface Fault {
  /** Matches the request method, case-insensitively. Default: any. */
  method?: string;
  /** Tested against `RecordedRequest.path`. Default: any. */
  path?: RegExp;
  /** How many requests it hits. Default 1; `Infinity` allowed. */
  times?: number;
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
  records(zoneId?: string): DnsRecord[];
  /** Inserted as given, without validation; id and timestamps filled from the clock. */
  seed(
    record: Partial<DnsRecord> & { name: string; type: string; content: string },
    zoneId?: string,
  ): DnsRecord;
  /** Every request received, in order, faulted ones included. */
  requests: RecordedRequest[];
  resetRequests(): void;
  /** Faults match in order of injection; each hit uses up one of its `times`. */
  inject(fault: Fault): void;
  clearFaults(): void;
  /** Every request that broke Cloudflare's OpenAPI schema, as `METHOD path: why`. */
  schemaViolations: string[];
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

interface Answer {
  status: number;
  /** Sent as JSON, unless `text` is given. */
  body?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export async function startFakeCloudflare(options: FakeOptions = {}): Promise<FakeCloudflare> {
  const validator = await loadSchemaValidator();
  const zones = options.zones ?? [{ id: randomHex(32), name: "example.com" }];
  const first = zones[0];
  if (!first) throw new Error("the fake Cloudflare API needs at least one zone");
  let now = options.now ?? Date.UTC(2026, 0, 1);
  const iso = () => new Date(now).toISOString();
  const stores = new Map<string, ZoneStore>(
    zones.map((z) => [z.id, { name: z.name.toLowerCase(), records: [] }]),
  );
  const faults: Required<Fault>[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const stamps: number[] = [];
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
    violation: (text) => fake.schemaViolations.push(text),
  };

  const storeOf = (zoneId = first.id): ZoneStore => {
    const store = stores.get(zoneId);
    if (!store) throw new Error(`the fake Cloudflare API has no zone ${zoneId}`);
    return store;
  };

  /** Headers every answer carries: the fake clock's Date and the rate-limit headers. */
  const commonHeaders = (): Record<string, string> => {
    const windowStart = now - RATE_WINDOW_SECONDS * 1000;
    while (stamps.length > 0 && (stamps[0] ?? now) <= windowStart) stamps.shift();
    const reset = RATE_WINDOW_SECONDS - Math.floor((now - (stamps[0] ?? now)) / 1000);
    return {
      Date: new Date(now).toUTCString(),
      Ratelimit: `"default";r=${Math.max(0, RATE_LIMIT - stamps.length)};t=${reset}`,
      "Ratelimit-Policy": `"default";q=${RATE_LIMIT};w=${RATE_WINDOW_SECONDS}`,
    };
  };

  const send = (res: ServerResponse, answer: Answer, contentType = "application/json") => {
    if (res.destroyed) return;
    const text = answer.text ?? JSON.stringify(answer.body);
    res.sendDate = false; // the Date header comes from the fake clock
    res.writeHead(answer.status, {
      ...commonHeaders(),
      "Content-Type": contentType,
      "Content-Length": String(Buffer.byteLength(text)),
      // A fresh connection per request: Bun's fetch silently retries a request whose pooled
      // keep-alive connection is reset, which would hide the "drop" fault.
      Connection: "close",
      ...answer.headers,
    });
    res.end(text);
  };

  const takeFault = (request: RecordedRequest): FaultKind | undefined => {
    const index = faults.findIndex(
      (f) =>
        (f.method === "" || f.method.toUpperCase() === request.method) && f.path.test(request.path),
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

  /** Answer with the fault; false when the request should still be handled normally. */
  const applyFault = async (fault: FaultKind, req: IncomingMessage, res: ServerResponse) => {
    switch (fault.kind) {
      case "status":
        send(res, {
          status: fault.status,
          body: envelope(false, null, statusErrors(fault.status)),
        });
        return true;
      case "html":
        send(res, { status: fault.status, text: htmlErrorPage(fault.status) }, "text/html");
        return true;
      case "rate-limit":
        send(res, {
          status: 429,
          body: envelope(false, null, statusErrors(429)),
          headers: { "Retry-After": String(fault.retryAfter) },
        });
        return true;
      case "drop":
        req.socket.destroy();
        return true;
      case "truncated": {
        const whole = JSON.stringify(envelope(true, [], []));
        send(res, { status: 200, text: whole.slice(0, Math.floor(whole.length / 2)) });
        return true;
      }
      case "hang":
        return true;
      case "delay":
        await sleep(fault.ms);
        return false;
      case "hold":
        await fault.until.catch(() => undefined);
        return false;
      case "malformed":
        // A string goes out as it is, so tests can send any text; anything else as JSON.
        send(
          res,
          typeof fault.body === "string"
            ? { status: 200, text: fault.body }
            : { status: 200, body: fault.body },
        );
        return true;
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
    stamps.push(now);
    const fault = takeFault(request);
    if (fault && (await applyFault(fault, req, res))) return;
    try {
      if (!routed) throw new FakeApiError(404, statusErrors(404));
      send(res, { status: 200, body: route(routes, request, raw, req.headers) });
    } catch (error) {
      if (!(error instanceof FakeApiError)) throw error;
      send(res, { status: error.status, body: envelope(false, null, error.errors) });
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
    records: (zoneId) => structuredClone(storeOf(zoneId).records).sort(compareRecords),
    seed: (record, zoneId) => {
      const store = storeOf(zoneId);
      const complete: FakeRecord = completeRecord(record, iso());
      store.records = [...store.records, complete];
      return structuredClone(complete);
    },
    requests: [],
    resetRequests: () => {
      fake.requests.length = 0;
    },
    inject: (fault) => {
      faults.push({ method: "", path: /(?:)/, times: 1, ...fault });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    schemaViolations: [],
    stop: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
  return fake;
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
