/**
 * Configuration: environment first, command-line flags override, one valibot schema
 * validates everything and reports every problem at once (docs/operations.md, "Configuration"), before any request.
 */
import { getDomain } from "tldts-experimental";
import * as v from "valibot";
import { inCidrs } from "../detect/cidr.ts";
import type { Cidr, ExternalSource, InternalSource } from "../detect/source-types.ts";
import { TSIG_ALGORITHMS, type TsigAlgorithm } from "../dns/tsig-key.ts";
import { ConfigError, DynipError } from "../errors.ts";
import { nodeOs } from "../lazy-node.ts";
import { type LogFormat, type LogLevelName, redact } from "../observe/log.ts";
import { HEARTBEAT_NAME_OVERHEAD } from "../registry/heartbeat.ts";
import * as field from "./fields.ts";
import {
  CONFIG_VARIABLES,
  DEFAULTS,
  DNS_PROVIDERS,
  type DnsProviderName,
  type EnvName,
} from "./variables.ts";

export {
  CONFIG_VARIABLES,
  type ConfigVariable,
  DNS_PROVIDERS,
  type DnsProviderName,
  type EnvName,
} from "./variables.ts";

/** RECORD_TTL=1: Cloudflare's "automatic"; any other back end would write a 1-second TTL. */
const AUTOMATIC_TTL = 1;

const seconds = (min: number, max: number) =>
  field.integer(`a whole number of seconds from ${min} to ${max}`, field.range(min, max));

