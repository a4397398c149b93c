import { defineCommand } from "citty";
import { managedDomains } from "../config/load.ts";
import { createReader } from "../engine/reader.ts";
import { DynipError } from "../errors.ts";
import { out } from "../observe/output.ts";
import { buildReport, needsAttention, renderReport } from "../observe/status-report.ts";
import { providerFor } from "../providers/select.ts";
import { checkArgs, commonArgs } from "./args.ts";
import { configFrom, detectorFor } from "./context.ts";

const args = {
  ...commonArgs,
  json: { type: "boolean", description: "print one JSON document on stdout" },
  check: {
    type: "boolean",
    description: "exit 1 when anything is stale, missing or orphaned, or an instance id conflicts",
  },
} as const;

export default defineCommand({
  meta: { name: "status", description: "Show who owns which address and how fresh it is" },
  args,
  async run({ rawArgs, args: flags }) {
    checkArgs(rawArgs, args, flags);
    const config = configFrom(flags);
    const provider = providerFor(config);
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
  },
});
