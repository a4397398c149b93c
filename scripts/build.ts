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
 * Start-up: src/main.ts answers `--version` before the CLI loads; the bundle is split into
 * chunks that load on first import; and citty's `import … from "node:util"` (about a
 * millisecond to evaluate, and only its argument parser uses it) is turned into a lazy
 * `require` when the bundle is built, so `--help` never pays for it (docs/architecture.md,
 * "Start-up").
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

/** The one `node:` import of a dependency on the way of every command, made lazy. */
const LAZY_NODE_UTIL: import("bun").BunPlugin = {
  name: "lazy-node-util",
  setup(build) {
    build.onLoad({ filter: /[\\/]citty[\\/]dist[\\/]index\.mjs$/ }, async ({ path }) => {
      const eager = 'import { parseArgs as parseArgs$1 } from "node:util";';
      const text = await Bun.file(path).text();
      // A citty release that no longer has the line builds as it is, only slower to start.
      const lazy = 'const parseArgs$1 = (...a) => require("node:util").parseArgs(...a);';
      return { contents: text.replace(eager, lazy), loader: "js" };
    });
  },
};

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
async function compile(out: string, target?: Target): Promise<void> {
  mkdirSync(dirname(out), { recursive: true });
  const bytecode = target === undefined || isHost(target);
  const result = await Bun.build({
    entrypoints: [join(import.meta.dir, "../src/main.ts")],
    compile: {
      outfile: out,
      autoloadDotenv: false,
      autoloadBunfig: false,
      ...(target ? { target: `bun-${targetName(target)}` as Bun.Build.CompileTarget } : {}),
    },
    // Chunks load when first imported: src/main.ts answers --version before the CLI loads.
    splitting: true,
    minify: true,
    format: "esm",
    bytecode,
    plugins: [LAZY_NODE_UTIL],
  });
  if (!result.success) {
    for (const message of result.logs) console.error(String(message));
    throw new Error(`bun build failed for ${basename(out)}`);
  }
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
    await compile(out, target);
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
  else await compile(resolve(process.argv[2] ?? "dist/dynip"));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
