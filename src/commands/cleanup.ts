import { defineCommand } from "citty";
import { createCleaner } from "../cleanup.ts";
import { requireToken } from "../config.ts";
import { DynipError } from "../errors.ts";
import { startHealthServer } from "../health.ts";
import { log } from "../log.ts";
import { createMetrics } from "../metrics.ts";
import { commonArgs, rejectUnknownFlags } from "./args.ts";
import { clientFor, configFrom, managedDomains, sleep, stopSignal } from "./context.ts";

const args = {
  ...commonArgs,
  once: { type: "boolean", description: "run one cycle and exit" },
  "dry-run": { type: "boolean", description: "list what would be deleted and write nothing" },
} as const;

export default defineCommand({
  meta: {
    name: "cleanup",
    description: "Delete the records of hosts whose heartbeat went stale",
  },
  args,
  async run({ rawArgs, args: flags }) {
    rejectUnknownFlags(rawArgs, args);
    const config = configFrom(flags);
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
