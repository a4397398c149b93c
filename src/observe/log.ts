import {
  type ConsolaInstance,
  type ConsolaReporter,
  createConsola,
  type LogObject,
} from "consola/core";
import { err, isTerminal } from "./output.ts";

export type LogFormat = "pretty" | "json";
export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug";

const LEVELS: Record<LogLevelName, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

/** Secrets registered here are replaced in every log line, whatever the format or level. */
const secrets = new Set<string>();

/** From now on `secret` (non-empty) is replaced by `[redacted]` in every log line and redact(). */
export function registerSecret(secret: string): void {
  if (secret.length > 0) secrets.add(secret);
}

/**
 * `text` with every registered secret replaced by `[redacted]`, the longest first: a URL and
 * its own prefix may both be registered, and the shorter one first would leave the rest of the
 * longer in the line (`[redacted]?token=…`).
 */
export function redact(text: string): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join("[redacted]");
  }
  return out;
}

/** One line from a log call's arguments: strings as they are, errors by message, the rest inspected. */
function render(args: unknown[]): string {
  const parts = args.map((a) =>
    typeof a === "string"
      ? a
      : a instanceof Error
        ? a.message
        : Bun.inspect(a, { colors: false, depth: 6, compact: true }).replaceAll("\n", " "),
  );
  return redact(parts.join(" "));
}

const jsonReporter: ConsolaReporter = {
  log(entry: LogObject) {
    const line: Record<string, unknown> = {
      time: entry.date.toISOString(),
      level: entry.type,
      msg: render(entry.args),
    };
    if (entry.tag) line.tag = entry.tag;
    err(`${JSON.stringify(line)}\n`);
  },
};

const LABELS: Partial<Record<string, string>> = {
  fatal: "ERROR",
  error: "ERROR",
  warn: "WARN ",
  info: "INFO ",
  success: "OK   ",
  start: "INFO ",
  ready: "OK   ",
  log: "INFO ",
  debug: "DEBUG",
  trace: "TRACE",
};

/** ANSI colours of the labels on a terminal. */
const COLOURS: Partial<Record<string, number>> = {
  fatal: 31,
  error: 31,
  warn: 33,
  success: 32,
  ready: 32,
  debug: 90,
  trace: 90,
};

/**
 * Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb:
 * pipes, journald and log files get plain text.
 */
function colourful(): boolean {
  const { NO_COLOR, TERM } = process.env;
  return !NO_COLOR && TERM !== "dumb" && isTerminal(2);
}

/** `2026-11-30 06:55:12` in the local time zone (TZ), as a person reading a terminal expects. */
export function localTime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
  return `${day} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

const prettyReporter: ConsolaReporter = {
  log(entry: LogObject) {
    const label = LABELS[entry.type] ?? entry.type.toUpperCase();
    const colour = colourful() ? COLOURS[entry.type] : undefined;
    const shown = colour === undefined ? label : `\x1b[${colour}m${label}\x1b[0m`;
    err(`${localTime(entry.date)} ${shown} ${render(entry.args)}\n`);
  },
};

/** What configureLogger set, for the logger made on first use. */
let settings = { level: LEVELS.info, reporter: prettyReporter };
let instance: ConsolaInstance | undefined;

/**
 * The consola instance, made on the first line logged: a short command that logs nothing
 * (`--help`, a preview) does not pay for building it (docs/architecture.md, "Start-up").
 */
function consola(): ConsolaInstance {
  instance ??= createConsola({ level: settings.level, reporters: [settings.reporter] });
  return instance;
}

/**
 * The one logger. Everything goes to stderr so stdout stays free for documents (`--json`).
 * Levels as consola's (`level`: -999 silent … 4 debug); `setReporters` replaces the output.
 */
export const log = {
  error: (...args: unknown[]) => consola().error(...(args as [unknown])),
  warn: (...args: unknown[]) => consola().warn(...(args as [unknown])),
  info: (...args: unknown[]) => consola().info(...(args as [unknown])),
  debug: (...args: unknown[]) => consola().debug(...(args as [unknown])),
  get level(): number {
    return instance?.level ?? settings.level;
  },
  set level(level: number) {
    settings = { ...settings, level };
    if (instance) instance.level = level;
  },
  setReporters(reporters: ConsolaReporter[]): void {
    consola().setReporters(reporters);
  },
};

/** Sets the level and the format (`pretty` or one JSON object per line) of every later line. */
export function configureLogger(options: { level: LogLevelName; format: LogFormat }): void {
  settings = {
    level: LEVELS[options.level],
    reporter: options.format === "json" ? jsonReporter : prettyReporter,
  };
  if (instance) {
    instance.level = settings.level;
    instance.setReporters([settings.reporter]);
  }
}
