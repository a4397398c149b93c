import { formatWithOptions } from "node:util";
import { type ConsolaReporter, createConsola, type LogObject } from "consola/core";

export type LogFormat = "pretty" | "json";
export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug";

const LEVELS: Record<LogLevelName, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

/** Secrets registered here are replaced in every log line, whatever the format or level. */
const secrets = new Set<string>();

export function registerSecret(secret: string): void {
  if (secret.length > 0) secrets.add(secret);
}

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

const prettyReporter: ConsolaReporter = {
  log(entry: LogObject) {
    const time = entry.date.toISOString().slice(11, 19);
    const label = LABELS[entry.type] ?? entry.type.toUpperCase();
    process.stderr.write(`${time} ${label} ${render(entry.args)}\n`);
  },
};

/** The one logger. Everything goes to stderr so stdout stays free for documents (`--json`). */
export const log = createConsola({ level: LEVELS.info, reporters: [prettyReporter] });

export function configureLogger(options: { level: LogLevelName; format: LogFormat }): void {
  log.level = LEVELS[options.level];
  log.setReporters([options.format === "json" ? jsonReporter : prettyReporter]);
}
