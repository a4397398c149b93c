/**
 * Notifications through the real CLI, against the fake Cloudflare API and loopback receivers:
 * exits on time whatever a target does (one-shot and after SIGTERM), a big cleanup's success
 * ping, secret URLs in every form, the instance slug, the late-address gauge, and the example
 * alert rules under `promtool test rules`.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { formatHeartbeat, heartbeatName } from "../src/registry/heartbeat.ts";
import { CLI, cleanEnv, runCli } from "./support/cli.ts";
import { freePort, metricsUntil } from "./support/health.ts";
import { D, KEY, MINUTE, notifyTargets } from "./support/notify-targets.ts";
import { OPENSSL, SECRETS, secretUrls, startMismatchedReceiver } from "./support/secret-urls.ts";

const targets = notifyTargets();
const { env, pings } = targets;

describe("exiting on time", () => {
  test("one-shot: five new addresses and a webhook that hangs; out by 3 x timeout + 1 s", async () => {
    targets.hook.answer("hang");
    const ips = [10, 11, 12, 13, 14].map((n) => `192.168.1.${n}`).join(",");
    const started = performance.now();
    const result = await runCli(["update"], env("web-01", ips));
    const seconds = (performance.now() - started) / 1000;
    expect(result.code).toBe(0);
    // 4 s for the notifications, the rest for the pass and the start of two processes.
    expect(seconds).toBeLessThan(6.5);
    expect(pings("web-01").at(-1)).toMatch(/^\(success\) pass done: 10 change\(s\)/);
    expect(result.stderr).not.toContain(KEY);
  }, 30_000);

  test.each([
    ["update", ["update", "--interval", "1"], "update_passes"],
    ["cleanup", ["cleanup"], "cleanup_cycles"],
  ] as const)(
    "long-lived %s: every target hangs; after SIGTERM it stops within STOP_TIMEOUT_SECONDS",
    async (_, argv, loops) => {
      for (const r of [targets.hc, targets.kuma, targets.hook]) r.answer("hang");
      const port = await freePort();
      const child = Bun.spawn([process.execPath, CLI, ...argv], {
        env: cleanEnv(
          env("web-01", "192.168.1.10", {
            HEALTH_PORT: String(port),
            CLEANUP_INTERVAL_SECONDS: "1",
            NOTIFY_TIMEOUT_SECONDS: "30",
            STOP_TIMEOUT_SECONDS: "2",
          }),
        ),
        stdout: "ignore",
        stderr: "pipe",
      });
      let exited: number | undefined;
      try {
        // A few loops pile up pings behind the one that hangs.
        const done = new RegExp(`^dynip_${loops}_total\\{result="success"\\} [3-9]`, "m");
        await metricsUntil(port, done, 20_000);
        const stopped = performance.now();
        child.kill("SIGTERM");
        const code = await Promise.race([child.exited, Bun.sleep(10_000).then(() => -1)]);
        exited = (performance.now() - stopped) / 1000;
        expect(code).toBe(0);
        expect(exited).toBeLessThan(3.5);
      } finally {
        if (exited === undefined || child.exitCode === null) child.kill("SIGKILL");
      }
      const stderr = await new Response(child.stderr).text();
      expect(stderr).toMatch(/INFO\s+stopped\n?$/);
      expect(stderr).not.toContain(KEY);
    },
    40_000,
  );
});

describe("a big cleanup", () => {
  test("--once --force deleting 100 hosts: start, one /log, success; 100 host.gone events", async () => {
    const now = Math.floor(targets.fake.clock.now() / 1000);
    for (let i = 0; i < 100; i++) {
      const ip = `10.1.${i >> 8}.${(i & 255) + 1}`;
      targets.fake.seed({ name: D, type: "A", content: ip });
      targets.fake.seed({
        name: heartbeatName(ip, D),
        type: "TXT",
        content: formatHeartbeat(now, `web-${i}`),
      });
    }
    targets.fake.clock.advance(20 * MINUTE);
    const result = await runCli(["cleanup", "--once", "--force"], env("ops", "192.168.1.99"), {
      timeoutMs: 60_000,
    });
    expect(result.code).toBe(0);
    const sent = pings("ops");
    expect(sent).toHaveLength(3);
    expect(sent[0]).toBe("/start");
    expect(sent[1]).toMatch(/^\/log host web-\d+ is gone: cleanup deleted 10\.1\.0\.\d+ from/);
    expect(sent[2]).toBe("(success) cycle done: 200 record(s) deleted");
    expect(targets.hc.requests[1]?.body.split("\n").at(-1)).toBe("and 50 more event(s)");
    const events = targets.hook.requests.map((r) => JSON.parse(r.body).event);
    expect(events).toEqual(Array(100).fill("host.gone"));
    expect(result.stderr).not.toContain("notification to");
  }, 60_000);
});

describe("Healthchecks slugs", () => {
  test("an EC2 host name as INSTANCE_ID becomes a valid slug", async () => {
    // Healthchecks routes ping/<ping_key>/<slug>: a-z, 0-9, - and _ only.
    const result = await runCli(["update"], env("ip-10-0-1-23.EC2.internal", "192.168.1.10"));
    expect(result.code).toBe(0);
    const slug = "ip-10-0-1-23-ec2-internal";
    for (const r of targets.hc.requests) expect(r.path).toStartWith(`/ping/${KEY}/${slug}`);
    expect(pings(slug)).toEqual([
      "/start",
      "/log ip-10-0-1-23.EC2.internal published 192.168.1.10 at internal.example.com",
      "(success) pass done: 2 change(s), 0 heartbeat(s) refreshed",
    ]);
  });
});

describe("secret URLs", () => {
  test.skipIf(!OPENSSL)(
    `a TLS name mismatch on every target: no URL in any form in the output${OPENSSL ? "" : " (skipped: no openssl)"}`,
    async () => {
      const tls = startMismatchedReceiver();
      const urls = secretUrls(tls.receiver.port);
      try {
        for (const [format, ip] of [
          ["pretty", "192.168.1.10"],
          ["json", "192.168.1.20"], // a new address: an event for each webhook again
        ] as const) {
          const result = await runCli(
            ["update"],
            env("web-01", ip, {
              // Trusted, but for another name: the error quotes the URL it fetched.
              NODE_EXTRA_CA_CERTS: tls.certFile,
              LOG_FORMAT: format,
              LOG_LEVEL: "debug",
              HEALTHCHECKS_URL: urls.healthchecks,
              UPTIMEKUMA_URL: urls.uptimeKuma,
              WEBHOOK_URL: urls.webhooks.join(","),
            }),
            { timeoutMs: 30_000 },
          );
          expect(result.code).toBe(0);
          const output = `${result.stdout}${result.stderr}`;
          expect(output).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
          expect(output.match(/notification to/g)).toHaveLength(5);
          expect(output).not.toMatch(SECRETS);
        }
      } finally {
        await tls.stop();
      }
    },
    60_000,
  );
});

describe("late addresses", () => {
  async function beat(instance: string, ip: string) {
    const quiet = { WEBHOOK_URL: "", HEALTHCHECKS_URL: "", UPTIMEKUMA_URL: "" };
    expect((await runCli(["update"], env(instance, ip, quiet))).code).toBe(0);
  }

  test("a heartbeat older than half the threshold counts late before cleanup may delete it", async () => {
    await beat("web-01", "192.168.1.10");
    await beat("web-02", "192.168.1.11");
    targets.fake.clock.advance(10 * MINUTE); // 600 s: more than half of 900, not past it
    await beat("web-01", "192.168.1.10");
    const port = await freePort();
    const child = Bun.spawn([process.execPath, CLI, "cleanup"], {
      env: cleanEnv(
        env("ops", "192.168.1.99", {
          HEALTH_PORT: String(port),
          CLEANUP_INTERVAL_SECONDS: "1",
          STALE_THRESHOLD_SECONDS: "900",
        }),
      ),
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      const late = new RegExp(`^dynip_late_addresses\\{domain="${D}"\\} 1$`, "m");
      const metrics = await metricsUntil(port, late);
      expect(metrics).toContain(`dynip_addresses{domain="${D}",state="fresh"} 2`);
      expect(metrics).toContain(`dynip_addresses{domain="${D}",state="stale"} 0`);
      // web-02 beats again: no longer late.
      await beat("web-02", "192.168.1.11");
      await metricsUntil(port, new RegExp(`^dynip_late_addresses\\{domain="${D}"\\} 0$`, "m"));
    } finally {
      child.kill("SIGTERM");
      await child.exited;
    }
    expect(targets.fake.records().filter((r) => r.type === "A")).toHaveLength(2);
  }, 30_000);
});

const promtool = Bun.which("promtool");
const RULES = resolve(import.meta.dir, "../scripts/examples/prometheus-rules.yaml");

/** The annotations a rule of the rules file gives an alert with these labels and value. */
function annotations(alert: string, labels: Record<string, string>, value: number) {
  // biome-ignore lint/suspicious/noExplicitAny: parsed YAML is walked by hand
  const rules = (Bun.YAML.parse(readFileSync(RULES, "utf8")) as any).groups[0].rules;
  const rule = rules.find((r: { alert: string }) => r.alert === alert);
  const fill = (text: string) =>
    text
      .replaceAll("{{ $value }}", String(value))
      .replaceAll(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? "");
  return Object.fromEntries(
    Object.entries(rule.annotations as Record<string, string>).map(([k, v]) => [k, fill(v)]),
  );
}

