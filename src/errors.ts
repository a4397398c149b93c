/** An error the user can act on. Caught once in cli.ts and turned into an exit code. */
export class DynipError extends Error {
  override name = "DynipError";
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /**
   * True when retrying cannot help until a person acts: configuration found wrong at run time
   * (exit code 2, such as a zone apex), or a provider refusing the credentials (its errors
   * override this). Health checks fail at once on these.
   */
  get awaitsOperator(): boolean {
    return this.exitCode === 2;
  }
}

/** Invalid configuration or usage: exit 2, raised before any request is sent. */
export class ConfigError extends DynipError {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`, 2);
  }
}

/**
 * Another writer changed the records between the read a plan rests on and its writing: a
 * record to replace or delete is gone, one to create exists already, or a prerequisite no
 * longer holds. Nothing of the refused request was applied; the engine reads again and plans
 * again (docs/provider.md, "Races"). The provider's own error is the cause, and its message
 * is this one's.
 *
 * `mayHaveLanded`: an earlier attempt of the refused request went unanswered (a timeout, a
 * dropped connection, a server error) and was sent again, so that attempt may have landed and
 * the refusal may be of this process's own write (docs/ownership.md, "Instance id conflicts").
 */
export class RaceError extends DynipError {
  override name = "RaceError";
  readonly mayHaveLanded: boolean;
  constructor(cause: Error, options: { mayHaveLanded?: boolean } = {}) {
    super(cause.message, 1, { cause });
    this.mayHaveLanded = options.mayHaveLanded ?? false;
  }
}

/** Characters of one server message kept in ours. */
const SHOWN_MESSAGE = 200;

/** Cuts server-provided text to `limit` characters, saying how much was left out. */
export function clip(text: string, limit = SHOWN_MESSAGE): string {
  return text.length <= limit
    ? text
    : `${text.slice(0, limit)}… (${text.length - limit} more characters)`;
}

/** 2 when `error`, or an error it wraps, is a configuration or usage error; else 1. */
export function exitCodeOf(error: unknown): 1 | 2 {
  if (error instanceof DynipError && error.exitCode === 2) return 2;
  return error instanceof Error && error.cause !== undefined ? exitCodeOf(error.cause) : 1;
}

/**
 * A failure that lasts until a person acts (DynipError.awaitsOperator), itself or wrapped (a
 * cycle that failed after part of its work): health checks fail at once on these.
 */
export function needsOperator(error: unknown): boolean {
  if (error instanceof DynipError && error.awaitsOperator) return true;
  return error instanceof Error && error.cause !== undefined && needsOperator(error.cause);
}
