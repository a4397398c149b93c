/** Long-lived commands in tests: a free loopback port for HEALTH_PORT, and polling /metrics. */
import { until } from "./wait.ts";

/** A port free on 127.0.0.1 right now (the server that found it is stopped again). */
export async function freePort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = probe.port ?? 0;
  await probe.stop(true);
  return port;
}

/** Polls /metrics on `port` until it matches `pattern` (fails the test after `ms`); returns it. */
export async function metricsUntil(port: number, pattern: RegExp, ms = 10_000): Promise<string> {
  let metrics = "";
  await until(async () => {
    const answer = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
    metrics = (await answer?.text()) ?? "";
    return pattern.test(metrics);
  }, ms);
  return metrics;
}
