/**
 * `bun scripts/build.ts --all DIR` (what `bun run build:all` runs): one binary per release
 * target whose header matches its name, and a SHA256SUMS that `sha256sum -c` accepts.
 * Bun fetches the other platforms' runtimes from the npm registry on first use (about 590 MB),
 * so this is not part of `bun run test`, which must pass offline: run it with
 * `bun run test:cross` (the file name keeps it out of `bun test`'s discovery).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };

const ROOT = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "dynip-build-all-"));

beforeAll(() => {
  const build = Bun.spawnSync([process.execPath, "scripts/build.ts", "--all", dir], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`build --all failed: ${build.stderr.toString()}`);
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the first bytes say: format, CPU and, for Linux, which libc's loader it asks for. */
function identify(path: string): string {
  const head = Buffer.alloc(4096);
  const fd = openSync(path, "r");
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  if (head.subarray(0, 2).toString("latin1") === "MZ") {
    const pe = head.readUInt32LE(0x3c);
    return head.readUInt16LE(pe + 4) === 0x8664 ? "windows-x64" : "windows-?";
  }
  if (head.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = head.readUInt32LE(4);
    return cpu === 0x01000007 ? "darwin-x64" : cpu === 0x0100000c ? "darwin-arm64" : "darwin-?";
  }
  if (head.subarray(0, 4).toString("latin1") === "\x7fELF") {
    const machine = head.readUInt16LE(18);
    const arch = machine === 0x3e ? "x64" : machine === 0xb7 ? "arm64" : "?";
    return `linux-${arch}${head.includes("ld-musl") ? "-musl" : ""}`;
  }
  return "unknown";
}

describe("build:all", () => {
  const targets = [
    "linux-x64",
    "linux-x64-musl",
    "linux-arm64",
    "linux-arm64-musl",
    "darwin-x64",
    "darwin-arm64",
    "windows-x64",
  ];

  test("one binary per target, each what its name says", () => {
    const names = targets.map((t) => `dynip-${t}${t.startsWith("windows") ? ".exe" : ""}`);
    expect(readdirSync(dir).sort()).toEqual([...names, "SHA256SUMS"].sort());
    for (const [i, name] of names.entries())
      expect(`${name}: ${identify(join(dir, name))}`).toBe(`${name}: ${targets[i]}`);
  });

  test("SHA256SUMS lists every binary and checks out", () => {
    const sums = readFileSync(join(dir, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(sums).toHaveLength(targets.length);
    const check = Bun.spawnSync(["sha256sum", "--check", "--strict", "SHA256SUMS"], { cwd: dir });
    expect(check.exitCode).toBe(0);
  });

  test.skipIf(process.platform !== "linux" || process.arch !== "x64")(
    "the linux x64 binary embeds the package version",
    () => {
      const r = Bun.spawnSync([join(dir, "dynip-linux-x64"), "--version"], { cwd: "/" });
      expect(r.stdout.toString()).toBe(`${pkg.version}\n`);
    },
  );
});
