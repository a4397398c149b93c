/** The shipped systemd units pass `systemd-analyze verify` and score 2.5 or lower on security. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULTS } from "../src/config/variables.ts";

const UNITS_DIR = resolve(import.meta.dir, "../scripts/systemd");
const SERVICES = ["dynip-update.service", "dynip-cleanup.service"];
const UNITS = [...SERVICES, "dynip-update.timer"];
const analyze = Bun.which("systemd-analyze");
const unit = (name: string) => readFileSync(join(UNITS_DIR, name), "utf8");
const dir = mkdtempSync(join(tmpdir(), "dynip-units-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { code: number; output: string } {
  const r = Bun.spawnSync([analyze ?? "systemd-analyze", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * verify needs ExecStart to exist. The shipped units point at /usr/local/bin/dynip, so
 * verify copies whose only change is that path (any executable will do: bun itself).
 */
function verify(units: Record<string, string>): { code: number; output: string } {
  const paths = Object.entries(units).map(([name, text]) => {
    const path = join(dir, name);
    writeFileSync(path, text.replaceAll("/usr/local/bin/dynip", process.execPath));
    return path;
  });
  return run(["verify", "--man=no", ...paths]);
}

function exposure(path: string): number {
  const { output } = run(["security", "--offline=true", "--no-pager", path]);
  const match = output.match(/Overall exposure level for \S+: (\d+(?:\.\d+)?)/);
  if (!match?.[1]) throw new Error(`no exposure level in: ${output.slice(-500)}`);
  return Number(match[1]);
}

describe("shipped units", () => {
  test.each(SERVICES)("%s runs /usr/local/bin/dynip with /etc/dynip/dynip.env", (name) => {
    const text = unit(name);
    const sub = name === "dynip-update.service" ? "update" : "cleanup";
    expect(text).toContain(`\nExecStart=/usr/local/bin/dynip ${sub}\n`);
    expect(text).toContain("\nEnvironmentFile=/etc/dynip/dynip.env\n");
    expect(text).toMatch(/\nRestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK\n/);
  });

  test("every unit the README or install.sh says to enable can be enabled", () => {
    const said = [
      readFileSync(resolve(import.meta.dir, "../README.md"), "utf8"),
      readFileSync(resolve(import.meta.dir, "../scripts/install.sh"), "utf8"),
    ].join("\n");
    const enabled = new Set(
      [...said.matchAll(/systemctl enable (?:--now )?(dynip-[\w.-]+)/g)].map((m) => m[1]),
    );
    expect([...enabled].sort()).toEqual(["dynip-cleanup.service", "dynip-update.timer"]);
    for (const name of enabled) {
      const install = unit(name ?? "").split("\n[Install]\n")[1] ?? "";
      expect({ name, wanted: /^WantedBy=\S+/m.test(install) }).toEqual({ name, wanted: true });
    }
  });

  test("update is a oneshot on a persistent, randomized 5-minute timer; cleanup restarts", () => {
    expect(unit("dynip-update.service")).toContain("\nType=oneshot\n");
    const timer = unit("dynip-update.timer");
    for (const line of ["OnCalendar=*:0/5", "Persistent=true", "Unit=dynip-update.service"]) {
      expect(timer).toContain(`\n${line}\n`);
    }
    expect(timer).toMatch(/\nRandomizedDelaySec=\d+/);
    expect(unit("dynip-cleanup.service")).toContain("\nRestart=on-failure\n");
  });
});

const title = analyze ? "systemd-analyze" : "systemd-analyze (skipped: it is not installed)";
describe.skipIf(!analyze)(title, () => {
  test("verify is clean for the three units", () => {
    const result = verify(Object.fromEntries(UNITS.map((n) => [n, unit(n)])));
    expect(result).toEqual({ code: 0, output: "" });
  });

  test("verify reports a broken unit (so a clean result means something)", () => {
    const broken = unit("dynip-update.service").replace("Type=oneshot", "Type=oneshoot");
    expect(verify({ "dynip-broken.service": broken }).output).toContain("oneshoot");
  });

  test.each(SERVICES)("%s scores 2.5 or lower on systemd-analyze security", (name) => {
    expect(exposure(join(UNITS_DIR, name))).toBeLessThanOrEqual(2.5);
  });

  test("the score reacts to hardening (an unhardened copy scores worse than 2.5)", () => {
    const bare = unit("dynip-update.service").split("# Hardening")[0] ?? "";
    const path = join(dir, "dynip-bare.service");
    writeFileSync(path, bare);
    expect(exposure(path)).toBeGreaterThan(2.5);
  });
});

describe("the timer says what it does", () => {
  test("its comment gives the real default threshold and the passes it allows", () => {
    const timer = unit("dynip-update.timer");
    const threshold = Number(DEFAULTS.STALE_THRESHOLD_SECONDS);
    const every = /^OnCalendar=\*:0\/(\d+)$/m.exec(timer)?.[1];
    expect(every).toBe("5");
    expect(timer).toContain(`STALE_THRESHOLD_SECONDS defaults to ${threshold} s`);
    expect(timer).toContain(`${threshold / (Number(every) * 60) === 3 ? "three" : "?"} passes`);
  });
});
