import { defineCommand } from "citty";
import { DynipError } from "../errors.ts";
import { commonArgs, rejectUnknownFlags } from "./args.ts";

const args = {
  ...commonArgs,
  json: { type: "boolean", description: "print one JSON document on stdout" },
  check: { type: "boolean", description: "exit 1 when anything is stale, missing or orphaned" },
} as const;

export default defineCommand({
  meta: { name: "status", description: "Show who owns which address and how fresh it is" },
  args,
  run({ rawArgs }) {
    rejectUnknownFlags(rawArgs, args);
    throw new DynipError("dynip status is not implemented yet");
  },
});
