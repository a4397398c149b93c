/**
 * Compiles dynip into a standalone binary: `bun scripts/build.ts` -> dist/dynip.
 *
 * --bytecode needs --format=esm (otherwise the binary fails at start while the build
 * still exits 0), and the compiled binary must not pick up .env or bunfig.toml from
 * whatever directory it is started in.
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";

const out = resolve(process.argv[2] ?? "dist/dynip");
mkdirSync(dirname(out), { recursive: true });

const cmd = [
  process.execPath,
  "build",
  "src/cli.ts",
  "--compile",
  "--minify",
  "--bytecode",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--outfile",
  out,
];
const result = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit" });
if (result.exitCode !== 0) process.exit(result.exitCode ?? 1);

// A broken bytecode build still exits 0: prove the binary starts.
const check = Bun.spawnSync([out, "--version"], { cwd: "/" });
const version = check.stdout.toString().trim();
if (check.exitCode !== 0 || version.length === 0) {
  console.error(`built ${out} does not start: ${check.stderr.toString()}`);
  process.exit(1);
}
console.log(`built ${out} (dynip ${version})`);
