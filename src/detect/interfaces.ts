import type { NetworkInterfaceInfo } from "node:os";
import ipaddr from "ipaddr.js";
import { nodeFs, nodeOs } from "../lazy-node.ts";
import { log } from "../observe/log.ts";
import { type Family, format, inCidrs, isPublic, parseAddress, sortAddresses } from "./cidr.ts";
import { isGuestBridge, SYS_CLASS_NET } from "./link-kind.ts";
import type { Cidr, SourceResult } from "./source-types.ts";

export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** One address found on an interface, in canonical form. */
export interface InterfaceAddress {
  name: string;
  address: string;
  family: Family;
}

// Flags of /proc/net/if_inet6 (linux/if_addr.h) for addresses that must not be published:
// privacy addresses rotate daily, deprecated ones are on their way out (an old prefix after
// a renumbering), and one that failed duplicate address detection is unusable.
const IFA_F_TEMPORARY = 0x01;
const IFA_F_DADFAILED = 0x08;
const IFA_F_DEPRECATED = 0x20;
const UNPUBLISHABLE = IFA_F_TEMPORARY | IFA_F_DADFAILED | IFA_F_DEPRECATED;
const IF_INET6_LINE = /^([0-9a-f]{32}) +\S+ +\S+ +\S+ +([0-9a-f]+) +(\S+) *$/gim;

/**
 * The addresses in `/proc/net/if_inet6` the kernel flags as temporary, deprecated or failed,
 * as `interface address` keys. nodeOs().networkInterfaces() does not report these flags. Empty where
 * the file does not exist (not Linux): there every global address counts as stable.
 */
export function unpublishableIPv6(ifInet6 = readIfInet6()): Set<string> {
  const keys = new Set<string>();
  // Columns: address (32 hex digits), ifindex, prefix length, scope, flags, interface name.
  for (const [, hex = "", flags = "0", name] of ifInet6.matchAll(IF_INET6_LINE)) {
    if ((Number.parseInt(flags, 16) & UNPUBLISHABLE) === 0) continue;
    const groups = hex.match(/.{4}/g) ?? [];
    keys.add(`${name} ${format(new ipaddr.IPv6(groups.map((g) => Number.parseInt(g, 16))))}`);
  }
  return keys;
}

/**
 * `/proc/self/net` first: systemd's ProcSubset=pid (as in the shipped units) hides
 * `/proc/net` but keeps the process's own directory, and without the flags temporary and
 * deprecated addresses would be published.
 */
function readIfInet6(): string {
  for (const path of ["/proc/self/net/if_inet6", "/proc/net/if_inet6"]) {
    try {
      return nodeFs().readFileSync(path, "utf8");
    } catch {}
  }
  log.debug("cannot read if_inet6: temporary and deprecated IPv6 addresses cannot be told apart");
  return "";
}

/**
 * Addresses on the interfaces that could ever be published: loopback, link-local, scoped
 * IPv6 and kernel-flagged unstable IPv6 addresses are left out. `ifaces` defaults to the
 * host's; the kernel flags are read only for the host's own interfaces unless `ifInet6`
 * (the text of /proc/net/if_inet6) is given.
 */
export function listInterfaceAddresses(ifaces?: Interfaces, ifInet6?: string): InterfaceAddress[] {
  const unstable =
    ifInet6 !== undefined || ifaces === undefined ? unpublishableIPv6(ifInet6) : new Set();
  const found: InterfaceAddress[] = [];
  for (const [name, infos] of Object.entries(ifaces ?? nodeOs().networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.internal || (info.scopeid ?? 0) !== 0) continue;
      const parsed = parseAddress(info.address);
      if (!parsed || ["loopback", "linkLocal", "unspecified"].includes(parsed.range())) continue;
      const address = format(parsed);
      if (unstable.has(`${name} ${address}`)) continue;
      found.push({ name, address, family: parsed.kind() });
    }
  }
  return found;
}

