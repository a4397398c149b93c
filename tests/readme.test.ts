/** The README is part of the product: its commands, flags and variables must be real. */
import { describe, expect, test } from "bun:test";
import {
  cpSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { CONFIG_VARIABLES } from "../src/config/load.ts";
import { argvProblems, subcommandFlags } from "./support/ship-cli.ts";

const ROOT = resolve(import.meta.dir, "..");
const README = readFileSync(resolve(ROOT, "README.md"), "utf8");
const codeBlocks = [...README.matchAll(/```(?:sh|console)?\n([\s\S]*?)```/g)].map(
  (m) => m[1] ?? "",
);

/** Gives everything under `dir` to nobody (65534), links themselves rather than their targets. */
function giveToNobody(dir: string): void {
  lchownSync(dir, 65534, 65534);
  if (!lstatSync(dir).isDirectory()) return;
  for (const entry of readdirSync(dir)) giveToNobody(join(dir, entry));
}

describe("README", () => {
  test("starts with the two fresh-machine commands, pinned to the project's bun, no global install", () => {
    const [preview, tests] = codeBlocks;
    const bun = `npx --yes bun@${pkg.devDependencies.bun}`;
    const install = `${bun} install --frozen-lockfile`;
    expect(preview?.trim()).toStartWith(install);
    expect(preview).toContain(`${bun} src/cli.ts update --dry-run`);
    expect(tests?.trim()).toBe(`${install} && ${bun} run test`);
    expect(`${preview}${tests}`).not.toContain("-g ");
    // .ci/run runs the same test command.
    expect(readFileSync(resolve(import.meta.dir, "../.ci/run"), "utf8")).toContain("bun run test");
  });

  // As root only: it runs the command as `nobody`, in a copy of the checkout nobody owns, with
  // this bun standing in for the one `npx` would fetch (the tests run offline).
  test.skipIf(process.getuid?.() !== 0 || !Bun.which("setpriv"))(
    "the preview command works for a user who is not root, with an empty HOME",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "dynip-fresh-"));
      try {
        for (const part of [
          "src",
          "package.json",
          "bun.lock",
          "bunfig.toml",
          "tsconfig.json",
          "node_modules",
        ]) {
          cpSync(resolve(ROOT, part), join(dir, part), { recursive: true, verbatimSymlinks: true });
        }
        mkdirSync(join(dir, "home"));
        giveToNobody(dir);
        const command = (codeBlocks[0] ?? "")
          .trim()
          .replaceAll(/npx --yes bun@\S+/g, process.execPath);
        const run = Bun.spawnSync(
          ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", command],
          {
            cwd: dir,
            env: { PATH: "/usr/bin:/bin", HOME: join(dir, "home") },
            stdout: "pipe",
            stderr: "pipe",
          },
        );
        // Warnings may come (no address here, offline); an error may not.
        expect(run.exitCode).toBe(0);
        expect(run.stderr.toString()).not.toMatch(/ERROR|\n\s+at /);
        expect(run.stdout.toString()).toContain("detected internal");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test("the configuration table lists every variable with its default", () => {
    const section = README.slice(README.indexOf("## Configuration"));
    const table = section.slice(0, section.indexOf("\n## ", 3));
    const rows = new Map(
      table
        .split("\n")
        .filter((line) => line.startsWith("| `"))
        .map((line) => line.split("|").map((cell) => cell.trim()))
        .map(([, name, fallback]) => [name, fallback]),
    );
    for (const v of CONFIG_VARIABLES) {
      expect([v.name, rows.get(`\`${v.name}\``)]).toEqual([
        v.name,
        v.default === undefined ? "" : `\`${v.default}\``,
      ]);
    }
    expect(rows.size).toBe(CONFIG_VARIABLES.length);
  });

  test("every dynip command line in a code block uses real subcommands and flags", async () => {
    const flags = await subcommandFlags();
    const lines = codeBlocks
      .flatMap((block) => block.split("\n"))
      .flatMap((line) => [
        ...line.matchAll(/(?:^|[\s$|&;])dynip ((?:update|cleanup|status)[^|&;#\n]*)/g),
      ])
      .map((m) =>
        (m[1] ?? "")
          .trim()
          .split(/\s+/)
          .filter((w) => !/^[[\]]|[[\]]$/.test(w)),
      );
    expect(lines.length).toBeGreaterThan(5);
    const problems = lines.flatMap((argv) => argvProblems(argv, flags));
    expect(problems).toEqual([]);
  });
});
