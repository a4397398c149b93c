/**
 * The shape of the source tree (docs/architecture.md): who may import whom, one home for the
 * heartbeat prefix, unique file names, and every comment that cites the docs citing a file and
 * a section that exist. Read from the files themselves, so a change that breaks a boundary
 * fails here, not in review.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const SRC = join(ROOT, "src");

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : name.endsWith(".ts") ? [path] : [];
  });
}

const sources = walk(SRC).map((path) => relative(ROOT, path));

/** Every relative import of a file, static or dynamic, as a path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  const specs = [...text.matchAll(/(?:from|import\()\s*"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]);
  return specs.map((spec) => relative(ROOT, resolve(dirname(join(ROOT, file)), spec as string)));
}

const graph = new Map(sources.map((file) => [file, importsOf(file)]));

/** The imports of files under `from` that land under one of `forbidden`, as `a -> b`. */
function crossings(from: (file: string) => boolean, forbidden: string[]): string[] {
  return [...graph].flatMap(([file, imports]) =>
    from(file)
      ? imports.filter((i) => forbidden.some((f) => i.startsWith(f))).map((i) => `${file} -> ${i}`)
      : [],
  );
}

describe("import boundaries", () => {
  test.each(["cloudflare", "rfc2136"])(
    "the %s provider is imported only from its folder and from the provider selection",
    (name) => {
      const folder = `src/providers/${name}/`;
      const outside = (file: string) =>
        !file.startsWith(folder) && file !== "src/providers/select.ts";
      expect(crossings(outside, [folder])).toEqual([]);
    },
  );

  test("planners, the registry and the record model import no provider, engine, command or I/O code", () => {
    const pure = (file: string) =>
      ["src/plan/", "src/registry/", "src/dns/"].some((dir) => file.startsWith(dir));
    const io = ["src/providers/", "src/engine/", "src/commands/", "src/observe/", "src/config/"];
    expect(crossings(pure, io)).toEqual([]);
  });

  test("the engine reaches back ends only through the provider interface", () => {
    const engine = (file: string) => file.startsWith("src/engine/");
    const providers = ["src/providers/"];
    const allowed = "src/providers/provider.ts";
    expect(crossings(engine, providers).filter((c) => !c.endsWith(allowed))).toEqual([]);
  });

  test("the crossings checker sees a crossing (guards the checks above)", () => {
    const commands = (file: string) => file.startsWith("src/commands/");
    expect(crossings(commands, ["src/providers/select.ts"]).length).toBeGreaterThan(0);
  });
});

describe("one home for each rule", () => {
  test("the heartbeat prefix is spelled out in code only in the registry", () => {
    const spelled = sources.filter((file) => {
      const code = readFileSync(join(ROOT, file), "utf8")
        .split("\n")
        .filter((line) => !/^\s*(\*|\/\/|\/\*\*)/.test(line))
        .join("\n");
      return /["'`]_heartbeat-/.test(code);
    });
    expect(spelled).toEqual(["src/registry/heartbeat.ts"]);
  });

  test("every file name appears once in src/", () => {
    const names = sources.map((file) => basename(file));
    const repeated = names.filter((name, i) => names.indexOf(name) !== i);
    expect(repeated).toEqual([]);
  });
});

describe("comments cite a contract that exists", () => {
  const cited = [...sources, ...walk(join(ROOT, "tests")).map((p) => relative(ROOT, p))];

  test("no comment cites the SPEC file, which is not in the repository", () => {
    const mark = ["SPEC", "§"].join(" ");
    const spec = cited.filter((file) => readFileSync(join(ROOT, file), "utf8").includes(mark));
    expect(spec).toEqual([]);
  });

  test('every docs/<file>.md, "<Section>" cited names a file and a heading in it', () => {
    const problems: string[] = [];
    let citations = 0;
    for (const file of cited) {
      // A citation may wrap inside a comment: ` * ` at the start of a line is not part of it.
      const text = readFileSync(join(ROOT, file), "utf8").replace(/\n\s*(?:\*|\/\/) ?/g, " ");
      const pattern = /docs\/([a-z-]+\.md)(?:,? \(?"([^"]+)"\)?)?/g;
      for (const [, doc, section] of text.matchAll(pattern)) {
        citations++;
        const path = join(ROOT, "docs", doc as string);
        if (!existsSync(path)) {
          problems.push(`${file}: docs/${doc} does not exist`);
          continue;
        }
        const headings = readFileSync(path, "utf8")
          .split("\n")
          .filter((line) => /^#{1,4} /.test(line))
          .map((line) => line.replace(/^#+ /, "").trim());
        if (section && !headings.includes(section)) {
          problems.push(`${file}: docs/${doc} has no section "${section}"`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(citations).toBeGreaterThan(20);
  });
});
