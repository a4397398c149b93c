/**
 * A local HTTP receiver on a random loopback port, standing in for Healthchecks, Uptime Kuma or
 * a webhook: it records every request in order and answers 200, or as told (a status, a hang).
 */
export interface Received {
  method: string;
  /** The path, as the client sent it. */
  path: string;
  query: URLSearchParams;
  body: string;
}

export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  requests: Received[];
  /** Answer every later request with this status, or hold it unanswered (`"hang"`). */
  answer(how: number | "hang"): void;
  stop(): Promise<void>;
}

export function startReceiver(): Receiver {
  const requests: Received[] = [];
  let how: number | "hang" = 200;
  const held: (() => void)[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      requests.push({
        method: request.method,
        path: url.pathname,
        query: url.searchParams,
        body: await request.text(),
      });
      if (how === "hang") {
        await new Promise<void>((resolve) => held.push(resolve));
        return new Response("late\n");
      }
      return new Response("OK\n", { status: how });
    },
  });
  return {
    origin: `http://127.0.0.1:${server.port}`,
    requests,
    answer(next) {
      how = next;
    },
    async stop() {
      for (const release of held) release();
      await server.stop(true);
    },
  };
}
