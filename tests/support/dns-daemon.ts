/**
 * What the real DNS servers of the tests (named.ts, knot.ts) have in common: finding their
 * tools, a free port on 127.0.0.1, running a client tool to its end, and a server process whose
 * output is kept for failure messages and that is killed when it stops or the test process exits.
 */
import { createSocket } from "node:dgram";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import type { Subprocess } from "bun";

/** A tool's path; servers such as `named` and `knotd` live in /usr/sbin, which a non-root PATH may lack. */
export function findTool(tool: string): string | undefined {
  return (
    Bun.which(tool) ?? Bun.which(tool, { PATH: "/usr/local/sbin:/usr/sbin:/sbin" }) ?? undefined
  );
}

/** findTool, or an error naming the tool that is not installed. */
export function toolPath(tool: string): string {
  const path = findTool(tool);
  if (!path) throw new Error(`\`${tool}\` is not installed`);
  return path;
}

/** Runs a tool to its end; throws with its output when it fails or takes over `timeoutMs`. */
export async function runTool(
  command: string[],
  stdin?: string,
  timeoutMs = 15_000,
): Promise<string> {
  const proc = Bun.spawn(command, {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: timeoutMs,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) {
    throw new Error(`${command.join(" ")} exited ${code}:\n${stdout}${stderr}`);
  }
  return stdout;
}

/** `dig` against 127.0.0.1:`port` with the given arguments (add `-y` yourself); its stdout. */
export function digAt(port: number): (args: string[]) => Promise<string> {
  return (args) =>
    runTool([toolPath("dig"), "-p", String(port), "@127.0.0.1", "+time=2", "+tries=1", ...args]);
}

/**
 * A port free for both TCP and UDP on 127.0.0.1, below Linux's ephemeral range (32768+), so
 * an outgoing connection of some other test cannot take it between here and the server's bind.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if ((await tcpFree(port)) && (await udpFree(port))) return port;
  }
  throw new Error("no free port on 127.0.0.1");
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });
}

const running = new Set<Subprocess>();
process.on("exit", () => {
  for (const proc of running) proc.kill("SIGKILL");
});

/** A server process started by spawnDaemon. */
export interface Daemon {
  /** What it printed so far on stdout and stderr (the last `logLimit` characters). */
  output(): string;
  /** True once the process has exited. */
  exited(): boolean;
  /** Kills it (SIGTERM, then SIGKILL after 5 s) and removes `dir`. */
  stop(): Promise<void>;
}

/** Starts `command` as a server whose throwaway directory is `dir`. */
export function spawnDaemon(command: string[], dir: string, logLimit = 256 * 1024): Daemon {
  const proc = Bun.spawn(command, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  running.add(proc);
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output = (output + decoder.decode(chunk, { stream: true })).slice(-logLimit);
    }
  };
  void collect(proc.stdout);
  void collect(proc.stderr);
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
    running.delete(proc);
  });
  return {
    output: () => output,
    exited: () => exited,
    async stop() {
      if (!exited) {
        proc.kill("SIGTERM");
        const killed = await Promise.race([proc.exited.then(() => true), Bun.sleep(5_000)]);
        if (!killed) {
          proc.kill("SIGKILL");
          await proc.exited;
        }
      }
      running.delete(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
