import type { CloudflareErrorDetail } from "../../src/providers/cloudflare/api-errors.ts";

/**
 * An error answer of the fake API: the HTTP status and the `errors` of the envelope.
 * Thrown anywhere inside request handling and turned into a JSON answer at the top.
 */
export class FakeApiError extends Error {
  override name = "FakeApiError";
  constructor(
    readonly status: number,
    readonly errors: CloudflareErrorDetail[],
  ) {
    super(errors.map((e) => `${e.code} ${e.message}`).join("; "));
  }

  /** The same error with `context` in front of the first message (batch operation index). */
  withContext(context: string): FakeApiError {
    const [first, ...rest] = this.errors;
    if (!first) return this;
    return new FakeApiError(this.status, [
      { ...first, message: `${context}: ${first.message}` },
      ...rest,
    ]);
  }
}

function fail(status: number, code: number, message: string, chain?: CloudflareErrorDetail[]) {
  const detail: CloudflareErrorDetail = chain
    ? { code, message, error_chain: chain }
    : { code, message };
  return new FakeApiError(status, [detail]);
}

/**
 * 1004 "DNS Validation Error". With a known root-cause code it goes in `error_chain`, as the
 * live API answered before October 2024; without one the detail is appended to the message.
 */
export function dnsValidationError(detail: string, chainCode?: number): FakeApiError {
  if (chainCode === undefined) return fail(400, 1004, `DNS Validation Error: ${detail}`);
  return fail(400, 1004, "DNS Validation Error", [{ code: chainCode, message: detail }]);
}

export const errors = {
  missingAuth: () =>
    fail(400, 1001, "Unable to authenticate request: missing Authorization header"),
  malformedAuth: () =>
    fail(400, 6003, "Invalid request headers", [
      { code: 6111, message: "Invalid format for Authorization header" },
    ]),
  invalidToken: () => fail(403, 9109, "Invalid access token"),
  contentType: () =>
    fail(400, 6003, "Invalid request headers", [
      {
        code: 6105,
        message:
          "Invalid Content-Type header, valid values are application/json,multipart/form-data",
      },
    ]),
  invalidBody: () => fail(400, 9207, "Request body is invalid."),
  noRoute: (path: string) =>
    new FakeApiError(400, [
      {
        code: 7003,
        message: `Could not route to ${path}, perhaps your object identifier is invalid?`,
      },
      { code: 7000, message: "No route for that URI" },
    ]),
  unknownPath: () => fail(404, 7000, "No route for that URI"),
  methodNotAllowed: () => fail(405, 7001, "Method not allowed for this endpoint"),
  recordMissing: () => fail(404, 81044, "Record does not exist."),
  identical: () => fail(400, 81058, "An identical record already exists."),
  recordExists: () => fail(400, 81057, "Record already exists."),
  cnameExists: () => fail(400, 81054, "A CNAME record with that host already exists."),
  hostExists: () => fail(400, 81053, "An A, AAAA, or CNAME record with that host already exists."),
  quota: () => fail(400, 81045, "Record quota exceeded."),
  invalidIpv4: () => fail(400, 9005, "Content for A record must be a valid IPv4 address."),
  invalidIpv6: () => fail(400, 9006, "Content for AAAA record must be a valid IPv6 address."),
  notProxiableTarget: (content: string) =>
    fail(400, 9003, `Target ${content} is not allowed for a proxied record.`),
  notProxiableType: (type: string) =>
    dnsValidationError(`${type} records cannot be proxied.`, 9004),
  ttl: () =>
    dnsValidationError("TTL must be between 60 and 86400 seconds, or 1 for Automatic.", 9021),
  rateLimited: () => fail(429, 971, "Please wait and consider throttling your request speed"),
};

/** The `errors` of an injected `{ kind: "status" }` fault: what the edge answers for that status. */
export function statusErrors(status: number): CloudflareErrorDetail[] {
  const known: Record<number, CloudflareErrorDetail> = {
    400: { code: 1004, message: "DNS Validation Error" },
    401: { code: 10000, message: "Authentication error" },
    403: { code: 10000, message: "Authentication error" },
    404: { code: 7000, message: "No route for that URI" },
    405: { code: 7001, message: "Method not allowed for this endpoint" },
    429: { code: 971, message: "Please wait and consider throttling your request speed" },
  };
  return [known[status] ?? { code: 1000, message: `HTTP ${status} (injected by the fake API)` }];
}
