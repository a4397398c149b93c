import { defineCommand } from "citty";
import { commonArgs } from "./args.ts";

/** The flags of `dynip cleanup`; what they do is in cleanup-run.ts, loaded only when it runs. */
export const args = {
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
  async run(context) {
    const { run } = await import("./cleanup-run.ts");
    await run(context);
  },
});
