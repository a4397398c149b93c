/**
 * `bun run bench`: start-up, request economy, hosts per token and cleanup at 100,000 records,
 * measured on this machine against the fake Cloudflare API on loopback. Start-up is given as
 * ratios to a bare Bun binary (one `console.log`) built in the same run with the same flags,
 * because absolute milliseconds do not compare between machines. Prints a Markdown table and
 * writes it into README.md between the bench markers (`--no-readme` leaves the README alone;
 * `--only startup|passes|cleanup` runs one group). Not a test: nothing here passes or fails CI.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { FULL_READ_EVERY } from "../src/engine/record-cache.ts";
import { cleanEnv } from "../tests/support/cli.ts";
import {
  apiEnv,
  type FakeCloudflare,
  startFakeCloudflare,
} from "../tests/support/fake-cloudflare.ts";

const ROOT = resolve(import.meta.dir, "..");
const BINARY = join(ROOT, "dist/dynip");
const MIB = 1024 * 1024;
/** Cloudflare's API limit per token: 1,200 requests per 5 minutes. */
const RATE_LIMIT = 1200;

interface Run {
  code: number;
  ms: number;
  /** Peak resident memory in bytes. */
  maxRss: number;
  /** User + system CPU time in milliseconds. */
  cpuMs: number;
  requests: number;
  stderr: string;
}

interface Row {
  what: string;
  value: string;
  target?: string;
  met?: boolean;
}

const rows: Row[] = [];
const row = (what: string, value: string, target?: string, met?: boolean) =>
  rows.push({ what, value, target, met });

function build(): void {
  const result = Bun.spawnSync([process.execPath, join(ROOT, "scripts/build.ts")], {
    cwd: ROOT,
    stdout: "ignore",
    stderr: "inherit",
  });
  if (result.exitCode !== 0) throw new Error("bun run build failed");
}

async function run(
  fake: FakeCloudflare,
  args: string[],
  env: Record<string, string>,
): Promise<Run> {
  const before = fake.requests.length;
  const start = performance.now();
  const child = Bun.spawn([BINARY, ...args], {
    cwd: ROOT,
    env: cleanEnv({ ...apiEnv(fake), ...env }),
    stdout: "ignore",
    stderr: "pipe",
  });
  const peak = samplePeakRss(child.pid, child.exited);
  const stderr = await new Response(child.stderr).text();
  const code = await child.exited;
  const ms = performance.now() - start;
  const maxRss = await peak;
  if (code !== 0) throw new Error(`dynip ${args.join(" ")} exited ${code}:\n${stderr}`);
  const cpu = child.resourceUsage()?.cpuTime;
  const cpuMs = cpu ? Number(cpu.user + cpu.system) / 1000 : Number.NaN;
  return { code, ms, maxRss, cpuMs, requests: fake.requests.length - before, stderr };
}

/**
 * Peak resident memory of a child, from the kernel's high-water mark (VmHWM) sampled until
 * it exits. (Bun's `resourceUsage().maxRSS` of a child reports the parent's peak here, and
 * this benchmark's parent holds the whole fake zone; its CPU times are the child's.) VmHWM
 * never decreases, so the last sample is the peak up to a few milliseconds before exit.
 */
async function samplePeakRss(pid: number, exited: Promise<number>): Promise<number> {
  let done = false;
  exited.then(() => {
    done = true;
  });
  let peak = 0;
  while (!done) {
    const status = await Bun.file(`/proc/${pid}/status`)
      .text()
      .catch(() => "");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kb * 1024);
    await Bun.sleep(2);
  }
  return peak;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const mib = (x: number) => `${(x / MIB).toFixed(1)} MiB`;

/** Four managed domains, four addresses: 2 internal, 1 public IPv4, 1 global IPv6. */
const FOUR_DOMAINS = {
  INSTANCE_ID: "bench-01",
  INTERNAL_DOMAIN: "internal.example.com",
  EXTERNAL_DOMAIN: "ext.example.com",
  IPV6_DOMAIN: "v6.example.com",
  COMBINED_DOMAIN: "all.example.com",
  INTERNAL_IP_SOURCE: "static:192.168.1.10,10.0.0.10",
  EXTERNAL_IPV4_SOURCE: "static:5.6.7.10",
  EXTERNAL_IPV6_SOURCE: "static:2606:4700:10::10",
};

