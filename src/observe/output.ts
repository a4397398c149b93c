/**
 * Standard output and error, written with Bun's own console writers: Node's `process.stdout`
 * and `process.stderr` streams cost a compiled binary milliseconds to build on first use, more
 * than the rest of a short command (docs/architecture.md, "Start-up"). A reader that went away
 * (`dynip status | head -1`) is not an error: what it no longer reads is dropped quietly, and
 * dynip goes on to its exit code without the stack trace a broken pipe would print.
 */
import { nodeFs } from "../lazy-node.ts";

/** Writes `text` to stdout; a missing final line feed is added (documents end in one). */
export function out(text: string): void {
  console.log(text.endsWith("\n") ? text.slice(0, -1) : text);
}

/** `text` and a line feed. */
export function outLine(text: string): void {
  console.log(text);
}

/** Writes `text` to stderr, as `out` does to stdout. */
export function err(text: string): void {
  console.error(text.endsWith("\n") ? text.slice(0, -1) : text);
}

/**
 * Whether `fd` (1 stdout, 2 stderr) is a terminal, as far as colours are concerned: a
 * character device. (/dev/null is one too, where colours harm nobody; `node:tty` and the
 * streams' `isTTY` cost start-up time.) For the logger, which decides per line.
 */
export function isTerminal(fd: number): boolean {
  try {
    return nodeFs().fstatSync(fd).isCharacterDevice();
  } catch {
    return false;
  }
}

/**
 * `isTerminal`, answered by Bun's own `fstat` (`Bun.file(fd).stat()`) without loading
 * `node:fs`, about a millisecond of a `--help` (docs/architecture.md, "Start-up").
 */
export async function isTerminalSoon(fd: number): Promise<boolean> {
  try {
    return (await Bun.file(fd).stat()).isCharacterDevice();
  } catch {
    return false;
  }
}
