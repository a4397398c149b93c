/**
 * Valibot field schemas for src/config/load.ts: each takes the raw (trimmed, non-empty) string
 * of one variable and yields its typed value. Messages never repeat the variable name;
 * config.ts prefixes it from the issue path.
 */
import ipaddr from "ipaddr.js";
import * as v from "valibot";
import { readSmallFile } from "../bounded-read.ts";
import { type Family, format, isPublic, parseAddress } from "../detect/cidr.ts";
import type { Cidr, ExternalSource, InternalSource } from "../detect/source-types.ts";
import { secretBytes } from "../dns/tsig-key.ts";
import { registerSecret } from "../observe/log.ts";

type AddIssue = (info: { message: string }) => void;

/** Quotes user input for a message, escaping control characters. */
export function quote(value: unknown): string {
  return JSON.stringify(String(value));
}

/** A string field parsed by a function that reports every problem it finds. */
function parsed<T>(parse: (text: string, addIssue: AddIssue) => T) {
  return v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      let failed = false;
      const output = parse(dataset.value, (info) => {
        failed = true;
        addIssue(info);
      });
      return failed ? NEVER : output;
    }),
  );
}

/** Plain decimal integers only: `1e3`, `0x10`, `+5` and `12abc` are typos, not numbers. */
export function integer(expected: string, accept: (n: number) => boolean) {
  const message = (issue: v.BaseIssue<unknown>) => `must be ${expected}, got ${quote(issue.input)}`;
  return v.pipe(
    v.string(),
    v.regex(/^\d{1,12}$/, message),
    v.transform(Number),
    v.check(accept, message),
  );
}

/** A check that a number lies in [min, max], both included; for v.check. */
export const range = (min: number, max: number) => (n: number) => n >= min && n <= max;

/** A share from 0 to 1 as a plain decimal (`0.5`, `.25`, `1`); no exponents or percent signs. */
export const ratio = v.pipe(
  v.string(),
  v.regex(
    /^(?:0|1|0?\.\d{1,6}|1\.0{1,6})$/,
    (issue) => `must be a decimal from 0 to 1 such as 0.5, got ${quote(issue.input)}`,
  ),
  v.transform(Number),
);

const BOOLEANS: Record<string, boolean> = {
  true: true,
  yes: true,
  "1": true,
  false: false,
  no: false,
  "0": false,
};

export const boolean = parsed((text, addIssue) => {
  const value = BOOLEANS[text.toLowerCase()];
  if (value === undefined) addIssue({ message: `must be true or false, got ${quote(text)}` });
  return value ?? false;
});

/** A case-insensitive choice among fixed words. */
export function choice<const T extends string>(options: readonly T[]) {
  return parsed((text, addIssue) => {
    const lower = text.toLowerCase();
    const found = options.find((o) => o === lower);
    if (!found) addIssue({ message: `must be ${listOr(options)}, got ${quote(text)}` });
    return found as T;
  });
}

function listOr(options: readonly string[]): string {
  return `${options.slice(0, -1).join(", ")} or ${options.at(-1)}`;
}

/**
 * RECORD_COMMENT: at most 100 characters (Cloudflare's limit on Free plans) without control
 * characters; `none` for no comment (undefined).
 */
export const comment = parsed((text, addIssue): string | undefined => {
  if (text.toLowerCase() === "none") return undefined;
  // UTF-16 units, as JavaScript counts: an emoji counts twice, on the safe side of the limit.
  if (text.length > 100) {
    addIssue({
      message: "must be at most 100 characters (the Free plan's limit; an emoji counts as 2)",
    });
  }
  if (/[\p{Cc}\p{Cf}]/u.test(text)) {
    addIssue({
      message: `must not hold control or invisible format characters, got ${quote(text)}`,
    });
  }
  return text;
});

/**
 * The IDNA (UTS #46) ASCII form of a host name, as the URL parser computes it (`node:url`'s
 * domainToASCII does the same, but its import costs start-up time); "" when it is no host name.
 */
function domainToASCII(name: string): string {
  try {
    return new URL(`http://${name}`).hostname;
  } catch {
    return "";
  }
}

