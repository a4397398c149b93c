import { defineCommand } from "citty";
import { requireToken } from "../config.ts";
import { DynipError, exitCodeOf } from "../errors.ts";
import { log } from "../log.ts";
import { createUpdater } from "../update.ts";
import { checkArgs, commonArgs } from "./args.ts";
import { clientFor, configFrom, detectorFor, sleep, stopSignal } from "./context.ts";

const args = {
  ...commonArgs,
  "dry-run": { type: "boolean", description: "print the plan and write nothing" },
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
    const config = configFrom(flags);
    const dryRun = Boolean(flags["dry-run"]);
    // A dry run without a token previews against an empty zone and sends nothing.
    const token = dryRun && !config.token ? undefined : requireToken(config);
    const updater = createUpdater({
      config,
      client: token ? clientFor(config, token) : undefined,
      detect: detectorFor(config),
      now: () => Math.floor(Date.now() / 1000),
      dryRun,
      print: (line) => process.stdout.write(`${line}\n`),
    });

    if (flags.deregister) {
      await updater.deregister();
      return;
    }
    const interval = config.updateIntervalSeconds;
    if (interval === undefined || dryRun) {
      const result = await updater.pass();
      if (!result.ok) throw new DynipError("the pass did not fully succeed (see warnings above)");
      return;
    }

    const stop = stopSignal();
    log.info(`long-lived: one pass every ${interval}s until SIGTERM`);
    while (!stop.aborted) {
      try {
        await updater.pass();
      } catch (error) {
        // A configuration error found at run time (a zone apex) will not heal: exit 2.
        if (exitCodeOf(error) === 2) throw error;
        log.error(`pass failed: ${(error as Error).message}`);
      }
      await sleep(interval * 1000, stop);
    }
    if (config.deregisterOnStop) await updater.deregister();
    log.info("stopped");
  },
});
