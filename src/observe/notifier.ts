/**
 * Telling the outside world (docs/operations.md, "Notifications"): Healthchecks pings, Uptime
 * Kuma pushes and webhook events. Sending never blocks or fails a pass: each target has its own
 * bounded queue, each attempt a short timeout, two retries at most, and a target that fails is
 * reported once per pass. `close` ends it all by a deadline, so a process exits on time. URLs
 * carry keys: every form of them is registered for redaction, no error text that could quote
 * one is logged as it is, and a target is named by its host only.
 */
import { INSTANCE_PLACEHOLDER } from "../config/fields.ts";
import type { NotifySettings } from "../config/load.ts";
import { clip } from "../errors.ts";
import { sleep } from "../util/sleep.ts";
import type { DynipEvent } from "./events.ts";
import { log, registerSecret } from "./log.ts";

export interface NotifierOptions extends NotifySettings {
  /** Replaces `{instance}` in every URL, as `instanceSlug` makes it: INSTANCE_ID. */
  instance: string;
  /** Attempts after the first; default 2. */
  retries?: number;
  /** Milliseconds before the first retry, doubled for the next; default 250. */
  retryDelayMs?: number;
  /** For tests; default the global fetch. */
  fetch?: typeof fetch;
}

/** How a pass or cycle ended, for Healthchecks and Uptime Kuma. */
export type Outcome =
  | { ok: true; summary: string; durationMs: number }
  | { ok: false; error: string; durationMs: number };

export interface Notifier {
  /** True when some target is configured. */
  readonly enabled: boolean;
  /** A pass or cycle begins: Healthchecks `/start` (with a run id the end repeats). */
  begin(): void;
  /**
   * It ended: first the pass's events as one Healthchecks `/log` ping (see `event`), then
   * Healthchecks success with the summary, or `/fail` with the error; Uptime Kuma `status=up` or
   * `status=down` with the same text and the duration as `ping`.
   */
  end(outcome: Outcome): void;
  /**
   * An event: a JSON POST to every webhook at once. Unless it is a failure (which `end`
   * reports), its text also becomes a line of the next Healthchecks `/log` ping, one per pass
   * (sent by `end`, `stopped` or `close`), so a big cleanup sends one `/log`, not one per host.
   */
  event(event: DynipEvent): void;
  /**
   * A long-lived process stops: `text` goes to Healthchecks as a `/log` line. Deliberately no
   * exit-status ping: `/0` would count as a success and put off the alert by a period, a
   * failure would alert on every routine restart; the check goes down when no pass pings in
   * its period and grace (docs/operations.md, "Notifications").
   */
  stopped(text: string): void;
  /**
   * Sends what waits for at most `timeoutMs` milliseconds in all, then aborts the requests in
   * flight and drops what still waits (warned about once per target). Resolves once no
   * request or timer of the notifier is left, so the process can exit; never rejects. Every
   * later call of any method does nothing.
   */
  close(timeoutMs: number): Promise<void>;
}

/**
 * What one target is asked to send. `status` messages (Healthchecks start, end; Uptime Kuma
 * pushes) say how the loop went; `log` messages (Healthchecks `/log`, webhook events) are what
 * a full queue gives up first.
 */
export interface QueuedMessage {
  kind: "status" | "log";
  method: "GET" | "POST";
  url: string;
  body?: string;
  contentType?: string;
}

/**
 * Messages waiting per target; a full queue drops as `makeRoom` says. Enough for the events of
 * a cleanup that deletes a large fleet at once; at about 1 kB each, a hanging target holds 1 MB.
 */
export const MAX_QUEUED = 1000;
/** Healthchecks keeps 100 kB of a ping's body; a pass's summary needs far less. */
const MAX_BODY = 10_000;
/** Lines of one `/log` ping at most; the last says how many more events there were. */
const MAX_LOG_LINES = 50;
const JSON_TYPE = "application/json";
/** Uptime Kuma shows `msg` in a list: one line. */
const MAX_KUMA_MESSAGE = 250;
/** URL parts shorter than this are not registered alone: they could be ordinary words. */
const MIN_SECRET_PART = 8;

