import { defineCommand } from "citty";
import { DynipError } from "../errors.ts";
import { commonArgs, rejectUnknownFlags } from "./args.ts";

const args = {
  ...commonArgs,
  once: { type: "boolean", description: "run one cycle and exit" },
  "dry-run": { type: "boolean", description: "list what would be deleted and write nothing" },
} as const;

export default defineCommand({
  meta: { name: "cleanup", description: "Delete the records of hosts whose heartbeat went stale" },
  args,
  run({ rawArgs }) {
    rejectUnknownFlags(rawArgs, args);
    throw new DynipError("dynip cleanup is not implemented yet");
  },
});
