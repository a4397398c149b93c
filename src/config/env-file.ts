/**
 * `--env-file PATH`: the settings file of the systemd units (EnvironmentFile=, systemd.exec(5)),
 * read by dynip itself so that `dynip status` sees what the services see. No npm library
 * parses systemd's dialect (dotenv's differs in quoting and escapes), so this is a small state
 * machine after systemd's own parse_env_file(), table-tested in tests/env-file.test.ts.
 */
import { readSmallFile } from "../bounded-read.ts";
import { ConfigError } from "../errors.ts";

/** Far above any dynip settings file; a bigger one is not one. */
export const MAX_ENV_FILE_BYTES = 64 * 1024;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BLANK = new Set([" ", "\t", "\r"]);

type ParserState =
  | "pre-key"
  | "key"
  | "pre-value"
  | "value"
  | "value-escape"
  | "single"
  | "double"
  | "double-escape"
  | "comment"
  | "comment-escape";

/**
 * The assignments of an EnvironmentFile, later ones winning, in systemd's dialect: `KEY=value`
 * per line; blank lines, lines starting with `#` or `;` and lines without `=` are ignored;
 * leading and trailing blanks of a value are dropped; `'…'` keeps everything verbatim and
 * `"…"` honours `\"`, `\\`, `` \` `` and `\$`, both across lines; outside quotes a backslash keeps
 * the next character and a backslash at the end of a line continues it. Names that are not
 * shell variable names are left out. Pure; never throws.
 */
export function parseEnvironmentFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let state: ParserState = "pre-key";
  let key = "";
  let value = "";
  /** Length of `value` without the unquoted blanks at its end. */
  let kept = 0;
  const emit = () => {
    const name = key.trim();
    if (NAME.test(name)) out.set(name, value.slice(0, kept));
    key = "";
    value = "";
    kept = 0;
  };
  const keep = (c: string) => {
    value += c;
    kept = value.length;
  };
  for (const c of text) {
    switch (state) {
      case "pre-key":
        if (c === "#" || c === ";") state = "comment";
        else if (c !== "\n" && !BLANK.has(c)) {
          key = c;
          state = "key";
        }
        break;
      case "key":
        if (c === "\n") {
          key = "";
          state = "pre-key";
        } else if (c === "=") state = "pre-value";
        else key += c;
        break;
      case "pre-value":
        if (c === "\n") {
          emit();
          state = "pre-key";
        } else if (c === "'") state = "single";
        else if (c === '"') state = "double";
        else if (c === "\\") state = "value-escape";
        else if (!BLANK.has(c)) {
          keep(c);
          state = "value";
        }
        break;
      case "value":
        if (c === "\n") {
          emit();
          state = "pre-key";
        } else if (c === "\\") state = "value-escape";
        else if (BLANK.has(c)) value += c;
        else keep(c);
        break;
      case "value-escape":
        if (c !== "\n") keep(c);
        state = "value";
        break;
      case "single":
        if (c === "'") state = "pre-value";
        else keep(c);
        break;
      case "double":
        if (c === '"') state = "pre-value";
        else if (c === "\\") state = "double-escape";
        else keep(c);
        break;
      case "double-escape":
        if ('"\\`$'.includes(c)) keep(c);
        else if (c !== "\n") keep(`\\${c}`);
        state = "double";
        break;
      case "comment":
        if (c === "\\") state = "comment-escape";
        else if (c === "\n") state = "pre-key";
        break;
      case "comment-escape":
        state = "comment";
        break;
    }
  }
  if (state !== "pre-key" && state !== "key" && state !== "comment" && state !== "comment-escape") {
    emit();
  }
  return out;
}

/**
 * The assignments of the file at `path` (see parseEnvironmentFile). Throws a ConfigError
 * (exit 2) naming `--env-file` when it is not a readable regular file of at most 64 KiB.
 */
export function readEnvironmentFile(path: string): Map<string, string> {
  try {
    return parseEnvironmentFile(readSmallFile(path, MAX_ENV_FILE_BYTES, "a settings file").content);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const hint = why === "EACCES" ? "; it is root's: run dynip as root (sudo) to read it" : "";
    throw new ConfigError([`--env-file: cannot read ${JSON.stringify(path)} (${why})${hint}`]);
  }
}
