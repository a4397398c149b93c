import { defineCommand } from "citty";
import { loadHealthSettings, managedDomains } from "../config/load.ts";
import { CleanupFailedError, type CycleResult, createCleaner } from "../engine/cleaner.ts";
import { createLifecycle } from "../engine/lifecycle.ts";
import { createTroubleWatch } from "../engine/trouble.ts";
import { DynipError, exitCodeOf } from "../errors.ts";
import { probeHealth, startHealthServer } from "../observe/health.ts";
import { log } from "../observe/log.ts";
import { outLine } from "../observe/output.ts";
import { createDryRun } from "../providers/dry-run.ts";
import { providerFor } from "../providers/select.ts";
import { checkArgs, commonArgs } from "./args.ts";
import { configFrom, environment, sleep, stopSignal } from "./context.ts";
import { createReporting, type PendingEvent } from "./reporting.ts";

const args = {
  ...commonArgs,
  once: { type: "boolean", description: "run one cycle and exit" },
  "dry-run": { type: "boolean", description: "list what would be deleted and write nothing" },
  force: {
    type: "boolean",
    description: "with --once: delete what the mass-deletion brake would hold back",
  },
  healthcheck: {
    type: "boolean",
    description:
      "ask the running cleanup's /healthz on HEALTH_PORT; exit 0 when healthy (for images without curl)",
  },
} as const;

export default defineCommand({
  meta: {
    name: "cleanup",
    description: "Delete the records of hosts whose heartbeat went stale",
  },
  args,
  async run({ rawArgs, args: flags }) {
    checkArgs(rawArgs, args, flags);
    const once = Boolean(flags.once || flags["dry-run"]);
    // A long-lived cleanup that never brakes is the very danger the brake exists for.
    if (flags.force && !once) {
      throw new DynipError("--force goes with --once (or --dry-run); see --help", 2);
    }
    if (flags.healthcheck) {
      const { port, address } = loadHealthSettings(environment(flags));
      outLine(await probeHealth(port, address, "cleanup"));
      return;
    }
    const config = configFrom(flags);
    const dryRun = Boolean(flags["dry-run"]);
    const reporting = createReporting(config, "cleanup", dryRun);
    const { metrics } = reporting;
    const trouble = createTroubleWatch();
    // Long-lived: SIGTERM/SIGINT stop it within STOP_TIMEOUT_SECONDS, requests included.
    const stop = once ? undefined : stopSignal("cycle");
    const ending = stop && createLifecycle(stop, config.stopTimeoutSeconds * 1000);
    const provider = providerFor(config, {
      onRequest: (info) => {
        metrics.request(info);
        trouble.note(info);
      },
      ...(ending ? { lifecycle: ending.lifecycle } : {}),
    });
    const cleaner = createCleaner({
      // A dry run reads as the real cycle would and prints what it would delete.
      provider: dryRun ? createDryRun(provider, outLine) : provider,
      domains: managedDomains(config),
      thresholdSeconds: config.staleThresholdSeconds,
      maxDeleteRatio: config.maxDeleteRatio,
      holdSeconds: config.brakeHoldSeconds,
      troubleAgoSeconds: trouble.secondsSince,
      force: Boolean(flags.force),
      metrics,
      ...(dryRun ? { preview: outLine } : {}),
    });

    /** One cycle, told to metrics and notification targets. Throws what the cycle throws. */
    const reportedCycle = async (): Promise<CycleResult> => {
      reporting.begin();
      try {
        const result = await cleaner.cycle();
        // Held deletions are the brake working; a cycle that could judge nothing is not.
        reporting.end({
          ok: result.problems.length === 0,
          summary: cycleText(result),
          events: cycleEvents(result),
        });
        return result;
      } catch (error) {
        reporting.failed(error as Error, error instanceof CleanupFailedError ? error.deleted : 0);
        throw error;
      }
    };

    if (once) {
      let result: CycleResult;
      try {
        result = await reportedCycle();
      } catch (error) {
        throw new DynipError(
          `cleanup cycle failed: ${(error as Error).message}`,
          exitCodeOf(error),
        );
      } finally {
        await reporting.notifier.flush(reporting.flushMs);
      }
      if (dryRun && result.changes.length === 0) outLine("nothing to delete");
      log.info(summary(result));
      const unfinished = unfinishedBecause(result);
      if (unfinished) throw new DynipError(`cleanup cycle did not fully succeed: ${unfinished}`);
      return;
    }

    const interval = config.cleanupIntervalSeconds;
    if (!stop || !ending) return;
    const health =
      config.healthPort === undefined
        ? undefined
        : startHealthServer({
            port: config.healthPort,
            hostname: config.healthAddress,
            metrics,
            intervalSeconds: interval,
          });
    if (health) log.info(`serving /healthz and /metrics on port ${health.port}`);
    log.info(`long-lived: one cleanup cycle every ${interval}s until SIGTERM`);
    while (!stop.aborted) {
      try {
        log.info(summary(await reportedCycle()));
      } catch (error) {
        // A configuration error found at run time (a zone apex) will not heal: exit 2.
        if (exitCodeOf(error) === 2) {
          await health?.stop();
          await reporting.notifier.flush(reporting.flushMs);
          throw error;
        }
        log.error(`cycle failed: ${(error as Error).message}`);
      }
      await sleep(interval * 1000, stop);
    }
    reporting.notifier.stopped(0, `dynip cleanup on ${config.instanceId} stopped`);
    await reporting.notifier.flush(Math.max(0, ending.remainingMs() - 500));
    await health?.stop();
    ending.dispose();
    log.info("stopped");
  },
});