/**
 * A notifier for the configured targets (none: every method does nothing). Throws nothing;
 * delivery problems are logged as warnings, once per target per pass.
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const send = options.fetch ?? fetch;
  const slug = instanceSlug(options.instance);
  const delivery = {
    timeoutMs: options.timeoutSeconds * 1000,
    retries: options.retries ?? 2,
    retryDelayMs: options.retryDelayMs ?? 250,
    // Aborted by `close` at its deadline: what is in flight gives up, retries do not wait.
    closing: new AbortController(),
  };
  let pass = 0;
  let closed = false;

  function target(label: string, rawUrl: string) {
    const url = rawUrl.replaceAll(INSTANCE_PLACEHOLDER, slug);
    for (const secret of secretForms(rawUrl, url)) registerSecret(secret);
    const name = `${label} (${hostOf(url)})`;
    let reportedPass = -1;
    const report = (problem: string) => {
      if (reportedPass === pass) return;
      reportedPass = pass;
      log.warn(
        `notification to ${name} failed: ${problem}; later failures this pass are not reported`,
      );
    };
    const queue = createQueue((message) => deliver(send, message, delivery), report);
    return { url, report, ...queue };
  }

  const healthchecks =
    options.healthchecksUrl === undefined
      ? undefined
      : target("Healthchecks", options.healthchecksUrl);
  const kuma =
    options.uptimeKumaUrl === undefined ? undefined : target("Uptime Kuma", options.uptimeKumaUrl);
  const hooks = options.webhookUrls.map((url, i) =>
    target(options.webhookUrls.length > 1 ? `webhook ${i + 1}` : "webhook", url),
  );
  const all = [healthchecks, kuma, ...hooks].filter((t) => t !== undefined);
  let run = crypto.randomUUID();
  /** Event texts for the next `/log` ping, oldest first. */
  const logLines: string[] = [];
  const ping = (suffix: string, body: string, kind: QueuedMessage["kind"], withRun = true) =>
    healthchecks?.push({
      kind,
      method: "POST",
      url: healthchecksUrl(healthchecks.url, suffix, withRun ? run : undefined),
      body: clip(body, MAX_BODY),
      contentType: "text/plain; charset=utf-8",
    });
  /** The collected event texts as one `/log` ping, if there are any. */
  const sendLog = () => {
    if (logLines.length > 0) ping("/log", logBody(logLines.splice(0)), "log", false);
  };

  return {
    enabled: all.length > 0,
    begin() {
      if (closed) return;
      pass++;
      run = crypto.randomUUID();
      ping("/start", "", "status");
    },
    end(outcome) {
      if (closed) return;
      sendLog();
      const text = outcome.ok ? outcome.summary : outcome.error;
      ping(outcome.ok ? "" : "/fail", text, "status");
      // Kuma lists one line per push: the summary, not the details below it.
      const line = text.split("\n")[0] ?? "";
      kuma?.push({
        kind: "status",
        method: "GET",
        url: kumaUrl(kuma.url, outcome.ok, line, outcome.durationMs),
      });
    },
    event(event) {
      if (closed) return;
      const body = JSON.stringify(event);
      for (const hook of hooks) {
        hook.push({ kind: "log", method: "POST", url: hook.url, body, contentType: JSON_TYPE });
      }
      const failure = event.event === "pass.failed" || event.event === "cycle.failed";
      if (healthchecks && !failure) logLines.push(event.text);
    },
    stopped(text) {
      if (closed || !healthchecks) return;
      logLines.push(text);
      sendLog();
    },
    async close(timeoutMs) {
      if (closed) return;
      sendLog();
      closed = true;
      const idle = () => Promise.all(all.map((t) => t.idle()));
      if (await within(idle(), timeoutMs)) return;
      // Out of time: what waits is dropped, what is in flight aborted (it reports nothing more).
      for (const t of all) {
        const unsent = t.clear() + (t.busy() ? 1 : 0);
        if (unsent > 0) t.report(`out of time at exit: ${unsent} message(s) not sent`);
      }
      delivery.closing.abort(new Error("notifier closed"));
      await idle();
    },
  };
}

