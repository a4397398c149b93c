/** The pretty log line a person reads: local date and time (TZ), colour only on a terminal. */
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { configureLogger, log, redact, registerSecret } from "../src/observe/log.ts";
import * as output from "../src/observe/output.ts";

afterEach(() => {
  configureLogger({ level: "info", format: "pretty" });
});

describe("pretty logs", () => {
  test.each([
    ["UTC", "1970-01-01 00:00:00"],
    ["Asia/Tokyo", "1970-01-01 09:00:00"],
    ["America/New_York", "1969-12-31 19:00:00"],
  ])("time in TZ=%s", async (zone, expected) => {
    const child = Bun.spawnSync(
      [
        process.execPath,
        "-e",
        `import { localTime } from "./src/observe/log.ts"; process.stdout.write(localTime(new Date(0)));`,
      ],
      { env: { ...process.env, TZ: zone }, stdout: "pipe" },
    );
    expect(child.stdout.toString()).toBe(expected);
  });

  test.each([
    [true, undefined, "\x1b[33mWARN \x1b[0m"],
    [true, "1", "WARN "],
    [false, undefined, "WARN "],
  ])("a terminal (%p) with NO_COLOR=%p shows %j", (tty, noColor, label) => {
    const write = spyOn(console, "error").mockImplementation(() => {});
    const terminal = spyOn(output, "isTerminal").mockImplementation((fd) => fd === 2 && tty);
    const wasNoColor = process.env.NO_COLOR;
    if (noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = noColor;
    try {
      configureLogger({ level: "info", format: "pretty" });
      log.warn("careful");
      const line = String(write.mock.calls.at(-1)?.[0]);
      expect(line.slice(0, 20)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d $/);
      expect(line.slice(20)).toBe(`${label} careful`);
    } finally {
      write.mockRestore();
      terminal.mockRestore();
      if (wasNoColor === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = wasNoColor;
    }
  });
});

describe("redaction", () => {
  test("a secret and a longer one that starts with it: the longer goes whole, whichever came first", () => {
    const short = "https://hooks.example/abc-redaction-test";
    const long = `${short}?token=LONGSECRET-redaction-test`;
    registerSecret(short);
    registerSecret(long);
    expect(redact(`posting to ${long} failed; ${short} too`)).toBe(
      "posting to [redacted] failed; [redacted] too",
    );
  });
});
