/**
 * `--env-file`: systemd's EnvironmentFile= dialect (systemd.exec(5)), and who wins: the file,
 * then the real environment, then flags.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEnvironmentFile } from "../src/config/env-file.ts";
import { runCli } from "./support/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "dynip-env-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

describe("parseEnvironmentFile", () => {
  test.each([
    ["KEY=value", { KEY: "value" }],
    ["  KEY = value  ", { KEY: "value" }],
    ["KEY=a b  c", { KEY: "a b  c" }],
    ["# comment\n; comment\n\nKEY=1", { KEY: "1" }],
    ["no equals sign\nKEY=1", { KEY: "1" }],
    ["KEY=", { KEY: "" }],
    ["KEY='a \"b\" $c \\d'", { KEY: 'a "b" $c \\d' }],
    ['KEY="a \\"b\\" \\$c \\\\ \\d"', { KEY: 'a "b" $c \\ \\d' }],
    ["KEY='one\ntwo'", { KEY: "one\ntwo" }],
    ["KEY=one\\\ntwo", { KEY: "onetwo" }],
    ["KEY=a\\ b\\\\c", { KEY: "a b\\c" }],
    ["KEY=x # not a comment", { KEY: "x # not a comment" }],
    ["KEY=1\nKEY=2", { KEY: "2" }],
    ["1BAD=x\nGOOD_1=y\nbad-name=z", { GOOD_1: "y" }],
    ["A=1\r\nB=2\r\n", { A: "1", B: "2" }],
    ['KEY="quoted"   ', { KEY: "quoted" }],
    ["# a comment \\\ncontinued=not a key\nKEY=1", { KEY: "1" }],
    ["KEY=last line without newline", { KEY: "last line without newline" }],
  ])("%j", (text, expected) => {
    expect(Object.fromEntries(parseEnvironmentFile(text))).toEqual(expected);
  });
});

describe("dynip --env-file", () => {
  const settings = file(
    "dynip.env",
    [
      "# as scripts/install.sh writes it",
      "CF_API_TOKEN=",
      "INTERNAL_DOMAIN=internal.example.com",
      "INSTANCE_ID=from-file",
      'RECORD_COMMENT="set in the file"',
    ].join("\n"),
  );
  const preview = ["update", "--dry-run", "--env-file", settings];
  const env = { INTERNAL_IP_SOURCE: "static:10.0.0.1", EXTERNAL_IPV4_SOURCE: "none" };

  test("reads its settings; the environment wins over it, and flags over both", async () => {
    const fromFile = await runCli(preview, { ...env, EXTERNAL_IPV6_SOURCE: "none" });
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toContain(",from-file");
    expect(fromFile.stdout).toContain("internal.example.com");
    const fromEnv = await runCli(preview, {
      ...env,
      EXTERNAL_IPV6_SOURCE: "none",
      INSTANCE_ID: "from-env",
    });
    expect(fromEnv.stdout).toContain(",from-env");
    const fromFlag = await runCli([...preview, "--instance-id", "from-flag"], {
      ...env,
      EXTERNAL_IPV6_SOURCE: "none",
      INSTANCE_ID: "from-env",
    });
    expect(fromFlag.stdout).toContain(",from-flag");
  });

  test("a file it cannot read is a configuration error (exit 2), before anything else", async () => {
    for (const path of [join(dir, "missing"), dir, "/dev/zero"]) {
      const result = await runCli(["status", "--env-file", path], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`--env-file: cannot read "${path}"`);
    }
  });

  test("without a domain, the error points at --env-file", async () => {
    const result = await runCli(["status"], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("add --env-file /etc/dynip/dynip.env");
  });
});
