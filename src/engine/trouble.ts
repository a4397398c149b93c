import type { RequestInfo } from "../providers/provider.ts";

/**
 * Remembers when cleanup's own requests last ran into trouble: a request the provider calls
 * strained (Cloudflare: a 429, a 5xx, no answer, a nearly spent request budget). Hosts share
 * the back end and usually the credentials: when cleanup cannot get through, they probably could
 * not either, and their heartbeats may be stale although they live (src/plan/brake.ts).
 * `now` is a monotonic clock in milliseconds.
 */
export function createTroubleWatch(now: () => number = () => performance.now()) {
  let last: number | undefined;
  return {
    /** Shaped like the provider's `onRequest`. */
    note(info: Pick<RequestInfo, "strained">): void {
      if (info.strained) last = now();
    },
    /** Seconds since the last trouble; undefined when there was none. */
    secondsSince(): number | undefined {
      return last === undefined ? undefined : (now() - last) / 1000;
    },
  };
}
