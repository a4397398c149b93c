import { redact } from "../../observe/log.ts";
import { CloudflareApiError, type CloudflareErrorDetail } from "./errors.ts";

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
