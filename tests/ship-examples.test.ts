/** The Compose and Kubernetes examples and the env template name the real binary, flags and variables. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { ArgsDef } from "citty";
import { loadConfig } from "../src/config/load.ts";
import { argvProblems, subcommandFlags, VARIABLES } from "./support/ship-cli.ts";

const ROOT = resolve(import.meta.dir, "..");
const read = (path: string) => Bun.file(join(ROOT, path)).text();

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML is walked by hand
type Yaml = any;
let flags: Map<string, ArgsDef>;
let compose: Yaml;
let kube: Yaml[];
const dir = mkdtempSync(join(tmpdir(), "dynip-examples-"));
const tokenFile = join(dir, "token");
const urlFile = join(dir, "url");

beforeAll(async () => {
  flags = await subcommandFlags();
  compose = Bun.YAML.parse(await read("scripts/examples/compose.yaml"));
  kube = Bun.YAML.parse(await read("scripts/examples/kubernetes.yaml")) as Yaml[];
  writeFileSync(tokenFile, "example-token-0123456789", { mode: 0o600 });
  writeFileSync(urlFile, "https://hc-ping.com/ping-key/dynip-{instance}?create=1", { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Throws the ConfigError when the variables would not start dynip. Secret files point into the
 * container, so a local file stands in: a token, or a URL for the notification ones.
 */
function validate(env: Record<string, string>): void {
  const local = Object.fromEntries(
    Object.entries(env).map(([name, value]) =>
      name.endsWith("_FILE") ? [name, name.startsWith("CF_") ? tokenFile : urlFile] : [name, value],
    ),
  );
  loadConfig({ env: local, hostname: () => "host-01" });
}

const kind = (k: string) => kube.filter((d) => d.kind === k);
const container = (k: string) => kind(k)[0]?.spec.template.spec.containers[0];

describe("argvProblems (the checker the example tests rely on)", () => {
  test.each([
    [["update", "--interval", "300"], true],
    [["cleanup", "--once", "--dry-run", "--log-level", "warn"], true],
    [["updat"], false],
    [["update", "--intervall", "300"], false],
    [["update", "--interval"], false],
    [["update", "300"], false],
    [["cleanup", "--interval", "300"], false],
  ])("%p runs: %p", (argv, runs) => {
    expect(argvProblems(argv, flags).length === 0).toBe(runs);
  });
});

