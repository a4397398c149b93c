/**
 * Reading with a size cap: an HTTP answer body, or a small file the user names. An answer that
 * never ends, or a huge one, must not be buffered until a timeout: past the cap the read stops
 * and the connection is dropped. A file must be a regular one (`/dev/zero` never ends, a FIFO
 * blocks) and is checked on the open descriptor, so nothing is swapped in between.
 */
import type { Stats } from "node:fs";
import { nodeFs } from "./lazy-node.ts";

/** The body went past the cap; `limit` is in bytes. */
export class AnswerTooLargeError extends Error {
  override name = "AnswerTooLargeError";
  constructor(readonly limit: number) {
    super(`answer larger than ${describeBytes(limit)}`);
  }
}

/**
 * The body as UTF-8 text, read chunk by chunk. Throws AnswerTooLargeError as soon as more than
 * `limit` bytes have arrived (cancelling the stream), and whatever the stream throws (an abort
 * when the request's signal fires). A missing body is the empty string.
 */
export async function readBounded(
  body: ReadableStream<Uint8Array> | null | undefined,
  limit: number,
): Promise<string> {
  if (!body) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new AnswerTooLargeError(limit);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** 33554432 → "32 MiB"; anything that is not whole mebibytes in bytes ("4096 bytes"). */
export function describeBytes(bytes: number): string {
  const mib = 1024 * 1024;
  return bytes >= mib && bytes % mib === 0 ? `${bytes / mib} MiB` : `${bytes} bytes`;
}

/**
 * The whole file at `path` as UTF-8, and its permission bits, from one descriptor opened
 * without blocking. Throws an Error saying why (with `code` EISDIR for a directory, or the
 * system's code when it cannot be opened) when it is not a regular file of at most `limit`
 * bytes; `what` names the file in the message ("a token file").
 */
export function readSmallFile(
  path: string,
  limit: number,
  what: string,
): { content: string; mode: number } {
  const fs = nodeFs();
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error("a directory"), { code: "EISDIR" });
    if (!stat.isFile()) throw new Error(`${fileKind(stat)}, not a regular file`);
    if (stat.size > limit) throw new Error(`${stat.size} bytes, more than ${what}'s ${limit}`);
    const buffer = Buffer.alloc(limit + 1);
    const length = fs.readSync(fd, buffer, 0, buffer.length, 0);
    if (length > limit) throw new Error(`more than ${what}'s ${limit} bytes`);
    return { content: buffer.subarray(0, length).toString("utf8"), mode: stat.mode };
  } finally {
    fs.closeSync(fd);
  }
}

function fileKind(stat: Stats): string {
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isSocket()) return "a socket";
  return "not a file";
}
