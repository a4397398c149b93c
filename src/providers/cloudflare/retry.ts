/** Which Cloudflare answers are worth retrying, and when they ask to be. Pure, so tests need no clock. */

/** 408 and 429 ask us to come back later; 5xx is Cloudflare's side. Other 4xx would fail again. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/**
 * `Retry-After` in milliseconds from now: either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable, so the caller falls back to backoff.
 */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Date.parse takes almost anything ("-3" is a year); an HTTP-date always names day and month.
  if (!/[a-z]/i.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