/** True when `work` settles within `ms` milliseconds, false when it does not; no timer stays. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([work.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** One `/log` body: the texts in order, one per line, at most MAX_LOG_LINES of them. */
function logBody(lines: readonly string[]): string {
  const shown = lines.slice(0, MAX_LOG_LINES);
  const more = lines.length - shown.length;
  return [...shown, ...(more > 0 ? [`and ${more} more event(s)`] : [])].join("\n");
}

/**
 * One target's queue: messages sent one at a time in order, `sendOne` resolving with why one
 * was given up (handed to `report`) or undefined. At most MAX_QUEUED wait (see `makeRoom`).
 */
function createQueue(
  sendOne: (message: QueuedMessage) => Promise<string | undefined>,
  report: (problem: string) => void,
) {
  const waiting: QueuedMessage[] = [];
  let running: Promise<void> | undefined;
  let inFlight = false;
  async function drain(): Promise<void> {
    for (;;) {
      const next = waiting.shift();
      if (next === undefined) {
        // In the same step as the check, so a later push starts a new drain.
        running = undefined;
        return;
      }
      inFlight = true;
      const problem = await sendOne(next).catch((error: unknown) => scrubUrls(String(error)));
      inFlight = false;
      if (problem) report(problem);
    }
  }
  return {
    push(message: QueuedMessage): void {
      if (waiting.length >= MAX_QUEUED) {
        const dropped = makeRoom(waiting, message.kind);
        report(
          `more than ${MAX_QUEUED} messages waiting; dropped ${dropped ? `the oldest ${dropped} message` : "a new log message"}`,
        );
        if (dropped === undefined) return;
      }
      waiting.push(message);
      // After the push: a drain started on an empty queue would end at once.
      running ??= drain();
    },
    /** Resolves when nothing waits or is in flight. */
    idle: (): Promise<void> => running ?? Promise.resolve(),
    /** Drops every waiting message; returns how many. */
    clear: (): number => waiting.splice(0).length,
    /** True while a message is being sent. */
    busy: (): boolean => inFlight,
  };
}

/**
 * Makes room in a full queue for one more message of `kind`, removing in place: the oldest log
 * message, or, when none waits and `kind` is status, the oldest status message (the newest
 * status is the one that matters). A status message never goes for a log message. Returns the
 * kind removed, or undefined when nothing was (a log message finding only status messages
 * waiting is dropped itself).
 */
export function makeRoom(
  waiting: QueuedMessage[],
  kind: QueuedMessage["kind"],
): QueuedMessage["kind"] | undefined {
  const oldestLog = waiting.findIndex((m) => m.kind === "log");
  if (oldestLog >= 0) {
    waiting.splice(oldestLog, 1);
    return "log";
  }
  if (kind === "log" || waiting.length === 0) return undefined;
  waiting.shift();
  return "status";
}

/**
 * Sends one message: at most `1 + retries` attempts, each cut after `timeoutMs`, again after
 * no answer, 429 or 5xx (`retryDelayMs`, then twice that). Resolves with why it was given up,
 * or undefined once delivered (any 2xx). A redirect (3xx) is not followed: the target moved,
 * and the message says where to (scheme and host only). Once `closing` is aborted, the attempt
 * in flight ends and none follows. The answer's body is never read; never rejects.
 */
async function deliver(
  send: typeof fetch,
  message: QueuedMessage,
  options: { timeoutMs: number; retries: number; retryDelayMs: number; closing: AbortController },
): Promise<string | undefined> {
  const closing = options.closing.signal;
  let problem = "";
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    if (attempt > 0) await sleep(options.retryDelayMs * 2 ** (attempt - 1), closing);
    if (closing.aborted) return "abandoned at exit";
    try {
      const answer = await send(message.url, {
        method: message.method,
        ...(message.body === undefined ? {} : { body: message.body }),
        headers: {
          "User-Agent": "dynip",
          ...(message.contentType ? { "Content-Type": message.contentType } : {}),
        },
        redirect: "manual",
        signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), closing]),
      });
      await answer.body?.cancel().catch(() => {});
      if (answer.status < 300) return undefined;
      if (answer.status < 400) {
        return redirectProblem(answer.status, answer.headers.get("location"), message.url);
      }
      problem = `HTTP ${answer.status}`;
      if (answer.status !== 429 && answer.status < 500) return problem;
    } catch (error) {
      if (closing.aborted) return "abandoned at exit";
      const name = error instanceof Error ? error.name : "";
      problem =
        name === "TimeoutError"
          ? `no answer within ${options.timeoutMs} ms`
          : `no answer (${describeError(error)})`;
    }
  }
  return `${problem} after ${options.retries + 1} attempts`;
}

