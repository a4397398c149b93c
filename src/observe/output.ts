/**
 * Standard output, for documents (help, plans, status). A reader that went away
 * (`dynip status | head -1`) is not an error: dynip stops writing and exits 0, without the
 * stack trace a broken pipe would print.
 */

function gone(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "EPIPE";
}

/** Writes `text` to stdout as it is; exits 0 at once when the reader has gone. */
export function out(text: string): void {
  try {
    process.stdout.write(text);
  } catch (error) {
    if (gone(error)) process.exit(0);
    throw error;
  }
}

/** `text` and a line feed. */
export function outLine(text: string): void {
  out(`${text}\n`);
}

// A write the pipe refuses later (asynchronously) arrives as an error event instead.
process.stdout.on?.("error", (error: unknown) => {
  if (gone(error)) process.exit(0);
});
