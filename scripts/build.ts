/**
 * Compiles dynip into standalone binaries.
 *
 *   bun scripts/build.ts [OUT]   this machine's binary: OUT, default dist/dynip
 *   bun scripts/build.ts --all [DIR]   DIR/dynip-<os>-<arch>[-musl][.exe] for every release
 *                                      target, then DIR/SHA256SUMS (`sha256sum -c` format);
 *                                      DIR defaults to dist
 *
 * --bytecode needs --format=esm (otherwise the binary fails at start while the build
 * still exits 0), and the compiled binary must not pick up .env or bunfig.toml from
 * whatever directory it is started in.
 *
 * Bytecode is JavaScriptCore's, produced by the JSC of the machine that builds; it is not
 * portable to another OS, architecture or libc (oven-sh/bun#24144: a cross-compiled
 * `--bytecode` binary can crash at start on its target, and it cannot be started here to
 * check). So only the target this machine can run gets bytecode and the start check;
 * cross targets are plain minified bundles, which start a few milliseconds slower.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

interface Target {
  os: "linux" | "darwin" | "windows";
  arch: "x64" | "arm64";
  musl?: boolean;
}

const TARGETS: readonly Target[] = [
  { os: "linux", arch: "x64" },
  { os: "linux", arch: "x64", musl: true },
  { os: "linux", arch: "arm64" },
  { os: "linux", arch: "arm64", musl: true },
  { os: "darwin", arch: "x64" },
  { os: "darwin", arch: "arm64" },
  { os: "windows", arch: "x64" },
];

const FLAGS = [
  "--compile",
  "--minify",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
];

const targetName = (t: Target) => `${t.os}-${t.arch}${t.musl ? "-musl" : ""}`;
const fileName = (t: Target) => `dynip-${targetName(t)}${t.os === "windows" ? ".exe" : ""}`;

/** The target whose binaries this machine runs, so bytecode from its JSC fits. */
function isHost(t: Target): boolean {
  const os = process.platform === "win32" ? "windows" : process.platform;
  // A glibc runtime reports its version; musl does not.
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } };
  const musl = process.platform === "linux" && !report?.header?.glibcVersionRuntime;
  return t.os === os && t.arch === process.arch && Boolean(t.musl) === musl;
}

/** Compiles one binary; with no target, for this machine with its own runtime. */
function compile(out: string, target?: Target): void {
  mkdirSync(dirname(out), { recursive: true });
  const bytecode = target === undefined || isHost(target);
  const cmd = [process.execPath, "build", "src/cli.ts", ...FLAGS];
  if (bytecode) cmd.push("--bytecode");
  if (target) cmd.push(`--target=bun-${targetName(target)}`);
  cmd.push("--outfile", out);
  const result = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit" });
  if (result.exitCode !== 0) throw new Error(`bun build failed for ${basename(out)}`);
  if (bytecode) checkStarts(out);
}

/** A broken bytecode build still exits 0: prove the binary starts. */
function checkStarts(out: string): void {
  const check = Bun.spawnSync([out, "--version"], { cwd: "/" });
  const version = check.stdout.toString().trim();
  if (check.exitCode !== 0 || version.length === 0) {
    throw new Error(`built ${out} does not start: ${check.stderr.toString()}`);
  }
  console.log(`built ${out} (dynip ${version})`);
}

async function sha256(path: string): Promise<string> {
  return new Bun.CryptoHasher("sha256").update(await Bun.file(path).arrayBuffer()).digest("hex");
}

async function buildAll(dir: string): Promise<void> {
  const started = performance.now();
  const lines: string[] = [];
  for (const target of TARGETS) {
    const out = join(dir, fileName(target));
    const t0 = performance.now();
    compile(out, target);
    const mb = (statSync(out).size / 1e6).toFixed(1);
    console.log(
      `${fileName(target)}: ${mb} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    lines.push(`${await sha256(out)}  ${fileName(target)}`);
  }
  writeFileSync(join(dir, "SHA256SUMS"), `${lines.join("\n")}\n`);
  console.log(
    `${TARGETS.length} binaries and SHA256SUMS in ${dir} after ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

try {
  if (process.argv[2] === "--all") await buildAll(resolve(process.argv[3] ?? "dist"));
  else compile(resolve(process.argv[2] ?? "dist/dynip"));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
