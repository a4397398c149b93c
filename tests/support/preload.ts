/**
 * Loaded before every test file (bunfig.toml). Tests talk only to servers on loopback; a proxy
 * set in the developer's shell would send the test process's own requests elsewhere.
 */
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
