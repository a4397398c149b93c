/**
 * Configuration: environment first, command-line flags override, one valibot schema
 * validates everything and reports every problem at once (docs/operations.md, "Configuration"), before any request.
 */
import { hostname as osHostname } from "node:os";
import { getDomain } from "tldts";
import * as v from "valibot";
import { inCidrs } from "../detect/cidr.ts";
import { DEFAULT_EXCLUDE_INTERFACES, DEFAULT_INTERNAL_CIDRS } from "../detect/defaults.ts";
import type { Cidr, ExternalSource, InternalSource } from "../detect/source-types.ts";
import { TSIG_ALGORITHMS, type TsigAlgorithm } from "../dns/tsig-key.ts";
import { ConfigError, DynipError } from "../errors.ts";
import { type LogFormat, type LogLevelName, redact } from "../observe/log.ts";
import { HEARTBEAT_NAME_OVERHEAD } from "../registry/heartbeat.ts";
import * as field from "./fields.ts";

/** DNS_PROVIDER: the back ends dynip can write to. */
export const DNS_PROVIDERS = ["cloudflare", "rfc2136"] as const;
export type DnsProviderName = (typeof DNS_PROVIDERS)[number];

export type EnvName =
  | "INTERNAL_DOMAIN"
  | "EXTERNAL_DOMAIN"
  | "IPV6_DOMAIN"
  | "COMBINED_DOMAIN"
  | "ALLOW_ZONE_APEX"
  | "INTERNAL_CIDRS"
  | "INTERFACES"
  | "EXCLUDE_INTERFACES"
  | "INTERNAL_IP_SOURCE"
  | "EXTERNAL_IPV4_SOURCE"
  | "EXTERNAL_IPV6_SOURCE"
  | "DETECT_TIMEOUT_SECONDS"
  | "INSTANCE_ID"
  | "RECORD_TTL"
  | "CF_PROXIED"
  | "RECORD_COMMENT"
  | "DNS_PROVIDER"
  | "CF_API_TOKEN"
  | "CF_API_TOKEN_FILE"
  | "CF_ZONE_ID"
  | "CF_API_URL"
  | "API_TIMEOUT_SECONDS"
  | "BATCH_SIZE"
  | "RFC2136_SERVER"
  | "RFC2136_ZONE"
  | "RFC2136_TSIG_KEY"
  | "RFC2136_TSIG_SECRET"
  | "RFC2136_TSIG_SECRET_FILE"
  | "RFC2136_TSIG_ALGORITHM"
  | "RFC2136_TIMEOUT_SECONDS"
  | "UPDATE_INTERVAL"
  | "DEREGISTER_ON_STOP"
  | "CLEANUP_INTERVAL_SECONDS"
  | "STALE_THRESHOLD_SECONDS"
  | "CLEANUP_MAX_DELETE_RATIO"
  | "CLEANUP_BRAKE_HOLD_SECONDS"
  | "STOP_TIMEOUT_SECONDS"
  | "HEALTH_PORT"
  | "HEALTH_ADDRESS"
  | "HEALTHCHECKS_URL"
  | "HEALTHCHECKS_URL_FILE"
  | "UPTIMEKUMA_URL"
  | "UPTIMEKUMA_URL_FILE"
  | "WEBHOOK_URL"
  | "WEBHOOK_URL_FILE"
  | "NOTIFY_TIMEOUT_SECONDS"
  | "LOG_LEVEL"
  | "LOG_FORMAT";