/** Input: trimmed non-empty strings keyed by variable; output: typed values, still keyed by variable. */
const Fields = v.object({
  INTERNAL_DOMAIN: v.optional(field.domain),
  EXTERNAL_DOMAIN: v.optional(field.domain),
  IPV6_DOMAIN: v.optional(field.domain),
  COMBINED_DOMAIN: v.optional(field.domain),
  ALLOW_ZONE_APEX: v.optional(field.boolean, DEFAULTS.ALLOW_ZONE_APEX),
  INTERNAL_CIDRS: v.optional(field.cidrList, DEFAULTS.INTERNAL_CIDRS),
  INTERFACES: v.optional(field.globList({ noneMeansEmpty: false }), ""),
  EXCLUDE_INTERFACES: v.optional(
    field.globList({ noneMeansEmpty: true }),
    DEFAULTS.EXCLUDE_INTERFACES,
  ),
  INTERNAL_IP_SOURCE: v.optional(field.internalSource, DEFAULTS.INTERNAL_IP_SOURCE),
  EXTERNAL_IPV4_SOURCE: v.optional(field.externalSource("ipv4"), DEFAULTS.EXTERNAL_IPV4_SOURCE),
  EXTERNAL_IPV6_SOURCE: v.optional(field.externalSource("ipv6"), DEFAULTS.EXTERNAL_IPV6_SOURCE),
  DETECT_TIMEOUT_SECONDS: v.optional(seconds(1, 60), DEFAULTS.DETECT_TIMEOUT_SECONDS),
  INSTANCE_ID: field.instanceId,
  RECORD_TTL: v.optional(
    field.integer("1 (automatic) or 60-86400", (n) => n === 1 || (n >= 60 && n <= 86400)),
    DEFAULTS.RECORD_TTL,
  ),
  CF_PROXIED: v.optional(field.boolean, DEFAULTS.CF_PROXIED),
  RECORD_COMMENT: v.optional(field.comment, DEFAULTS.RECORD_COMMENT),
  DNS_PROVIDER: v.optional(field.choice(DNS_PROVIDERS), DEFAULTS.DNS_PROVIDER),
  CF_API_TOKEN: v.optional(field.token),
  CF_API_TOKEN_FILE: v.optional(field.tokenFile),
  CF_ZONE_ID: v.optional(field.zoneId),
  CF_API_URL: v.optional(field.apiUrl, DEFAULTS.CF_API_URL),
  API_TIMEOUT_SECONDS: v.optional(seconds(1, 300), DEFAULTS.API_TIMEOUT_SECONDS),
  BATCH_SIZE: v.optional(
    field.integer("an integer from 1 to 3500", field.range(1, 3500)),
    DEFAULTS.BATCH_SIZE,
  ),
  RFC2136_SERVER: v.optional(field.dnsServer),
  RFC2136_ZONE: v.optional(field.zone),
  RFC2136_TSIG_KEY: v.optional(field.tsigKeyName),
  RFC2136_TSIG_SECRET: v.optional(field.tsigSecret),
  RFC2136_TSIG_SECRET_FILE: v.optional(field.tsigSecretFile),
  RFC2136_TSIG_ALGORITHM: v.optional(
    field.choice(TSIG_ALGORITHMS),
    DEFAULTS.RFC2136_TSIG_ALGORITHM,
  ),
  RFC2136_TIMEOUT_SECONDS: v.optional(seconds(1, 300), DEFAULTS.RFC2136_TIMEOUT_SECONDS),
  UPDATE_INTERVAL: v.optional(seconds(1, 86400)),
  DEREGISTER_ON_STOP: v.optional(field.boolean, DEFAULTS.DEREGISTER_ON_STOP),
  CLEANUP_INTERVAL_SECONDS: v.optional(seconds(1, 86400), DEFAULTS.CLEANUP_INTERVAL_SECONDS),
  STALE_THRESHOLD_SECONDS: v.optional(seconds(60, 2592000), DEFAULTS.STALE_THRESHOLD_SECONDS),
  CLEANUP_MAX_DELETE_RATIO: v.optional(field.ratio, DEFAULTS.CLEANUP_MAX_DELETE_RATIO),
  CLEANUP_BRAKE_HOLD_SECONDS: v.optional(seconds(60, 31536000)),
  STOP_TIMEOUT_SECONDS: v.optional(seconds(1, 600), DEFAULTS.STOP_TIMEOUT_SECONDS),
  HEALTH_PORT: v.optional(field.integer("a port from 1 to 65535", field.range(1, 65535))),
  HEALTH_ADDRESS: v.optional(field.listenAddress, DEFAULTS.HEALTH_ADDRESS),
  HEALTHCHECKS_URL: v.optional(field.notifyUrl),
  HEALTHCHECKS_URL_FILE: v.optional(field.notifyUrlFile("HEALTHCHECKS_URL_FILE")),
  UPTIMEKUMA_URL: v.optional(field.notifyUrl),
  UPTIMEKUMA_URL_FILE: v.optional(field.notifyUrlFile("UPTIMEKUMA_URL_FILE")),
  WEBHOOK_URL: v.optional(field.notifyUrlList),
  WEBHOOK_URL_FILE: v.optional(field.webhookUrlFile),
  NOTIFY_TIMEOUT_SECONDS: v.optional(seconds(1, 60), DEFAULTS.NOTIFY_TIMEOUT_SECONDS),
  LOG_LEVEL: v.optional(
    field.choice<LogLevelName>(["silent", "error", "warn", "info", "debug"]),
    DEFAULTS.LOG_LEVEL,
  ),
  LOG_FORMAT: v.optional(field.choice<LogFormat>(["pretty", "json"]), DEFAULTS.LOG_FORMAT),
} satisfies Record<EnvName, v.GenericSchema<string | undefined, unknown>>);

/** Raw input: what the environment and flags said, before validation. */
export type RawConfig = v.InferInput<typeof Fields>;

type Checked = v.InferOutput<typeof Fields>;

const DOMAIN_VARIABLES = [
  "INTERNAL_DOMAIN",
  "EXTERNAL_DOMAIN",
  "IPV6_DOMAIN",
  "COMBINED_DOMAIN",
] as const;
const DOMAIN_PATHS = [
  ["INTERNAL_DOMAIN"],
  ["EXTERNAL_DOMAIN"],
  ["IPV6_DOMAIN"],
  ["COMBINED_DOMAIN"],
] as const;
type Domains = Partial<Record<(typeof DOMAIN_VARIABLES)[number], string>>;

/** The same name under two variables would make the two plans delete each other's records. */
function duplicateDomain(input: Domains): string | undefined {
  const seen = new Map<string, string>();
  for (const name of DOMAIN_VARIABLES) {
    const domain = input[name];
    if (domain === undefined) continue;
    const first = seen.get(domain);
    if (first) {
      return `${name}: ${field.quote(domain)} is already ${first}; use COMBINED_DOMAIN for one name with all addresses`;
    }
    seen.set(domain, name);
  }
  return undefined;
}

/**
 * Static external addresses inside INTERNAL_CIDRS: the internal source owns those, so the
 * external one would drop them from what it publishes and withdraw them.
 */
