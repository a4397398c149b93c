import { formatWithOptions } from "node:util";
import { type ConsolaReporter, createConsola, type LogObject } from "consola/core";

export type LogFormat = "pretty" | "json";
export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug";

const LEVELS: Record<LogLevelName, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

/** Secrets registered here are replaced in every log line, whatever the format or level. */
const secrets = new Set<string>();

/** From now on `secret` (non-empty) is replaced by `[redacted]` in every log line and redact(). */
export function registerSecret(secret: string): void {
  if (secret.length > 0) secrets.add(secret);
}

/** `text` with every registered secret replaced by `[redacted]`. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("[redacted]");
  return out;
}

function render(args: unknown[]): string {
  const parts = args.map((a) => (a instanceof Error ? a.message : a));
  return redact(
    formatWithOptions({ colors: false, depth: 6, breakLength: Number.POSITIVE_INFINITY }, ...parts),
  );
}

const jsonReporter: ConsolaReporter = {
  log(entry: LogObject) {
    const line: Record<string, unknown> = {
      time: entry.date.toISOString(),
      level: entry.type,
      msg: render(entry.args),
    };
    if (entry.tag) line.tag = entry.tag;
    process.stderr.write(`${JSON.stringify(line)}\n`);
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
  return process.stderr.isTTY === true && !NO_COLOR && TERM !== "dumb";
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
    process.stderr.write(`${localTime(entry.date)} ${shown} ${render(entry.args)}\n`);
  },
};

/** The one logger. Everything goes to stderr so stdout stays free for documents (`--json`). */
export const log = createConsola({ level: LEVELS.info, reporters: [prettyReporter] });

/** Sets the level and the format (`pretty` or one JSON object per line) of every later line. */
export function configureLogger(options: { level: LogLevelName; format: LogFormat }): void {
  log.level = LEVELS[options.level];
  log.setReporters([options.format === "json" ? jsonReporter : prettyReporter]);
}