const DEFAULTS = {
  ALLOW_ZONE_APEX: "false",
  INTERNAL_CIDRS: DEFAULT_INTERNAL_CIDRS.join(","),
  EXCLUDE_INTERFACES: DEFAULT_EXCLUDE_INTERFACES.join(","),
  INTERNAL_IP_SOURCE: "interfaces",
  EXTERNAL_IPV4_SOURCE: "auto",
  EXTERNAL_IPV6_SOURCE: "auto",
  DETECT_TIMEOUT_SECONDS: "5",
  RECORD_TTL: "120",
  CF_PROXIED: "false",
  RECORD_COMMENT: "managed by dynip",
  DNS_PROVIDER: "cloudflare",
  CF_API_URL: "https://api.cloudflare.com/client/v4",
  API_TIMEOUT_SECONDS: "30",
  BATCH_SIZE: "200",
  RFC2136_TSIG_ALGORITHM: "hmac-sha256",
  RFC2136_TIMEOUT_SECONDS: "10",
  DEREGISTER_ON_STOP: "false",
  CLEANUP_INTERVAL_SECONDS: "300",
  STALE_THRESHOLD_SECONDS: "900",
  CLEANUP_MAX_DELETE_RATIO: "0.5",
  HEALTH_ADDRESS: "0.0.0.0",
  NOTIFY_TIMEOUT_SECONDS: "5",
  STOP_TIMEOUT_SECONDS: "10",
  LOG_LEVEL: "info",
  LOG_FORMAT: "pretty",
} as const satisfies Partial<Record<EnvName, string>>;

/** In table order (README, --help). */
const DESCRIPTIONS: Record<EnvName, string> = {
  INTERNAL_DOMAIN: "Name for the internal addresses found on this host's interfaces",
  EXTERNAL_DOMAIN: "Name for this host's external (public) IPv4",
  IPV6_DOMAIN: "Name for this host's external (global) IPv6",
  COMBINED_DOMAIN: "Name for all of the above together (at least one domain is required)",
  ALLOW_ZONE_APEX:
    "Allow a zone's apex (example.com itself) as a managed name, whose other A/AAAA records cleanup would delete (true/false)",
  INTERNAL_CIDRS: "Comma list of ranges (IPv4 or IPv6) that count as internal",
  INTERFACES: "Comma list of interface name globs to read addresses from (default: all)",
  EXCLUDE_INTERFACES: "Comma list of interface name globs to ignore (`none` ignores none)",
  INTERNAL_IP_SOURCE: "interfaces, static:<ip>[,<ip>...] or none",
  EXTERNAL_IPV4_SOURCE: "auto, interfaces, http, url:<URL>, static:<ip>[,<ip>...] or none",
  EXTERNAL_IPV6_SOURCE: "auto, interfaces, http, url:<URL>, static:<ip>[,<ip>...] or none",
  DETECT_TIMEOUT_SECONDS: "Timeout of each external HTTP detection attempt, 1-60 seconds",
  INSTANCE_ID:
    "This host's id in heartbeats (default: the host name); 1-100 printable ASCII characters without spaces , \" or \\",
  RECORD_TTL: "TTL of written records: 1 (automatic) or 60-86400 seconds",
  CF_PROXIED: "Proxy public A/AAAA records through Cloudflare (true/false)",
  RECORD_COMMENT:
    "Comment on every record dynip creates, up to 100 characters (`none`: no comment)",
  DNS_PROVIDER:
    "Where the records live: cloudflare, or rfc2136 (your own server: BIND, Knot, PowerDNS)",
  CF_API_TOKEN: "Cloudflare API token (Zone.DNS Edit, plus Zone.Zone Read without CF_ZONE_ID)",
  CF_API_TOKEN_FILE:
    "File holding the API token instead of CF_API_TOKEN (readable only by the user dynip runs as)",
  CF_ZONE_ID: "Zone id (32 hex characters); found from the domains when unset",
  CF_API_URL: "Cloudflare API base URL (plain http:// only for loopback hosts)",
  API_TIMEOUT_SECONDS: "Timeout of each Cloudflare API request, 1-300 seconds",
  BATCH_SIZE: "Operations per batch request, 1-3500 (200 is the Free plan limit)",
  RFC2136_SERVER:
    "rfc2136: the primary server, host or host:port ([IPv6]:port), port 53 by default",
  RFC2136_ZONE: "rfc2136: the zone every managed name lives in",
  RFC2136_TSIG_KEY: "rfc2136: TSIG key name, as named.conf's key statement spells it",
  RFC2136_TSIG_SECRET: "rfc2136: the key's secret in base64, as tsig-keygen prints it",
  RFC2136_TSIG_SECRET_FILE:
    "File holding the TSIG secret instead of RFC2136_TSIG_SECRET (readable only by the user dynip runs as)",
  RFC2136_TSIG_ALGORITHM:
    "rfc2136: hmac-sha256, hmac-sha512, hmac-sha384, hmac-sha224 or hmac-sha1",
  RFC2136_TIMEOUT_SECONDS:
    "rfc2136: timeout of each exchange with the server (a whole zone transfer), 1-300 seconds",
  UPDATE_INTERVAL: "Run update long-lived, one pass every N seconds (1-86400); unset: one pass",
  DEREGISTER_ON_STOP: "Long-lived update deletes this host's records on SIGTERM (true/false)",
  CLEANUP_INTERVAL_SECONDS: "Seconds between cleanup cycles, 1-86400",
  STALE_THRESHOLD_SECONDS: "Heartbeat age after which cleanup deletes an address, 60-2592000",
  CLEANUP_MAX_DELETE_RATIO:
    "Share of a domain's addresses (0-1) above which one cleanup cycle holds its deletions (the brake)",
  CLEANUP_BRAKE_HOLD_SECONDS:
    "While the brake holds, addresses go only once stale for longer than this (default: 4 x STALE_THRESHOLD_SECONDS)",
  STOP_TIMEOUT_SECONDS:
    "After SIGTERM/SIGINT a long-lived process exits within this many seconds, deregistration included (1-600)",
  HEALTH_PORT:
    "Port (1-65535) for /healthz and /metrics of a long-lived update or cleanup; unset: no server",
  HEALTH_ADDRESS:
    "Address the health server listens on: an IPv4 or IPv6 literal (`::` for both families where the host has IPv6)",
  HEALTHCHECKS_URL:
    "Healthchecks ping URL: /start, success, /fail, /log per pass or cycle; {instance} is replaced by INSTANCE_ID",
  HEALTHCHECKS_URL_FILE: "File holding HEALTHCHECKS_URL (it carries a key)",
  UPTIMEKUMA_URL: "Uptime Kuma push URL (its query string is replaced); {instance} as above",
  UPTIMEKUMA_URL_FILE: "File holding UPTIMEKUMA_URL",
  WEBHOOK_URL:
    "Comma list of URLs that get a JSON POST per event (schema dynip.event.v1, with a chat-ready text field)",
  WEBHOOK_URL_FILE: "File holding WEBHOOK_URL, one URL per line or comma-separated",
  NOTIFY_TIMEOUT_SECONDS:
    "Timeout of each notification attempt, 1-60 seconds (two retries; a pass never waits on more)",
  LOG_LEVEL: "silent, error, warn, info or debug",
  LOG_FORMAT: "pretty or json",
};