function insideCidrs(
  input: Pick<Checked, "EXTERNAL_IPV4_SOURCE" | "EXTERNAL_IPV6_SOURCE" | "INTERNAL_CIDRS">,
): string[] {
  return [input.EXTERNAL_IPV4_SOURCE, input.EXTERNAL_IPV6_SOURCE].flatMap((source) =>
    source.kind === "static"
      ? source.addresses.filter((ip) => inCidrs(ip, input.INTERNAL_CIDRS))
      : [],
  );
}

/** Static internal addresses that INTERNAL_CIDRS does not hold: the internal source owns only those it holds. */
function outsideCidrs(input: Pick<Checked, "INTERNAL_IP_SOURCE" | "INTERNAL_CIDRS">): string[] {
  const source = input.INTERNAL_IP_SOURCE;
  if (source.kind !== "static") return [];
  return source.addresses.filter((ip) => !inCidrs(ip, input.INTERNAL_CIDRS));
}

type DomainVariable = (typeof DOMAIN_VARIABLES)[number];

/**
 * What is wrong with the name of one managed domain beyond its own syntax: a heartbeat name
 * dynip would write there longer than DNS allows (253 characters), or a registered domain
 * itself (a zone's apex, judged by the public suffix list) without ALLOW_ZONE_APEX.
 */
function domainProblem(
  name: DomainVariable,
  input: v.InferOutput<typeof NamingFields>,
): string | undefined {
  const domain = input[name];
  if (domain === undefined) return undefined;
  const internalV6 = input.INTERNAL_CIDRS.some(([base]) => base.kind() === "ipv6");
  const v6 = {
    INTERNAL_DOMAIN: internalV6,
    EXTERNAL_DOMAIN: false,
    IPV6_DOMAIN: true,
    COMBINED_DOMAIN: internalV6 || input.EXTERNAL_IPV6_SOURCE.kind !== "none",
  }[name];
  const prefix = HEARTBEAT_NAME_OVERHEAD[v6 ? "ipv6" : "ipv4"];
  if (domain.length + prefix > 253) {
    const family = v6 ? "IPv6" : "IPv4";
    return `${field.quote(domain)} is ${domain.length} characters, and the heartbeat names dynip writes there add up to ${prefix} more (_heartbeat-<${family}>.): use a name of at most ${253 - prefix} characters, DNS allows 253 in all`;
  }
  // Private suffixes too (eu.org, pp.ua): a name registered under one is a zone's apex as well.
  if (!input.ALLOW_ZONE_APEX && getDomain(domain, { allowPrivateDomains: true }) === domain) {
    return field.apexRefusal(domain, "is a registered domain, the apex of its zone");
  }
  return undefined;
}

/** The fields domainProblem reads, validated on their own so the check runs beside any other problem. */
const NamingFields = v.pick(Fields, [
  ...DOMAIN_VARIABLES,
  "ALLOW_ZONE_APEX",
  "INTERNAL_CIDRS",
  "EXTERNAL_IPV6_SOURCE",
]);

/** Notification settings given both directly and as a file: which one was meant is unclear. */
function fileConflicts(raw: RawConfig): string[] {
  return (["HEALTHCHECKS_URL", "UPTIMEKUMA_URL", "WEBHOOK_URL"] as const).flatMap((name) =>
    raw[name] !== undefined && raw[`${name}_FILE`] !== undefined
      ? [`${name}: ${name}_FILE is set too; set only one of them`]
      : [],
  );
}

/** domainProblem for every managed domain, as `VARIABLE: problem`; none when those fields are invalid themselves. */
function namingProblems(raw: RawConfig): string[] {
  const parsed = v.safeParse(NamingFields, raw);
  if (!parsed.success) return [];
  return DOMAIN_VARIABLES.flatMap((name) => {
    const problem = domainProblem(name, parsed.output);
    return problem === undefined ? [] : [`${name}: ${problem}`];
  });
}

/**
 * With DNS_PROVIDER=rfc2136 and RFC2136_ZONE set, every managed domain must be inside the zone
 * (UPDATE names outside it are refused, NOTZONE), and one that is the zone itself is its apex.
 */