/** ASCII characters allowed before IDNA conversion; the conversion silently drops or decodes others (`%41`, `/`). */
const DOMAIN_ASCII = /^[a-z0-9.-]$/i;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A DNS name in lower-case punycode without the trailing dot, of at least `minLabels` labels:
 * managed domains need two (`host.example.com`), a zone may be one (`lan`).
 */
function dnsName(minLabels: 1 | 2) {
  return parsed((text, addIssue) => {
    const name = text.replace(/\.$/, "");
    const fail = (why: string) => {
      // Credentials in the URL are secrets too: never quote them back.
      addIssue({ message: `${why}, got ${quote(text.replace(/\/\/[^/?#]*@/, "//***@"))}` });
      return "";
    };
    if (name.includes("*")) return fail("must be a plain DNS name, not a wildcard");
    const badAscii = [...name].some((c) => c.charCodeAt(0) < 128 && !DOMAIN_ASCII.test(c));
    const ascii = badAscii ? "" : domainToASCII(name);
    if (!ascii) return fail("must be a valid DNS name");
    const labels = ascii.split(".");
    if (labels.length < minLabels) {
      return fail("must have at least two labels (such as host.example.com)");
    }
    if (!labels.every((l) => LABEL.test(l))) {
      return fail("must be a valid DNS name (labels of 1-63 letters, digits or inner hyphens)");
    }
    if (ascii.length > 253) return fail("must be at most 253 characters long");
    if (/^\d+$/.test(labels.at(-1) ?? "")) return fail("must be a DNS name, not an address");
    return ascii;
  });
}

/** A managed domain: a DNS name of two labels or more. */
export const domain = dnsName(2);

/** RFC2136_ZONE: the zone the managed names live in; one label is enough (`lan`). */
export const zone = dnsName(1);

/**
 * Why a zone apex is refused as a managed domain, and how to go on: cleanup deletes every
 * A/AAAA without a heartbeat at a managed name, and an apex usually holds a website's.
 */
export function apexRefusal(domain: string, what: string): string {
  return (
    `${domain} ${what}: cleanup deletes every A/AAAA record at a managed name that has no ` +
    "heartbeat, such as a website's address there. Give dynip a name of its own (internal." +
    `${domain}), or set ALLOW_ZONE_APEX=true if dynip alone publishes addresses at ${domain}`
  );
}

/** Splits a comma list, tolerating whitespace around items and empty items (`a, b,`). */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

export const cidrList = parsed((text, addIssue) => {
  const items = splitList(text);
  if (items.length === 0) addIssue({ message: "must list at least one CIDR range" });
  const cidrs: Cidr[] = [];
  for (const item of items) {
    const [address = "", prefix = "", ...rest] = item.split("/");
    const parsedAddress = parseAddress(address);
    const bits = parsedAddress?.kind() === "ipv6" ? 128 : 32;
    if (!parsedAddress || rest.length > 0 || !/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) {
      addIssue({ message: `${quote(item)} is not a CIDR range such as 10.0.0.0/8 or fd00::/8` });
      continue;
    }
    // Keep the network address so logs show the range meant (10.1.2.3/8 -> 10.0.0.0/8).
    const network =
      parsedAddress.kind() === "ipv6"
        ? ipaddr.IPv6.networkAddressFromCIDR(item)
        : ipaddr.IPv4.networkAddressFromCIDR(item);
    cidrs.push([network, Number(prefix)]);
  }
  return cidrs;
});

/**
 * Interface name globs. Linux names may hold any printable character but `/` and
 * whitespace; `,` separates items and `{}` would turn into brace expansion in Bun.Glob.
 */
const GLOB = /^[\x21-\x7e]+$/;
const GLOB_FORBIDDEN = /[/,{}\\]/;

/**
 * A comma list of interface-name globs (`eth*`, `en?0`): printable ASCII without `/`, `,`,
 * braces or backslashes; with `noneMeansEmpty`, `none` is the empty list. A schema for the
 * raw string; its output keeps the given order.
 */
