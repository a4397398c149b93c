/** Errors of the Cloudflare API, what their codes mean to dynip, and what to do about them. */
import { clip, DynipError } from "../../errors.ts";
import { redact } from "../../observe/log.ts";

export interface CloudflareErrorDetail {
  code: number;
  message: string;
  error_chain?: CloudflareErrorDetail[];
}

/**
 * Cloudflare answered with an error envelope (success: false) or an error status.
 * `afterUnanswered`: an earlier attempt of the same request got no answer or a server error
 * and was retried, so that attempt may have been applied (set by the transport).
 */
export class CloudflareApiError extends DynipError {
  override name = "CloudflareApiError";
  afterUnanswered = false;
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

  /** A refused token will be refused again until CF_API_TOKEN is fixed. */
  override get awaitsOperator(): boolean {
    return isAuthFailure(this);
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
 * Codes meaning another writer got there first (docs/provider.md, "Races"): 81058 "An
 * identical record already exists", 81057 "Record already exists" (answered by the live API in
 * some of the same races), 81044 "Record does not exist".
 */
const RACE_CODES = [81058, 81057, 81044] as const;

/** An answer that means the records changed under the plan: read again and plan again. */
export function isRace(error: unknown): error is CloudflareApiError {
  return error instanceof CloudflareApiError && RACE_CODES.some((code) => error.hasCode(code));
}

/** Error details shown in a message: a server may answer thousands, and a log line stays short. */
const SHOWN_ERRORS = 5;
/** How deep `error_chain` is followed. */
const SHOWN_DEPTH = 3;

/**
 * `81058 An identical record already exists.; 1004 DNS Validation Error (9021 TTL …)`: at most
 * five errors per level, three levels of `error_chain`, 200 characters per message, so that an
 * answer listing 50,000 errors still makes one short log line.
 */
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

/** Cloudflare's code for "Record quota exceeded". */
export const RECORD_QUOTA_CODE = 81045;

/**
 * The zone holds as many records as its plan allows. Cloudflare's own text ("Record quota
 * exceeded.") does not say what to do, and each host costs two records per address and domain.
 */
export class CloudflareQuotaError extends CloudflareApiError {
  override name = "CloudflareQuotaError";
  constructor(status: number, errors: CloudflareErrorDetail[], request: string) {
    super(status, errors, request);
    this.message =
      "Cloudflare DNS record quota reached: the zone already holds as many records as its plan " +
      "allows (200 on Free zones created since September 2024, 1,000 on older Free zones, 3,500 " +
      "on Pro; each address costs two records per domain). " +
      `Remove unused records or upgrade the plan. ${this.message}`;
  }
}

/**
 * The error for an error envelope; server text is redacted in case it echoes the token. An
 * error a person must act on says what to do, naming the setting (see hintFor).
 */
export function apiError(
  status: number,
  errors: CloudflareErrorDetail[],
  request: string,
): CloudflareApiError {
  const clean = redactDetails(errors);
  const error = new CloudflareApiError(status, clean, request);
  if (error.hasCode(RECORD_QUOTA_CODE)) return new CloudflareQuotaError(status, clean, request);
  const hint = hintFor(error);
  if (hint) error.message = `${error.message}. ${hint}`;
  return error;
}

/**
 * What to do about an authentication, permission or routing error, by request and code:
 * - the zone lookup (`GET /zones`) refused: the token lacks Zone → Zone → Read;
 * - the token refused (1001, 6003, 9109, 401): CF_API_TOKEN is wrong;
 * - a zone's records refused (10000, or 403): the token lacks DNS Edit there, or CF_ZONE_ID is
 *   another account's zone;
 * - a zone Cloudflare cannot route to (7003): CF_ZONE_ID is wrong.
 */
export function hintFor(error: CloudflareApiError): string | undefined {
  const lookup = /^GET \/zones$/.test(error.request);
  const refused = error.status === 401 || error.status === 403;
  if ([1001, 6003, 9109].some((code) => error.hasCode(code)) || error.status === 401) {
    return "Cloudflare does not accept this token: check CF_API_TOKEN (or CF_API_TOKEN_FILE)";
  }
  if (lookup && (refused || error.hasCode(10000))) {
    return "The token may not read zones: give it Zone → Zone → Read, or set CF_ZONE_ID so no lookup is needed";
  }
  if (error.hasCode(10000) || refused) {
    return "The token may lack Zone → DNS → Edit on this zone, or CF_ZONE_ID names a zone it may not touch";
  }
  if (error.hasCode(7003)) return "Cloudflare knows no such zone: check CF_ZONE_ID";
  return undefined;
}

function redactDetails(errors: CloudflareErrorDetail[]): CloudflareErrorDetail[] {
  return errors.map((e) => ({
    code: e.code,
    message: redact(e.message),
    ...(e.error_chain ? { error_chain: redactDetails(e.error_chain) } : {}),
  }));
}
