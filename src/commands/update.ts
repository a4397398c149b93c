import { defineCommand } from "citty";
import { DynipError } from "../errors.ts";
import { commonArgs, rejectUnknownFlags } from "./args.ts";

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
  run({ rawArgs }) {
    rejectUnknownFlags(rawArgs, args);
    throw new DynipError("dynip update is not implemented yet");
  },
});
