/**
 * One Cloudflare API call: send, retry, read the envelope, check the result's shape. Every way
 * this can go wrong ends as one of the three Cloudflare errors of src/errors.ts.
 */
import { FetchError, ofetch } from "ofetch";
import * as v from "valibot";
import { AnswerTooLargeError, readBounded } from "../../bounded-read.ts";
import { log, redact, registerSecret } from "../../observe/log.ts";
import { backoffDelay } from "../backoff.ts";
import type { Lifecycle } from "../provider.ts";
import { apiError, CloudflareNetworkError, CloudflareResponseError } from "./api-errors.ts";
import { isRetryableStatus, parseRetryAfter } from "./retry.ts";
import { describeIssues, type Envelope, EnvelopeSchema, withShallowChains } from "./schemas.ts";

export interface HttpRequestInfo {
  method: string;
  /** Path without the query, so metrics can group by it. */
  path: string;
  /** null when no answer came (connection failed, timed out). */
  status: number | null;
  /** Why no answer came. */
  error?: string;
  /**
   * The token's request budget as the answer's `Ratelimit` and `Ratelimit-Policy` headers tell
   * it (requests left in the window, and the window's quota); absent when they do not.
   */
  budget?: { remaining: number; quota: number };
}

export interface TransportOptions {
  apiUrl: string;
  token?: string;
  timeoutMs: number;
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A longer `Retry-After` is not waited for: the request fails and the next pass tries again. */
  maxRetryAfterMs: number;
  /** No retry starts later than this after the first attempt. */
  maxElapsedMs: number;
  /** A longer answer body is cut off and the request fails without a retry. */
  maxAnswerBytes: number;
  /** Stopping: no retries once it says so, and requests cut when it cancels (src/engine/lifecycle.ts). */
  lifecycle?: Lifecycle;
  onRequest?: (info: HttpRequestInfo) => void;
}

export interface RequestSpec<T> {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string>;
  body?: Body;
  /** Shape of the envelope's `result`. */
  result: v.GenericSchema<unknown, T>;
}

export interface Answer<T> {
  result: T;
  /** `result_info` of a list: how many pages and records the whole list has right now. */
  totalPages?: number;
  totalCount?: number;
  /**
   * The answer's `Date` header: Cloudflare's clock at the moment it answered, against which
   * record ages are measured. Undefined when the header is missing or unreadable.
   */
  serverDate?: Date;
}

export interface Transport {
  send<T>(spec: RequestSpec<T>): Promise<Answer<T>>;
}

type Body = Record<string, unknown> | undefined;

type Outcome =
  | { kind: "answer"; status: number; headers: Headers; text: string }
  /** The body went past `maxAnswerBytes`: not an API answer, and not worth asking again. */
  | { kind: "oversized"; status: number; headers: Headers }
  | { kind: "no-answer"; reason: string };

/**
 * The HTTP layer under the client: one `send` per API request, with the token as a bearer
 * (registered as a secret), a timeout per attempt (`timeoutMs`, body included), bodies read up
 * to `maxAnswerBytes`, retries on no answer, 408, 429 and 5xx with jittered exponential backoff
 * or `Retry-After` (up to `maxRetryAfterMs`, none after `maxElapsedMs` or a stop), and the
 * envelope checked against the answer's schema. `send` resolves with the envelope's result and
 * its paging and `Date`; it throws CloudflareApiError (an error envelope or status),
 * CloudflareResponseError (not an envelope, too large) or CloudflareNetworkError (no answer).
 */