function zoneProblems(
  input: Pick<Checked, "DNS_PROVIDER" | "RFC2136_ZONE" | "ALLOW_ZONE_APEX" | DomainVariable>,
): string[] {
  const zone = input.RFC2136_ZONE;
  if (input.DNS_PROVIDER !== "rfc2136" || zone === undefined) return [];
  return DOMAIN_VARIABLES.flatMap((name) => {
    const domain = input[name];
    if (domain === undefined) return [];
    if (domain === zone) {
      return input.ALLOW_ZONE_APEX
        ? []
        : [`${name}: ${field.apexRefusal(domain, `is the apex of RFC2136_ZONE ${zone}`)}`];
    }
    return domain.endsWith(`.${zone}`)
      ? []
      : [`${name}: ${domain} is not inside RFC2136_ZONE ${zone}; every managed name must be`];
  });
}

// A partialCheck is skipped after an issue without a path, so only the last check may lack one.
const ConfigSchema = v.pipe(
  Fields,
  // Reads the raw value of CF_API_TOKEN_FILE, so "both set" is reported even when the file is missing.
  v.forward(
    v.partialCheck(
      [["CF_API_TOKEN"]],
      (input) =>
        input.CF_API_TOKEN === undefined || (input as RawConfig).CF_API_TOKEN_FILE === undefined,
      "CF_API_TOKEN_FILE is set too; set only one of them",
    ),
    ["CF_API_TOKEN"],
  ),
  v.forward(
    v.partialCheck(
      [["RFC2136_TSIG_SECRET"]],
      (input) =>
        input.RFC2136_TSIG_SECRET === undefined ||
        (input as RawConfig).RFC2136_TSIG_SECRET_FILE === undefined,
      "RFC2136_TSIG_SECRET_FILE is set too; set only one of them",
    ),
    ["RFC2136_TSIG_SECRET"],
  ),
  v.forward(
    v.partialCheck(
      [["DNS_PROVIDER"], ["RFC2136_ZONE"], ["ALLOW_ZONE_APEX"], ...DOMAIN_PATHS],
      (input) => zoneProblems(input).length === 0,
      (issue) => zoneProblems(issue.input as Checked).join("; "),
    ),
    ["RFC2136_ZONE"],
  ),
  v.partialCheck(
    DOMAIN_PATHS,
    (input) => duplicateDomain(input) === undefined,
    (issue) => duplicateDomain(issue.input) ?? "",
  ),
  v.forward(
    v.partialCheck(
      [["INTERNAL_IP_SOURCE"], ["INTERNAL_CIDRS"]],
      (input) => outsideCidrs(input).length === 0,
      (issue) => {
        const input = issue.input as Checked;
        const ranges = input.INTERNAL_CIDRS.map(([base, bits]) => `${base}/${bits}`).join(", ");
        return `static addresses outside INTERNAL_CIDRS (${ranges}): ${outsideCidrs(input).join(", ")}; add their range to INTERNAL_CIDRS or publish them with EXTERNAL_IPV4_SOURCE / EXTERNAL_IPV6_SOURCE`;
      },
    ),
    ["INTERNAL_IP_SOURCE"],
  ),
  v.forward(
    v.partialCheck(
      [["EXTERNAL_IPV4_SOURCE"], ["EXTERNAL_IPV6_SOURCE"], ["INTERNAL_CIDRS"]],
      (input) => insideCidrs(input).length === 0,
      (issue) =>
        `static external addresses inside INTERNAL_CIDRS: ${insideCidrs(issue.input as Checked).join(", ")}; the internal source owns those ranges, so they would never be published as external ones: take the range out of INTERNAL_CIDRS or the address out of the static list`,
    ),
    ["INTERNAL_CIDRS"],
  ),
  v.forward(
    v.partialCheck(
      [["DNS_PROVIDER"], ["RECORD_TTL"]],
      (input) => !(input.DNS_PROVIDER === "rfc2136" && input.RECORD_TTL === AUTOMATIC_TTL),
      "1 means automatic on Cloudflare only: with DNS_PROVIDER=rfc2136 your server would hand out the records with a TTL of 1 second; use 60-86400 (default 120)",
    ),
    ["RECORD_TTL"],
  ),
  v.partialCheck(
    [["CLEANUP_BRAKE_HOLD_SECONDS"], ["STALE_THRESHOLD_SECONDS"]],
    (input) =>
      input.CLEANUP_BRAKE_HOLD_SECONDS === undefined ||
      input.CLEANUP_BRAKE_HOLD_SECONDS >= input.STALE_THRESHOLD_SECONDS,
    (issue) =>
      `CLEANUP_BRAKE_HOLD_SECONDS: must be at least STALE_THRESHOLD_SECONDS (${(issue.input as Checked).STALE_THRESHOLD_SECONDS}): braked addresses go once they have been stale for longer than the hold, which should be much longer than the threshold`,
  ),
  v.partialCheck(
    DOMAIN_PATHS,
    (input) => DOMAIN_VARIABLES.some((name) => input[name] !== undefined),
    `no managed domain: set at least one of ${DOMAIN_VARIABLES.join(", ")} (a systemd install keeps them in /etc/dynip/dynip.env: add --env-file /etc/dynip/dynip.env)`,
  ),
  v.transform(toConfig),
);

