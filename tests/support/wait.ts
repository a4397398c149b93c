/**
 * Waiting for another process in tests: poll a condition, or read its output, with a deadline
 * long enough for a loaded CI machine. Both fail the test when the deadline passes.
 */
import { expect } from "bun:test";

/** Polls `ready` every 20 ms until it holds; fails after `ms`. */
export async function until(ready: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  let done = await ready();
  for (let waited = 0; waited < ms && !done; waited += 20) {
    await Bun.sleep(20);
    done = await ready();
  }
  expect(done).toBe(true);
}

/** Reads `stream` until its text so far contains `wanted`; fails after `ms`. */
export async function readUntil(
  stream: ReadableStream<Uint8Array>,
  wanted: string,
  ms = 10_000,
): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  const deadline = Bun.sleep(ms).then(() => ({ done: true, value: undefined }) as const);
  let text = "";
  try {
    while (!text.includes(wanted)) {
      const chunk = await Promise.race([reader.read(), deadline]);
      if (chunk.done) break;
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  expect(text).toContain(wanted);
}