export function createTransport(options: TransportOptions): Transport {
  if (options.token) registerSecret(options.token);
  // ofetch sends one attempt; retries are ours. Its own retry reuses the first attempt's aborted
  // signal (so a retried timeout fails at once) and cannot honour Retry-After or a time budget.
  const http = ofetch.create({
    baseURL: options.apiUrl,
    headers: {
      accept: "application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    retry: false,
    ignoreResponseError: true,
    // The body is read here, with a cap: ofetch would buffer an endless answer until the timeout.
    responseType: "stream",
  });

  async function attempt(method: string, url: string, body: Body): Promise<Outcome> {
    try {
      // The signal, unlike ofetch's `timeout`, also bounds reading the body.
      const response = await http.raw<ReadableStream<Uint8Array>, "stream">(url, {
        method,
        body,
        signal: options.lifecycle
          ? AbortSignal.any([AbortSignal.timeout(options.timeoutMs), options.lifecycle.cancel()])
          : AbortSignal.timeout(options.timeoutMs),
      });
      const { status, headers } = response;
      try {
        const text = await readBounded(response._data, options.maxAnswerBytes);
        return { kind: "answer", status, headers, text };
      } catch (error) {
        if (error instanceof AnswerTooLargeError) return { kind: "oversized", status, headers };
        throw error;
      }
    } catch (error) {
      return { kind: "no-answer", reason: describeFailure(error, options.timeoutMs) };
    }
  }

  async function observed(method: string, path: string, url: string, body: Body) {
    const started = performance.now();
    const outcome = await attempt(method, url, body);
    const ms = Math.round(performance.now() - started);
    if (outcome.kind !== "no-answer") {
      const oversized = outcome.kind === "oversized" ? " (answer too large, cut off)" : "";
      log.debug(`cloudflare ${method} ${url} -> ${outcome.status} in ${ms} ms${oversized}`);
      const budget = budgetOf(outcome.headers);
      options.onRequest?.({ method, path, status: outcome.status, ...(budget ? { budget } : {}) });
    } else {
      log.debug(`cloudflare ${method} ${url} -> no answer in ${ms} ms: ${outcome.reason}`);
      options.onRequest?.({ method, path, status: null, error: outcome.reason });
    }
    return outcome;
  }

  /** Milliseconds to wait before the next attempt, or undefined to stop with this outcome. */
  function retryWait(outcome: Outcome, attempts: number): number | undefined {
    if (attempts > options.retries || outcome.kind === "oversized") return undefined;
    if (options.lifecycle?.stopping()) return undefined;
    if (outcome.kind === "no-answer") return backoffDelay(attempts, options);
    if (!isRetryableStatus(outcome.status)) return undefined;
    // An HTTP-date is read against the server's clock, so a skewed local clock cannot stretch it.
    const now = dateHeader(outcome.headers)?.getTime() ?? Date.now();
    const asked = parseRetryAfter(outcome.headers.get("retry-after"), now);
    if (asked === undefined) return backoffDelay(attempts, options);
    return asked <= options.maxRetryAfterMs ? asked : undefined;
  }

  // Every method is retried, POST included: a create or batch whose answer was lost may be sent
  // twice. Cloudflare applies a batch atomically, and the second copy then fails with 81058
  // (identical record exists) or 81044 (record does not exist), which callers already handle
  // by re-reading and re-planning; giving up instead would fail the pass on every network blip.
  async function exchange(method: string, path: string, url: string, body: Body) {
    const started = performance.now();
    // Whether an attempt before the last may have been applied: it got no answer or a 5xx.
    let unanswered = false;
    for (let attempts = 1; ; attempts++) {
      const outcome = await observed(method, path, url, body);
      const wait = retryWait(outcome, attempts);
      const tooLate =
        wait !== undefined && performance.now() - started + wait > options.maxElapsedMs;
      if (wait === undefined || tooLate) return { outcome, attempts, unanswered };
      unanswered ||=
        outcome.kind === "no-answer" || (outcome.kind === "answer" && outcome.status >= 500);
      log.warn(
        `cloudflare ${method} ${path}: ${describeOutcome(outcome)}; retrying in ${wait} ms ` +
          `(attempt ${attempts + 1} of ${options.retries + 1})`,
      );
      await (options.lifecycle ? options.lifecycle.sleep(wait) : Bun.sleep(wait));
      if (options.lifecycle?.stopping()) return { outcome, attempts, unanswered };
    }
  }

  async function send<T>(spec: RequestSpec<T>): Promise<Answer<T>> {
    const label = `${spec.method} ${spec.path}`;
    const query = spec.query ? new URLSearchParams(spec.query).toString() : "";
    const url = query ? `${spec.path}?${query}` : spec.path;
    const { outcome, attempts, unanswered } = await exchange(
      spec.method,
      spec.path,
      url,
      spec.body,
    );
    const after = attempts > 1 ? ` after ${attempts} attempts` : "";
    if (outcome.kind === "no-answer") {
      throw new CloudflareNetworkError(`no answer${after}: ${outcome.reason}`, label);
    }
    if (outcome.kind === "oversized") {
      const limit = new AnswerTooLargeError(options.maxAnswerBytes).message;
      throw new CloudflareResponseError(`${limit}: not an API answer`, outcome.status, label);
    }
    const envelope = readEnvelope(outcome, label, after);
    if (!envelope.success || outcome.status >= 400) {
      const error = apiError(outcome.status, envelope.errors, label);
      error.afterUnanswered = unanswered;
      throw error;
    }
    const parsed = v.safeParse(spec.result, envelope.result);
    if (!parsed.success) {
      const problem = `unexpected answer${after}: ${describeIssues(parsed.issues, "result")}`;
      throw new CloudflareResponseError(redact(problem), outcome.status, label);
    }
    return {
      result: parsed.output,
      totalPages: envelope.result_info?.total_pages,
      totalCount: envelope.result_info?.total_count,
      serverDate: dateHeader(outcome.headers),
    };
  }

  return { send };
}

function readEnvelope(
  answer: Extract<Outcome, { kind: "answer" }>,
  label: string,
  after: string,
): Envelope {
  const fail = (problem: string) =>
    new CloudflareResponseError(redact(`${problem}${after}`), answer.status, label);
  const type = answer.headers.get("content-type") ?? "";
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    if (!type.includes("json")) throw fail(`expected JSON, got ${type || "no content type"}`);
    if (answer.text.trim() === "") throw fail("expected JSON, got an empty answer");
    throw fail("invalid JSON (the answer looks cut off)");
  }
  const parsed = v.safeParse(EnvelopeSchema, withShallowChains(json));
  if (!parsed.success) {
    throw fail(`not a Cloudflare API envelope (${describeIssues(parsed.issues, "answer")})`);
  }
  return parsed.output;
}