/** Deleted records listed in a ping's body at most; the count says the rest. */
const SUMMARY_LINES = 20;

/** What Healthchecks and Uptime Kuma are told about a cycle: the summary, then the details. */
function cycleText(result: CycleResult): string {
  const lines = [
    summary(result),
    ...result.held.map((h) => `held in ${h.domain}: ${h.addresses.join(", ")} (${h.reason})`),
    ...result.problems,
    ...result.gone.map(
      (g) => `gone: ${g.host ?? "no heartbeat"} at ${g.domain}: ${g.addresses.join(", ")}`,
    ),
  ];
  return [...lines.slice(0, SUMMARY_LINES), ...(lines.length > SUMMARY_LINES ? ["…"] : [])].join(
    "\n",
  );
}

/** The events of a cycle: hosts gone, and brake holds as they start or change. */
function cycleEvents(result: CycleResult): PendingEvent[] {
  return [
    ...result.gone.map((data): PendingEvent => ({ name: "host.gone", data })),
    ...result.held.map(
      (h): PendingEvent => ({
        name: "deletions.held",
        data: { domain: h.domain, addresses: h.addresses, records: h.records, reason: h.reason },
        repeat: `${h.domain} ${h.addresses.join(",")}`,
      }),
    ),
  ];
}

/** One line per cycle: what it deleted, and what it held or could not judge. */
function summary(result: CycleResult): string {
  const held = result.held.reduce((sum, h) => sum + h.addresses.length, 0);
  return [
    `cycle done: ${result.deleted} record(s) deleted`,
    ...(held > 0 ? [`${held} address(es) held by the brake`] : []),
    ...(result.problems.length > 0 ? [`${result.problems.length} problem(s), records kept`] : []),
  ].join(", ");
}

/** Why `--once` exits 1 although the cycle ran: deletions held, or parts not judged. */
function unfinishedBecause(result: CycleResult): string | undefined {
  const reasons = [
    ...result.held.map((h) => `deletions held in ${h.domain} (${h.reason})`),
    ...result.problems,
  ];
  return reasons.length > 0 ? reasons.join("; ") : undefined;
}
