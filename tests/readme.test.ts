/** The README is part of the product: its commands, flags and variables must be real. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { CONFIG_VARIABLES } from "../src/config.ts";
import { argvProblems, subcommandFlags } from "./support/ship-cli.ts";

const README = readFileSync(resolve(import.meta.dir, "../README.md"), "utf8");
const codeBlocks = [...README.matchAll(/```(?:sh|console)?\n([\s\S]*?)```/g)].map(
  (m) => m[1] ?? "",
);

describe("README", () => {
  test("starts with the two fresh-machine commands, pinned to the project's bun", () => {
    const [preview, tests] = codeBlocks;
    const install = `npm install -g bun@${pkg.devDependencies.bun} && bun install --frozen-lockfile`;
    expect(preview?.trim()).toStartWith(install);
    expect(preview).toContain("update --dry-run");
    expect(tests?.trim()).toBe(`${install} && bun run test`);
    // .ci/run runs the same test command.
    expect(readFileSync(resolve(import.meta.dir, "../.ci/run"), "utf8")).toContain("bun run test");
  });

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
