import { defineCommand } from "citty";
import { createCleaner } from "../cleanup.ts";
import { managedDomains, requireToken } from "../config.ts";
import { DynipError } from "../errors.ts";
import { startHealthServer } from "../health.ts";
import { log } from "../log.ts";
import { createMetrics } from "../metrics.ts";
import { checkArgs, commonArgs } from "./args.ts";
import { clientFor, configFrom, sleep, stopSignal } from "./context.ts";

const args = {
  ...commonArgs,
  once: { type: "boolean", description: "run one cycle and exit" },
  "dry-run": { type: "boolean", description: "list what would be deleted and write nothing" },
  healthcheck: {
    type: "boolean",
    description:
      "ask the running cleanup's /healthz on HEALTH_PORT; exit 0 when healthy (for images without curl)",
  },
} as const;

/** A container health check with no API request: the long-lived process answers for itself. */
async function probe(port: number | undefined): Promise<void> {
  if (port === undefined) throw new DynipError("--healthcheck needs HEALTH_PORT", 2);
  const answer = await fetch(`http://127.0.0.1:${port}/healthz`, {
    signal: AbortSignal.timeout(5000),
  }).catch((error: Error) => {
    throw new DynipError(`cleanup is not answering on port ${port}: ${error.message}`);
  });
  const body = (await answer.text()).trim();
  if (answer.status !== 200) throw new DynipError(`cleanup is unhealthy: ${body}`);
  process.stdout.write(`${body}\n`);
}

export default defineCommand({
  meta: {
    name: "cleanup",
    description: "Delete the records of hosts whose heartbeat went stale",
  },
  args,
  async run({ rawArgs, args: flags }) {
    checkArgs(rawArgs, args, flags);
    const config = configFrom(flags);
    if (flags.healthcheck) return probe(config.healthPort);
    const token = requireToken(config);
    const metrics = createMetrics();
    const cleaner = createCleaner({
      client: clientFor(config, token, (info) => metrics.request(info)),
      domains: managedDomains(config),
      zoneId: config.zoneId,
      thresholdSeconds: config.staleThresholdSeconds,
      metrics,
      dryRun: Boolean(flags["dry-run"]),
      print: (line) => process.stdout.write(`${line}\n`),
    });

    if (flags.once || flags["dry-run"]) {
      try {
        await cleaner.cycle();
        metrics.cycle("success", new Date());
      } catch (error) {
        throw new DynipError(`cleanup cycle failed: ${(error as Error).message}`);
      }
      return;
    }

    const interval = config.cleanupIntervalSeconds;
    const stop = stopSignal("cycle");
    const health =
      config.healthPort === undefined
        ? undefined
        : startHealthServer({ port: config.healthPort, metrics, intervalSeconds: interval });
    if (health) log.info(`serving /healthz and /metrics on port ${health.port}`);
    log.info(`long-lived: one cleanup cycle every ${interval}s until SIGTERM`);
    while (!stop.aborted) {
      try {
        const { deleted } = await cleaner.cycle();
        metrics.cycle("success", new Date());
        log.info(`cycle done: ${deleted} record(s) deleted`);
      } catch (error) {
        metrics.cycle("failure", new Date());
        log.error(`cycle failed: ${(error as Error).message}`);
      }
      await sleep(interval * 1000, stop);
    }
    await health?.stop();
    log.info("stopped");
  },
});
