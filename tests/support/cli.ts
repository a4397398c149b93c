import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
export const CLI = resolve(ROOT, "src/cli.ts");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `dynip` as a child process with exactly the environment given (plus PATH), so
 * nothing from the developer's shell (a real CF_API_TOKEN, proxies, CA files) leaks in.
 */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { binary?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const cmd = options.binary ? [options.binary, ...args] : [process.execPath, CLI, ...args];
  const child = Bun.spawn(cmd, {
    cwd: ROOT,
    env: cleanEnv(env),
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
    timeout: options.timeoutMs ?? 20_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

export function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1" };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}