/** Glob characters: an INTERFACES item without them names one interface exactly. */
const GLOB_CHARS = /[*?[]/;

/**
 * Interface globs: `include` empty means every interface; `exclude` wins over an included
 * glob, and a guest network's bridge (see isGuestBridge) is left out. An interface that
 * `include` names exactly (no glob characters, `INTERFACES=incusbr0`) is the operator's choice:
 * neither `exclude` nor the bridge rule removes it.
 */
export function interfaceFilter(
  include: string[],
  exclude: string[],
  isGuest: (name: string) => boolean = () => false,
): (name: string) => boolean {
  const named = new Set(include.filter((pattern) => !GLOB_CHARS.test(pattern)));
  const included = include.map((pattern) => new Bun.Glob(pattern));
  const excluded = exclude.map((pattern) => new Bun.Glob(pattern));
  const guests = new Map<string, boolean>();
  const guest = (name: string) => guests.get(name) ?? guests.set(name, isGuest(name)).get(name);
  return (name) => {
    if (named.has(name)) return true;
    if (included.length > 0 && !included.some((glob) => glob.match(name))) return false;
    return !excluded.some((glob) => glob.match(name)) && !guest(name);
  };
}

/** Which interfaces to read, and where from. */
export interface SelectOptions {
  /** INTERFACES globs; empty means every interface. */
  include: string[];
  /** EXCLUDE_INTERFACES globs. */
  exclude: string[];
  /** Replaces nodeOs().networkInterfaces() (tests). */
  interfaces?: Interfaces;
  /** Replaces the text of /proc/net/if_inet6 (tests). */
  ifInet6?: string;
  /**
   * The sysfs directory link kinds are read from. Default: /sys/class/net for the host's own
   * interfaces; none (no kind known) when `interfaces` is given.
   */
  sysfs?: string;
}

/**
 * The publishable addresses on the selected interfaces. Throws an Error when INTERFACES is
 * set and names no interface that exists here (a typo such as `eht0`): finding no address
 * there would withdraw every record this host published.
 */
function selectAddresses(options: SelectOptions): InterfaceAddress[] {
  const ifaces = options.interfaces ?? nodeOs().networkInterfaces();
  const sysfs = options.sysfs ?? (options.interfaces === undefined ? SYS_CLASS_NET : undefined);
  linkNames(sysfs); // says once when sysfs cannot be read
  const isGuest = sysfs === undefined ? undefined : (name: string) => isGuestBridge(name, sysfs);
  const wanted = interfaceFilter(options.include, options.exclude, isGuest);
  if (options.include.length > 0) {
    const names = [...new Set([...Object.keys(ifaces), ...linkNames(sysfs)])].sort();
    const globs = options.include.map((pattern) => new Bun.Glob(pattern));
    const matched = names.filter((name) => globs.some((glob) => glob.match(name)));
    const setting = `INTERFACES=${options.include.join(",")}`;
    if (matched.length === 0) {
      throw new Error(
        `${setting} matches no interface on this host (there are: ${names.join(", ") || "none"})`,
      );
    }
    if (!matched.some(wanted)) {
      throw new Error(
        `${setting} matches only ${matched.join(", ")}, which EXCLUDE_INTERFACES or the ` +
          "guest-bridge rule leave out; name an interface exactly in INTERFACES to publish it anyway",
      );
    }
  }
  return listInterfaceAddresses(options.interfaces, options.ifInet6).filter((entry) =>
    wanted(entry.name),
  );
}

let warnedNoSysfs = false;

/**
 * The links sysfs lists. On Linux, a sysfs that cannot be read (a container without /sys)
 * turns the bridge rule off: said once, at warning level, since guest bridges may then be
 * published unless EXCLUDE_INTERFACES names them.
 */
function linkNames(sysfs: string | undefined): string[] {
  if (sysfs === undefined) return [];
  try {
    return nodeFs().readdirSync(sysfs);
  } catch (error) {
    if (process.platform === "linux" && !warnedNoSysfs) {
      warnedNoSysfs = true;
      log.warn(
        `cannot read ${sysfs} (${(error as NodeJS.ErrnoException).code ?? error}): guest networks' bridges cannot be told by kind, only by EXCLUDE_INTERFACES; mount /sys`,
      );
    }
    return [];
  }
}

export interface InternalOptions extends SelectOptions {
  cidrs: Cidr[];
}

/** INTERNAL_IP_SOURCE=interfaces: addresses inside INTERNAL_CIDRS on the selected interfaces. */
export function detectInternal(options: InternalOptions): SourceResult {
  const source = "interfaces";
  try {
    const addresses = selectAddresses(options)
      .filter((entry) => inCidrs(entry.address, options.cidrs))
      .map((entry) => entry.address);
    return { ok: true, source, addresses: sortAddresses(addresses) };
  } catch (error) {
    return { ok: false, source, error: describeFailure(error) };
  }
}

/**
 * Public IPv4 or global IPv6 addresses on the selected interfaces (for `auto`/`interfaces`).
 * Throws what selectAddresses throws.
 */
export function publicFromInterfaces(family: Family, options: SelectOptions): string[] {
  const addresses = selectAddresses(options)
    .filter((entry) => entry.family === family && isPublic(entry.address))
    .map((entry) => entry.address);
  return sortAddresses(addresses);
}

function describeFailure(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
