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

function describeErrors(errors: CloudflareErrorDetail[]): string {
  if (errors.length === 0) return "no error details";
  return errors
    .map((e) => {
      const chain = e.error_chain?.length ? ` (${describeErrors(e.error_chain)})` : "";
      return `${e.code} ${e.message}${chain}`;
    })
    .join("; ");
}
