import type { CommandContext } from "citty";
import { managedDomains } from "../config/load.ts";
import { createReader } from "../engine/reader.ts";
import { DynipError } from "../errors.ts";
import { out } from "../observe/output.ts";
import { buildReport, needsAttention, renderReport } from "../observe/status-report.ts";
import { providerFor } from "../providers/select.ts";
import { checkArgs } from "./args.ts";
import { configFrom, detectorFor } from "./context.ts";
import { args } from "./status.ts";

/** Runs `dynip status` with its parsed flags (see status.ts). */
export async function run({ rawArgs, args: flags }: CommandContext<typeof args>): Promise<void> {
  checkArgs(rawArgs, args, flags);
  const config = configFrom(flags);
  const provider = await providerFor(config);
  const reader = createReader({
    provider,
    domains: managedDomains(config),
    thresholdSeconds: config.staleThresholdSeconds,
  });
  const [views, detection] = await Promise.all([reader.readAll(), detectorFor(config)()]);
  const clock = provider.capabilities.clock;
  const report = buildReport(views, detection, {
    instanceId: config.instanceId,
    thresholdSeconds: config.staleThresholdSeconds,
    clock: clock?.id,
  });
  out(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, clock));
  if (flags.check && needsAttention(report)) {
    throw new DynipError(
      "status --check: something needs attention (stale, missing or orphaned addresses, " +
        "a dead sharer's heartbeat, an instance id used by two hosts, or no provider clock)",
    );
  }
}
