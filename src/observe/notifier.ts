/**
 * Telling the outside world (docs/operations.md, "Notifications"): Healthchecks pings, Uptime
 * Kuma pushes and webhook events. Sending never blocks or fails a pass: each target has its own
 * queue, each attempt a short timeout, two retries at most, and a target that fails is reported
 * once per pass. URLs carry keys: they are registered for redaction and shown by host only.
 */
import { INSTANCE_PLACEHOLDER } from "../config/fields.ts";
import type { NotifySettings } from "../config/load.ts";
import { clip } from "../errors.ts";
import type { DynipEvent } from "./events.ts";
import { log, registerSecret } from "./log.ts";

export interface NotifierOptions extends NotifySettings {
  /** Replaces `{instance}` in every URL (URL-encoded): INSTANCE_ID. */
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
   * It ended: Healthchecks success with the summary, or `/fail` with the error; Uptime Kuma
   * `status=up` or `status=down` with the same text and the duration as `ping`.
   */
  end(outcome: Outcome): void;
  /**
   * An event: a JSON POST to every webhook; to Healthchecks `/log` too unless it is a failure
   * (which `end` reports).
   */
  event(event: DynipEvent): void;
  /** The process stops with `exitCode`: Healthchecks `/<exitCode>` with `text`. */
  stopped(exitCode: number, text: string): void;
  /**
   * Resolves when every queued message was sent or given up, or after `timeoutMs`, whichever
   * comes first; never rejects.
   */
  flush(timeoutMs: number): Promise<void>;
}

/** What one target is asked to send. */
interface Message {
  method: "GET" | "POST";
  url: string;
  body?: string;
  contentType?: string;
}

/** Messages waiting per target; more are dropped (and said once) rather than held. */
const MAX_QUEUED = 100;
/** Healthchecks keeps 100 kB of a ping's body; a pass's summary needs far less. */
const MAX_BODY = 10_000;
/** Uptime Kuma shows `msg` in a list: one line. */
const MAX_KUMA_MESSAGE = 250;

/**
 * A notifier for the configured targets (none: every method does nothing). Throws nothing;
 * delivery problems are logged as warnings, once per target per pass.
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const send = options.fetch ?? fetch;
  const expand = (url: string) =>
    url.replaceAll(INSTANCE_PLACEHOLDER, encodeURIComponent(options.instance));
  const retries = options.retries ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 250;
  const timeoutMs = options.timeoutSeconds * 1000;
  let pass = 0;

  function target(label: string, rawUrl: string) {
    const url = expand(rawUrl);
    // The URL as given, expanded, and without its query: whichever a message may quote.
    for (const secret of [rawUrl, url, url.split("?")[0] ?? url]) registerSecret(secret);
    const name = `${label} (${hostOf(url)})`;
    let queue: Promise<void> = Promise.resolve();
    let queued = 0;
    let reportedPass = -1;
    const report = (problem: string) => {
      if (reportedPass === pass) return;
      reportedPass = pass;
      log.warn(
        `notification to ${name} failed: ${problem}; later failures this pass are not reported`,
      );
    };
    return {
      url,
      push(message: Message) {
        if (queued >= MAX_QUEUED) {
          report(`more than ${MAX_QUEUED} messages waiting; dropping the newest`);
          return;
        }
        queued++;
        queue = queue
          .then(() => deliver(send, message, { timeoutMs, retries, retryDelayMs }))
          .then(
            (problem) => {
              if (problem) report(problem);
            },
            (error: unknown) => report(String(error)),
          )
          .finally(() => {
            queued--;
          });
      },
      idle: () => queue,
    };
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
  const ping = (suffix: string, body: string, withRun = true) =>
    healthchecks?.push({
      method: "POST",
      url: healthchecksUrl(healthchecks.url, suffix, withRun ? run : undefined),
      body: clip(body, MAX_BODY),
      contentType: "text/plain; charset=utf-8",
    });

  return {
    enabled: all.length > 0,
    begin() {
      pass++;
      run = crypto.randomUUID();
      ping("/start", "");
    },
    end(outcome) {
      const text = outcome.ok ? outcome.summary : outcome.error;
      ping(outcome.ok ? "" : "/fail", text);
      // Kuma lists one line per push: the summary, not the details below it.
      const line = text.split("\n")[0] ?? "";
      kuma?.push({ method: "GET", url: kumaUrl(kuma.url, outcome.ok, line, outcome.durationMs) });
    },
    event(event) {
      const body = JSON.stringify(event);
      for (const hook of hooks) {
        hook.push({ method: "POST", url: hook.url, body, contentType: "application/json" });
      }
      if (event.event !== "pass.failed" && event.event !== "cycle.failed") {
        ping("/log", event.text, false);
      }
    },
    stopped(exitCode, text) {
      ping(`/${exitCode}`, text, false);
    },
    async flush(timeoutMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([Promise.all(all.map((t) => t.idle())), deadline]);
      clearTimeout(timer);
    },
  };
}

/**
 * Sends one message: at most `1 + retries` attempts, each cut after `timeoutMs`, again after
 * no answer, 429 or 5xx (`retryDelayMs`, then twice that). Resolves with why it was given up,
 * or undefined once delivered (any 2xx or 3xx). The answer's body is never read.
 */
async function deliver(
  send: typeof fetch,
  message: Message,
  options: { timeoutMs: number; retries: number; retryDelayMs: number },
): Promise<string | undefined> {
  let problem = "";
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    if (attempt > 0) await Bun.sleep(options.retryDelayMs * 2 ** (attempt - 1));
    try {
      const answer = await send(message.url, {
        method: message.method,
        ...(message.body === undefined ? {} : { body: message.body }),
        headers: {
          "User-Agent": "dynip",
          ...(message.contentType ? { "Content-Type": message.contentType } : {}),
        },
        redirect: "manual",
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      await answer.body?.cancel().catch(() => {});
      if (answer.status < 400) return undefined;
      problem = `HTTP ${answer.status}`;
      if (answer.status !== 429 && answer.status < 500) return problem;
    } catch (error) {
      const name = error instanceof Error ? error.name : "";
      problem =
        name === "TimeoutError"
          ? `no answer within ${options.timeoutMs} ms`
          : `no answer (${error})`;
    }
  }
  return `${problem} after ${options.retries + 1} attempts`;
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
 * A Healthchecks ping URL: `suffix` (`/start`, `/fail`, `/log`, `/<exit status>`, or nothing for
 * success) after the check's path, its query kept (`?create=1` for slug URLs), and `rid` the run
 * id that ties a start to its end (a UUID, as Healthchecks requires).
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
