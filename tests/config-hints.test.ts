import { describe, expect, test } from "bun:test";
import { editDistance, variableHints } from "../src/config/hints.ts";
import { CONFIG_VARIABLES } from "../src/config/load.ts";
import { runCli } from "./support/cli.ts";

const KNOWN = CONFIG_VARIABLES.map((v) => v.name);

describe("editDistance", () => {
  test.each([
    ["", "", 0],
    ["abc", "abc", 0],
    ["abc", "abd", 1],
    ["abc", "acb", 1],
    ["LOGLEVEL", "LOG_LEVEL", 1],
    ["INTERNAL_DOMIAN", "INTERNAL_DOMAIN", 1],
    ["CF_API_TOKN", "CF_API_TOKEN", 1],
    ["kitten", "sitting", 3],
  ])("%p ~ %p = %p", (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });

  test.each([
    ["INTERNAL_DOMIAN", "INTERNAL_DOMAIN", 1],
    ["AB", "BA", 1],
    ["ABCD", "BADC", 2],
    ["ABC", "", 3],
    ["kitten", "sitting", 3],
    ["EXTERNAL_DOMAIN", "INTERNAL_DOMAIN", 2],
    ["EXTERNAL_DOMAIN", "INTERNAL_DOMAINS", 3],
    ["UPDATE_INTERVAL", "STALE_THRESHOLD_SECONDS", 3],
    ["XXXXXX", "YYYYYY", 3],
  ])("%p ~ %p within 2, else 3 = %p", (a, b, d) => {
    expect(editDistance(a, b, 2)).toBe(d);
    // Bounded or not, the same answer wherever the bound allows one.
    expect(Math.min(editDistance(a, b), 3)).toBe(d);
  });
});

describe("variableHints", () => {
  test.each([
    ["INTERNAL_DOMIAN", "did you mean INTERNAL_DOMAIN?"],
    ["CF_API_TOKN", "did you mean CF_API_TOKEN?"],
    ["LOGLEVEL", "did you mean LOG_LEVEL?"],
    ["internal_domain", "did you mean INTERNAL_DOMAIN?"],
    ["CLOUDFLARE_API_TOKEN", "use CF_API_TOKEN"],
    ["DOMAINS", "use INTERNAL_DOMAIN, EXTERNAL_DOMAIN, IPV6_DOMAIN or COMBINED_DOMAIN"],
    ["PROXIED", "use CF_PROXIED"],
    ["TTL", "use RECORD_TTL"],
    ["IP4_PROVIDER", "use EXTERNAL_IPV4_SOURCE"],
  ])("%s: %s", (name, said) => {
    expect(variableHints({ [name]: "x" }, KNOWN)).toEqual([expect.stringContaining(said)]);
  });

  test("dynip's own and everyday variables say nothing", () => {
    const env = {
      PATH: "/bin",
      HOME: "/root",
      TERM: "xterm",
      TZ: "UTC",
      HOSTNAME: "web",
      LANG: "C",
      SHELL: "/bin/sh",
      INTERNAL_DOMAIN: "a.example.com",
      LOG_LEVEL: "info",
      NO_COLOR: "1",
      USER: "root",
      PWD: "/",
    };
    expect(variableHints(env, KNOWN)).toEqual([]);
  });
});

test("a misspelled domain variable is named, beside the error it causes", async () => {
  const result = await runCli(["status"], { INTERNAL_DOMIAN: "internal.example.com" });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain(
    "INTERNAL_DOMIAN is not a dynip setting and is ignored: did you mean INTERNAL_DOMAIN?",
  );
  expect(result.stderr).toContain("no managed domain");
});