// ---------------------------------------------------------------------------------------------
// Start-up

/** A probe binary from `source`, built with dynip's flags (bytecode, split chunks, minified). */
async function buildProbe(dir: string, name: string, source: string): Promise<string> {
  const entry = join(dir, `${name}.ts`);
  const out = join(dir, name);
  writeFileSync(entry, source);
  const result = await Bun.build({
    entrypoints: [entry],
    compile: { outfile: out, autoloadDotenv: false, autoloadBunfig: false },
    splitting: true,
    minify: true,
    format: "esm",
    bytecode: true,
  });
  if (!result.success) throw new Error(`${name} build failed: ${result.logs.join("\n")}`);
  return out;
}

/** The bare binary: the runtime and one line of output. */
const BARE = 'console.log("0.0.0");\n';

/**
 * The libraries' floor: dynip's start-path libraries loaded as it loads them and each used
 * once in the smallest way (a two-flag citty parse, a one-field valibot parse, one ipaddr.js
 * parse, one public-suffix lookup; consola only loaded), with no dynip code. What
 * `update --dry-run` cannot go below while it uses them.
 */
function librariesFloor(): string {
  const at = (name: string) => JSON.stringify(Bun.resolveSync(name, ROOT));
  return `import { parseArgs } from ${at("citty")};
import { createConsola } from ${at("consola/core")};
import ipaddr from ${at("ipaddr.js")};
import { getDomain } from ${at("tldts-experimental")};
import * as v from ${at("valibot")};
const flags = parseArgs(["--dry-run"], { "dry-run": { type: "boolean" }, "env-file": { type: "string" } });
const schema = v.object({ TTL: v.optional(v.pipe(v.string(), v.regex(/^\\d+$/), v.transform(Number)), "120") });
const parsed = v.safeParse(schema, { TTL: "300" });
const range = ipaddr.parse("2606:4700:10::10").range();
console.log(flags["dry-run"], parsed.success, range, getDomain("internal.example.com"), typeof createConsola);
`;
}