describe("compose.yaml", () => {
  test("updater: long-lived update, host network, hardened, token from a secret file", () => {
    const u = compose.services.updater;
    expect(u.command).toEqual(["update", "--interval", "300"]);
    expect(argvProblems(u.command, flags)).toEqual([]);
    expect(u.network_mode).toBe("host");
    expect(u.read_only).toBe(true);
    expect(u.cap_drop).toEqual(["ALL"]);
    expect(u.security_opt).toContain("no-new-privileges:true");
    expect(u.environment.CF_API_TOKEN_FILE).toBe("/run/secrets/cf_api_token");
    expect(u.secrets).toContain("cf_api_token");
    expect(compose.secrets.cf_api_token.file).toBeString();
  });

  test("updater: health checked by the binary's real subcommand, on a port kept to the host", () => {
    const u = compose.services.updater;
    const [form, binary, ...argv] = u.healthcheck.test as string[];
    expect([form, binary]).toEqual(["CMD", "/dynip"]);
    expect(argv).toEqual(["update", "--healthcheck"]);
    expect(argvProblems(argv, flags)).toEqual([]);
    expect(u.environment.HEALTH_PORT).toMatch(/^\d+$/);
    expect(u.environment.HEALTH_ADDRESS).toBe("127.0.0.1");
  });

  test("a Healthchecks ping URL from a secret file, for every service", () => {
    for (const svc of Object.values<Yaml>(compose.services)) {
      expect(svc.environment.HEALTHCHECKS_URL_FILE).toBe("/run/secrets/healthchecks_url");
      expect(svc.secrets).toContain("healthchecks_url");
    }
    expect(compose.secrets.healthchecks_url.file).toBeString();
  });

  test("cleanup: one, with a health check that runs the binary's real subcommand", () => {
    const c = compose.services.cleanup;
    expect(argvProblems(c.command, flags)).toEqual([]);
    expect(c.command[0]).toBe("cleanup");
    expect(c.deploy?.replicas ?? 1).toBe(1);
    const [form, binary, ...argv] = c.healthcheck.test as string[];
    expect([form, binary]).toEqual(["CMD", "/dynip"]);
    expect(argvProblems(argv, flags)).toEqual([]);
    // --healthcheck asks the running process on HEALTH_PORT: no API request per probe.
    expect(argv).toEqual(["cleanup", "--healthcheck"]);
    expect(c.environment.HEALTH_PORT).toMatch(/^\d+$/);
    expect(c.read_only && c.cap_drop.includes("ALL")).toBe(true);
  });

  test("every variable exists and every environment validates", () => {
    for (const [name, svc] of Object.entries<Yaml>(compose.services)) {
      for (const key of Object.keys(svc.environment))
        expect(`${name}: ${key}`).toBe(`${name}: ${key}${VARIABLES.has(key) ? "" : " (unknown)"}`);
      validate(svc.environment);
    }
  });
  test("every secret file it reads beside itself is git-ignored: a token is never committed", async () => {
    const ignored = (await read(".gitignore")).split("\n").map((line) => line.trim());
    const files = Object.values(compose.secrets as Record<string, { file: string }>).map((secret) =>
      join("scripts/examples", secret.file),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(ignored).toContain(file);
  });
});

describe("kubernetes.yaml", () => {
  test("updater DaemonSet: host network, INSTANCE_ID from the node name, token from a Secret", () => {
    const [ds] = kind("DaemonSet");
    expect(ds.spec.template.spec.hostNetwork).toBe(true);
    const c = container("DaemonSet");
    expect(c.command).toBeUndefined(); // the image's ENTRYPOINT /dynip runs the args
    expect(c.args).toEqual(["update", "--interval", "300"]);
    expect(argvProblems(c.args, flags)).toEqual([]);
    const env = new Map<string, Yaml>(c.env.map((e: Yaml) => [e.name, e]));
    expect(env.get("INSTANCE_ID").valueFrom.fieldRef.fieldPath).toBe("spec.nodeName");
    const secretRef = env.get("CF_API_TOKEN").valueFrom.secretKeyRef;
    const secret = kind("Secret").find((s) => s.metadata.name === secretRef.name);
    expect(secret.stringData[secretRef.key]).toContain("REPLACE");
  });

  test("updater DaemonSet: a liveness probe that runs update --healthcheck on HEALTH_PORT", () => {
    const c = container("DaemonSet");
    expect(c.livenessProbe.exec.command).toEqual(["/dynip", "update", "--healthcheck"]);
    expect(argvProblems(c.livenessProbe.exec.command.slice(1), flags)).toEqual([]);
    expect(c.env.find((e: Yaml) => e.name === "HEALTH_PORT").value).toMatch(/^\d+$/);
  });

  test("pings and events come from an optional Secret: without it, nothing is sent", () => {
    for (const k of ["DaemonSet", "Deployment"]) {
      const ref = container(k).env.find((e: Yaml) => e.name === "HEALTHCHECKS_URL").valueFrom
        .secretKeyRef;
      expect(ref).toMatchObject({ name: "dynip-notify", optional: true });
    }
  });

  test("cleanup Deployment: one replica, liveness and readiness on /healthz at HEALTH_PORT", () => {
    const [deploy] = kind("Deployment");
    expect(deploy.spec.replicas).toBe(1);
    const c = container("Deployment");
    expect(argvProblems(c.args, flags)).toEqual([]);
    expect(c.args[0]).toBe("cleanup");
    const port = Number(c.env.find((e: Yaml) => e.name === "HEALTH_PORT").value);
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      expect(probe.httpGet).toEqual({ path: "/healthz", port });
    }
  });

  test("non-root, read-only, no capabilities; every variable exists and validates", () => {
    const [config] = kind("ConfigMap");
    for (const k of ["DaemonSet", "Deployment"]) {
      const [workload] = kind(k);
      expect(workload.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
      const c = container(k);
      expect(c.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
      });
      expect(c.envFrom[0].configMapRef.name).toBe(config.metadata.name);
      const env: Record<string, string> = { ...config.data };
      const fromCluster = (name: string) =>
        name.endsWith("_URL")
          ? "https://hooks.example.com/from-cluster"
          : "placeholder-from-cluster";
      for (const e of c.env) env[e.name] = e.value ?? fromCluster(e.name);
      for (const name of Object.keys(env))
        expect(VARIABLES.has(name) ? name : `unknown ${name}`).toBe(name);
      validate(env);
    }
  });
});

describe("dynip.env.example", () => {
  test("names only real variables, and its shown defaults validate once uncommented", async () => {
    const lines = (await read("scripts/dynip.env.example"))
      .split("\n")
      .map((l) => l.replace(/^#(?=[A-Z_]+=)/, ""))
      .filter((l) => /^[A-Z_]+=/.test(l));
    const env = Object.fromEntries(
      lines.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(Object.keys(env).length).toBeGreaterThan(10);
    for (const name of Object.keys(env))
      expect(VARIABLES.has(name) ? name : `unknown ${name}`).toBe(name);
    expect(env.UPDATE_INTERVAL).toBeUndefined(); // the timer schedules passes
    validate(env);
  });
});

const promtool = Bun.which("promtool");

describe("prometheus-rules.yaml", () => {
  test("every rule uses a metric dynip exposes", async () => {
    const rules = Bun.YAML.parse(await read("scripts/examples/prometheus-rules.yaml")) as Yaml;
    const exprs: string[] = rules.groups.flatMap((g: Yaml) => g.rules.map((r: Yaml) => r.expr));
    const source = await read("src/observe/metrics.ts");
    for (const expr of exprs) {
      for (const [metric] of expr.matchAll(/dynip_[a-z_]+/g)) {
        expect(`${metric} ${source.includes(`"${metric}"`) ? "exists" : "is not exposed"}`).toBe(
          `${metric} exists`,
        );
      }
    }
    expect(exprs.length).toBeGreaterThanOrEqual(4);
  });

  test.skipIf(!promtool)(
    `promtool check rules accepts it${promtool ? "" : " (skipped: no promtool)"}`,
    () => {
      const check = Bun.spawnSync([
        promtool as string,
        "check",
        "rules",
        join(ROOT, "scripts/examples/prometheus-rules.yaml"),
      ]);
      expect(`${check.stdout}${check.stderr}`).toContain("SUCCESS");
      expect(check.exitCode).toBe(0);
    },
  );
});
