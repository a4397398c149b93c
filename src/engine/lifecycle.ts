/**
 * Stopping in bounded time. SIGTERM must not wait for retries and slow answers: Docker kills
 * after 10 s, the shipped examples after 30. Once a stop signal came, no request is retried;
 * requests still in flight for the current pass are cut at a deadline; what runs on the way out
 * (DEREGISTER_ON_STOP) gets the rest of the budget, STOP_TIMEOUT_SECONDS in all.
 */
import type { Lifecycle } from "../providers/provider.ts";
import { sleep } from "../util/sleep.ts";

/** The part of the stop budget the pass in flight may still use; the rest is for the way out. */
const PASS_SHARE = 0.4;
/** Kept back at the end of the budget, to log and exit. */
const EXIT_MS = 500;

/**
 * A lifecycle driven by `stop` (aborted at SIGTERM/SIGINT). After the stop, requests of the pass
 * are cut 40 % into `budgetMs`; `finalPhase()` then gives a last phase (deregistration) until
 * 0.5 s before the budget ends. `clock` is monotonic milliseconds (tests). Never throws.
 */
export function createLifecycle(
  stop: AbortSignal,
  budgetMs: number,
  clock: () => number = () => performance.now(),
) {
  let stoppedAt: number | undefined;
  let phase = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cutAt = (ms: number) => {
    clearTimeout(timer);
    const wait = Math.max(0, (stoppedAt ?? clock()) + ms - clock());
    const controller = phase;
    timer = setTimeout(() => controller.abort(new Error("stopping: out of time")), wait);
  };
  const onStop = () => {
    stoppedAt = clock();
    cutAt(budgetMs * PASS_SHARE);
  };
  if (stop.aborted) onStop();
  else stop.addEventListener("abort", onStop, { once: true });
  const lifecycle: Lifecycle = {
    stopping: () => stop.aborted,
    cancel: () => phase.signal,
    sleep: (ms) => sleep(ms, stop),
  };
  return {
    lifecycle,
    /** Starts the last phase: fresh requests, cut 0.5 s before the whole budget ends. */
    finalPhase(): void {
      phase = new AbortController();
      cutAt(Math.max(0, budgetMs - EXIT_MS));
    },
    /** Milliseconds of the budget left since the stop (the whole budget before it). */
    remainingMs(): number {
      return stoppedAt === undefined ? budgetMs : budgetMs - (clock() - stoppedAt);
    },
    /** Clears the timer so the process can exit. */
    dispose(): void {
      clearTimeout(timer);
    },
  };
}
