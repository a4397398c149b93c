/**
 * A local HTTP(S) receiver on a random loopback port, standing in for Healthchecks, Uptime
 * Kuma or a webhook: it records every request in order and answers 200, or as told (a status
 * with headers, a hang).
 */
export interface Received {
  method: string;
  /** The path, as the client sent it. */
  path: string;
  query: URLSearchParams;
  body: string;
}

export interface Receiver {
  /** `http://127.0.0.1:<port>`, or `https://` with `tls`. */
  origin: string;
  port: number;
  requests: Received[];
  /**
   * Answer every later request with this status and these headers (a redirect's Location), or
   * hold it unanswered (`"hang"`).
   */
  answer(how: number | "hang", headers?: Record<string, string>): void;
  /** Answers every request held so far, 200. */
  release(): void;
  stop(): Promise<void>;
}

export interface ReceiverOptions {
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string };
}

export function startReceiver(options: ReceiverOptions = {}): Receiver {
  const requests: Received[] = [];
  let how: number | "hang" = 200;
  let headers: Record<string, string> = {};
  const held: (() => void)[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    ...(options.tls ? { tls: options.tls } : {}),
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
      return new Response("OK\n", { status: how, headers });
    },
  });
  const port = server.port ?? 0;
  return {
    origin: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    requests,
    answer(next, nextHeaders = {}) {
      how = next;
      headers = nextHeaders;
    },
    release() {
      for (const resolve of held.splice(0)) resolve();
    },
    async stop() {
      for (const resolve of held.splice(0)) resolve();
      await server.stop(true);
    },
  };
}