/** One expected alert: its labels (the rule's severity added) and filled annotations. */
function alert(name: string, severity: string, labels: Record<string, string>, value: number) {
  return {
    exp_labels: { ...labels, severity },
    exp_annotations: annotations(name, labels, value),
  };
}

describe.skipIf(!promtool)(
  `promtool test rules${promtool ? "" : " (skipped: promtool not installed; Debian: apt-get install prometheus)"}`,
  () => {
    test("the example rules fire when they should, and only then", () => {
      // Typical scrape labels: the Kubernetes pod discovery's job, not one named "cleanup".
      const job = "kubernetes-pods";
      const cleanupA = `instance="10.0.0.5:9464", job="${job}"`;
      const cleanupB = `instance="10.0.0.6:9464", job="${job}"`;
      const updater = `instance="10.0.1.7:9465", job="${job}"`;
      const tests = [
        {
          // Two cleanup replicas see one late address: one alert of value 1 (max, not sum).
          // Addresses without a heartbeat on RFC 2136 stay "missing" for good: no alert.
          interval: "1m",
          input_series: [
            { series: `dynip_late_addresses{domain="${D}", ${cleanupA}}`, values: "0 1 1 1 0 0 0" },
            { series: `dynip_late_addresses{domain="${D}", ${cleanupB}}`, values: "0 1 1 1 0 0 0" },
            {
              series: `dynip_addresses{domain="${D}", state="missing", ${cleanupA}}`,
              values: "3x6",
            },
            {
              series: `dynip_cleanup_cycles_total{result="success", ${cleanupA}}`,
              values: "1+1x6",
            },
            { series: `dynip_last_success_timestamp_seconds{${cleanupA}}`, values: "0+60x6" },
            { series: `dynip_healthy{${cleanupA}}`, values: "1x6" },
          ],
          alert_rule_test: [
            {
              eval_time: "3m",
              alertname: "DynipHeartbeatLate",
              exp_alerts: [alert("DynipHeartbeatLate", "warning", { domain: D }, 1)],
            },
            { eval_time: "6m", alertname: "DynipHeartbeatLate", exp_alerts: [] },
            { eval_time: "6m", alertname: "DynipCleanupAbsent", exp_alerts: [] },
          ],
        },
        {
          // A cleanup that never succeeds is found by its own metric names; an updater whose
          // last success is as old is not cleanup; one that is unhealthy says so.
          interval: "1m",
          input_series: [
            {
              series: `dynip_cleanup_cycles_total{result="failure", ${cleanupA}}`,
              values: "0+1x45",
            },
            { series: `dynip_last_success_timestamp_seconds{${cleanupA}}`, values: "0x45" },
            { series: `dynip_healthy{${cleanupA}}`, values: "0x45" },
            { series: `dynip_update_passes_total{result="success", ${updater}}`, values: "0x45" },
            { series: `dynip_last_success_timestamp_seconds{${updater}}`, values: "0x45" },
          ],
          alert_rule_test: [
            { eval_time: "30m", alertname: "DynipCleanupFailing", exp_alerts: [] },
            {
              eval_time: "40m",
              alertname: "DynipCleanupFailing",
              exp_alerts: [
                alert("DynipCleanupFailing", "critical", { instance: "10.0.0.5:9464", job }, 2400),
              ],
            },
            {
              eval_time: "10m",
              alertname: "DynipUnhealthy",
              exp_alerts: [
                alert("DynipUnhealthy", "warning", { instance: "10.0.0.5:9464", job }, 0),
              ],
            },
          ],
        },
        {
          // No cleanup scraped at all, only updaters: cleanup is gone.
          interval: "1m",
          input_series: [
            { series: `dynip_update_passes_total{result="success", ${updater}}`, values: "0+1x20" },
          ],
          alert_rule_test: [
            { eval_time: "10m", alertname: "DynipCleanupAbsent", exp_alerts: [] },
            {
              eval_time: "16m",
              alertname: "DynipCleanupAbsent",
              exp_alerts: [alert("DynipCleanupAbsent", "critical", {}, 1)],
            },
          ],
        },
      ];
      const dir = mkdtempSync(join(tmpdir(), "dynip-rules-"));
      try {
        const file = join(dir, "rules.test.yaml");
        // JSON is YAML.
        writeFileSync(
          file,
          JSON.stringify({ rule_files: [RULES], evaluation_interval: "1m", tests }),
        );
        const check = Bun.spawnSync([promtool as string, "test", "rules", file]);
        const said = `${check.stdout}${check.stderr}`;
        expect(said).toContain("SUCCESS");
        expect(check.exitCode).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