function describeOutcome(outcome: Outcome): string {
  return outcome.kind === "no-answer" ? outcome.reason : `HTTP ${outcome.status}`;
}

/** A short reason without ofetch's FetchError text, which repeats the URL and options. */
function describeFailure(error: unknown, timeoutMs: number): string {
  const root = error instanceof FetchError && error.cause !== undefined ? error.cause : error;
  if (!(root instanceof Error)) return redact(String(root));
  if (root.name === "TimeoutError" || root.name === "AbortError") {
    return `timed out after ${timeoutMs} ms`;
  }
  const code = (root as { code?: unknown }).code;
  const withCode = typeof code === "string" && !root.message.includes(code);
  return redact(withCode ? `${code}: ${root.message}` : root.message);
}

/**
 * `Ratelimit: "default";r=1195;t=280` and `Ratelimit-Policy: "default";q=1200;w=300` (the IETF
 * RateLimit header fields draft Cloudflare's API answers with): requests left, and the quota.
 */
function budgetOf(headers: Headers): { remaining: number; quota: number } | undefined {
  const remaining = /(?:^|;)\s*r=(\d{1,9})\b/.exec(headers.get("ratelimit") ?? "")?.[1];
  const quota = /(?:^|;)\s*q=(\d{1,9})\b/.exec(headers.get("ratelimit-policy") ?? "")?.[1];
  if (remaining === undefined || quota === undefined || Number(quota) === 0) return undefined;
  return { remaining: Number(remaining), quota: Number(quota) };
}

function dateHeader(headers: Headers): Date | undefined {
  const value = headers.get("date");
  const date = value ? new Date(value) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}
