/**
 * HEALTH_PORT for a long-lived `dynip update` or `dynip cleanup`: /healthz for probes, /metrics
 * for Prometheus (docs/operations.md, "Health and metrics").
 */
import { readBounded } from "../bounded-read.ts";
import { DynipError } from "../errors.ts";
import { log } from "./log.ts";
import type { Metrics } from "./metrics.ts";

export interface HealthServer {
  /** The bound port: the chosen one when asked for port 0. */
  port: number;
  stop(): Promise<void>;
}

export interface HealthOptions {
  /** 0 picks a free port (tests); the configuration allows 1-65535. */
  port: number;
  /** HEALTH_ADDRESS; default 0.0.0.0, so probes from outside the container reach it. */
  hostname?: string;
  metrics: Metrics;
  /** CLEANUP_INTERVAL_SECONDS or UPDATE_INTERVAL. */
  intervalSeconds: number;
  /** What one loop is called in messages; default "cleanup cycle". */
  what?: string;
  /** Unhealthy after this many failures in a row too (the updater: 3); default: no such rule. */
  maxConsecutiveFailures?: number;
  /** Clock in milliseconds; default Date.now. */
  now?: () => number;
}

/** A success older than this many intervals means cleanup has stopped working. */
const INTERVALS_ALLOWED = 3;
const PATHS = new Set(["/healthz", "/metrics"]);
const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
const PLAIN_TEXT = "text/plain; charset=utf-8";

/**
 * `--healthcheck`: asks the running process's /healthz, with no API request and nothing else
 * configured. Prints the answer and resolves when it is 200; throws a DynipError (exit 1,
 * never 2: Docker reserves 2) otherwise. A listener on every address is asked on loopback.
 */
export async function probeHealth(
  port: number | undefined,
  address: string,
  what: string,
): Promise<string> {
  if (port === undefined) throw new DynipError("--healthcheck needs HEALTH_PORT");
  const host = address === "0.0.0.0" ? "127.0.0.1" : address === "::" ? "::1" : address;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/healthz`;
  const answer = await fetch(url, { signal: AbortSignal.timeout(5000) }).catch((error: Error) => {
    throw new DynipError(`${what} is not answering on ${url}: ${error.message}`);
  });
  // Whatever answers on the port is bounded too: /healthz says a line or two.
  const body = (
    await readBounded(answer.body, 64 * 1024).catch((error: Error) => {
      throw new DynipError(`${what} on ${url} answered oddly: ${error.message}`);
    })
  ).trim();
  if (answer.status !== 200) throw new DynipError(`${what} is unhealthy: ${body}`);
  return body;
}

/**
 * Serves `GET /healthz` and `GET /metrics` on `options.port` (0: any free port) at
 * `options.hostname` (default 0.0.0.0) until `stop()` (docs/operations.md, "Health and
 * metrics"). Throws when the port cannot be bound.
 */
export function startHealthServer(options: HealthOptions): HealthServer {
  const now = options.now ?? Date.now;
  const hostname = options.hostname ?? "0.0.0.0";
  const check = healthCheck(options, now);
  // dynip_healthy on /metrics: the same judgement as /healthz, for alerts.
  options.metrics.healthFrom(() => check() === undefined);
  const server = serve(options.port, hostname, (request) => {
    const { pathname } = new URL(request.url);
    if (!PATHS.has(pathname)) return text(404, "not found\n");
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "method not allowed\n", { Allow: "GET, HEAD" });
    }
    if (pathname === "/metrics") return text(200, options.metrics.render(), {}, PROMETHEUS_TEXT);
    const problem = check();
    if (problem !== undefined) return text(503, `${problem}\n`);
    // Holding deletions is cleanup working as meant, so still 200; the body says what it holds.
    const held = [...options.metrics.heldNow()].map(([domain, n]) => `${domain} (${n} records)`);
    if (held.length === 0) return text(200, "ok\n");
    return text(200, `ok; the mass-deletion brake is holding deletions in ${held.join(", ")}\n`);
  });
  return {
    port: server.port ?? options.port,
    stop: () => server.stop(true),
  };
}

/**
 * Healthy while the last success is at most 3 intervals old and, with `maxConsecutiveFailures`,
 * fewer loops than that failed in a row. Before the first success the server's start counts
 * instead: the first cycle may take a while (retries, a slow API), and a liveness probe failing
 * then would kill the pod before it ever had a chance to succeed. Returns why the server is
 * unhealthy, or undefined when it is healthy.
 */
function healthCheck(options: HealthOptions, now: () => number) {
  const { metrics, maxConsecutiveFailures } = options;
  const what = options.what ?? "cleanup cycle";
  const startedAt = now();
  const limitMs = INTERVALS_ALLOWED * options.intervalSeconds * 1000;
  const limit = `limit ${INTERVALS_ALLOWED} intervals = ${seconds(limitMs)}`;
  return (): string | undefined => {
    // No grace for what cannot heal by itself: a probe must see a rejected token at once.
    const blocker = metrics.blocker();
    if (blocker !== undefined) {
      return `the last ${what} failed, and will until someone acts: ${blocker}`;
    }
    const failures = metrics.consecutiveFailures();
    if (maxConsecutiveFailures !== undefined && failures >= maxConsecutiveFailures) {
      const plural = what.endsWith("s") ? `${what}es` : `${what}s`;
      return `the last ${failures} ${plural} failed (limit ${maxConsecutiveFailures} in a row)`;
    }
    const last = metrics.lastSuccess()?.getTime();
    const age = now() - (last ?? startedAt);
    if (age <= limitMs) return undefined;
    return last === undefined
      ? `no successful ${what} in the ${seconds(age)} since start (${limit})`
      : `last successful ${what} ${seconds(age)} ago (${limit})`;
  };
}

function serve(port: number, hostname: string, fetch: (request: Request) => Response) {
  try {
    return Bun.serve({
      port,
      hostname,
      fetch,
      // Only GET and HEAD are answered: no request needs a body, so none is read past this.
      maxRequestBodySize: 1024,
      // A failing render must not show a stack trace to whoever can reach the port.
      error(error) {
        log.error("health server:", error);
        return text(500, "internal error\n");
      },
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DynipError(
      `cannot serve health checks on ${hostname}:${port} (${reason}); choose another HEALTH_PORT`,
      1,
      { cause: error },
    );
  }
}

function text(
  status: number,
  body: string,
  headers: Record<string, string> = {},
  type = PLAIN_TEXT,
): Response {
  // no-store: a cached "ok" would hide a cleanup that has stopped.
  return new Response(body, {
    status,
    headers: { "Content-Type": type, "Cache-Control": "no-store", ...headers },
  });
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}