/** The RFC2136_* settings as validated; each may be unset until DNS_PROVIDER=rfc2136 needs it. */
export interface Rfc2136Settings {
  /** RFC2136_SERVER; the port is 53 unless given. */
  server?: field.ServerAddress;
  /** RFC2136_ZONE: lower-case, no trailing dot; every managed domain is inside it. */
  zone?: string;
  /** RFC2136_TSIG_KEY, lower-case. */
  keyName?: string;
  /** RFC2136_TSIG_SECRET or the file's content, base64; registered with the redaction. */
  secret?: string;
  algorithm: TsigAlgorithm;
  /** RFC2136_TIMEOUT_SECONDS: bounds each exchange, a whole transfer included. */
  timeoutSeconds: number;
}

/** The notification targets; URLs are secrets, registered for redaction, `{instance}` kept. */
export interface NotifySettings {
  /** HEALTHCHECKS_URL or the file's content. */
  healthchecksUrl?: string;
  /** UPTIMEKUMA_URL or the file's content. */
  uptimeKumaUrl?: string;
  /** WEBHOOK_URL or the file's content, in the order given; empty for none. */
  webhookUrls: string[];
  /** NOTIFY_TIMEOUT_SECONDS: each attempt's timeout. */
  timeoutSeconds: number;
}

/** Validated configuration. Durations stay in the unit their name says. */
export interface Config {
  /** Managed domains: lower-case punycode, no trailing dot; at least one is set, all distinct. */
  domains: { internal?: string; external?: string; ipv6?: string; combined?: string };
  /** A managed domain may be its zone's apex (ALLOW_ZONE_APEX). */
  allowZoneApex: boolean;
  /** Ranges that count as internal (network addresses). */
  internalCidrs: Cidr[];
  /** Interface name globs to read; empty means all. */
  interfaces: string[];
  /** Interface name globs never read, applied after `interfaces`. */
  excludeInterfaces: string[];
  internalSource: InternalSource;
  ipv4Source: ExternalSource;
  ipv6Source: ExternalSource;
  /** Per attempt of an external HTTP detection source. */
  detectTimeoutSeconds: number;
  /** Owner written into heartbeats: printable ASCII without `,` `"` `\` or spaces. */
  instanceId: string;
  /** 1 (automatic) or 60-86400. */
  ttl: number;
  /** Applies to public addresses only; private ones are never proxied. */
  proxied: boolean;
  /** Comment on created records (Cloudflare's dashboard shows it); unset for none. */
  comment?: string;
  /** DNS_PROVIDER: where the records live. */
  provider: DnsProviderName;
  /** From CF_API_TOKEN or CF_API_TOKEN_FILE; registered with the logger's redaction. */
  token?: string;
  /** Lower-case hex; unset means find the zone from the domains. */
  zoneId?: string;
  /** Without trailing slash; https, or http for loopback hosts. */
  apiUrl: string;
  apiTimeoutSeconds: number;
  batchSize: number;
  /** The RFC2136_* settings; what is unset is refused when the provider is asked for. */
  rfc2136: Rfc2136Settings;
  /** Set: `update` is long-lived with a pass every interval; unset: one pass. */
  updateIntervalSeconds?: number;
  deregisterOnStop: boolean;
  cleanupIntervalSeconds: number;
  staleThresholdSeconds: number;
  /** 0-1: more of a domain's addresses deleted at once engages the brake. */
  maxDeleteRatio: number;
  /** While braked, only addresses stale for longer than this go; at least the threshold. */
  brakeHoldSeconds: number;
  /** After a stop signal, a long-lived process exits within this many seconds. */
  stopTimeoutSeconds: number;
  /** Set: cleanup serves /healthz and /metrics on this port. */
  healthPort?: number;
  /** The health server's listening address: an IPv4 or IPv6 literal. */
  healthAddress: string;
  /** Where to tell the outside world about passes, cycles and events (docs/operations.md). */
  notify: NotifySettings;
  logLevel: LogLevelName;
  logFormat: LogFormat;
  /** Worth telling the user, not worth refusing to start (e.g. a token file others can read). */
  warnings: string[];
}

