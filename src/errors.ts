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
}

/** Invalid configuration or usage: exit 2, raised before any request is sent. */
export class ConfigError extends DynipError {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`, 2);
  }
}

export interface CloudflareErrorDetail {
  code: number;
  message: string;
  error_chain?: CloudflareErrorDetail[];
}

/** Cloudflare answered with an error envelope (success: false) or an error status. */
export class CloudflareApiError extends DynipError {
  override name = "CloudflareApiError";
  constructor(
    readonly status: number,
    readonly errors: CloudflareErrorDetail[],
    readonly request: string,
  ) {
    super(`Cloudflare API ${request} failed (HTTP ${status}): ${describeErrors(errors)}`);
  }

  /** True when any error (or any error in a chain) carries this code. */
  hasCode(code: number): boolean {
    const walk = (list: CloudflareErrorDetail[] | undefined): boolean =>
      (list ?? []).some((e) => e.code === code || walk(e.error_chain));
    return walk(this.errors);
  }
}

/** The API answered something that is not a Cloudflare envelope (HTML, truncated JSON, wrong shape). */
export class CloudflareResponseError extends DynipError {
  override name = "CloudflareResponseError";
  constructor(
    message: string,
    readonly status: number,
    readonly request: string,
  ) {
    super(`Cloudflare API ${request}: ${message} (HTTP ${status})`);
  }
}

/**
 * A paged listing saw the records move while it read them (offset paging): a count that
 * changed between pages, or a record on two pages. Records may have shifted past a page
 * boundary unseen, so nothing may be judged from this read; the caller reads again.
 */
export class ListingChangedError extends DynipError {
  override name = "ListingChangedError";
  constructor(
    readonly detail: string,
    readonly request: string,
  ) {
    super(
      `Cloudflare API ${request}: the records changed while being read page by page (${detail})`,
    );
  }
}

/** The request never got an answer: connection refused or reset, DNS failure, timeout. */
export class CloudflareNetworkError extends DynipError {
  override name = "CloudflareNetworkError";
  constructor(
    message: string,
    readonly request: string,
    options?: ErrorOptions,
  ) {
    super(`Cloudflare API ${request}: ${message}`, 1, options);
  }
}

/** Error details shown in a message: a server may answer thousands, and a log line stays short. */
const SHOWN_ERRORS = 5;
/** Characters of one server message kept in ours. */
const SHOWN_MESSAGE = 200;
/** How deep `error_chain` is followed. */
const SHOWN_DEPTH = 3;

/** Cuts server-provided text to `limit` characters, saying how much was left out. */
export function clip(text: string, limit = SHOWN_MESSAGE): string {
  return text.length <= limit
    ? text
    : `${text.slice(0, limit)}… (${text.length - limit} more characters)`;
}

/**
 * `81058 An identical record already exists.; 1004 DNS Validation Error (9021 TTL …)`: at most
 * five errors per level, three levels of `error_chain`, 200 characters per message, so that an
 * answer listing 50,000 errors still makes one short log line.
 */
/** Cloudflare's codes for a token that is missing, malformed, invalid or not allowed. */
const AUTH_CODES = [1001, 6003, 9109, 10000] as const;

/**
 * An authentication or authorization failure: retrying cannot help, a person must fix
 * CF_API_TOKEN (or its permissions, or CF_ZONE_ID).
 */
export function isAuthFailure(error: unknown): boolean {
  return (
    error instanceof CloudflareApiError &&
    (error.status === 401 || AUTH_CODES.some((code) => error.hasCode(code)))
  );
}

/**
 * A failure that lasts until a person acts: authentication, or configuration found wrong at
 * run time (exit code 2, such as a zone apex). Health checks fail at once on these.
 */
/** 2 when `error`, or an error it wraps, is a configuration or usage error; else 1. */
export function exitCodeOf(error: unknown): 1 | 2 {
  if (error instanceof DynipError && error.exitCode === 2) return 2;
  return error instanceof Error && error.cause !== undefined ? exitCodeOf(error.cause) : 1;
}

export function needsOperator(error: unknown): boolean {
  if (isAuthFailure(error) || (error instanceof DynipError && error.exitCode === 2)) return true;
  // Wrapped (a cycle that failed after part of its work): the cause decides.
  return error instanceof Error && error.cause !== undefined && needsOperator(error.cause);
}

function describeErrors(errors: CloudflareErrorDetail[], depth = 1): string {
  if (errors.length === 0) return "no error details";
  const shown = errors.slice(0, SHOWN_ERRORS).map((e) => {
    const chain =
      e.error_chain?.length && depth < SHOWN_DEPTH
        ? ` (${describeErrors(e.error_chain, depth + 1)})`
        : "";
    return `${e.code} ${clip(e.message)}${chain}`;
  });
  const more = errors.length - shown.length;
  return `${shown.join("; ")}${more > 0 ? `; and ${more} more error(s)` : ""}`;
}