export function globList(options: { noneMeansEmpty: boolean }) {
  return parsed((text, addIssue) => {
    if (options.noneMeansEmpty && text.toLowerCase() === "none") return [];
    const globs = splitList(text);
    for (const glob of globs) {
      if (!GLOB.test(glob) || GLOB_FORBIDDEN.test(glob)) {
        addIssue({
          message: `${quote(glob)} is not an interface name pattern (letters, digits, punctuation and * ? [ ]; no spaces, / , { } or \\)`,
        });
      } else if (/\[[^\]]*$/.test(glob)) {
        addIssue({ message: `${quote(glob)} has an unclosed [` });
      }
    }
    return globs;
  });
}

/** An address family, or either. */
type FamilyOrAny = Family | "any";

/** ipaddr.js range names, as an operator reads them. */
const RANGE_NAMES: Record<string, string> = {
  private: "a private address",
  carrierGradeNat: "a CGNAT address (100.64.0.0/10)",
  loopback: "a loopback address",
  linkLocal: "a link-local address",
  unspecified: "the unspecified address",
  multicast: "a multicast address",
  broadcast: "the broadcast address",
  reserved: "a reserved or documentation address",
  uniqueLocal: "a unique local address (fc00::/7)",
  ipv4Mapped: "an IPv4-mapped address",
  rfc6145: "a translated address",
  rfc6052: "a NAT64 address",
  "6to4": "a 6to4 address",
  teredo: "a Teredo address",
  benchmarking: "a benchmarking address",
  amt: "an AMT address",
  as112v6: "an AS112 address",
  deprecated: "a deprecated address",
  orchid2: "an ORCHIDv2 address",
  droneRemoteIdProtocolEntityTags: "a reserved address",
};

/** Why `ip` is not public, or undefined when it is (the rule detected addresses follow). */
export function notPublicBecause(ip: string): string | undefined {
  if (isPublic(ip)) return undefined;
  const range = parseAddress(ip)?.range() ?? "";
  return RANGE_NAMES[range] ?? "not a global unicast address";
}

/**
 * `static:<ip>[,<ip>...]`: addresses of the right family, canonical (IPv6 in RFC 5952 form),
 * deduplicated. With `publicOnly` (the external sources) each must be public unicast, by the
 * same rule as detected addresses: a static address is published as this host's public one.
 */
function staticAddresses(
  list: string,
  family: FamilyOrAny,
  addIssue: AddIssue,
  publicOnly = false,
): string[] {
  const items = splitList(list);
  if (items.length === 0) addIssue({ message: "static: needs at least one address" });
  const addresses: string[] = [];
  for (const item of items) {
    const address = parseAddress(item);
    const wanted = family === "any" ? "an IP" : family === "ipv4" ? "an IPv4" : "an IPv6";
    if (!address || (family !== "any" && address.kind() !== family)) {
      addIssue({ message: `static address ${quote(item)} is not ${wanted} address` });
    } else if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
      addIssue({ message: `static address ${quote(item)} is an IPv4-mapped IPv6 address` });
    } else if (publicOnly && notPublicBecause(item) !== undefined) {
      addIssue({
        message: `static address ${quote(item)} is ${notPublicBecause(item)}, not a public one`,
      });
    } else if (!addresses.includes(address.toString())) {
      addresses.push(address.toString());
    }
  }
  return addresses;
}

function echoUrl(text: string, addIssue: AddIssue): string {
  const url = URL.parse(text);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) {
    addIssue({ message: `url: needs an http:// or https:// URL, got ${quote(text)}` });
    return "";
  }
  return url.href;
}

/** Splits `kind:rest` on the first colon only, since URLs and IPv6 addresses hold colons. */
function splitSource(text: string): { kind: string; rest: string | undefined } {
  const colon = text.indexOf(":");
  if (colon < 0) return { kind: text.toLowerCase(), rest: undefined };
  return { kind: text.slice(0, colon).toLowerCase(), rest: text.slice(colon + 1).trim() };
}

/**
 * EXTERNAL_IPV4_SOURCE or EXTERNAL_IPV6_SOURCE (docs/detection.md, "Sources"): `auto`,
 * `interfaces`, `http`, `none`, `url:<http(s) URL>` or `static:<addresses of the family>`. A
 * schema for the raw string; its issues name the value that is wrong.
 */