/** Drops keys whose value is undefined, so `"zoneId" in config` means it was configured. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Variables only one provider reads, set while DNS_PROVIDER names the other. */
const PROVIDER_VARIABLES: Record<DnsProviderName, EnvName[]> = {
  cloudflare: ["CF_API_TOKEN", "CF_API_TOKEN_FILE", "CF_ZONE_ID"],
  rfc2136: [
    "RFC2136_SERVER",
    "RFC2136_ZONE",
    "RFC2136_TSIG_KEY",
    "RFC2136_TSIG_SECRET",
    "RFC2136_TSIG_SECRET_FILE",
  ],
};

/**
 * Seconds a heartbeat's age may be off by, per provider: with rfc2136 the age is the writing
 * host's clock against the server's, which TSIG lets differ by its fudge, 300 s (RFC 8945
 * §5.2.3; README, "Your own DNS server (RFC 2136)"); Cloudflare stamps records itself.
 */
const CLOCK_MARGIN_SECONDS: Record<DnsProviderName, number> = { cloudflare: 0, rfc2136: 300 };

/**
 * The warning for a long-lived updater whose interval, plus the provider's clock margin, is not
 * below STALE_THRESHOLD_SECONDS: cleanup may take a live host for dead between two passes.
 * Empty without UPDATE_INTERVAL (a timer's interval is not known here) or with room to spare.
 */
function slowUpdates(input: Checked): string[] {
  const interval = input.UPDATE_INTERVAL;
  const threshold = input.STALE_THRESHOLD_SECONDS;
  const margin = CLOCK_MARGIN_SECONDS[input.DNS_PROVIDER];
  if (interval === undefined || interval + margin < threshold) return [];
  if (margin === 0) {
    return [
      `UPDATE_INTERVAL=${interval} is not below STALE_THRESHOLD_SECONDS=${threshold}: cleanup may ` +
        "delete this host's records between two of its passes; keep the threshold at 2-3 intervals",
    ];
  }
  return [
    `UPDATE_INTERVAL=${interval} plus ${margin} s is not below STALE_THRESHOLD_SECONDS=${threshold}: ` +
      `with DNS_PROVIDER=${input.DNS_PROVIDER} a heartbeat's age rests on the writing host's clock, which TSIG lets be ${margin} s off the server's, ` +
      `so cleanup may delete this host's records between two of its passes; keep the threshold above the interval plus ${margin} s`,
  ];
}

/** Settings that work but probably not as meant: said at start, never refused. */
function settingWarnings(input: Checked): string[] {
  const slow = slowUpdates(input);
  const other = DNS_PROVIDERS.find((p) => p !== input.DNS_PROVIDER) as DnsProviderName;
  const unused = PROVIDER_VARIABLES[other].filter((name) => input[name] !== undefined);
  if (input.DNS_PROVIDER === "rfc2136" && input.CF_PROXIED) unused.push("CF_PROXIED");
  const ignored =
    unused.length > 0
      ? [
          `${unused.join(", ")} ${unused.length > 1 ? "are" : "is"} ignored with DNS_PROVIDER=${input.DNS_PROVIDER}`,
        ]
      : [];
  return [...slow, ...ignored];
}

