import type { ArgsDef, CommandDef } from "citty";
import { main } from "../../src/cli.ts";
import { CONFIG_VARIABLES } from "../../src/config/load.ts";

export const VARIABLES: ReadonlySet<string> = new Set(CONFIG_VARIABLES.map((v) => v.name));

/** The flags each real subcommand accepts, read from its citty definition. */
export async function subcommandFlags(): Promise<Map<string, ArgsDef>> {
  const subs = (main as CommandDef).subCommands as Record<string, () => Promise<CommandDef>>;
  const out = new Map<string, ArgsDef>();
  for (const [name, load] of Object.entries(subs))
    out.set(name, ((await load()).args ?? {}) as ArgsDef);
  return out;
}

/**
 * Why `argv` (the arguments after /dynip) would not run: an unknown subcommand, an
 * unknown flag, or a value-taking flag with no value. Empty when it would.
 */
export function argvProblems(argv: readonly string[], flags: Map<string, ArgsDef>): string[] {
  const [sub, ...rest] = argv;
  const defs = sub === undefined ? undefined : flags.get(sub);
  if (!defs) return [`unknown subcommand ${sub}`];
  const problems: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? "";
    const name = arg.replace(/^--/, "");
    const def = defs[name];
    if (!arg.startsWith("--") || !def) problems.push(`${sub}: unknown argument ${arg}`);
    else if (def.type === "string" && (rest[++i] ?? "--").startsWith("--")) {
      problems.push(`${sub}: ${arg} needs a value`);
    }
  }
  return problems;
}
