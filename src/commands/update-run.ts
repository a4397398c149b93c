import type { CommandContext } from "citty";
import { missingCredentials } from "../config/load.ts";
import type { Detection } from "../detect/source-types.ts";
import { createLifecycle } from "../engine/lifecycle.ts";
import { createUpdater, type PassResult } from "../engine/updater.ts";
import { DynipError } from "../errors.ts";
import { addressEvents, conflictData } from "../observe/events.ts";
import { log } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import { outLine } from "../observe/output.ts";
import { type Change, describeChange, isUpkeep } from "../plan/changes.ts";
import { failedSources } from "../plan/desired.ts";
import { hasCredentials, previewProvider, providerFor } from "../providers/select.ts";
import { checkArgs } from "./args.ts";
import {
  configFrom,
  detectorFor,
  printHealthcheck,
  runUntilStopped,
  stopSignal,
} from "./context.ts";
import { createReporting, type PendingEvent } from "./reporting.ts";

/** A long-lived updater's /healthz turns 503 after this many failed passes in a row. */
const UNHEALTHY_AFTER_FAILURES = 3;

/** `action` in `update --dry-run --json`, as documented in docs/records.md. */
const ACTIONS = { create: "create", replace: "patch", delete: "delete" } as const;

import { args } from "./update.ts";

/** Changed records listed in a ping's body at most; the count says the rest. */
const SUMMARY_LINES = 20;

/** What Healthchecks and Uptime Kuma are told about a pass. */
function passSummary(result: PassResult, failures: string[]): string {
  const changes = result.changes.filter((c) => !isUpkeep(c));
  const lines = [
    `pass done: ${result.changed} change(s), ${result.refreshed} heartbeat(s) refreshed`,
    ...failures,
    ...changes.slice(0, SUMMARY_LINES).map(describeChange),
    ...(changes.length > SUMMARY_LINES ? [`and ${changes.length - SUMMARY_LINES} more`] : []),
  ];
  return lines.join("\n");
}

/** The events of a pass: address changes, and instance id conflicts as they start. */
function passEvents(result: PassResult): PendingEvent[] {
  return [
    ...addressEvents(result.changes),
    ...conflictData(result.conflicts).map(
      (data): PendingEvent => ({
        name: "instance.conflict",
        data,
        repeat: `${data.domain} ${data.address}`,
      }),
    ),
  ];
}

/** The updater's counters after a pass that ran. */
function countPass(metrics: Metrics, result: PassResult): void {
  const changes = result.changes.filter((c) => !isUpkeep(c));
  metrics.changes("create", changes.filter((c) => c.kind === "create").length);
  metrics.changes("update", changes.filter((c) => c.kind === "replace").length);
  metrics.changes("delete", changes.filter((c) => c.kind === "delete").length);
  metrics.refreshed(result.refreshed);
  for (const { domain, addresses } of result.published) {
    metrics.published(domain, addresses.length);
  }
}

/** Runs `dynip update` with its parsed flags (see update.ts). */
export async function run({ rawArgs, args: flags }: CommandContext<typeof args>): Promise<void> {
  checkArgs(rawArgs, args, flags);
  if (flags.json && !flags["dry-run"]) {
    throw new DynipError("--json goes with --dry-run; see --help", 2);
  }
  if (flags.healthcheck) return printHealthcheck(flags, "update");
  const config = configFrom(flags);
  const dryRun = Boolean(flags["dry-run"]);
  // A dry run without credentials previews against an empty zone and sends nothing.
  const read = !dryRun || hasCredentials(config);
  const missing = missingCredentials(config).join(", ");
  const emptyZone = `no ${missing}: planned against an empty zone; nothing was read or sent`;
  if (!read && !flags.json) outLine(emptyZone);
  const interval = config.updateIntervalSeconds;
  const longLived = interval !== undefined && !dryRun && !flags.deregister;
  // Long-lived: SIGTERM/SIGINT stop it within STOP_TIMEOUT_SECONDS, requests included.
  const stop = longLived ? stopSignal() : undefined;
  const ending = stop && createLifecycle(stop, config.stopTimeoutSeconds * 1000);
  // --json prints one document at the end instead of lines.
  const print = flags.json ? () => {} : outLine;
  const reporting = createReporting(config, "update", dryRun);
  const updater = createUpdater({
    config,
    provider: dryRun
      ? await previewProvider(config, print)
      : await providerFor(config, {
          onRequest: (info) => reporting.metrics.request(info),
          ...(ending ? { lifecycle: ending.lifecycle } : {}),
        }),
    detect: detectorFor(config),
    now: () => Math.floor(Date.now() / 1000),
    ...(dryRun ? { preview: print } : {}),
  });

  /** `--dry-run --json`: the plan as one document (docs/records.md, "Dry-run JSON"). */
  const printPlan = (changes: Change[], detected?: Detection) => {
    const plan = {
      dryRun: true,
      zone: read ? "read" : "empty",
      ...(read ? {} : { note: emptyZone }),
      ...(detected ? { detected } : { deregister: true }),
      operations: changes.map((change) => ({
        action: ACTIONS[change.kind],
        type: change.record.type,
        name: change.record.name,
        content: change.record.content,
        ttl: change.record.ttl,
        reason: change.reason,
      })),
    };
    outLine(JSON.stringify(plan, null, 2));
  };

  /** One pass, told to metrics and notification targets. Throws what the pass throws. */
  const reportedPass = async (): Promise<PassResult> => {
    reporting.begin();
    try {
      const result = await updater.pass();
      countPass(reporting.metrics, result);
      const failures = failedSources(result.detection);
      reporting.end({
        ok: result.ok,
        summary: passSummary(result, failures),
        events: passEvents(result),
      });
      return result;
    } catch (error) {
      reporting.failed(error as Error);
      throw error;
    }
  };
  /** Deregisters, and tells the webhooks which addresses went. */
  const deregister = async () => {
    const changes = await updater.deregister();
    reporting.events(addressEvents(changes, true));
    return changes;
  };

  if (flags.deregister) {
    try {
      const changes = await deregister();
      if (flags.json) printPlan(changes);
    } finally {
      await reporting.notifier.close(reporting.closeMs);
    }
    return;
  }
  if (!stop || !ending || interval === undefined) {
    let result: PassResult;
    try {
      result = await reportedPass();
    } finally {
      await reporting.notifier.close(reporting.closeMs);
    }
    if (dryRun && result.changes.length === 0) print("nothing to do");
    if (flags.json) printPlan(result.changes, result.detection);
    if (!result.ok) throw new DynipError("the pass did not fully succeed (see warnings above)");
    return;
  }

  await runUntilStopped({
    command: "update",
    config,
    reporting,
    stop,
    ending,
    intervalSeconds: interval,
    loopName: "pass",
    health: { what: "update pass", maxConsecutiveFailures: UNHEALTHY_AFTER_FAILURES },
    loop: async () => {
      await reportedPass();
    },
    failed: (error) => {
      const cut = stop.aborted ? " (cut short by the stop: its records stay as they were)" : "";
      return `pass failed${cut}: ${error.message}`;
    },
    beforeStop: async () => {
      if (!config.deregisterOnStop) return;
      ending.finalPhase();
      try {
        await deregister();
      } catch (error) {
        log.warn(
          `deregistration did not finish within STOP_TIMEOUT_SECONDS=${config.stopTimeoutSeconds} ` +
            `(${(error as Error).message}): the records left go once cleanup finds them stale`,
        );
      }
    },
  });
}