export interface ConfigVariable {
  name: EnvName;
  default?: string;
  description: string;
}

export const CONFIG_VARIABLES: readonly ConfigVariable[] = (
  Object.entries(DESCRIPTIONS) as [EnvName, string][]
).map(([name, description]) => {
  const fallback = (DEFAULTS as Partial<Record<EnvName, string>>)[name];
  return fallback === undefined ? { name, description } : { name, default: fallback, description };
});

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

/** Settings that work but probably not as meant: said at start, never refused. */
function settingWarnings(input: Checked): string[] {
  const interval = input.UPDATE_INTERVAL;
  const threshold = input.STALE_THRESHOLD_SECONDS;
  const slow =
    interval !== undefined && interval >= threshold
      ? [
          `UPDATE_INTERVAL=${interval} is not below STALE_THRESHOLD_SECONDS=${threshold}: cleanup may ` +
            "delete this host's records between two of its passes; keep the threshold at 2-3 intervals",
        ]
      : [];
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
  raw.INSTANCE_ID ??= (options.hostname ?? osHostname)().trim();
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

/** For commands that must write: the token, or a ConfigError saying how to give one. */
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

export function requireToken(config: Config): string {
  if (config.token) return config.token;
  throw new ConfigError([
    "CF_API_TOKEN: required for this command (or CF_API_TOKEN_FILE, a file holding the token)",
  ]);
}
