/** The CLI as a user meets it: exit codes, configuration errors, logs and the token. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CONFIG_VARIABLES } from "../src/config/load.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import { apiEnv, type FakeCloudflare, startFakeCloudflare } from "./support/fake-cloudflare.ts";

let fake: FakeCloudflare;
beforeAll(async () => {
  fake = await startFakeCloudflare();
});
afterAll(async () => {
  await fake.stop();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...apiEnv(fake),
    INSTANCE_ID: "web-01",
    INTERNAL_DOMAIN: "internal.example.com",
    INTERNAL_IP_SOURCE: "static:192.168.1.10",
    ...extra,
  };
}

const BAD: [string, string][] = [
  ["INTERNAL_DOMAIN", "not a domain"],
  ["INTERNAL_CIDRS", "10.0.0.0/33"],
  ["EXCLUDE_INTERFACES", "eth 0"],
  ["INTERNAL_IP_SOURCE", "static:300.1.1.1"],
  ["EXTERNAL_IPV4_SOURCE", "static:2001:db8::1"],
  ["EXTERNAL_IPV6_SOURCE", "sometimes"],
  ["INSTANCE_ID", "web,01"],
  ["RECORD_TTL", "30"],
  ["CF_PROXIED", "maybe"],
  ["CF_ZONE_ID", "xyz"],
  ["CF_API_URL", "http://api.example.com/client/v4"],
  ["API_TIMEOUT_SECONDS", "1e3"],
  ["BATCH_SIZE", "0"],
  ["UPDATE_INTERVAL", "-1"],
  ["STALE_THRESHOLD_SECONDS", "10"],
  ["HEALTH_PORT", "70000"],
  ["LOG_LEVEL", "loud"],
  ["LOG_FORMAT", "xml"],
  ["CF_API_TOKEN_FILE", "/nonexistent/token"],
];

describe("help", () => {
  test.each(["update", "cleanup", "status"])(
    "`dynip %s --help` is enough to configure it: every variable, its default, the exit codes",
    async (command) => {
      const help = await runCli([command, "--help"], {});
      expect(help.code).toBe(0);
      for (const v of CONFIG_VARIABLES) {
        expect(help.stdout).toContain(`  ${v.name} `);
        if (v.default) expect(help.stdout).toContain(`(default: ${v.default})`);
      }
      expect(help.stdout).toContain("EXIT CODES");
      expect(help.stdout).toContain("2  invalid configuration or usage");
      const typed = await runCli(["help", command], {});
      expect(typed).toEqual(help);
    },
  );

  test("help is coloured on a terminal and plain text on a pipe", async () => {
    // No NO_COLOR, CI or TEST: citty would colour; only the terminal check decides.
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "xterm" };
    const command = [process.execPath, CLI, "update", "--help"];
    const piped = Bun.spawn(command, { env, stdout: "pipe", stderr: "pipe" });
    const plain = await new Response(piped.stdout).text();
    expect(await piped.exited).toBe(0);
    expect(plain).toContain("INSTANCE_ID");
    expect(plain).not.toContain("\x1b[");
    // util-linux `script` runs it on a pseudo-terminal (Debian has it in every install).
    const line = command.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
    const tty = Bun.spawn(["script", "-qec", line, "/dev/null"], {
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const coloured = await new Response(tty.stdout).text();
    expect(await tty.exited).toBe(0);
    expect(coloured).toContain("\x1b[36m--env-file");
  });

  test("a reader that goes away (dynip ... | head -1) ends it quietly, exit 0", async () => {
    const child = Bun.spawn([process.execPath, CLI, "update", "--help"], {
      env: cleanEnv({}),
      stdout: "pipe",
      stderr: "pipe",
    });
    await child.stdout.cancel(); // the reading end closes before a byte is written
    expect(await child.exited).toBe(0);
    expect(await new Response(child.stderr).text()).toBe("");
  });

  test("`dynip help` is the overview, exit 0", async () => {
    const help = await runCli(["help"], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("dynip <command> --help");
    expect(help.stdout).toEqual((await runCli(["--help"], {})).stdout);
  });
});

describe("configuration errors", () => {
  test.each(BAD)("%s=%s exits 2, names the variable and sends nothing", async (name, value) => {
    fake.resetRequests();
    const overrides: Record<string, string> = { [name]: value };
    const base = env();
    if (name === "CF_API_TOKEN_FILE") delete base.CF_API_TOKEN;
    const result = await runCli(["update"], { ...base, ...overrides });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${name}:`);
    expect(fake.requests).toEqual([]);
  });

  test("every problem is listed at once", async () => {
    const result = await runCli(
      ["update"],
      env({ RECORD_TTL: "5", LOG_LEVEL: "loud", BATCH_SIZE: "x" }),
    );
    expect(result.code).toBe(2);
    for (const name of ["RECORD_TTL", "LOG_LEVEL", "BATCH_SIZE"])
      expect(result.stderr).toContain(name);
  });

  test("no managed domain is an error; so is an unknown flag", async () => {
    const { INTERNAL_DOMAIN: _, ...noDomain } = env();
    const none = await runCli(["update"], noDomain);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no managed domain");
    const typo = await runCli(["update", "--dryrun"], env());
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("--dryrun");
  });

  test.each([
    [["update", "--dryrun"], "unknown option --dryrun"],
    [["update", "--interval"], "--interval needs a value"],
    [["update", "--interval="], "--interval needs a value"],
    [["update", "now"], "1 unexpected argument(s)"],
    [["status", "--json", "--zone-id"], "--zone-id needs a value"],
    [["cleanup", "--once", "--token", "x"], "unknown option --token"],
    [["remove"], "Unknown command remove"],
    [["update", "-dry-run"], "-dry-run: long options take two dashes"],
    [["cleanup", "--once", "-dry-run"], "-dry-run: long options take two dashes"],
    [["update", "--instance-id", "--dry-run"], "--instance-id needs a value"],
    [["update", "--interval", "-5"], "--interval needs a value"],
    [["update", "--token", "-Rf2-3YY3lJMRTkdSJLQjRqwJllR5NivZRf9ZaAW"], "(a word not shown)"],
  ])("usage error %p exits 2 before any request", async (argv, message) => {
    fake.resetRequests();
    const result = await runCli(argv, env());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain("Rf2-3YY3");
    expect(fake.requests).toEqual([]);
  });

  test("flags override the environment", async () => {
    fake.resetRequests();
    const result = await runCli(["update", "--dry-run", "--instance-id", "from-flag"], env());
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(',from-flag"');
  });
});

describe("logging and the token", () => {
  test("the token appears nowhere, even at debug level and on auth errors", async () => {
    const ok = await runCli(["update"], env({ LOG_LEVEL: "debug" }));
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("DEBUG"); // debug really was on
    const wrong = `${fake.token.slice(0, 20)}WRONGWRONGWRONGWRONG`;
    const denied = await runCli(["update"], env({ LOG_LEVEL: "debug", CF_API_TOKEN: wrong }));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("9109");
    for (const out of [ok.stdout, ok.stderr, denied.stdout, denied.stderr]) {
      expect(out).not.toContain(fake.token);
      expect(out).not.toContain(wrong);
      expect(out).not.toContain(fake.token.slice(0, 8)); // not even a prefix
    }
  });

  test.each([
    ["a configuration error", ["update"], { RECORD_TTL: "7" }],
    ["an unknown option", ["update", "--dryrun"], {}],
    ["an unknown command", ["updat"], {}],
    ["a missing option value", ["status", "--zone-id"], {}],
    [
      "--log-format on the command line",
      ["update", "--log-format=json", "--dryrun"],
      { LOG_FORMAT: "" },
    ],
    ["an unreadable --env-file", ["status", "--env-file", "/nonexistent"], {}],
  ] as const)(
    "with JSON asked for, %s is one JSON object per line too",
    async (_name, args, extra) => {
      const result = await runCli([...args], env({ LOG_FORMAT: "json", ...extra }));
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split("\n");
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(JSON.parse(line)).toMatchObject({ level: "error" });
    },
  );

  test("LOG_FORMAT=json writes one JSON object per line on stderr", async () => {
    const result = await runCli(["update"], env({ LOG_FORMAT: "json", LOG_LEVEL: "debug" }));
    expect(result.code).toBe(0);
    const lines = result.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines) {
      const entry = JSON.parse(line) as { level: string; msg: string; time: string };
      expect(typeof entry.msg).toBe("string");
      expect(Date.parse(entry.time)).not.toBeNaN();
    }
  });
});