function toConfig(input: Checked): Config {
  return defined({
    domains: defined({
      internal: input.INTERNAL_DOMAIN,
      external: input.EXTERNAL_DOMAIN,
      ipv6: input.IPV6_DOMAIN,
      combined: input.COMBINED_DOMAIN,
    }),
    allowZoneApex: input.ALLOW_ZONE_APEX,
    internalCidrs: input.INTERNAL_CIDRS,
    interfaces: input.INTERFACES,
    excludeInterfaces: input.EXCLUDE_INTERFACES,
    internalSource: input.INTERNAL_IP_SOURCE,
    ipv4Source: input.EXTERNAL_IPV4_SOURCE,
    ipv6Source: input.EXTERNAL_IPV6_SOURCE,
    detectTimeoutSeconds: input.DETECT_TIMEOUT_SECONDS,
    instanceId: input.INSTANCE_ID,
    ttl: input.RECORD_TTL,
    proxied: input.CF_PROXIED,
    comment: input.RECORD_COMMENT,
    provider: input.DNS_PROVIDER,
    token: input.CF_API_TOKEN ?? input.CF_API_TOKEN_FILE?.secret,
    warnings: [
      ...[
        input.CF_API_TOKEN_FILE,
        input.RFC2136_TSIG_SECRET_FILE,
        input.HEALTHCHECKS_URL_FILE,
        input.UPTIMEKUMA_URL_FILE,
        input.WEBHOOK_URL_FILE,
      ].flatMap((file) => (file?.warning ? [file.warning] : [])),
      ...settingWarnings(input),
    ],
    zoneId: input.CF_ZONE_ID,
    apiUrl: input.CF_API_URL,
    apiTimeoutSeconds: input.API_TIMEOUT_SECONDS,
    batchSize: input.BATCH_SIZE,
    rfc2136: defined({
      server: input.RFC2136_SERVER,
      zone: input.RFC2136_ZONE,
      keyName: input.RFC2136_TSIG_KEY,
      secret: input.RFC2136_TSIG_SECRET ?? input.RFC2136_TSIG_SECRET_FILE?.secret,
      algorithm: input.RFC2136_TSIG_ALGORITHM,
      timeoutSeconds: input.RFC2136_TIMEOUT_SECONDS,
    }),
    updateIntervalSeconds: input.UPDATE_INTERVAL,
    deregisterOnStop: input.DEREGISTER_ON_STOP,
    cleanupIntervalSeconds: input.CLEANUP_INTERVAL_SECONDS,
    staleThresholdSeconds: input.STALE_THRESHOLD_SECONDS,
    maxDeleteRatio: input.CLEANUP_MAX_DELETE_RATIO,
    brakeHoldSeconds: input.CLEANUP_BRAKE_HOLD_SECONDS ?? 4 * input.STALE_THRESHOLD_SECONDS,
    stopTimeoutSeconds: input.STOP_TIMEOUT_SECONDS,
    healthPort: input.HEALTH_PORT,
    healthAddress: input.HEALTH_ADDRESS,
    notify: defined({
      healthchecksUrl: input.HEALTHCHECKS_URL ?? input.HEALTHCHECKS_URL_FILE?.secret,
      uptimeKumaUrl: input.UPTIMEKUMA_URL ?? input.UPTIMEKUMA_URL_FILE?.secret,
      webhookUrls: input.WEBHOOK_URL ?? field.splitUrls(input.WEBHOOK_URL_FILE?.secret ?? ""),
      timeoutSeconds: input.NOTIFY_TIMEOUT_SECONDS,
    }),
    logLevel: input.LOG_LEVEL,
    logFormat: input.LOG_FORMAT,
  });
}

export interface LoadOptions {
  /** Usually process.env. */
  env: Record<string, string | undefined>;
  /** From command-line flags, same names; undefined = not given. */
  overrides?: Partial<Record<EnvName, string | undefined>>;
  /** The INSTANCE_ID default; os.hostname() unless given. */
  hostname?: () => string;
}

