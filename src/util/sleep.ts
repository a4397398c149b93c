/**
 * The one abortable wait: a long-lived loop between passes, a stop-aware backoff, a
 * notification's retry delay. Each must end at once when a stop comes, and leave no timer or
 * listener behind, so the process can exit.
 */

/**
 * Resolves after `ms` milliseconds, or at once when `signal` is aborted (or already is);
 * clears its timer and its listener either way. Never rejects.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