/**
 * Why a 3xx is a failure, naming where it leads by scheme and host only (the path and query
 * of a `Location` may carry the key too): `HTTP 301: redirects to https://hc-ping.com/…`.
 */
function redirectProblem(status: number, location: string | null, from: string): string {
  let where = "without a Location";
  if (location !== null) {
    try {
      const to = new URL(location, from);
      where = `to ${to.protocol}//${to.host}/…`;
    } catch {
      where = "to an unreadable Location";
    }
  }
  return `HTTP ${status}: redirects ${where}, which is not followed; configure the URL it leads to`;
}

/**
 * A fetch error as words safe to log: its message with every URL-like part scrubbed (Bun
 * quotes the URL it fetched, normalised, which no registered form may match) and Bun's hint
 * about `verbose: true` left out.
 */
export function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return scrubUrls(text.replace(/\.?\s*For more information, pass `verbose: true`[\s\S]*$/, ""));
}

/**
 * `text` with every URL replaced by `<url>`, and the path and query after a `host:port`
 * replaced by `/…`. Any scheme, any case; a URL ends at white space or a quote.
 */
export function scrubUrls(text: string): string {
  return text
    .replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]*/gi, "<url>")
    .replace(/\b([\w.-]+:\d{1,5})\/[^\s"'`<>]*/g, "$1/…");
}

/**
 * The strings by which a message could quote a notification URL: as given (`raw`, with
 * `{instance}`) and expanded, each also without its query; both as the URL parser writes
 * them (scheme and host lower-case, `..` resolved, spaces and the like percent-encoded), with
 * and without the query; path and query alone, and the query with spaces as `+`, when at least
 * MIN_SECRET_PART long. Without duplicates.
 */
export function secretForms(raw: string, expanded: string): string[] {
  const forms = new Set<string>();
  for (const text of [raw, expanded]) {
    forms.add(text);
    forms.add(text.split("?")[0] ?? text);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      continue;
    }
    forms.add(url.href);
    forms.add(`${url.origin}${url.pathname}`);
    const parts = [`${url.pathname}${url.search}`, url.search, `?${url.searchParams}`];
    for (const part of parts) if (part.length >= MIN_SECRET_PART) forms.add(part);
  }
  return [...forms].filter((form) => form.length > 0);
}

/**
 * INSTANCE_ID as `{instance}` becomes in a URL: a Healthchecks slug (`a-z`, `0-9`, `-`, `_`),
 * lower-case, every other character one `-`: `ip-10-0-1-23.ec2.internal` →
 * `ip-10-0-1-23-ec2-internal`, `Web_01` → `web_01`. Ids that differ only there share a check.
 */
export function instanceSlug(instance: string): string {
  return instance.toLowerCase().replace(/[^a-z0-9_-]/g, "-");
}

/** `https://hc-ping.com` of a URL, for messages: the path and query carry the key. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "?";
  }
}

/**
 * A Healthchecks ping URL: `suffix` (`/start`, `/fail`, `/log`, or nothing for success) after
 * the check's path, its query kept (`?create=1` for slug URLs), and `rid` the run id that ties
 * a start to its end (a UUID, as Healthchecks requires).
 */
export function healthchecksUrl(base: string, suffix: string, rid?: string): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${suffix}`;
  if (rid) url.searchParams.set("rid", rid);
  return url.toString();
}

/**
 * An Uptime Kuma push URL: the push path as copied, its query replaced by `status` (up or
 * down), `msg` (one line, at most 250 characters) and `ping` (milliseconds).
 */
export function kumaUrl(base: string, ok: boolean, message: string, durationMs: number): string {
  const url = new URL(base);
  url.search = "";
  url.searchParams.set("status", ok ? "up" : "down");
  url.searchParams.set("msg", clip(message.replace(/\s+/g, " ").trim(), MAX_KUMA_MESSAGE));
  url.searchParams.set("ping", String(Math.max(0, Math.round(durationMs))));
  return url.toString();
}