export function externalSource(family: "ipv4" | "ipv6") {
  return parsed((text, addIssue): ExternalSource => {
    const { kind, rest } = splitSource(text);
    if (rest === undefined && (kind === "auto" || kind === "interfaces" || kind === "http")) {
      return { kind };
    }
    if (rest === undefined && kind === "none") return { kind };
    if (rest !== undefined && kind === "url") return { kind, url: echoUrl(rest, addIssue) };
    if (rest !== undefined && kind === "static") {
      return { kind, addresses: staticAddresses(rest, family, addIssue, true) };
    }
    addIssue({
      message: `must be auto, interfaces, http, url:<URL>, static:<ip>[,<ip>...] or none, got ${quote(text)}`,
    });
    return { kind: "none" };
  });
}

export const internalSource = parsed((text, addIssue): InternalSource => {
  const { kind, rest } = splitSource(text);
  if (rest === undefined && (kind === "interfaces" || kind === "none")) return { kind };
  if (rest !== undefined && kind === "static") {
    return { kind, addresses: staticAddresses(rest, "any", addIssue) };
  }
  addIssue({
    message: `must be interfaces, static:<ip>[,<ip>...] or none, got ${quote(text)}`,
  });
  return { kind: "none" };
});

/** Printable ASCII without spaces: anything else cannot travel in an Authorization header. */
const TOKEN = /^[\x21-\x7e]+$/;
const TOKEN_RULE = "must be printable ASCII without spaces (value not shown)";

/** Messages about tokens never quote the value. */
export const token = parsed((text, addIssue) => {
  registerSecret(text);
  if (!TOKEN.test(text)) addIssue({ message: TOKEN_RULE });
  return text;
});

/** Far above any API token (Cloudflare's are 40) or TSIG secret (88 for hmac-sha512). */
export const MAX_SECRET_FILE_BYTES = 4096;

/** What a secret file holds: the secret, and a warning when others may read the file. */
export interface SecretFile {
  secret: string;
  warning?: string;
}

/**
 * A file holding a secret (CF_API_TOKEN_FILE, RFC2136_TSIG_SECRET_FILE): the secret, trimmed
 * (files usually end in a newline), registered for redaction, checked by `valid` (which says
 * what is wrong, never quoting the secret), and a warning when others may read the file. The
 * warning is logged by the command once the logger has its configured level and format. Only a
 * regular file of at most 4 KiB is read: `/dev/zero` or a FIFO would hang or fill memory. It is
 * opened without blocking and checked on the open descriptor, so nothing can be swapped in
 * between the check and the read.
 */
function secretFile(
  variable: string,
  what: string,
  problem: (secret: string) => string | undefined,
) {
  return parsed((path, addIssue): SecretFile => {
    let content: string;
    let mode: number;
    try {
      ({ content, mode } = readSmallFile(path, MAX_SECRET_FILE_BYTES, `a ${what} file`));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      addIssue({ message: `cannot read ${quote(path)} (${code})` });
      return { secret: "" };
    }
    const secret = content.trim();
    registerSecret(secret);
    const wrong = secret ? problem(secret) : `${quote(path)} is empty`;
    if (wrong) addIssue({ message: secret ? `the ${what} in ${quote(path)} ${wrong}` : wrong });
    return { secret, warning: sharedFileWarning(variable, path, mode) };
  });
}

/** CF_API_TOKEN_FILE: a file holding the API token. */
export const tokenFile = secretFile("CF_API_TOKEN_FILE", "token", (secret) =>
  TOKEN.test(secret) ? undefined : TOKEN_RULE,
);

function sharedFileWarning(variable: string, path: string, mode: number): string | undefined {
  // Windows has no Unix permission bits; its mode is synthesised and always looks shared.
  if (process.platform === "win32" || (mode & 0o077) === 0) return undefined;
  // chmod 600 alone could lock out the user dynip runs as (uid 65532 in the image) when the
  // file belongs to root: say who must own it.
  const uid = process.getuid?.();
  const owner = uid === undefined ? "" : `chown ${uid} ${path} && `;
  return `${variable}: ${path} is readable by group or others; run ${owner}chmod 400 ${path} (only the user dynip runs as needs to read it)`;
}

