import { defineCommand } from "citty";
import { missingCredentials } from "../config/load.ts";
import type { Detection } from "../detect/source-types.ts";
import { createLifecycle } from "../engine/lifecycle.ts";
import { createUpdater } from "../engine/updater.ts";
import { DynipError, exitCodeOf } from "../errors.ts";
import { log } from "../observe/log.ts";
import { outLine } from "../observe/output.ts";
import type { Change } from "../plan/changes.ts";
import { hasCredentials, previewProvider, providerFor } from "../providers/select.ts";
import { checkArgs, commonArgs } from "./args.ts";
import { configFrom, detectorFor, sleep, stopSignal } from "./context.ts";

/** `action` in `update --dry-run --json`, as documented in docs/records.md. */
const ACTIONS = { create: "create", replace: "patch", delete: "delete" } as const;

const args = {
  ...commonArgs,
  "dry-run": { type: "boolean", description: "print the plan and write nothing" },
  json: { type: "boolean", description: "with --dry-run: print the plan as one JSON document" },
  deregister: { type: "boolean", description: "delete this instance's records and exit" },
  interval: {
    type: "string",
    description: "run long-lived, one pass every N seconds (UPDATE_INTERVAL)",
    valueHint: "seconds",
  },
} as const;

export default defineCommand({
  meta: {
    name: "update",
    description: "Publish this host's addresses and refresh their heartbeats",
  },
  args,
  async run({ rawArgs, args: flags }) {
    checkArgs(rawArgs, args, flags);
    if (flags.json && !flags["dry-run"]) {
      throw new DynipError("--json goes with --dry-run; see --help", 2);
    }
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
    const updater = createUpdater({
      config,
      provider: dryRun
        ? previewProvider(config, print)
        : providerFor(config, ending ? { lifecycle: ending.lifecycle } : {}),
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

    if (flags.deregister) {
      const changes = await updater.deregister();
      if (flags.json) printPlan(changes);
      return;
    }
    if (!stop || !ending || interval === undefined) {
      const result = await updater.pass();
      if (dryRun && result.changes.length === 0) print("nothing to do");
      if (flags.json) printPlan(result.changes, result.detection);
      if (!result.ok) throw new DynipError("the pass did not fully succeed (see warnings above)");
      return;
    }

    log.info(`long-lived: one pass every ${interval}s until SIGTERM`);
    while (!stop.aborted) {
      try {
        await updater.pass();
      } catch (error) {
        // A configuration error found at run time (a zone apex) will not heal: exit 2.
        if (exitCodeOf(error) === 2) throw error;
        const cut = stop.aborted ? " (cut short by the stop: its records stay as they were)" : "";
        log.error(`pass failed${cut}: ${(error as Error).message}`);
      }
      await sleep(interval * 1000, stop);
    }
    if (config.deregisterOnStop) {
      ending.finalPhase();
      try {
        await updater.deregister();
      } catch (error) {
        log.warn(
          `deregistration did not finish within STOP_TIMEOUT_SECONDS=${config.stopTimeoutSeconds} ` +
            `(${(error as Error).message}): the records left go once cleanup finds them stale`,
        );
      }
    }
    ending.dispose();
    log.info("stopped");
  },
});
