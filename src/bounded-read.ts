/**
 * Reading an HTTP answer body with a size cap. An answer that never ends, or a huge one, must
 * not be buffered until a timeout: past the cap the read stops and the connection is dropped.
 */

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
