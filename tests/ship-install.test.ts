/** scripts/install.sh with DESTDIR: files, modes, an env file it never overwrites, no systemctl. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "dynip-install-"));
const dest = join(dir, "root");
const fakeBin = join(dir, "bin");
const calls = join(dir, "systemctl-calls");
const binary = join(dir, "dynip");

beforeAll(() => {
  // A systemctl that only records how it was called, first in PATH.
  mkdirSync(fakeBin);
  writeFileSync(join(fakeBin, "systemctl"), `#!/bin/sh\necho "$*" >> "${calls}"\n`);
  chmodSync(join(fakeBin, "systemctl"), 0o755);
  writeFileSync(binary, elf(HOST_MACHINE, "fake dynip"));
  chmodSync(binary, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** ELF e_machine of this machine: x86-64 62, AArch64 183. */
const HOST_MACHINE = process.arch === "arm64" ? 183 : 62;

/** An ELF header (64-bit, little-endian, executable) for `machine`, then `text`. */
function elf(machine: number, text: string): Buffer {
  const header = Buffer.alloc(64);
  header.write("\x7fELF", 0, "latin1");
  header.set([2, 1, 1], 4);
  header.writeUInt16LE(2, 16);
  header.writeUInt16LE(machine, 18);
  return Buffer.concat([header, Buffer.from(`\n${text}\n`)]);
}

function install(args: string[], env: Record<string, string> = { DESTDIR: dest }) {
  const r = Bun.spawnSync(["bash", join(ROOT, "scripts/install.sh"), ...args], {
    env: { PATH: `${fakeBin}:${process.env.PATH ?? "/usr/bin:/bin"}`, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const mode = (path: string) => statSync(join(dest, path)).mode & 0o777;
const read = (path: string) => readFileSync(join(dest, path), "utf8");
const ENV = "etc/dynip/dynip.env";
const FILES: [string, number, string][] = [
  ["usr/local/bin/dynip", 0o755, binary],
  ["etc/systemd/system/dynip-update.service", 0o644, "scripts/systemd/dynip-update.service"],
  ["etc/systemd/system/dynip-update.timer", 0o644, "scripts/systemd/dynip-update.timer"],
  ["etc/systemd/system/dynip-cleanup.service", 0o644, "scripts/systemd/dynip-cleanup.service"],
  [ENV, 0o600, "scripts/dynip.env.example"],
];
const source = (from: string) => readFileSync(resolve(ROOT, from), "utf8");

describe("install.sh with DESTDIR", () => {
  test("installs the binary, the units and a root-only env template; no systemctl", () => {
    const r = install([binary]);
    expect(r.code).toBe(0);
    for (const [path, want, from] of FILES) {
      expect([path, mode(path)]).toEqual([path, want]);
      expect(read(path)).toBe(source(from));
    }
    expect(mode("etc/dynip")).toBe(0o700);
    expect(existsSync(calls)).toBe(false);
  });

  test("a second run keeps an edited env file and replaces the binary; still no systemctl", () => {
    writeFileSync(join(dest, ENV), "CF_API_TOKEN=edited\n");
    writeFileSync(binary, elf(HOST_MACHINE, "new dynip"));
    const r = install([binary]);
    expect(r.code).toBe(0);
    expect(read(ENV)).toBe("CF_API_TOKEN=edited\n");
    expect(mode(ENV)).toBe(0o600);
    expect(read("usr/local/bin/dynip")).toContain("new dynip");
    expect(r.stdout).toContain("kept");
    const again = install([binary]);
    expect(again.code).toBe(0);
    for (const [path, want] of FILES) expect(mode(path)).toBe(want);
    expect(existsSync(calls)).toBe(false);
  });

  test.each([
    ["a macOS binary", Buffer.from([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1])],
    ["a Windows binary", Buffer.from("MZ\x90\x00")],
  ])("refuses %s, and writes nothing", (_name, content) => {
    const other = join(dir, "other");
    writeFileSync(other, content);
    chmodSync(other, 0o755);
    const target = join(dir, "refused");
    const r = install([other], { DESTDIR: target });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("not a Linux executable");
    expect(existsSync(target)).toBe(false);
  });

  // Installing for real, so only as root, and inside a mount namespace whose /usr/local and
  // /etc are empty tmpfs: nothing can reach the machine's own, even if the check failed.
  test.skipIf(process.getuid?.() !== 0 || !Bun.which("unshare"))(
    "refuses a binary for another architecture on this machine (root only)",
    () => {
      const other = join(dir, "other-arch");
      writeFileSync(other, elf(HOST_MACHINE === 62 ? 183 : 62, "x"));
      chmodSync(other, 0o755);
      const script =
        'mount -t tmpfs tmpfs /usr/local && mount -t tmpfs tmpfs /etc && exec bash "$@"';
      const r = Bun.spawnSync(
        ["unshare", "--mount", "sh", "-c", script, "sh", join(ROOT, "scripts/install.sh"), other],
        { env: { PATH: `${fakeBin}:${process.env.PATH ?? "/usr/bin:/bin"}` }, stderr: "pipe" },
      );
      expect(r.exitCode).toBe(1);
      expect(r.stderr.toString()).toContain(
        `this machine is ${process.arch === "arm64" ? "aarch64" : "x86_64"}`,
      );
      expect(existsSync(calls)).toBe(false);
    },
  );

  test("stages a binary for another architecture under DESTDIR (packaging)", () => {
    const arm = join(dir, "dynip-other");
    writeFileSync(arm, elf(HOST_MACHINE === 62 ? 183 : 62, "other arch"));
    chmodSync(arm, 0o755);
    expect(install([arm], { DESTDIR: join(dir, "stage") }).code).toBe(0);
  });

  test("fails clearly without a binary, and writes nothing", () => {
    const empty = join(dir, "empty");
    const r = install([join(dir, "missing")], { DESTDIR: empty });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("no executable");
    expect(existsSync(empty)).toBe(false);
  });
});
