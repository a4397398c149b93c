#!/usr/bin/env bun
import { type CommandDef, defineCommand, renderUsage, runCommand } from "citty";
import pkg from "../package.json" with { type: "json" };
import { readEnvironmentFile } from "./config/env-file.ts";
import { DynipError } from "./errors.ts";
import { configureLogger, type LogFormat, log, redact } from "./observe/log.ts";
import { isTerminalSoon, outLine } from "./observe/output.ts";

const subCommands = {
  update: () => import("./commands/update.ts").then((m) => m.default),
  cleanup: () => import("./commands/cleanup.ts").then((m) => m.default),
  status: () => import("./commands/status.ts").then((m) => m.default),
};

export const main = defineCommand({
  meta: {
    name: "dynip",
    version: pkg.version,
    description: "Keep Cloudflare DNS in step with the addresses of a fleet of hosts",
  },
  subCommands,
});

function isSubCommand(name: string | undefined): name is keyof typeof subCommands {
  return name !== undefined && Object.hasOwn(subCommands, name);
}

/** citty's own usage errors (unknown command, missing command) carry an E_* code. */
function isUsageError(error: unknown): boolean {
  return error instanceof Error && /^E_[A-Z_]+$/.test(String((error as { code?: unknown }).code));
}

/**
 * Help that is enough to configure dynip with nothing but the binary: citty's usage, then, for
 * a command, every environment variable with its default, and the exit codes.
 */
async function usage(name: string | undefined): Promise<string> {
  const command = isSubCommand(name) ? ((await subCommands[name]()) as CommandDef) : undefined;
  const text = command ? await renderUsage(command, main as CommandDef) : await renderUsage(main);
  // Loaded only here: the schema's libraries are not needed to print the version.
  const { CONFIG_VARIABLES } = await import("./config/variables.ts");
  const width = Math.max(...CONFIG_VARIABLES.map((v) => v.name.length));
  const variables = CONFIG_VARIABLES.map((v) => {
    const fallback = v.default === undefined ? "" : ` (default: ${v.default || "none"})`;
    return `  ${v.name.padEnd(width)}  ${v.description}${fallback}`;
  });
  const more = [
    "",
    command
      ? "ENVIRONMENT (each flag above overrides the variable it names; --env-file reads a file of them)"
      : "Every command is configured by environment variables: see `dynip <command> --help`.",
    "",
    ...(command ? [...variables, ""] : []),
    "EXIT CODES",
    "",
    "  0  success",
    "  1  the pass or cycle did not fully succeed (see the log)",
    "  2  invalid configuration or usage: nothing was sent",
  ].join("\n");
  const all = `${text}${more}`;
  // citty colours unconditionally; pipes and log files get plain text.
  return (await isTerminalSoon(1)) ? all : Bun.stripANSI(all);
}

/**
 * The log format asked for, read before anything is validated, so that even a configuration
 * or usage error comes out as JSON when JSON is wanted: `--log-format X` or `--log-format=X`,
 * else LOG_FORMAT from the environment, else from the `--env-file` (best effort: an unreadable
 * file is reported later, by the command).
 */
function earlyFormat(argv: string[], env: NodeJS.ProcessEnv): LogFormat {
  const flag = (name: string) => {
    const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
    const word = argv[i];
    if (word === undefined) return undefined;
    return word.includes("=") ? word.slice(name.length + 1) : argv[i + 1];
  };
  let format = flag("--log-format") ?? env.LOG_FORMAT;
  const envFile = flag("--env-file");
  if (format === undefined && envFile) {
    try {
      format = readEnvironmentFile(envFile).get("LOG_FORMAT");
    } catch {}
  }
  return format?.trim().toLowerCase() === "json" ? "json" : "pretty";
}

/** Runs the CLI and returns the exit code (docs/operations.md, "Exit codes": 0 success, 1 failure, 2 configuration or usage). */
export async function run(argv: string[]): Promise<number> {
  configureLogger({ level: "info", format: earlyFormat(argv, process.env) });
  const first = argv.find((a) => !a.startsWith("-"));
  if (argv.includes("--help") || argv.includes("-h")) {
    outLine(await usage(first));
    return 0;
  }
  // `dynip help [command]`, as people type it.
  if (first === "help" && argv.length <= 2) {
    const about = argv.find((a, i) => i > argv.indexOf("help") && !a.startsWith("-"));
    if (about === undefined || isSubCommand(about)) {
      outLine(await usage(about));
      return 0;
    }
  }
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
    outLine(pkg.version);
    return 0;
  }
  if (argv.length === 0) {
    outLine(await usage(undefined));
    return 2;
  }
  try {
    await runCommand(main, { rawArgs: argv });
    return 0;
  } catch (error) {
    return report(error, first);
  }
}

function report(error: unknown, command: string | undefined): number {
  if (error instanceof DynipError) {
    log.error(error.message);
    return error.exitCode;
  }
  if (isUsageError(error)) {
    const help = isSubCommand(command) ? `dynip ${command} --help` : "dynip --help";
    log.error(`${Bun.stripANSI((error as Error).message)}; see \`${help}\``);
    return 2;
  }
  // Unexpected: say what happened in one line; the stack only helps at debug level.
  const err = error instanceof Error ? error : new Error(String(error));
  log.error(`unexpected error: ${err.message}`);
  log.debug(redact(err.stack ?? ""));
  return 1;
}

if (import.meta.main) {
  process.exitCode = await run(process.argv.slice(2));
}
