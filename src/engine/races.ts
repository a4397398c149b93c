import { RaceError } from "../errors.ts";

/** Fresh reads a pass or cycle makes when other writers keep changing the records under it. */
export const RACE_ATTEMPTS = 3;

export interface RaceHooks {
  /** Before attempt `next`: the records changed under the last one (logged by the caller). */
  retrying(error: RaceError, next: number): void;
  /** The error to throw when the last attempt raced too. */
  exhausted(error: RaceError): Error;
}

/**
 * Runs `attempt(n)` (n = 1, 2, 3) until it ends without a RaceError: each attempt reads afresh,
 * plans and writes (docs/provider.md, "Races"). Other errors are thrown at once, as they come;
 * a RaceError on the third attempt becomes `hooks.exhausted`.
 */
export async function retryRaces<T>(
  attempt: (n: number) => Promise<T>,
  hooks: RaceHooks,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof RaceError)) throw error;
      if (n >= RACE_ATTEMPTS) throw hooks.exhausted(error);
      hooks.retrying(error, n + 1);
    }
  }
}
