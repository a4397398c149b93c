/**
 * The scratch image without Docker: scripts/rootfs.sh writes its whole filesystem, and
 * `chroot` runs /dynip in it as the image's user against the fake API (chroot keeps the
 * network namespace, so 127.0.0.1 is the test's). Needs root for mount and chroot.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { parseHeartbeat } from "../src/registry/heartbeat.ts";
import { apiEnv, type FakeCloudflare, startFakeCloudflare } from "./support/fake-cloudflare.ts";

const ROOT = resolve(import.meta.dir, "..");
const SCRIPT = join(ROOT, "scripts/rootfs.sh");
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), "dynip-rootfs-"));
const rootfs = join(work, "rootfs");
let mounted = false;
let fake: FakeCloudflare;

function sh(cmd: string[], env: Record<string, string> = {}) {
  const r = Bun.spawnSync(cmd, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/**
 * Runs /dynip inside the root filesystem as the image's USER 65532:65532. Asynchronous:
 * the fake API answers from this process's event loop.
 */
async function inImage(args: string[], env: Record<string, string> = {}) {
  const child = Bun.spawn(["chroot", "--userspec=65532:65532", rootfs, "/dynip", ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 20_000,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

/** Every file and symlink under DIR, relative; /proc (our mount point) is not walked. */
function listing(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (!entry.isDirectory()) return [relative(base, path)];
      return path === join(base, "proc") ? [] : listing(path, base);
    })
    .sort();
}

/** The loader and libraries the binary needs, as ldd reports them. */
function neededLibraries(binary: string): string[] {
  return [...sh(["ldd", binary]).stdout.matchAll(/(?:=> )?(\/\S+) \(0x/g)]
    .map((m) => (m[1] ?? "").slice(1))
    .sort();
}

describe("rootfs.sh usage", () => {
  test("without a directory it fails and says how to call it", () => {
    const r = sh(["bash", SCRIPT]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("usage: scripts/rootfs.sh DIR");
  });
});

const title = isRoot
  ? "scratch root filesystem"
  : "scratch root filesystem (skipped: needs root for mount and chroot)";
describe.skipIf(!isRoot)(title, () => {
  beforeAll(async () => {
    const built = sh(["bash", SCRIPT, rootfs]);
    if (built.code !== 0) throw new Error(`rootfs.sh failed: ${built.stderr}`);
    // rootfs.sh leaves /proc as an empty mount point, as Docker expects it.
    expect(readdirSync(join(rootfs, "proc"))).toEqual([]);
    const mount = sh(["mount", "-t", "proc", "proc", join(rootfs, "proc")]);
    if (mount.code !== 0) throw new Error(`mount /proc failed: ${mount.stderr}`);
    mounted = true;
    fake = await startFakeCloudflare();
  }, 120_000);

  afterAll(async () => {
    await fake?.stop();
    if (mounted && sh(["umount", join(rootfs, "proc")]).code !== 0) {
      throw new Error(`could not unmount ${rootfs}/proc; left ${work} in place`);
    }
    rmSync(work, { recursive: true, force: true });
  });

  test("holds only the binary, the libraries ldd names, and the user and group files", () => {
    const libs = neededLibraries(join(rootfs, "dynip"));
    expect(libs.some((l) => l.includes("ld-linux"))).toBe(true);
    expect(listing(rootfs)).toEqual(["dynip", "etc/group", "etc/passwd", ...libs].sort());
    for (const lib of libs) expect(lstatSync(join(rootfs, lib)).isFile()).toBe(true);
    expect(readFileSync(join(rootfs, "etc/passwd"), "utf8")).toMatch(/^dynip:x:65532:65532:/m);
    expect(readFileSync(join(rootfs, "etc/group"), "utf8")).toMatch(/^dynip:x:65532:/m);
  });

  test("/dynip --version prints the package version as the unprivileged user", async () => {
    const r = await inImage(["--version"]);
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  test("/dynip update publishes the address and heartbeat through the fake API", async () => {
    const r = await inImage(["update"], {
      ...apiEnv(fake),
      INSTANCE_ID: "scratch-01",
      INTERNAL_DOMAIN: "internal.example.com",
      INTERNAL_IP_SOURCE: "static:192.168.7.10",
      EXTERNAL_IPV4_SOURCE: "none",
      EXTERNAL_IPV6_SOURCE: "none",
    });
    expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
    const records = fake.records();
    expect(records.filter((x) => x.type === "A").map((x) => [x.name, x.content])).toEqual([
      ["internal.example.com", "192.168.7.10"],
    ]);
    const hb = records.find((x) => x.name === "_heartbeat-192-168-7-10.internal.example.com");
    expect(parseHeartbeat(hb?.content ?? "")?.instanceId).toBe("scratch-01");
    expect(fake.schemaViolations).toEqual([]);
  });

  test("HTTPS needs no CA file: Bun's bundled Mozilla store is there inside the image", async () => {
    // BUN_BE_BUN=1 makes a compiled binary behave as the bun CLI, to ask its runtime.
    const r = await inImage(["-e", 'console.log(require("node:tls").rootCertificates.length)'], {
      BUN_BE_BUN: "1",
    });
    expect(r.code).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(100);
  });

  test("running it again over the same directory gives the same filesystem", async () => {
    const before = listing(rootfs);
    const binary = join(work, "dynip-copy");
    copyFileSync(join(rootfs, "dynip"), binary);
    const again = sh(["bash", SCRIPT, rootfs], { DYNIP_BINARY: binary });
    expect(again.code).toBe(0);
    expect(listing(rootfs)).toEqual(before);
    expect((await inImage(["--version"])).code).toBe(0);
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const instructions = dockerfile.split("\n").filter((l) => /^[A-Z]+ /.test(l));

  test("builds with Bun of package.json's version and scripts/rootfs.sh, then FROM scratch", () => {
    expect(instructions[0]).toBe(`FROM oven/bun:${pkg.devDependencies.bun} AS build`);
    expect(instructions).toContain("RUN bun install --frozen-lockfile");
    expect(instructions).toContain("RUN scripts/rootfs.sh /rootfs");
    const final = instructions.slice(instructions.lastIndexOf("FROM scratch"));
    expect(final).toEqual([
      "FROM scratch",
      "COPY --from=build /rootfs /",
      "USER 65532:65532",
      'ENTRYPOINT ["/dynip"]',
      'CMD ["update", "--interval", "300"]',
    ]);
  });

  test("copies what the build needs into the build stage, and .dockerignore lets it through", () => {
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
    const sources = instructions
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from"))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const needed of ["package.json", "bun.lock", "src", "scripts", "tsconfig.json"]) {
      expect(sources).toContain(needed);
    }
    for (const source of sources) {
      expect(lstatSync(join(ROOT, source))).toBeTruthy();
      expect(ignore.some((l) => l.replace(/\/$/, "") === `!${source}`)).toBe(true);
    }
  });
});
