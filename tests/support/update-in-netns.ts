/**
 * Runs inside a test network namespace (tests/update-netns.test.ts): starts the fake API on
 * the namespace's own loopback, runs the real `dynip update` once per case with the
 * given environment, and prints the A/AAAA records each case left as one JSON object.
 * Usage: bun tests/support/update-in-netns.ts '<json of Record<string, env>>'
 */
import { runCli } from "./cli.ts";
import { apiEnv, startFakeCloudflare } from "./fake-cloudflare.ts";

const cases = JSON.parse(process.argv[2] ?? "{}") as Record<string, Record<string, string>>;
const results: Record<string, { code: number; addresses: string[]; stderr: string }> = {};
for (const [name, env] of Object.entries(cases)) {
  const fake = await startFakeCloudflare();
  const result = await runCli(["update"], {
    ...apiEnv(fake),
    INSTANCE_ID: "netns-host",
    ...env,
  });
  const addresses = fake
    .records()
    .filter((r) => r.type === "A" || r.type === "AAAA")
    .map((r) => `${r.name} ${r.content}`);
  results[name] = { code: result.code, addresses, stderr: result.stderr };
  await fake.stop();
}
process.stdout.write(JSON.stringify(results));
