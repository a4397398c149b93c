/**
 * Loaded before every test file (bunfig.toml). Tests talk only to servers on loopback; a proxy
 * set in the developer's shell would send the test process's own requests elsewhere. After
 * every test, no request to a fake Cloudflare API may have broken Cloudflare's OpenAPI
 * document (tests/support/fake-violations.ts).
 */
import { afterEach, expect } from "bun:test";
import { takeViolations } from "./fake-violations.ts";

for (const name of [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "http_proxy",
  "https_proxy",
  "all_proxy",
]) {
  delete process.env[name];
}

afterEach(() => {
  expect(takeViolations()).toEqual([]);
});
