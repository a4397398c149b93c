import { afterAll, afterEach, describe, expect, mock, spyOn, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CONFIG_VARIABLES,
  type Config,
  type EnvName,
  type LoadOptions,
  loadConfig,
  missingCredentials,
  requireCredentials,
  requireToken,
} from "../src/config/load.ts";
import { ConfigError } from "../src/errors.ts";
import { log } from "../src/observe/log.ts";

const DOMAIN = { INTERNAL_DOMAIN: "int.example.com" };
const hostname = () => "web-01";

function load(env: LoadOptions["env"], rest: Omit<LoadOptions, "env"> = {}): Config {
  return loadConfig({ hostname, ...rest, env });
}

function problemsOf(env: LoadOptions["env"], rest: Omit<LoadOptions, "env"> = {}): string[] {
  try {
    load(env, rest);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

const dir = mkdtempSync(join(tmpdir(), "dynip-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fifo(): string {
  const path = join(dir, "fifo");
  Bun.spawnSync(["mkfifo", path]);
  return path;
}

function tokenFile(name: string, content: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

describe("defaults", () => {
  test("only a domain set gives the documented defaults", () => {
    const config = load(DOMAIN);
    expect({ ...config, internalCidrs: config.internalCidrs.map(([a, p]) => `${a}/${p}`) }).toEqual(
      {
        domains: { internal: "int.example.com" },
        allowZoneApex: false,
        internalCidrs: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        interfaces: [],
        excludeInterfaces:
          "lo,docker*,br-*,veth*,virbr*,cni*,flannel*,cali*,cilium*,podman*,lxcbr*,lxdbr*,kube-*,weave*,vxlan*,tunl*,vboxnet*,vmnet*".split(
            ",",
          ),
        internalSource: { kind: "interfaces" },
        ipv4Source: { kind: "auto" },
        ipv6Source: { kind: "auto" },
        detectTimeoutSeconds: 5,
        instanceId: "web-01",
        ttl: 120,
        proxied: false,
        comment: "managed by dynip",
        provider: "cloudflare",
        apiUrl: "https://api.cloudflare.com/client/v4",
        apiTimeoutSeconds: 30,
        batchSize: 200,
        rfc2136: { algorithm: "hmac-sha256", timeoutSeconds: 10 },
        deregisterOnStop: false,
        cleanupIntervalSeconds: 300,
        staleThresholdSeconds: 900,
        maxDeleteRatio: 0.5,
        brakeHoldSeconds: 3600,
        stopTimeoutSeconds: 10,
        healthAddress: "0.0.0.0",
        notify: { webhookUrls: [], timeoutSeconds: 5 },
        logLevel: "info",
        logFormat: "pretty",
        warnings: [],
      },
    );
  });

  test("optional values are absent, not undefined keys", () => {
    const config = load(DOMAIN);
    for (const key of ["token", "zoneId", "updateIntervalSeconds", "healthPort"]) {
      expect(key in config).toBe(false);
    }
  });

  test("the INSTANCE_ID default comes from the hostname function", () => {
    expect(load(DOMAIN, { hostname: () => "db-7.example.com" }).instanceId).toBe(
      "db-7.example.com",
    );
  });

  test("empty and blank strings count as unset", () => {
    const blank = Object.fromEntries(
      CONFIG_VARIABLES.map(({ name }, i) => [name, i % 2 ? "" : "  "]),
    );
    expect(load({ ...blank, ...DOMAIN })).toEqual(load(DOMAIN));
  });

  test("CONFIG_VARIABLES documents each variable once, defaults included", () => {
    const names = CONFIG_VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    expect(CONFIG_VARIABLES.find((v) => v.name === "RECORD_TTL")?.default).toBe("120");
    expect(CONFIG_VARIABLES.every((v) => v.description.length > 0)).toBe(true);
  });
});

/** One bad value per variable; the table must cover every variable. */
const BAD: Record<EnvName, string> = {
  INTERNAL_DOMAIN: "*.example.com",
  EXTERNAL_DOMAIN: "localhost",
  IPV6_DOMAIN: "a..example.com",
  COMBINED_DOMAIN: "under_score.example.com",
  ALLOW_ZONE_APEX: "maybe",
  INTERNAL_CIDRS: "10.0.0.0/33",
  INTERFACES: "eth 0",
  EXCLUDE_INTERFACES: "docker/*",
  INTERNAL_IP_SOURCE: "auto",
  EXTERNAL_IPV4_SOURCE: "static:2001:db8::1",
  EXTERNAL_IPV6_SOURCE: "dns",
  DETECT_TIMEOUT_SECONDS: "0",
  INSTANCE_ID: "web,01",
  RECORD_TTL: "30",
  CF_PROXIED: "maybe",
  RECORD_COMMENT: "x".repeat(101),
  CF_API_TOKEN: "bad token-value",
  CF_API_TOKEN_FILE: join(dir, "missing"),
  CF_ZONE_ID: "not-a-zone",
  CF_API_URL: "http://api.example.com",
  API_TIMEOUT_SECONDS: "301",
  BATCH_SIZE: "3501",
  DNS_PROVIDER: "route53",
  RFC2136_SERVER: "ns1.example.com:99999",
  RFC2136_ZONE: "*.example.com",
  RFC2136_TSIG_KEY: "dynip key",
  RFC2136_TSIG_SECRET: "not base64!",
  RFC2136_TSIG_SECRET_FILE: join(dir, "missing"),
  RFC2136_TSIG_ALGORITHM: "hmac-md5",
  RFC2136_TIMEOUT_SECONDS: "0",
  UPDATE_INTERVAL: "86401",
  DEREGISTER_ON_STOP: "2",
  CLEANUP_INTERVAL_SECONDS: "0",
  STALE_THRESHOLD_SECONDS: "59",
  CLEANUP_MAX_DELETE_RATIO: "1.5",
  CLEANUP_BRAKE_HOLD_SECONDS: "30",
  STOP_TIMEOUT_SECONDS: "0",
  HEALTH_PORT: "65536",
  HEALTH_ADDRESS: "localhost",
  HEALTHCHECKS_URL: "ftp://hc-ping.com/key",
  HEALTHCHECKS_URL_FILE: join(dir, "missing"),
  UPTIMEKUMA_URL: "not a url",
  UPTIMEKUMA_URL_FILE: join(dir, "missing"),
  WEBHOOK_URL: "https://hooks.example.com/a,mailto:x@example.com",
  WEBHOOK_URL_FILE: join(dir, "missing"),
  NOTIFY_TIMEOUT_SECONDS: "61",
  LOG_LEVEL: "verbose",
  LOG_FORMAT: "xml",
};

describe("bounds", () => {
  test("a value longer than 8192 characters is refused without being shown or parsed", () => {
    const problems = problemsOf({ ...DOMAIN, INTERNAL_CIDRS: `10.0.0.0/8,${"1".repeat(9000)}` });
    expect(problems).toEqual(["INTERNAL_CIDRS: longer than 8192 characters (value not shown)"]);
  });

  test.each([
    ["0", 0],
    ["1", 1],
    [".25", 0.25],
    ["0.333", 0.333],
    ["1.0", 1],
  ])("CLEANUP_MAX_DELETE_RATIO=%p is %p", (text, value) => {
    expect(load({ ...DOMAIN, CLEANUP_MAX_DELETE_RATIO: text }).maxDeleteRatio).toBe(value);
  });

  test.each(["1.5", "-0.1", "50%", "1e-1", "0.1234567", "half"])(
    "CLEANUP_MAX_DELETE_RATIO=%p is refused",
    (text) => {
      expect(problemsOf({ ...DOMAIN, CLEANUP_MAX_DELETE_RATIO: text })).toEqual([
        expect.stringMatching(/^CLEANUP_MAX_DELETE_RATIO: must be a decimal from 0 to 1/),
      ]);
    },
  );

  test("the brake's hold defaults to 4 x the threshold and may not be shorter than it", () => {
    expect(load({ ...DOMAIN, STALE_THRESHOLD_SECONDS: "600" }).brakeHoldSeconds).toBe(2400);
    expect(load({ ...DOMAIN, CLEANUP_BRAKE_HOLD_SECONDS: "900" }).brakeHoldSeconds).toBe(900);
    expect(problemsOf({ ...DOMAIN, CLEANUP_BRAKE_HOLD_SECONDS: "899" })).toEqual([
      expect.stringMatching(
        /^CLEANUP_BRAKE_HOLD_SECONDS: must be at least STALE_THRESHOLD_SECONDS \(900\)/,
      ),
    ]);
  });
});

describe("names that cannot work", () => {
  test.each([
    ["example.com", "INTERNAL_DOMAIN"],
    ["example.co.uk", "COMBINED_DOMAIN"],
    ["EXAMPLE.ORG.", "EXTERNAL_DOMAIN"],
  ])("%s, a registered domain, is refused as %s without ALLOW_ZONE_APEX", (domain, name) => {
    const [problem, ...more] = problemsOf({ [name]: domain });
    expect(more).toEqual([]);
    expect(problem).toStartWith(
      `${name}: ${domain.toLowerCase().replace(/\.$/, "")} is a registered domain, the apex of its zone`,
    );
    expect(problem).toContain("set ALLOW_ZONE_APEX=true");
    expect(load({ [name]: domain, ALLOW_ZONE_APEX: "true" }).domains).toBeDefined();
  });

  test("a name too long for the heartbeat names written under it is refused, by family", () => {
    const label = "a".repeat(60);
    const name = (length: number) => `${`${label}.`.repeat(4)}example.com`.slice(-length);
    const v4Only = name(226); // 27 more for _heartbeat-255-255-255-255.
    expect(load({ EXTERNAL_DOMAIN: v4Only }).domains.external).toBe(v4Only);
    expect(problemsOf({ EXTERNAL_DOMAIN: name(227) })).toEqual([
      expect.stringMatching(/^EXTERNAL_DOMAIN: ".*" is 227 characters, .* 27 more .* at most 226/),
    ]);
    // IPv6 heartbeat names are 51 characters: IPV6_DOMAIN, and INTERNAL_DOMAIN with an IPv6 range.
    expect(problemsOf({ IPV6_DOMAIN: name(203) })).toEqual([
      expect.stringMatching(/^IPV6_DOMAIN: .* at most 202 characters/),
    ]);
    expect(load({ INTERNAL_DOMAIN: name(226) }).domains.internal).toBeDefined();
    expect(problemsOf({ INTERNAL_DOMAIN: name(226), INTERNAL_CIDRS: "fd00::/8" })).toHaveLength(1);
  });

  test("naming problems are reported beside every other problem", () => {
    const problems = problemsOf({ INTERNAL_DOMAIN: "example.com", RECORD_TTL: "7" });
    expect(problems.map((p) => p.split(":")[0])).toEqual(["RECORD_TTL", "INTERNAL_DOMAIN"]);
  });
});

describe("RECORD_COMMENT", () => {
  test.each([
    ["dynip on web-01", "dynip on web-01"],
    ["none", undefined],
    ["NONE", undefined],
    ["é".repeat(100), "é".repeat(100)],
  ])("%p is %p", (text, comment) => {
    expect(load({ ...DOMAIN, RECORD_COMMENT: text }).comment).toBe(comment as never);
  });

  test.each([
    ["a\nb", /^RECORD_COMMENT: must not hold control or invisible format characters/],
    ["a\u200bb", /^RECORD_COMMENT: must not hold control or invisible format characters/],
    [
      "\u{1F600}".repeat(51),
      /^RECORD_COMMENT: must be at most 100 characters .*an emoji counts as 2/,
    ],
  ])("%j is refused", (text, pattern) => {
    expect(problemsOf({ ...DOMAIN, RECORD_COMMENT: text })).toEqual([
      expect.stringMatching(pattern),
    ]);
  });

  test("a static external address inside INTERNAL_CIDRS is refused: it would never be published", () => {
    expect(
      problemsOf({
        ...DOMAIN,
        EXTERNAL_IPV4_SOURCE: "static:44.1.2.3",
        INTERNAL_CIDRS: "10.0.0.0/8,44.0.0.0/8",
      }),
    ).toEqual([
      expect.stringMatching(
        /^INTERNAL_CIDRS: static external addresses inside INTERNAL_CIDRS: 44\.1\.2\.3;/,
      ),
    ]);
  });
});

describe("bad values", () => {
  test("the table covers every documented variable", () => {
    expect(Object.keys(BAD).sort()).toEqual(CONFIG_VARIABLES.map((v) => v.name).sort());
  });

  test.each(Object.entries(BAD))("%s=%p names the variable", (name, value) => {
    const problems = problemsOf({ ...DOMAIN, [name]: value });
    expect(problems.some((p) => p.startsWith(`${name}: `))).toBe(true);
  });

  test("every problem is reported at once", () => {
    // A variable and its _FILE twin both set is a problem of its own: keep one of each pair.
    const {
      CF_API_TOKEN_FILE: _t,
      HEALTHCHECKS_URL_FILE: _h,
      UPTIMEKUMA_URL_FILE: _u,
      WEBHOOK_URL_FILE: _w,
      ...allBad
    } = BAD;
    const problems = problemsOf(allBad);
    for (const name of Object.keys(allBad)) {
      expect(problems.filter((p) => p.startsWith(`${name}: `))).toHaveLength(1);
    }
  });

  test("the error is a ConfigError with exit code 2 listing the problems", () => {
    try {
      load({ ...DOMAIN, RECORD_TTL: "30", BATCH_SIZE: "0" });
      throw new Error("no error");
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(2);
      expect((error as ConfigError).message).toContain(
        'RECORD_TTL: must be 1 (automatic) or 60-86400, got "30"',
      );
      expect((error as ConfigError).message).toContain("BATCH_SIZE: ");
    }
  });

  test("no managed domain names all four variables", () => {
    const problems = problemsOf({});
    expect(problems).toHaveLength(1);
    for (const name of ["INTERNAL_DOMAIN", "EXTERNAL_DOMAIN", "IPV6_DOMAIN", "COMBINED_DOMAIN"]) {
      expect(problems[0]).toContain(name);
    }
  });

  test("the same name under two domain variables is an error", () => {
    const problems = problemsOf({
      INTERNAL_DOMAIN: "a.example.com",
      IPV6_DOMAIN: "A.example.com.",
    });
    expect(problems).toEqual([expect.stringMatching(/^IPV6_DOMAIN: .*INTERNAL_DOMAIN/)]);
  });
});

describe("flags and environment", () => {
  test("overrides beat the environment; undefined and empty overrides fall back to it", () => {
    const config = load(
      { ...DOMAIN, RECORD_TTL: "300", BATCH_SIZE: "50", LOG_LEVEL: "debug" },
      { overrides: { RECORD_TTL: "600", BATCH_SIZE: undefined, LOG_LEVEL: "" } },
    );
    expect([config.ttl, config.batchSize, config.logLevel]).toEqual([600, 50, "debug"]);
  });

  test("an override alone sets a variable, and its bad value is reported by name", () => {
    expect(load({}, { overrides: { ...DOMAIN, UPDATE_INTERVAL: "1" } }).updateIntervalSeconds).toBe(
      1,
    );
    expect(problemsOf(DOMAIN, { overrides: { UPDATE_INTERVAL: "0" } })).toEqual([
      expect.stringMatching(/^UPDATE_INTERVAL: .*got "0"/),
    ]);
  });

  test("values are trimmed", () => {
    const config = load({ ...DOMAIN, RECORD_TTL: " 60 ", CF_ZONE_ID: ` ${"A".repeat(32)}\n` });
    expect([config.ttl, config.zoneId]).toEqual([60, "a".repeat(32)]);
  });
});

describe("domains", () => {
  test.each([
    ["Bücher.Example.com.", "xn--bcher-kva.example.com"],
    ["HOST.Example.COM", "host.example.com"],
    ["xn--bcher-kva.example.com", "xn--bcher-kva.example.com"],
    ["münchen.dyn.example.org", "xn--mnchen-3ya.dyn.example.org"],
    [`${"a".repeat(63)}.example.com`, `${"a".repeat(63)}.example.com`],
  ])("%p becomes %p", (input, expected) => {
    expect(load({ COMBINED_DOMAIN: input }).domains).toEqual({ combined: expected });
  });

  test.each([
    "*.example.com",
    "example",
    "a..example.com",
    "-a.example.com",
    "a-.example.com",
    "under_score.example.com",
    `${"a".repeat(64)}.example.com`,
    `${"abcdefghi.".repeat(25)}example`,
    "1.2.3.4",
    "ex%41.example.com",
    "a.example.com/path",
    "sp ace.example.com",
  ])("%p is rejected", (input) => {
    expect(problemsOf({ EXTERNAL_DOMAIN: input })).toEqual([
      expect.stringMatching(/^EXTERNAL_DOMAIN: /),
    ]);
  });

  test("all four domains map to their fields", () => {
    const config = load({
      INTERNAL_DOMAIN: "int.example.com",
      EXTERNAL_DOMAIN: "ext.example.com",
      IPV6_DOMAIN: "v6.example.com",
      COMBINED_DOMAIN: "all.example.com",
    });
    expect(config.domains).toEqual({
      internal: "int.example.com",
      external: "ext.example.com",
      ipv6: "v6.example.com",
      combined: "all.example.com",
    });
  });
});

describe("numbers and booleans", () => {
  test.each([
    ["RECORD_TTL", "1", "ttl", 1],
    ["RECORD_TTL", "60", "ttl", 60],
    ["RECORD_TTL", "86400", "ttl", 86400],
    ["RECORD_TTL", "0120", "ttl", 120],
    ["BATCH_SIZE", "3500", "batchSize", 3500],
    ["UPDATE_INTERVAL", "1", "updateIntervalSeconds", 1],
    ["HEALTH_PORT", "65535", "healthPort", 65535],
    ["STALE_THRESHOLD_SECONDS", "60", "staleThresholdSeconds", 60],
    ["API_TIMEOUT_SECONDS", "300", "apiTimeoutSeconds", 300],
    ["CLEANUP_INTERVAL_SECONDS", "1", "cleanupIntervalSeconds", 1],
    ["DETECT_TIMEOUT_SECONDS", "60", "detectTimeoutSeconds", 60],
  ] as const)("%s=%p gives %s %p", (name, value, key, expected) => {
    expect(load({ ...DOMAIN, [name]: value })[key]).toBe(expected);
  });

  test.each([
    "30",
    "59",
    "86401",
    "1e3",
    "12abc",
    "0x10",
    "-5",
    "+60",
    "1.5",
    "120.0",
    "99999999999999999999",
    "Infinity",
  ])("RECORD_TTL=%p is rejected and quoted back", (value) => {
    expect(problemsOf({ ...DOMAIN, RECORD_TTL: value })).toEqual([
      `RECORD_TTL: must be 1 (automatic) or 60-86400, got ${JSON.stringify(value)}`,
    ]);
  });

  test.each([
    ["true", true],
    ["TRUE", true],
    ["yes", true],
    ["Yes", true],
    ["1", true],
    ["false", false],
    ["No", false],
    ["0", false],
  ])("CF_PROXIED=%p is %p", (value, expected) => {
    expect(load({ ...DOMAIN, CF_PROXIED: value }).proxied).toBe(expected);
    expect(load({ ...DOMAIN, DEREGISTER_ON_STOP: value }).deregisterOnStop).toBe(expected);
  });

  test.each(["on", "2", "t", "truee"])("CF_PROXIED=%p is rejected", (value) => {
    expect(problemsOf({ ...DOMAIN, CF_PROXIED: value })).toEqual([
      expect.stringMatching(/^CF_PROXIED: /),
    ]);
  });

  test("log level and format are case-insensitive choices", () => {
    const config = load({ ...DOMAIN, LOG_LEVEL: "WARN", LOG_FORMAT: "Json" });
    expect([config.logLevel, config.logFormat]).toEqual(["warn", "json"]);
  });

  test.each([["0123456789abcdef0123456789ABCDEF", "0123456789abcdef0123456789abcdef"]])(
    "CF_ZONE_ID %p is stored as %p",
    (value, expected) => {
      expect(load({ ...DOMAIN, CF_ZONE_ID: value }).zoneId).toBe(expected);
    },
  );

  test.each(["0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdeg"])(
    "CF_ZONE_ID %p is rejected",
    (value) => {
      expect(problemsOf({ ...DOMAIN, CF_ZONE_ID: value })).toEqual([
        expect.stringMatching(/^CF_ZONE_ID: /),
      ]);
    },
  );
});

describe("CF_API_URL", () => {
  test.each([
    ["https://api.cloudflare.com/client/v4/", "https://api.cloudflare.com/client/v4"],
    ["https://cf.example.com", "https://cf.example.com"],
    ["http://127.0.0.1:8787", "http://127.0.0.1:8787"],
    ["http://127.9.8.7:8787/client/v4/", "http://127.9.8.7:8787/client/v4"],
    ["http://localhost:8080/api", "http://localhost:8080/api"],
    ["HTTP://LOCALHOST:8080", "http://localhost:8080"],
    ["http://[::1]:8080/", "http://[::1]:8080"],
  ])("%p is accepted as %p", (value, expected) => {
    expect(load({ ...DOMAIN, CF_API_URL: value }).apiUrl).toBe(expected);
  });

  test.each([
    "http://api.cloudflare.com/client/v4",
    "http://10.0.0.1:8080",
    "http://localhost.example.com",
    "http://[::2]:8080",
    "ftp://127.0.0.1",
    "api.cloudflare.com/client/v4",
    "https://user:pass@api.cloudflare.com",
    "https://api.cloudflare.com/client/v4?x=1",
  ])("%p is rejected", (value) => {
    expect(problemsOf({ ...DOMAIN, CF_API_URL: value })).toEqual([
      expect.stringMatching(/^CF_API_URL: /),
    ]);
  });
});

test.each([
  "https://user:s3cretTok@api.cloudflare.com",
  "http://user:s3cretTok@api.example.com/client/v4",
])("credentials in CF_API_URL %p are never quoted back", (value) => {
  const problems = problemsOf({ ...DOMAIN, CF_API_URL: value });
  expect(problems).toHaveLength(1);
  expect(problems[0]).toContain("//***@");
  expect(problems[0]).not.toContain("s3cretTok");
});

describe("address sources", () => {
  test.each([
    ["auto", { kind: "auto" }],
    ["interfaces", { kind: "interfaces" }],
    ["HTTP", { kind: "http" }],
    ["none", { kind: "none" }],
    ["url:https://ip.example.net/plain", { kind: "url", url: "https://ip.example.net/plain" }],
    ["url:http://127.0.0.1:9000/", { kind: "url", url: "http://127.0.0.1:9000/" }],
    ["static:5.6.7.7", { kind: "static", addresses: ["5.6.7.7"] }],
    ["static: 5.6.7.7 , 9.9.9.9,5.6.7.7", { kind: "static", addresses: ["5.6.7.7", "9.9.9.9"] }],
  ])("EXTERNAL_IPV4_SOURCE=%p", (value, expected) => {
    expect(load({ ...DOMAIN, EXTERNAL_IPV4_SOURCE: value }).ipv4Source).toEqual(expected as never);
  });

  test("static IPv6 addresses are stored in RFC 5952 form", () => {
    const config = load({
      ...DOMAIN,
      EXTERNAL_IPV6_SOURCE: "static:2606:4700:0:0:0:0:0:1,2606:4700:0:0:1:0:0:1",
    });
    expect(config.ipv6Source).toEqual({
      kind: "static",
      addresses: ["2606:4700::1", "2606:4700::1:0:0:1"],
    });
  });

  test.each([
    ["EXTERNAL_IPV4_SOURCE", "static:2001:db8::1"],
    ["EXTERNAL_IPV4_SOURCE", "static:"],
    ["EXTERNAL_IPV4_SOURCE", "static:10"],
    ["EXTERNAL_IPV4_SOURCE", "static:010.0.0.1"],
    ["EXTERNAL_IPV4_SOURCE", "static:256.0.0.1"],
    ["EXTERNAL_IPV4_SOURCE", "url:ftp://example.com/ip"],
    ["EXTERNAL_IPV4_SOURCE", "url:not a url"],
    ["EXTERNAL_IPV4_SOURCE", "auto:1"],
    ["EXTERNAL_IPV6_SOURCE", "static:203.0.113.7"],
    ["EXTERNAL_IPV6_SOURCE", "static:fe80::1%eth0"],
    ["EXTERNAL_IPV6_SOURCE", "static:::ffff:203.0.113.7"],
    ["INTERNAL_IP_SOURCE", "http"],
    ["INTERNAL_IP_SOURCE", "static:10.0.0.1,nope"],
  ])("%s=%p is rejected", (name, value) => {
    expect(problemsOf({ ...DOMAIN, [name]: value })).toEqual([
      expect.stringMatching(new RegExp(`^${name}: `)),
    ]);
  });

  test("INTERNAL_IP_SOURCE static takes both families", () => {
    expect(
      load({
        ...DOMAIN,
        INTERNAL_CIDRS: "10.0.0.0/8,fd00::/8",
        INTERNAL_IP_SOURCE: "static:10.1.2.3,FD00::5",
      }).internalSource,
    ).toEqual({ kind: "static", addresses: ["10.1.2.3", "fd00::5"] });
  });

  test.each([
    ["EXTERNAL_IPV4_SOURCE", "192.168.1.10", "a private address"],
    ["EXTERNAL_IPV4_SOURCE", "0.0.0.0", "the unspecified address"],
    ["EXTERNAL_IPV4_SOURCE", "100.64.1.2", "a CGNAT address"],
    ["EXTERNAL_IPV4_SOURCE", "127.0.0.1", "a loopback address"],
    ["EXTERNAL_IPV4_SOURCE", "169.254.1.1", "a link-local address"],
    ["EXTERNAL_IPV4_SOURCE", "224.0.0.1", "a multicast address"],
    ["EXTERNAL_IPV4_SOURCE", "255.255.255.255", "the broadcast address"],
    ["EXTERNAL_IPV4_SOURCE", "203.0.113.7", "a reserved or documentation address"],
    ["EXTERNAL_IPV6_SOURCE", "fd00::1", "a unique local address"],
    ["EXTERNAL_IPV6_SOURCE", "fe80::1", "a link-local address"],
    ["EXTERNAL_IPV6_SOURCE", "2001:db8::1", "a reserved or documentation address"],
    ["EXTERNAL_IPV6_SOURCE", "::", "the unspecified address"],
  ])("%s static:%s is refused: %s", (name, ip, why) => {
    const [problem, ...more] = problemsOf({ ...DOMAIN, [name]: `static:${ip}` });
    expect(more).toEqual([]);
    expect(problem).toStartWith(`${name}: static address "${ip}" is ${why}`);
    expect(problem).toEndWith("not a public one");
  });

  test("every bad static address is named, and nothing is sent", () => {
    const problems = problemsOf({
      ...DOMAIN,
      EXTERNAL_IPV4_SOURCE: "static:5.6.7.8,10.0.0.1,192.0.2.1",
      INTERNAL_IP_SOURCE: "static:10.1.1.1,8.8.8.8,fd00::1",
    });
    expect(problems).toEqual([
      expect.stringContaining('"10.0.0.1" is a private address'),
      expect.stringContaining('"192.0.2.1" is a reserved or documentation address'),
      "INTERNAL_IP_SOURCE: static addresses outside INTERNAL_CIDRS (10.0.0.0/8, 172.16.0.0/12, " +
        "192.168.0.0/16): 8.8.8.8, fd00::1; add their range to INTERNAL_CIDRS or publish them " +
        "with EXTERNAL_IPV4_SOURCE / EXTERNAL_IPV6_SOURCE",
    ]);
  });

  test("each bad static address is its own problem", () => {
    const problems = problemsOf({ ...DOMAIN, EXTERNAL_IPV4_SOURCE: "static:1.2.3,4.5.6.7,x" });
    expect(problems).toEqual([expect.stringContaining('"1.2.3"'), expect.stringContaining('"x"')]);
  });
});

describe("CIDRs and interface globs", () => {
  test("IPv4 and IPv6 ranges, whitespace tolerated, host bits cleared", () => {
    const { internalCidrs } = load({
      ...DOMAIN,
      INTERNAL_CIDRS: " 10.1.2.3/8 , fd00::/8,,100.64.0.0/10 ",
    });
    expect(internalCidrs.map(([a, p]) => `${a}/${p}`)).toEqual([
      "10.0.0.0/8",
      "fd00::/8",
      "100.64.0.0/10",
    ]);
    expect(internalCidrs.map(([a]) => a.kind())).toEqual(["ipv4", "ipv6", "ipv4"]);
  });

  test.each([
    "10.0.0.0/33",
    "fd00::/129",
    "10.0.0.0",
    "10/8",
    "garbage",
    "10.0.0.0/8/8",
    ",",
    "10.0.0.0/x",
  ])("INTERNAL_CIDRS=%p is rejected", (value) => {
    expect(problemsOf({ ...DOMAIN, INTERNAL_CIDRS: value })).toEqual([
      expect.stringMatching(/^INTERNAL_CIDRS: /),
    ]);
  });

  test("globs are split and trimmed; EXCLUDE_INTERFACES=none excludes nothing", () => {
    const config = load({
      ...DOMAIN,
      INTERFACES: "eth*, en?[0-9] ,wlan0,eth0:1",
      EXCLUDE_INTERFACES: "none",
    });
    expect(config.interfaces).toEqual(["eth*", "en?[0-9]", "wlan0", "eth0:1"]);
    expect(config.excludeInterfaces).toEqual([]);
  });

  test.each(["eth 0", "a/b", "eth[0", "{a,b}", "tab\there", "é*"])(
    "INTERFACES=%p is rejected",
    (value) => {
      expect(
        problemsOf({ ...DOMAIN, INTERFACES: value }).every((p) => p.startsWith("INTERFACES: ")),
      ).toBe(true);
    },
  );
});

describe("INSTANCE_ID", () => {
  test.each(["web-01", "a", "x".repeat(100), "host.example.com", "pod_7:abc#1"])(
    "%p is accepted",
    (id) => {
      expect(load({ ...DOMAIN, INSTANCE_ID: id }).instanceId).toBe(id);
    },
  );

  test.each(["web,01", 'web"01', "web\\01", "web 01", "web\t01", "x".repeat(101), "höst"])(
    "%p is rejected",
    (id) => {
      expect(problemsOf({ ...DOMAIN, INSTANCE_ID: id })).toEqual([
        expect.stringMatching(/^INSTANCE_ID: /),
      ]);
    },
  );

  test.each(["", "bad host", "x".repeat(101)])(
    "an invalid hostname default %p is an INSTANCE_ID error",
    (host) => {
      const problems = problemsOf(DOMAIN, { hostname: () => host });
      expect(problems).toEqual([
        expect.stringMatching(/^INSTANCE_ID: .*host name.*set INSTANCE_ID/),
      ]);
    },
  );

  test("an explicit INSTANCE_ID makes the hostname irrelevant", () => {
    expect(load({ ...DOMAIN, INSTANCE_ID: "ok" }, { hostname: () => "bad host" }).instanceId).toBe(
      "ok",
    );
  });
});

describe("token", () => {
  // Leave the shared logger as other test files expect it.
  afterEach(() => mock.restore());

  test("CF_API_TOKEN is used as given", () => {
    const config = load({ ...DOMAIN, CF_API_TOKEN: "env-secret-abcdefghijklmnop" });
    expect(config.token).toBe("env-secret-abcdefghijklmnop");
    expect(requireToken(config)).toBe("env-secret-abcdefghijklmnop");
  });

  test("CF_API_TOKEN_FILE is read and trimmed, without a warning when private", () => {
    const path = tokenFile("private", "  file-secret-abcdefghijklmnop\n", 0o600);
    const config = load({ ...DOMAIN, CF_API_TOKEN_FILE: path });
    expect(config.token).toBe("file-secret-abcdefghijklmnop");
    expect(config.warnings).toEqual([]);
  });

  test.skipIf(process.platform === "win32")(
    "a file readable by others warns to chown it to this user and chmod 400",
    () => {
      const warn = spyOn(log, "warn");
      const path = tokenFile("shared", "shared-secret-abcdefghijklmnop\n", 0o644);
      const config = load({ ...DOMAIN, CF_API_TOKEN_FILE: path });
      expect(config.token).toBe("shared-secret-abcdefghijklmnop");
      // Returned, not logged: the command logs it once the logger has its level and format.
      expect(warn).not.toHaveBeenCalled();
      expect(config.warnings).toHaveLength(1);
      const message = config.warnings[0] ?? "";
      expect(message).toContain(`chown ${process.getuid?.()} ${path} && chmod 400 ${path}`);
      expect(message).toContain(path);
      expect(message).not.toContain("shared-secret");
    },
  );

  test.each([
    ["a missing file", join(dir, "nope"), /CF_API_TOKEN_FILE: cannot read .*nope.*ENOENT/],
    ["a directory", dir, /CF_API_TOKEN_FILE: cannot read .*EISDIR/],
    ["an empty file", tokenFile("empty", " \n"), /CF_API_TOKEN_FILE: .*empty/],
  ])("%s is an error naming the variable and path", (_, path, pattern) => {
    expect(problemsOf({ ...DOMAIN, CF_API_TOKEN_FILE: path })).toEqual([
      expect.stringMatching(pattern),
    ]);
  });

  test.each([
    [
      "/dev/zero, which never ends",
      "/dev/zero",
      /cannot read "\/dev\/zero" \(a character device, not a regular file\)/,
    ],
    ["a FIFO, which would block", fifo(), /cannot read ".*fifo" \(a FIFO, not a regular file\)/],
    [
      "a file over 4 KiB",
      tokenFile("big", "x".repeat(5000)),
      /\(5000 bytes, more than a token file's 4096\)/,
    ],
  ])("%s is refused at once, unread", (_, path, pattern) => {
    const started = performance.now();
    expect(problemsOf({ ...DOMAIN, CF_API_TOKEN_FILE: path })).toEqual([
      expect.stringMatching(pattern),
    ]);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("both set is an error, even when the file is missing", () => {
    const path = tokenFile("both", "both-secret-abcdefghijklmnop");
    for (const file of [path, join(dir, "absent")]) {
      const problems = problemsOf({
        ...DOMAIN,
        CF_API_TOKEN: "env-both-abcdefghijklmn",
        CF_API_TOKEN_FILE: file,
      });
      expect(problems).toContainEqual(expect.stringMatching(/^CF_API_TOKEN: .*CF_API_TOKEN_FILE/));
    }
  });

  test("the token never appears in a problem", () => {
    const inFile = "file-leak-ABCDEFGHIJ 0123456789";
    const path = tokenFile("malformed", `${inFile}\n`);
    const cases: LoadOptions["env"][] = [
      { ...DOMAIN, CF_API_TOKEN: "env-leak abcdefghijklmnop" },
      { ...DOMAIN, CF_API_TOKEN_FILE: path },
      // A token pasted into the wrong variable is redacted when quoted back.
      {
        ...DOMAIN,
        CF_API_TOKEN: "env-leak-2-abcdefghijklmnop",
        CF_ZONE_ID: "env-leak-2-abcdefghijklmnop",
      },
    ];
    for (const env of cases) {
      const text = problemsOf(env).join("\n");
      expect(text.length).toBeGreaterThan(0);
      expect(text).not.toContain("leak");
    }
  });

  test("requireToken without a token names both variables", () => {
    expect(() => requireToken(load(DOMAIN))).toThrow(ConfigError);
    expect(() => requireToken(load(DOMAIN))).toThrow(/CF_API_TOKEN.*CF_API_TOKEN_FILE/);
  });
});

describe("DNS_PROVIDER=rfc2136", () => {
  const RFC = {
    INTERNAL_DOMAIN: "internal.dyn.corp.example",
    DNS_PROVIDER: "rfc2136",
    RFC2136_SERVER: "ns1.corp.example",
    RFC2136_ZONE: "dyn.corp.example.",
    RFC2136_TSIG_KEY: "Dynip-Key",
    RFC2136_TSIG_SECRET: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
  };

  test("the settings as validated: port 53, zone and key lower-case without the dot", () => {
    const config = load(RFC);
    expect(config.provider).toBe("rfc2136");
    expect(config.rfc2136).toEqual({
      server: { host: "ns1.corp.example", port: 53 },
      zone: "dyn.corp.example",
      keyName: "dynip-key",
      secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
      algorithm: "hmac-sha256",
      timeoutSeconds: 10,
    });
    expect(missingCredentials(config)).toEqual([]);
  });

  test.each([
    ["192.0.2.53", { host: "192.0.2.53", port: 53 }],
    ["192.0.2.53:5353", { host: "192.0.2.53", port: 5353 }],
    ["2001:DB8::53", { host: "2001:db8::53", port: 53 }],
    ["[2001:db8::53]:5353", { host: "2001:db8::53", port: 5353 }],
    ["[::1]", { host: "::1", port: 53 }],
    ["NS1.Corp.Example.:54", { host: "ns1.corp.example", port: 54 }],
  ])("RFC2136_SERVER=%p", (text, server) => {
    expect(load({ ...RFC, RFC2136_SERVER: text }).rfc2136.server).toEqual(server);
  });

  test.each(["ns1:0", "ns1:65536", "[ns1]:53", "ns_1.example", "[2001:db8::1]:x", "a b"])(
    "RFC2136_SERVER=%p is refused",
    (text) => {
      expect(problemsOf({ ...RFC, RFC2136_SERVER: text })).toEqual([
        expect.stringMatching(/^RFC2136_SERVER: /),
      ]);
    },
  );

  test("every managed name must be inside the zone; the zone itself is its apex", () => {
    expect(problemsOf({ ...RFC, EXTERNAL_DOMAIN: "ext.other.example" })).toEqual([
      "RFC2136_ZONE: EXTERNAL_DOMAIN: ext.other.example is not inside RFC2136_ZONE dyn.corp.example; every managed name must be",
    ]);
    expect(problemsOf({ ...RFC, COMBINED_DOMAIN: "dyn.corp.example" })).toEqual([
      expect.stringMatching(
        /^RFC2136_ZONE: COMBINED_DOMAIN: dyn.corp.example is the apex of RFC2136_ZONE/,
      ),
    ]);
    expect(
      load({ ...RFC, COMBINED_DOMAIN: "dyn.corp.example", ALLOW_ZONE_APEX: "true" }).domains,
    ).toEqual({ internal: "internal.dyn.corp.example", combined: "dyn.corp.example" });
    // Only with this provider: Cloudflare finds its zones itself.
    expect(
      load({ ...RFC, DNS_PROVIDER: "cloudflare", EXTERNAL_DOMAIN: "ext.other.example" }).warnings,
    ).toEqual([
      "RFC2136_SERVER, RFC2136_ZONE, RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET are ignored with DNS_PROVIDER=cloudflare",
    ]);
  });

  test("what is missing is named when the provider is asked for, not before", () => {
    const { RFC2136_SERVER: _s, RFC2136_TSIG_SECRET: _t, ...partial } = RFC;
    const config = load(partial);
    expect(missingCredentials(config)).toEqual(["RFC2136_SERVER", "RFC2136_TSIG_SECRET"]);
    expect(() => requireCredentials(config)).toThrow(ConfigError);
    expect(() => requireCredentials(config)).toThrow(
      /RFC2136_SERVER: required.*\n.*RFC2136_TSIG_SECRET_FILE/s,
    );
    expect(() => requireCredentials(load(RFC))).not.toThrow();
  });

  test("the secret from a file, never both, never shown; Cloudflare's settings are warned about", () => {
    const path = tokenFile("tsig-secret", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=\n");
    const { RFC2136_TSIG_SECRET: secret, ...rest } = RFC;
    expect(load({ ...rest, RFC2136_TSIG_SECRET_FILE: path }).rfc2136.secret).toBe(secret);
    expect(problemsOf({ ...RFC, RFC2136_TSIG_SECRET_FILE: path })).toEqual([
      "RFC2136_TSIG_SECRET: RFC2136_TSIG_SECRET_FILE is set too; set only one of them",
    ]);
    const leak = tokenFile("tsig-bad", "leak-leak-leak!\n");
    const text = [
      ...problemsOf({ ...RFC, RFC2136_TSIG_SECRET: "leak-leak" }),
      ...problemsOf({ ...rest, RFC2136_TSIG_SECRET_FILE: leak }),
    ].join("\n");
    expect(text).toContain("must be base64");
    expect(text).not.toContain("leak");
    expect(load({ ...RFC, CF_API_TOKEN: "abc", CF_PROXIED: "true" }).warnings).toEqual([
      "CF_API_TOKEN, CF_PROXIED are ignored with DNS_PROVIDER=rfc2136",
    ]);
  });
});

describe("notification URLs", () => {
  test("kept as given, {instance} included; a list splits at commas and lines", () => {
    const config = load({
      ...DOMAIN,
      HEALTHCHECKS_URL: "https://hc-ping.com/ping-key/{instance}?create=1",
      UPTIMEKUMA_URL: "https://kuma.example.com/api/push/abc123?status=up&msg=OK&ping=",
      WEBHOOK_URL: "https://hooks.slack.com/services/T/B/X, https://ntfy.example.com/dynip",
    });
    expect(config.notify).toEqual({
      healthchecksUrl: "https://hc-ping.com/ping-key/{instance}?create=1",
      uptimeKumaUrl: "https://kuma.example.com/api/push/abc123?status=up&msg=OK&ping=",
      webhookUrls: ["https://hooks.slack.com/services/T/B/X", "https://ntfy.example.com/dynip"],
      timeoutSeconds: 5,
    });
  });

  test.each([
    "https://ntfy.sh/dynip-alerts?tpl=1&t={{.title}}&m={{.text}}",
    "https://discord.com/api/webhooks/123/abc/slack",
    "https://gotify.example.com/message?token=AbCdEf",
    "http://127.0.0.1:8080/hook",
  ])("the README's receiver recipe %s is a valid WEBHOOK_URL", (url) => {
    expect(load({ ...DOMAIN, WEBHOOK_URL: url }).notify.webhookUrls).toEqual([url]);
  });

  test("from files, never both, and never quoted back in a problem", () => {
    const hc = tokenFile("hc-url", "https://hc-ping.com/secret-uuid-0001\n");
    const hooks = tokenFile(
      "hooks",
      "https://a.example.com/secret-1\nhttps://b.example.com/secret-2\n",
    );
    const config = load({ ...DOMAIN, HEALTHCHECKS_URL_FILE: hc, WEBHOOK_URL_FILE: hooks });
    expect(config.notify.healthchecksUrl).toBe("https://hc-ping.com/secret-uuid-0001");
    expect(config.notify.webhookUrls).toEqual([
      "https://a.example.com/secret-1",
      "https://b.example.com/secret-2",
    ]);
    expect(
      problemsOf({
        ...DOMAIN,
        HEALTHCHECKS_URL: "https://hc-ping.com/x",
        HEALTHCHECKS_URL_FILE: hc,
      }),
    ).toEqual(["HEALTHCHECKS_URL: HEALTHCHECKS_URL_FILE is set too; set only one of them"]);
    const text = [
      ...problemsOf({ ...DOMAIN, WEBHOOK_URL: "https://ok.example.com/a,gopher://secret-leak/x" }),
      ...problemsOf({ ...DOMAIN, UPTIMEKUMA_URL: "secret-leak" }),
    ].join("\n");
    expect(text).toContain("URL 2: must be an http:// or https:// URL (value not shown)");
    expect(text).not.toContain("secret-leak");
  });
});

describe("DNS_PROVIDER=rfc2136: TTL and interval", () => {
  const RFC = {
    INTERNAL_DOMAIN: "internal.dyn.corp.example",
    DNS_PROVIDER: "rfc2136",
    RFC2136_ZONE: "dyn.corp.example",
  };

  test("RECORD_TTL=1 (automatic on Cloudflare) is refused: it would be a 1-second TTL on the server", () => {
    expect(problemsOf({ ...RFC, RECORD_TTL: "1" })).toEqual([
      "RECORD_TTL: 1 means automatic on Cloudflare only: with DNS_PROVIDER=rfc2136 your server would hand out the records with a TTL of 1 second; use 60-86400 (default 120)",
    ]);
    expect(load({ ...RFC, RECORD_TTL: "60" }).ttl).toBe(60);
    expect(load({ ...RFC, DNS_PROVIDER: "cloudflare", RECORD_TTL: "1" }).ttl).toBe(1);
  });

  test.each([
    ["rfc2136", "300", "900", false],
    ["rfc2136", "599", "900", false],
    ["rfc2136", "600", "900", true],
    ["rfc2136", "900", "900", true],
    ["cloudflare", "601", "900", false],
    ["cloudflare", "900", "900", true],
  ])(
    "DNS_PROVIDER=%s, UPDATE_INTERVAL=%s, STALE_THRESHOLD_SECONDS=%s: warned %p",
    (provider, interval, threshold, warned) => {
      const { warnings } = load({
        ...RFC,
        DNS_PROVIDER: provider,
        UPDATE_INTERVAL: interval,
        STALE_THRESHOLD_SECONDS: threshold,
      });
      const slow = warnings.filter((w) => w.startsWith("UPDATE_INTERVAL="));
      expect(slow).toHaveLength(warned ? 1 : 0);
      if (warned && provider === "rfc2136") {
        expect(slow[0]).toBe(
          `UPDATE_INTERVAL=${interval} plus 300 s is not below STALE_THRESHOLD_SECONDS=${threshold}: with DNS_PROVIDER=rfc2136 a heartbeat's age rests on the writing host's clock, which TSIG lets be 300 s off the server's, so cleanup may delete this host's records between two of its passes; keep the threshold above the interval plus 300 s`,
        );
      }
    },
  );
});
