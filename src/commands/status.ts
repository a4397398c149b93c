import { defineCommand } from "citty";
import { commonArgs } from "./args.ts";

/** The flags of `dynip status`; what they do is in status-run.ts, loaded only when it runs. */
export const args = {
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
  async run(context) {
    const { run } = await import("./status-run.ts");
    await run(context);
  },
});
