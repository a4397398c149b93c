/** The compiled binary, as users run it: built once into a temporary directory. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { cleanEnv, runCli } from "./support/cli.ts";
import {
  apiEnv,
  batchRequests,
  type FakeCloudflare,
  startFakeCloudflare,
} from "./support/fake-cloudflare.ts";
import { until } from "./support/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "dynip-bin-"));
const binary = join(dir, "dynip");
let fake: FakeCloudflare;

beforeAll(async () => {
  const build = Bun.spawnSync(
    [process.execPath, resolve(import.meta.dir, "../scripts/build.ts"), binary],
    { cwd: resolve(import.meta.dir, ".."), stdout: "pipe", stderr: "pipe" },
  );
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
  fake = await startFakeCloudflare();
}, 120_000);

afterAll(async () => {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("compiled binary", () => {
  test("--help lists the three subcommands and --version the package version", async () => {
    const help = await runCli(["--help"], {}, { binary });
    expect(help.code).toBe(0);
    for (const sub of ["update", "cleanup", "status"]) expect(help.stdout).toContain(sub);
    const version = await runCli(["--version"], {}, { binary });
    expect(version.stdout.trim()).toBe(pkg.version);
  });

  test("does not load .env or bunfig.toml from the working directory", async () => {
    const cwd = mkdtempSync(join(dir, "cwd-"));
    writeFileSync(join(cwd, ".env"), "LOG_LEVEL=bogus\nINTERNAL_DOMAIN=from-dotenv.example.com\n");
    writeFileSync(join(cwd, "bunfig.toml"), 'preload = ["./missing.ts"]\n');
    const child = Bun.spawn([binary, "update", "--dry-run"], {
      cwd,
      env: cleanEnv({}),
      stdout: "pipe",
      stderr: "pipe",
    });
    const stderr = await new Response(child.stderr).text();
    // No domain from .env, no bogus level: the plain "no managed domain" error, exit 2.
    expect(await child.exited).toBe(2);
    expect(stderr).toContain("no managed domain");
    expect(stderr).not.toContain("LOG_LEVEL");
  });

  test("SIGTERM ends a long-lived update --interval 1 with exit 0 within a second", async () => {
    const child = Bun.spawn([binary, "update", "--interval", "1"], {
      env: cleanEnv({
        ...apiEnv(fake),
        INTERNAL_DOMAIN: "internal.example.com",
        INTERNAL_IP_SOURCE: "static:192.168.1.10",
        INSTANCE_ID: "bin-01",
      }),
      stdout: "ignore",
      stderr: "pipe",
    });
    const batches = () => batchRequests(fake).length;
    await until(() => batches() >= 1);
    const sent = performance.now();
    child.kill("SIGTERM");
    const code = await child.exited;
    expect(code).toBe(0);
    expect(performance.now() - sent).toBeLessThan(1000);
  });
});
