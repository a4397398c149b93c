/** How long a provider waits before retrying a request. Pure, so tests need no clock. */

export interface BackoffOptions {
  /** Milliseconds before the first retry. */
  baseDelayMs: number;
  /** Milliseconds no wait exceeds. */
  maxDelayMs: number;
}

/**
 * Milliseconds to wait before retry number `retry` (1 for the first): exponential backoff with
 * jitter, as Cloudflare's own SDK does it: base × 2^(retry-1), capped at maxDelayMs, minus up to
 * 25 % (`random` in [0, 1)), so that hosts started by the same timer do not retry in lockstep.
 */
export function backoffDelay(
  retry: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(options.baseDelayMs * 2 ** (retry - 1), options.maxDelayMs);
  return Math.round(exponential * (1 - 0.25 * random()));
}