const SECRET_RULE = "must be base64, as tsig-keygen prints it (value not shown)";

/** RFC2136_TSIG_SECRET: base64 (RFC 8945 keys as tsig-keygen prints them); never quoted back. */
export const tsigSecret = parsed((text, addIssue) => {
  registerSecret(text);
  if (!secretBytes(text)) addIssue({ message: SECRET_RULE });
  return text;
});

/** RFC2136_TSIG_SECRET_FILE: a file holding the secret, as CF_API_TOKEN_FILE holds the token. */
export const tsigSecretFile = secretFile("RFC2136_TSIG_SECRET_FILE", "secret", (secret) =>
  secretBytes(secret) ? undefined : SECRET_RULE,
);

/**
 * RFC2136_TSIG_KEY: the key's name as named.conf's `key "<name>"` spells it, a DNS name of
 * letters, digits, `-` and `_`, lower-cased (names compare case-insensitively on the wire).
 */
export const tsigKeyName = parsed((text, addIssue) => {
  const name = text.replace(/\.$/, "").toLowerCase();
  const labels = name.split(".");
  const valid = labels.every((l) => /^[a-z0-9_-]{1,63}$/.test(l)) && name.length <= 253;
  if (!valid) {
    addIssue({
      message: `must be a key name such as dynip-key (letters, digits, - and _ in dot-separated labels), got ${quote(text)}`,
    });
  }
  return name;
});

/** The placeholder a notification URL may hold for the instance id (per-host checks). */
export const INSTANCE_PLACEHOLDER = "{instance}";

/** Longest notification URL taken: far beyond a ping or webhook URL, short enough for a log. */
const MAX_URL_LENGTH = 2048;

/** Why `text` is not a notification URL, never quoting it (its path or query is a key). */
function notifyUrlProblem(text: string): string | undefined {
  if (text.length > MAX_URL_LENGTH)
    return `must be at most ${MAX_URL_LENGTH} characters (value not shown)`;
  let url: URL;
  try {
    url = new URL(text.replaceAll(INSTANCE_PLACEHOLDER, "x"));
  } catch {
    return "must be an http:// or https:// URL (value not shown)";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return "must be an http:// or https:// URL (value not shown)";
  }
  return undefined;
}

/**
 * HEALTHCHECKS_URL, UPTIMEKUMA_URL: one http(s) URL, which may hold `{instance}`. A secret:
 * registered for redaction, never quoted back.
 */
export const notifyUrl = parsed((text, addIssue) => {
  registerSecret(text);
  const problem = notifyUrlProblem(text);
  if (problem) addIssue({ message: problem });
  return text;
});

/** Most webhook URLs taken in one list. */
const MAX_WEBHOOKS = 10;

/** The URLs of a list: split at commas and line ends, trimmed, empty items dropped. */
export function splitUrls(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((u) => u.trim())
    .filter(Boolean);
}

/** WEBHOOK_URL: a comma list of such URLs (a comma inside one is written %2C). */
function urlList(text: string, addIssue: AddIssue): string[] {
  const urls = splitUrls(text);
  for (const url of urls) registerSecret(url);
  if (urls.length > MAX_WEBHOOKS) addIssue({ message: `must list at most ${MAX_WEBHOOKS} URLs` });
  urls.forEach((url, i) => {
    const problem = notifyUrlProblem(url);
    if (problem) addIssue({ message: `URL ${i + 1}: ${problem}` });
  });
  return urls;
}

export const notifyUrlList = parsed(urlList);

/** HEALTHCHECKS_URL_FILE, UPTIMEKUMA_URL_FILE: a file holding the URL, as secret files are read. */
export function notifyUrlFile(variable: string) {
  return secretFile(variable, "URL", notifyUrlProblem);
}

