/**
 * Every environment variable dynip reads, with its default and a one-line description, in the
 * order of the README's table and `--help`. Kept apart from the schema (load.ts) so that help
 * loads none of the validation's libraries.
 */
import { DEFAULT_EXCLUDE_INTERFACES, DEFAULT_INTERNAL_CIDRS } from "../detect/defaults.ts";

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

export const DEFAULTS = {
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
  RECORD_TTL: "TTL of written records: 60-86400 seconds, or 1 (automatic, Cloudflare only)",
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
    "Healthchecks ping URL: /start, success, /fail, /log per pass or cycle; {instance} is replaced by INSTANCE_ID as a slug",
  HEALTHCHECKS_URL_FILE: "File holding HEALTHCHECKS_URL (it carries a key)",
  UPTIMEKUMA_URL: "Uptime Kuma push URL (its query string is replaced); {instance} as above",
  UPTIMEKUMA_URL_FILE: "File holding UPTIMEKUMA_URL",
  WEBHOOK_URL:
    "Comma list of URLs that get a JSON POST per event (schema dynip.event.v1, with a chat-ready text field)",
  WEBHOOK_URL_FILE: "File holding WEBHOOK_URL, one URL per line or comma-separated",
  NOTIFY_TIMEOUT_SECONDS:
    "Timeout of each notification attempt, 1-60 seconds (two retries); a one-shot run waits at most 3 x this + 1 s for all",
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
