/**
 * What kind of link an interface is, read from the kernel (sysfs), so that guest networks are
 * left out however their bridges are named: docker0, nerdctl0, incusbr0, mpqemubr0, virbr0,
 * vboxnet…, a name list can never be complete. Linux only; elsewhere nothing is known and
 * nothing is left out by kind.
 */
import { nodeFs } from "../lazy-node.ts";

/** Path segments joined with `/` (sysfs paths; `node:path` costs start-up time). */
const join = (...parts: string[]): string => parts.join("/").replace(/\/{2,}/g, "/");

/**
 * - `bridge`: a Linux bridge (`<if>/bridge/` exists);
 * - `tun`: a tun or tap device (`<if>/tun_flags`): a VM's or VPN's end;
 * - `veth`: one end of a virtual Ethernet pair: a virtual device without a device type whose
 *   `iflink` names another interface (its peer) and that has no lower device (unlike macvlan,
 *   ipvlan and VLANs, which name their parent as a `lower_*` link);
 * - `uplink`: anything else the kernel knows: a NIC, bond, VLAN, dummy, macvlan…;
 * - `unknown`: not in sysfs (no such interface, no sysfs, not Linux).
 */
export type LinkKind = "bridge" | "tun" | "veth" | "uplink" | "unknown";

/** Where the kernel lists network interfaces. */
export const SYS_CLASS_NET = "/sys/class/net";

/** The kind of interface `name`, as sysfs under `root` describes it; never throws. */
export function linkKind(name: string, root = SYS_CLASS_NET): LinkKind {
  const dir = join(root, name);
  try {
    if (!nodeFs().existsSync(dir)) return "unknown";
    if (nodeFs().existsSync(join(dir, "bridge"))) return "bridge";
    if (nodeFs().existsSync(join(dir, "tun_flags"))) return "tun";
    const virtual = nodeFs().readlinkSync(dir).includes("/devices/virtual/");
    const typed = /^DEVTYPE=/m.test(read(join(dir, "uevent")));
    const peered = read(join(dir, "iflink")).trim() !== read(join(dir, "ifindex")).trim();
    const lower = nodeFs()
      .readdirSync(dir)
      .some((entry) => entry.startsWith("lower_"));
    return virtual && !typed && peered && !lower ? "veth" : "uplink";
  } catch {
    return "unknown";
  }
}

/** Ports that only ever lead to guests: containers (veth), VMs (tap), nested bridges. */
const GUEST_PORTS: ReadonlySet<LinkKind> = new Set(["veth", "tun", "bridge"]);

/**
 * Whether `name` is a bridge of a guest network: a bridge with no ports, or whose ports are
 * all veth, tun/tap or bridges (containers and VMs behind it share its address on every host:
 * 172.17.0.1 on docker0, 10.0.3.1 on lxcbr0). A bridge that enslaves an uplink (a NIC, bond,
 * VLAN, dummy…) carries the host's own LAN (`br0` on a KVM host) and is not a guest network.
 * Anything that is not a bridge, or unknown to sysfs, is not one either. Never throws.
 */
export function isGuestBridge(name: string, root = SYS_CLASS_NET): boolean {
  if (linkKind(name, root) !== "bridge") return false;
  let ports: string[];
  try {
    ports = nodeFs().readdirSync(join(root, name, "brif"));
  } catch {
    return false;
  }
  return ports.every((port) => leadsToGuests(port, root, 0));
}

/**
 * Whether a bridge port only ever leads to guests. A port stacked on other devices (a VLAN,
 * a bond, a macvlan: `lower_*` links) is judged by what it is stacked on, down to the bottom,
 * so a VLAN on a veth is a guest's and a VLAN on a NIC is an uplink. A port gone by the time it
 * is looked at (a container stopping) leads nowhere and does not count as an uplink.
 */
function leadsToGuests(port: string, root: string, depth: number): boolean {
  const kind = linkKind(port, root);
  if (kind === "unknown" || GUEST_PORTS.has(kind)) return true;
  const lower = lowerDevices(port, root);
  if (lower.length === 0 || depth >= 8) return false;
  return lower.every((device) => leadsToGuests(device, root, depth + 1));
}

/** The devices `name` is stacked on, from its `lower_<device>` links. */
function lowerDevices(name: string, root: string): string[] {
  try {
    return nodeFs()
      .readdirSync(join(root, name))
      .filter((entry) => entry.startsWith("lower_"))
      .map((entry) => entry.slice("lower_".length));
  } catch {
    return [];
  }
}

function read(path: string): string {
  try {
    return nodeFs().readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
