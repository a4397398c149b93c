import { CloudflareApiError, type CloudflareErrorDetail } from "../errors.ts";
import { redact } from "../log.ts";

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

/** The error for an error envelope; server text is redacted in case it echoes the token. */
export function apiError(
  status: number,
  errors: CloudflareErrorDetail[],
  request: string,
): CloudflareApiError {
  const clean = redactDetails(errors);
  const error = new CloudflareApiError(status, clean, request);
  return error.hasCode(RECORD_QUOTA_CODE)
    ? new CloudflareQuotaError(status, clean, request)
    : error;
}

function redactDetails(errors: CloudflareErrorDetail[]): CloudflareErrorDetail[] {
  return errors.map((e) => ({
    code: e.code,
    message: redact(e.message),
    ...(e.error_chain ? { error_chain: redactDetails(e.error_chain) } : {}),
  }));
}
