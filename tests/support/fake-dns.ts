/**
 * Fake DNS servers for what a real one will not do on request (an RCODE on demand, answers
 * signed wrongly, hangs): a TCP listener on 127.0.0.1 that hands over each framed request,
 * the two-byte length frame of DNS over TCP (RFC 1035 §4.2.2), and the header of an answer.
 */
import { createServer, type Socket } from "node:net";
import type { Message } from "../../src/providers/rfc2136/wire.ts";

/** A message with its two-byte length in front, as DNS over TCP sends it. */
export function frame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(message.length + 2);
  new DataView(out.buffer).setUint16(0, message.length);
  out.set(message, 2);
  return out;
}

/** The header of an authoritative answer with `rcode` to request `id`, every section empty. */
export function header(id: number, opcode: number, rcode = 0): Omit<Message, "questions"> {
  return {
    id,
    qr: true,
    opcode,
    aa: true,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode,
    answers: [],
    authority: [],
    additional: [],
  };
}

export interface FakeServer {
  port: number;
  /** Cuts every open connection and stops listening. */
  close(): Promise<void>;
}

/**
 * A TCP server on a free port of 127.0.0.1 that hands each framed request, without its length,
 * to `onRequest` with the socket to answer on; requests split over reads are put together.
 */
export async function fakeServer(
  onRequest: (request: Uint8Array, socket: Socket) => void,
): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const size = pending.readUInt16BE(0);
        const request = new Uint8Array(pending.subarray(2, 2 + size));
        pending = pending.subarray(2 + size);
        onRequest(request, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    port: address.port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
