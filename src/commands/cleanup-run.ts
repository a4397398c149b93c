import type { CommandContext } from "citty";
import { managedDomains } from "../config/load.ts";
import { CleanupFailedError, type CycleResult, createCleaner } from "../engine/cleaner.ts";
import { createLifecycle } from "../engine/lifecycle.ts";
import { createTroubleWatch } from "../engine/trouble.ts";
import { DynipError, exitCodeOf } from "../errors.ts";
import { log } from "../observe/log.ts";
import { outLine } from "../observe/output.ts";
import { createDryRun } from "../providers/dry-run.ts";
import { providerFor } from "../providers/select.ts";
import { checkArgs } from "./args.ts";
import { args } from "./cleanup.ts";
import { configFrom, printHealthcheck, runUntilStopped, stopSignal } from "./context.ts";
import { createReporting, type PendingEvent } from "./reporting.ts";

/** Runs `dynip cleanup` with its parsed flags (see cleanup.ts). */
export async function run({ rawArgs, args: flags }: CommandContext<typeof args>): Promise<void> {
  checkArgs(rawArgs, args, flags);
  const once = Boolean(flags.once || flags["dry-run"]);
  // A long-lived cleanup that never brakes is the very danger the brake exists for.
  if (flags.force && !once) {
    throw new DynipError("--force goes with --once (or --dry-run); see --help", 2);
  }
  if (flags.healthcheck) return printHealthcheck(flags, "cleanup");
  const config = configFrom(flags);
  const dryRun = Boolean(flags["dry-run"]);
  const reporting = createReporting(config, "cleanup", dryRun);
  const { metrics } = reporting;
  const trouble = createTroubleWatch();
  // Long-lived: SIGTERM/SIGINT stop it within STOP_TIMEOUT_SECONDS, requests included.
  const stop = once ? undefined : stopSignal("cycle");
  const ending = stop && createLifecycle(stop, config.stopTimeoutSeconds * 1000);
  const provider = await providerFor(config, {
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
      // Held deletions are the brake working; a cycle that could judge nothing is not. But
      // `--once` exits 1 while the brake holds, and its ping must agree with that.
      reporting.end({
        ok: result.problems.length === 0,
        summary: cycleText(result),
        events: cycleEvents(result),
        failsCommand: once && unfinishedBecause(result) !== undefined,
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
      throw new DynipError(`cleanup cycle failed: ${(error as Error).message}`, exitCodeOf(error));
    } finally {
      await reporting.notifier.close(reporting.closeMs);
    }
    if (dryRun && result.changes.length === 0) outLine("nothing to delete");
    log.info(summary(result));
    const unfinished = unfinishedBecause(result);
    if (unfinished) throw new DynipError(`cleanup cycle did not fully succeed: ${unfinished}`);
    return;
  }

  if (!stop || !ending) return;
  await runUntilStopped({
    command: "cleanup",
    config,
    reporting,
    stop,
    ending,
    intervalSeconds: config.cleanupIntervalSeconds,
    loopName: "cleanup cycle",
    loop: async () => log.info(summary(await reportedCycle())),
    failed: (error) => `cycle failed: ${error.message}`,
  });
}

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
