/**
 * Private network namespaces for tests that need real interfaces. Each run is one
 * `unshare --net` process: the namespace, with every link made in it, disappears when that
 * process exits, so nothing leaks onto the host even when a test is killed. Nothing ever
 * sends traffic: the links exist only to be listed by os.networkInterfaces().
 */

export interface Link {
  name: string;
  /**
   * veth (both ends up, so the kernel reports it running; its peer is `<name>p`), a bridge
   * like docker0, an ifb (a plain virtual device, standing in for a NIC where the kernel has
   * no `dummy` driver) or a tap device (a VM's end).
   */
  kind: "veth" | "bridge" | "ifb" | "tap";
  /** Links to enslave to this bridge (a veth's own name enslaves its peer, the host's end). */
  ports?: string[];
  /** CIDR notation; IPv6 addresses get `nodad` so they are usable at once. */
  addresses: string[];
  /** Extra `ip` arguments run after the link is up, e.g. an address with lifetimes. */
  extra?: string[][];
  sysctls?: Record<string, string>;
}

/** Shell commands that create the links; `sh -e` stops at the first that fails. */
export function setupScript(links: Link[]): string {
  const lines = ["ip link set lo up"];
  for (const link of links) {
    const name = shellWord(link.name);
    if (link.kind === "veth") {
      const peer = shellWord(`${link.name}p`);
      lines.push(`ip link add ${name} type veth peer name ${peer}`, `ip link set ${peer} up`);
    } else if (link.kind === "tap") {
      lines.push(`ip tuntap add dev ${name} mode tap`);
    } else {
      lines.push(`ip link add ${name} type ${link.kind}`);
    }
    for (const port of link.ports ?? []) {
      const kind = links.find((l) => l.name === port)?.kind;
      lines.push(`ip link set ${shellWord(kind === "veth" ? `${port}p` : port)} master ${name}`);
    }
    for (const [key, value] of Object.entries(link.sysctls ?? {})) {
      lines.push(`sysctl -q -w ${shellWord(`net.ipv6.conf.${link.name}.${key}=${value}`)}`);
    }
    lines.push(`ip link set ${name} up`);
    for (const address of link.addresses) {
      const nodad = address.includes(":") ? " nodad" : "";
      lines.push(`ip addr add ${shellWord(address)} dev ${name}${nodad}`);
    }
    for (const args of link.extra ?? []) lines.push(`ip ${args.map(shellWord).join(" ")}`);
  }
  return lines.join("\n");
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Mounts the namespace's own sysfs (needs the `--mount` namespace too): /sys/class/net then
 * lists this namespace's links and their kinds, not the host's.
 */
export const OWN_SYSFS = "mount -t sysfs sysfs /sys";

/** Runs `setup` then `command` inside a fresh network namespace that dies with them. */
export async function runInNamespace(
  setup: string,
  command: string[],
  timeoutMs = 20_000,
  namespaces: string[] = ["--net"],
): Promise<RunResult> {
  const proc = Bun.spawn(
    ["unshare", ...namespaces, "sh", "-ec", `${setup}\nexec "$@"`, "sh", ...command],
    {
      stdout: "pipe",
      stderr: "pipe",
      timeout: timeoutMs,
    },
  );
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

/**
 * Why namespace tests cannot run here, or undefined when they can. The probe does what the
 * tests do (a veth pair and an IPv6 sysctl inside a new namespace), so a container that
 * allows unshare but mounts /proc/sys read-only is reported instead of failing tests.
 */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces exist only on Linux";
  if (process.getuid?.() !== 0) return "needs root to create network namespaces";
  for (const tool of ["unshare", "ip", "sysctl"]) {
    if (!Bun.which(tool)) return `\`${tool}\` is not installed`;
  }
  const probe = setupScript([
    { name: "probe0", kind: "veth", addresses: [], sysctls: { use_tempaddr: "2" } },
  ]);
  const result = Bun.spawnSync(["unshare", "--net", "sh", "-ec", probe], { timeout: 10_000 });
  if (result.exitCode !== 0) {
    return `cannot set up a network namespace: ${result.stderr.toString().trim() || `exit ${result.exitCode}`}`;
  }
  return undefined;
}

function shellWord(word: string): string {
  return /^[\w.:/=+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