/** Empty (or blank) counts as unset; values are trimmed. */
function given(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** Longer values are refused unread: every input has a bound, and no setting needs more. */
export const MAX_VALUE_LENGTH = 8192;

/** Flags beat the environment. Over-long values are left out and named in `tooLong`. */
function rawInput(options: LoadOptions): { raw: RawConfig; tooLong: string[] } {
  const overrides = options.overrides ?? {};
  const raw: Partial<Record<EnvName, string>> = {};
  const tooLong: string[] = [];
  for (const { name } of CONFIG_VARIABLES) {
    const value = given(overrides[name]) ?? given(options.env[name]);
    if (value !== undefined && value.length > MAX_VALUE_LENGTH) {
      tooLong.push(`${name}: longer than ${MAX_VALUE_LENGTH} characters (value not shown)`);
    } else if (value !== undefined) raw[name] = value;
  }
  raw.INSTANCE_ID ??= (options.hostname ?? (() => nodeOs().hostname()))().trim();
  return { raw: raw as RawConfig, tooLong };
}

function describe(issue: v.BaseIssue<unknown>, hostnameDefault: boolean): string {
  const variable = issue.path?.[0]?.key;
  if (typeof variable !== "string") return issue.message;
  const hint =
    variable === "INSTANCE_ID" && hostnameDefault
      ? " (the default is the host name; set INSTANCE_ID)"
      : "";
  return `${variable}: ${issue.message}${hint}`;
}

/** Validates environment and flags; throws ConfigError listing every problem. */
export function loadConfig(options: LoadOptions): Config {
  const hostnameDefault =
    given(options.overrides?.INSTANCE_ID) === undefined &&
    given(options.env.INSTANCE_ID) === undefined;
  const { raw, tooLong } = rawInput(options);
  const result = v.safeParse(ConfigSchema, raw);
  const naming = [...namingProblems(raw), ...fileConflicts(raw)];
  if (result.success && tooLong.length === 0 && naming.length === 0) return result.output;
  // Redaction guards against a token pasted into another variable and quoted back.
  const issues = result.success ? [] : result.issues;
  throw new ConfigError([
    ...tooLong,
    ...issues.map((issue) => redact(describe(issue, hostnameDefault))),
    ...naming.map(redact),
  ]);
}

const HealthFields = v.pick(Fields, ["HEALTH_PORT", "HEALTH_ADDRESS"]);

/**
 * HEALTH_PORT and HEALTH_ADDRESS alone, for `--healthcheck`, which must work with nothing else
 * configured (a container's health check). Throws a DynipError with exit code 1, never 2:
 * Docker reserves 2 in health checks.
 */
export function loadHealthSettings(env: Record<string, string | undefined>): {
  port?: number;
  address: string;
} {
  const raw = Object.fromEntries(
    (["HEALTH_PORT", "HEALTH_ADDRESS"] as const).flatMap((name) => {
      const value = given(env[name]);
      return value === undefined ? [] : [[name, value]];
    }),
  );
  const result = v.safeParse(HealthFields, raw);
  if (!result.success) {
    throw new DynipError(result.issues.map((issue) => describe(issue, false)).join("; "));
  }
  return { port: result.output.HEALTH_PORT, address: result.output.HEALTH_ADDRESS };
}

/** The managed domains that are set, in the order INTERNAL, EXTERNAL, IPV6, COMBINED. */
export function managedDomains(config: Config): string[] {
  return Object.values(config.domains).filter((d): d is string => Boolean(d));
}

/**
 * The variables the configured provider still needs before it can be asked anything, in
 * table order: CF_API_TOKEN for Cloudflare; RFC2136_SERVER, RFC2136_ZONE, RFC2136_TSIG_KEY and
 * RFC2136_TSIG_SECRET for rfc2136 (TSIG is required: it authenticates dynip, and the time the
 * server signs its answers with is the clock cleanup judges ages on). Empty when complete.
 */
export function missingCredentials(config: Config): string[] {
  if (config.provider === "cloudflare") return config.token ? [] : ["CF_API_TOKEN"];
  const { server, zone, keyName, secret } = config.rfc2136;
  return [
    ...(server ? [] : ["RFC2136_SERVER"]),
    ...(zone ? [] : ["RFC2136_ZONE"]),
    ...(keyName ? [] : ["RFC2136_TSIG_KEY"]),
    ...(secret ? [] : ["RFC2136_TSIG_SECRET"]),
  ];
}

/**
 * Throws a ConfigError (exit 2, before any request) naming each variable missingCredentials
 * lists; returns when the provider has all it needs.
 */
export function requireCredentials(config: Config): void {
  if (config.provider === "cloudflare") {
    requireToken(config);
    return;
  }
  const missing = missingCredentials(config);
  if (missing.length === 0) return;
  throw new ConfigError(
    missing.map((name) =>
      name === "RFC2136_TSIG_SECRET"
        ? `${name}: required with DNS_PROVIDER=rfc2136 (or RFC2136_TSIG_SECRET_FILE, a file holding it)`
        : `${name}: required with DNS_PROVIDER=rfc2136`,
    ),
  );
}

/**
 * For commands that must write to Cloudflare: the token, or a ConfigError (exit 2) saying how
 * to give one.
 */
export function requireToken(config: Config): string {
  if (config.token) return config.token;
  throw new ConfigError([
    "CF_API_TOKEN: required for this command (or CF_API_TOKEN_FILE, a file holding the token)",
  ]);
}