/** Wall milliseconds of one start, from spawn to exit. */
function timeOnce(argv: string[], env: Record<string, string>): number {
  const start = performance.now();
  const result = Bun.spawnSync(argv, { env, stdout: "ignore", stderr: "ignore", cwd: "/" });
  const elapsed = performance.now() - start;
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${result.exitCode}`);
  return elapsed;
}

/**
 * Median start-up of each command and of the bare binary, interleaved round by round so that
 * a machine getting busier or quieter affects all alike.
 */
async function startup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "dynip-bench-"));
  try {
    const bare = await buildProbe(dir, "bare", BARE);
    const floor = await buildProbe(dir, "floor", librariesFloor());
    // No token: the dry run is the preview a new user starts with, and sends nothing.
    const env = cleanEnv(FOUR_DOMAINS);
    const commands = {
      bare: [bare],
      floor: [floor],
      version: [BINARY, "--version"],
      help: [BINARY, "--help"],
      dryRun: [BINARY, "update", "--dry-run"],
    };
    const times: Record<keyof typeof commands, number[]> = {
      bare: [],
      floor: [],
      version: [],
      help: [],
      dryRun: [],
    };
    const rounds = 60;
    for (let round = 0; round < rounds + 5; round++) {
      for (const [name, argv] of Object.entries(commands) as [keyof typeof commands, string[]][]) {
        const elapsed = timeOnce(argv, env);
        if (round >= 5) times[name].push(elapsed); // the first rounds warm the page cache
      }
    }
    const base = median(times.bare);
    const ratio = (name: keyof typeof commands, target: number, what: string) => {
      const r = median(times[name]) / base;
      row(
        what,
        `${r.toFixed(2)}× (${ms(median(times[name]))} vs ${ms(base)})`,
        `≤ ${target}×`,
        r <= target,
      );
    };
    ratio("version", 1.1, "`dynip --version` vs a bare Bun binary, same flags");
    ratio("dryRun", 1.5, "`dynip update --dry-run` (static sources) vs the same bare binary");
    ratio("help", 1.5, "`dynip --help` vs the same bare binary");
    row(
      "its libraries alone (citty, valibot, ipaddr.js, tldts loaded and used once; consola loaded) vs the same bare binary",
      `${(median(times.floor) / base).toFixed(2)}× (${ms(median(times.floor))} vs ${ms(base)})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Passes and hosts per token

async function oneShotPasses(): Promise<void> {
  const fake = await startFakeCloudflare({ now: Date.now() });
  try {
    const first = await run(fake, ["update"], FOUR_DOMAINS);
    const steady: Run[] = [];
    for (let i = 0; i < 5; i++) steady.push(await run(fake, ["update"], FOUR_DOMAINS));
    const requests = Math.max(...steady.map((r) => r.requests));
    row("first one-shot pass, 4 domains × 4 addresses", `${first.requests} requests`);
    row("steady one-shot pass, 4 domains", `${requests} requests`, "≤ 5", requests <= 5);
    row(
      "peak memory of a one-shot pass",
      mib(Math.max(first.maxRss, ...steady.map((r) => r.maxRss))),
    );
  } finally {
    await fake.stop();
  }
}

/**
 * A long-lived updater on 4 domains, one pass a second: the requests of 60 steady passes
 * (those after the first two, which create the records and then read them once) averaged,
 * plus the share of the full read every FULL_READ_EVERY passes (one list per domain), which 60
 * passes do not reach; and the hosts one token then serves at one pass per 5 minutes.
 */
async function longLived(): Promise<void> {
  const passes = 60;
  const fake = await startFakeCloudflare({ now: Date.now() });
  const child = Bun.spawn([BINARY, "update", "--interval", "1"], {
    env: cleanEnv({ ...apiEnv(fake), ...FOUR_DOMAINS, LOG_LEVEL: "debug" }),
    stdout: "ignore",
    stderr: "pipe",
  });
  const log = new Response(child.stderr).text();
  let done = 0;
  const ticker = setInterval(() => fake.clock.set(Date.now()), 100);
  try {
    // A pass logs "pass done" when it ends; count them from the requests' side instead, so the
    // count does not depend on log wording: every pass writes at least its heartbeats.
    const batches = () => fake.requests.filter((r) => r.path.endsWith("/batch")).length;
    for (let i = 0; i < (passes + 4) * 40 && batches() < passes + 2; i++) await Bun.sleep(50);
    done = batches();
  } finally {
    clearInterval(ticker);
    child.kill("SIGTERM");
    await child.exited;
    await fake.stop();
  }
  await log;
  const at = fake.requests.flatMap((r, i) => (r.path.endsWith("/batch") ? [i] : []));
  // Requests from just after pass 2's write to the end of the last pass's write.
  const steadyPasses = done - 2;
  const from = (at[1] ?? 0) + 1;
  const to = (at[done - 1] ?? 0) + 1;
  const steady = (to - from) / Math.max(1, steadyPasses);
  const domains = 4;
  const perPass = steady + domains / FULL_READ_EVERY;
  row(
    `requests per steady long-lived pass, 4 domains, averaged over ${steadyPasses} passes, plus the full read every ${FULL_READ_EVERY}`,
    `${perPass.toFixed(3)} (${steady.toFixed(3)} + ${domains}/${FULL_READ_EVERY})`,
    "≤ 1.05",
    perPass <= 1.05,
  );
  const hosts = Math.floor(RATE_LIMIT / perPass);
  row(
    "hosts per API token at 5-minute heartbeats (1,200 requests / 5 min)",
    `${hosts}`,
    "≥ 1,140",
    hosts >= 1140,
  );
  row(
    "hosts per API token, one-shot timer every 5 min (4 domains)",
    `${Math.floor(RATE_LIMIT / 5)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Cleanup at scale

/**
 * 25,000 hosts on two domains, each with an address and a heartbeat in both: 100,000 records,
 * 10% of the hosts silent for 20 minutes. One `cleanup --once`, then a quiet one.
 */
async function cleanupAtScale(): Promise<void> {
  const domains = ["internal.example.com", "all.example.com"];
  const hosts = 25_000;
  const stale = hosts / 10;
  const fake = await startFakeCloudflare({ now: Date.now(), maxRecords: 4 * hosts + 1000 });
  const now = fake.clock.now();
  for (let h = 0; h < hosts; h++) {
    const dead = h < stale;
    fake.clock.set(dead ? now - 20 * 60_000 : now - (h % 120) * 1000);
    const ip = `10.${(h >> 16) & 255}.${(h >> 8) & 255}.${h & 255}`;
    const seconds = Math.floor(fake.clock.now() / 1000);
    for (const d of domains) {
      fake.seed({ name: d, type: "A", content: ip, ttl: 120 });
      fake.seed({
        name: `_heartbeat-${ip.replaceAll(".", "-")}.${d}`,
        type: "TXT",
        content: `"${seconds},host-${h}"`,
        ttl: 120,
      });
    }
  }
  fake.clock.set(now);
  const env = {
    INSTANCE_ID: "cleanup-01",
    INTERNAL_DOMAIN: domains[0] ?? "",
    COMBINED_DOMAIN: domains[1] ?? "",
  };
  try {
    const before = fake.count();
    const cycle = await run(fake, ["cleanup", "--once"], env);
    const deleted = before - fake.count();
    if (deleted !== stale * 4) {
      throw new Error(
        `cleanup deleted ${deleted} records, expected ${stale * 4}:\n${cycle.stderr}`,
      );
    }
    const what = `\`cleanup --once\`, ${before.toLocaleString("en")} records, 10% stale`;
    row(
      `${what}: peak memory`,
      `${mib(cycle.maxRss)} (${deleted.toLocaleString("en")} deleted, ${cycle.requests} requests, ${ms(cycle.ms)} wall)`,
      "≤ 160 MiB",
      cycle.maxRss <= 160 * MIB,
    );
    row(`${what}: CPU`, `${(cycle.cpuMs / 1000).toFixed(2)} s`, "≤ 3.5 s", cycle.cpuMs <= 3500);
    const quiet = await run(fake, ["cleanup", "--once"], env);
    row(
      `quiet \`cleanup --once\` over the rest (${fake.count().toLocaleString("en")} records)`,
      `${quiet.requests} requests, CPU ${(quiet.cpuMs / 1000).toFixed(2)} s, peak ${mib(quiet.maxRss)}`,
    );
  } finally {
    await fake.stop();
  }
}

function sizes(): void {
  row("binary `dist/dynip` (linux x64)", mib(statSync(BINARY).size));
  const rootfs = join(ROOT, "scripts/rootfs.sh");
  if (!existsSync(rootfs)) return;
  const dir = mkdtempSync(join(tmpdir(), "dynip-rootfs-"));
  try {
    const result = Bun.spawnSync(["bash", rootfs, dir], {
      cwd: ROOT,
      stdout: "ignore",
      stderr: "pipe",
    });
    if (result.exitCode !== 0) {
      row(
        "scratch image root filesystem",
        `not measured: ${result.stderr.toString().trim().split("\n").at(-1)}`,
      );
      return;
    }
    const du = Bun.spawnSync(["du", "-sb", dir]).stdout.toString();
    row(
      "scratch image root filesystem (binary + libraries + passwd)",
      mib(Number(du.split("\t")[0])),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function table(): string {
  const lines = ["| measurement | result | target |", "|---|---|---|"];
  for (const r of rows) {
    const target = r.target ? `${r.target} ${r.met ? "✅" : "❌"}` : "";
    lines.push(`| ${r.what} | ${r.value} | ${target} |`);
  }
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  lines.push(
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} with \`bun run bench\` on ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 1024 ** 3)} GiB, Bun ${Bun.version}, fake API on loopback.`,
  );
  return lines.join("\n");
}

function writeReadme(text: string): void {
  const path = join(ROOT, "README.md");
  const readme = readFileSync(path, "utf8");
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < i) {
    console.error("README.md has no bench markers; table not written");
    return;
  }
  writeFileSync(path, `${readme.slice(0, i + start.length)}\n${text}\n${readme.slice(j)}`);
}

const only = process.argv[process.argv.indexOf("--only") + 1];
const wanted = (group: string) => !process.argv.includes("--only") || only === group;
build();
if (wanted("startup")) await startup();
if (wanted("passes")) {
  await oneShotPasses();
  await longLived();
}
if (wanted("cleanup")) await cleanupAtScale();
if (!process.argv.includes("--only")) sizes();
const text = table();
console.log(text);
if (!process.argv.includes("--no-readme") && !process.argv.includes("--only")) writeReadme(text);
