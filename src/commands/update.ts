import { defineCommand } from "citty";
import { commonArgs } from "./args.ts";

/** The flags of `dynip update`; what they do is in update-run.ts, loaded only when it runs. */
export const args = {
  ...commonArgs,
  "dry-run": { type: "boolean", description: "print the plan and write nothing" },
  json: { type: "boolean", description: "with --dry-run: print the plan as one JSON document" },
  deregister: { type: "boolean", description: "delete this instance's records and exit" },
  interval: {
    type: "string",
    description: "run long-lived, one pass every N seconds (UPDATE_INTERVAL)",
    valueHint: "seconds",
  },
  healthcheck: {
    type: "boolean",
    description:
      "ask the running updater's /healthz on HEALTH_PORT; exit 0 when healthy (for images without curl)",
  },
} as const;

export default defineCommand({
  meta: {
    name: "update",
    description: "Publish this host's addresses and refresh their heartbeats",
  },
  args,
  async run(context) {
    const { run } = await import("./update-run.ts");
    await run(context);
  },
});