/** WEBHOOK_URL_FILE: a file holding the URLs, one per line or comma-separated. */
export const webhookUrlFile = secretFile("WEBHOOK_URL_FILE", "URL list", (content) => {
  const problems: string[] = [];
  urlList(content, ({ message }) => problems.push(message));
  return problems.length > 0 ? problems.join("; ") : undefined;
});

/** Where a DNS server listens: an address or host name, and a port. */
export interface ServerAddress {
  /** An IPv4 or IPv6 literal (canonical, IPv6 without brackets), or a host name. */
  host: string;
  port: number;
}

/**
 * RFC2136_SERVER: `host` or `host:port`, the host an IPv4 or IPv6 literal (`[::1]:5353` with a
 * port, `::1` without) or a host name; the port 1-65535, 53 when left out.
 */
export const dnsServer = parsed((text, addIssue): ServerAddress => {
  const fail = (why: string) => {
    addIssue({ message: `${why}, got ${quote(text)}` });
    return { host: "", port: 53 };
  };
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const plain = bracketed ? undefined : /^([^:]+)(?::(\d{1,5}))?$/.exec(text);
  const [host, portText] = bracketed
    ? [bracketed[1] as string, bracketed[2]]
    : plain
      ? [plain[1] as string, plain[2]]
      : [text, undefined];
  const port = portText === undefined ? 53 : Number(portText);
  if (!(port >= 1 && port <= 65535)) return fail("the port must be from 1 to 65535");
  const address = parseAddress(host);
  if (address) return { host: format(address), port };
  if (bracketed || host.includes(":")) {
    return fail("must be host, host:port, an IPv6 address or [IPv6]:port");
  }
  const name = host.replace(/\.$/, "").toLowerCase();
  if (!name.split(".").every((l) => LABEL.test(l))) {
    return fail("must be an address or a host name, optionally with :port");
  }
  return { host: name, port };
});

/** HEALTH_ADDRESS: an IPv4 or IPv6 literal to listen on, canonical. */
export const listenAddress = parsed((text, addIssue) => {
  const address = parseAddress(text.replace(/^\[(.*)\]$/, "$1"));
  if (!address) {
    addIssue({
      message: `must be an IPv4 or IPv6 address such as 0.0.0.0 or ::, got ${quote(text)}`,
    });
    return "";
  }
  return address.kind() === "ipv6"
    ? (address as ipaddr.IPv6).toRFC5952String()
    : address.toString();
});

export const zoneId = v.pipe(
  v.string(),
  v.regex(
    /^[0-9a-f]{32}$/i,
    (issue) => `must be 32 hexadecimal characters, got ${quote(issue.input)}`,
  ),
  v.toLowerCase(),
);

function isLoopback(hostname: string): boolean {
  const host = hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
  if (host === "localhost") return true;
  const address = parseAddress(host);
  return address?.range() === "loopback";
}

export const apiUrl = parsed((text, addIssue) => {
  const url = URL.parse(text);
  const fail = (why: string) => {
    // Credentials in the URL are secrets too: never quote them back.
    addIssue({ message: `${why}, got ${quote(text.replace(/\/\/[^/?#]*@/, "//***@"))}` });
    return "";
  };
  if (!url?.hostname)
    return fail("must be an absolute URL such as https://api.cloudflare.com/client/v4");
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    return fail("must use https:// (plain http:// is accepted only for loopback hosts)");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return fail("must be an https:// URL");
  // Credentials would end up in logs; a query or fragment would break the paths appended to it.
  if (url.username || url.password) return fail("must not hold credentials");
  if (url.search || url.hash) return fail("must not have a query or fragment");
  return url.href.replace(/\/+$/, "");
});

/** 1-100 printable ASCII characters without `,` `"` `\` (docs/records.md, "Instance ids"): it is written into TXT content. */
export const instanceId = v.pipe(
  v.string(),
  v.regex(
    /^[\x21-\x7e]{1,100}$/,
    (issue) => `must be 1-100 printable ASCII characters without spaces, got ${quote(issue.input)}`,
  ),
  v.regex(/^[^,"\\]*$/, (issue) => `must not contain , " or \\, got ${quote(issue.input)}`),
);
