import type { ArgsDef } from "citty";
import { DynipError } from "../errors.ts";

/**
 * Flags shared by every command. Each flag overrides the environment variable named in
 * `env`, so flags and variables go through the same validation in src/config/load.ts.
 */
export const commonArgs = {
  "log-level": {
    type: "string",
    description: "silent, error, warn, info or debug (LOG_LEVEL)",
    valueHint: "level",
  },
  "log-format": {
    type: "string",
    description: "pretty or json (LOG_FORMAT)",
    valueHint: "format",
  },
  "zone-id": { type: "string", description: "Cloudflare zone id (CF_ZONE_ID)", valueHint: "id" },
  "api-url": {
    type: "string",
    description: "Cloudflare API base URL (CF_API_URL)",
    valueHint: "url",
  },
  "instance-id": {
    type: "string",
    description: "this host's id in heartbeats (INSTANCE_ID, default: host name)",
    valueHint: "id",
  },
  "env-file": {
    type: "string",
    description:
      "read settings from this file too, as systemd's EnvironmentFile= (the environment wins over it, flags over both)",
    valueHint: "path",
  },
} as const satisfies ArgsDef;

/** Which environment variable each value-taking flag overrides. */
export const FLAG_ENV: Record<string, string> = {
  "log-level": "LOG_LEVEL",
  "log-format": "LOG_FORMAT",
  "zone-id": "CF_ZONE_ID",
  "api-url": "CF_API_URL",
  "instance-id": "INSTANCE_ID",
  interval: "UPDATE_INTERVAL",
};

/** Turns parsed flags into config overrides keyed by environment variable name. */
export function flagOverrides(args: Record<string, unknown>): Record<string, string | undefined> {
  const overrides: Record<string, string | undefined> = {};
  for (const [flag, env] of Object.entries(FLAG_ENV)) {
    const value = args[flag];
    if (typeof value === "string") overrides[env] = value;
  }
  return overrides;
}

/**
 * A word from the command line, quoted back only when it looks like an option name: after
 * `--token` (no such flag) the next word is a secret, and tokens may start with `-`.
 */
function shown(word: string): string {
  return /^--?[a-z][a-z0-9-]{0,23}$/.test(word) ? word : "(a word not shown)";
}

/**
 * citty accepts anything; a typo such as `--dryrun`, a stray word or `--interval` without
 * its value must not silently run a different command against DNS: usage error, exit 2.
 */
export function checkArgs(rawArgs: string[], defs: ArgsDef, parsed: Record<string, unknown>): void {
  const known = new Set<string>();
  for (const [name, def] of Object.entries(defs)) {
    known.add(name);
    if (def.type === "boolean") known.add(`no-${name}`);
    const aliases = "alias" in def ? def.alias : undefined;
    for (const alias of [aliases ?? []].flat()) known.add(alias);
  }
  const problems = rawArgs
    .filter((a) => a.startsWith("-") && a !== "-" && a !== "--")
    .map((a) => a.replace(/^--?/, "").split("=")[0] ?? "")
    .filter((name) => !known.has(name))
    .map((name) => `unknown option ${shown(`--${name}`)}`);
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "string" && parsed[name] === "") problems.push(`--${name} needs a value`);
  }
  // citty reads `-dry-run` as short flags and `--instance-id --dry-run` as an id: either way
  // the dry run would be lost and the command would write for real.
  const end = rawArgs.indexOf("--");
  const words = end === -1 ? rawArgs : rawArgs.slice(0, end);
  words.forEach((word, i) => {
    if (/^-[^-]{2,}/.test(word)) {
      problems.push(`${shown(word.split("=")[0] ?? "")}: long options take two dashes`);
    }
    const def = word.startsWith("--") ? defs[word.slice(2)] : undefined;
    if (def?.type === "string" && words[i + 1]?.startsWith("-")) {
      problems.push(`${word} needs a value (write ${word}=<value> for one that starts with -)`);
    }
  });
  const stray = (parsed._ as string[] | undefined) ?? [];
  // Not quoted: after a mistyped flag the stray word may well be a secret (`--token abc…`).
  if (stray.length > 0)
    problems.push(`${stray.length} unexpected argument(s); this command takes none`);
  if (problems.length > 0) throw new DynipError(`${problems.join("; ")}; see --help`, 2);
}
