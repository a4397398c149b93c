/**
 * Link kinds from a sysfs tree written the way the kernel lays it out (the real kernel is
 * tested in tests/ip-netns.test.ts): each interface a symlink into /devices, with the files
 * that tell its kind.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isGuestBridge, type LinkKind, linkKind } from "../src/detect/link-kind.ts";

const root = mkdtempSync(join(tmpdir(), "dynip-sysfs-"));
const classNet = join(root, "class/net");
mkdirSync(classNet, { recursive: true });
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Fake {
  /** Under /devices/virtual (default) or a PCI device. */
  physical?: boolean;
  devtype?: string;
  ifindex: number;
  iflink?: number;
  /** Directories present: bridge, brif, tun_flags, lower_<dev>. */
  extra?: string[];
  ports?: string[];
}

function link(name: string, fake: Fake): void {
  const parent = fake.physical ? "devices/pci0000:00/0000:00:03.0/net" : "devices/virtual/net";
  const dir = join(root, parent, name);
  mkdirSync(dir, { recursive: true });
  const uevent = [...(fake.devtype ? [`DEVTYPE=${fake.devtype}`] : []), `INTERFACE=${name}`];
  writeFileSync(join(dir, "uevent"), `${uevent.join("\n")}\n`);
  writeFileSync(join(dir, "ifindex"), `${fake.ifindex}\n`);
  writeFileSync(join(dir, "iflink"), `${fake.iflink ?? fake.ifindex}\n`);
  for (const entry of fake.extra ?? []) mkdirSync(join(dir, entry), { recursive: true });
  if (fake.ports) {
    mkdirSync(join(dir, "brif"), { recursive: true });
    for (const port of fake.ports) symlinkSync(`../../${port}`, join(dir, "brif", port));
  }
  symlinkSync(`../../${parent}/${name}`, join(classNet, name));
}

link("eth0", { physical: true, ifindex: 2 });
link("veth1", { ifindex: 3, iflink: 4 });
link("mv0", { ifindex: 5, iflink: 2, extra: ["lower_eth0"] });
link("eth0.5", { devtype: "vlan", ifindex: 6, iflink: 2, extra: ["lower_eth0"] });
link("bond0", { devtype: "bond", ifindex: 7, extra: ["bonding"] });
link("dummy0", { ifindex: 8 });
link("tap0", { ifindex: 9, extra: ["tun_flags"] });
link("docker0", { devtype: "bridge", ifindex: 10, extra: ["bridge"], ports: [] });
link("cni0", { devtype: "bridge", ifindex: 11, extra: ["bridge"], ports: ["veth1"] });
link("virbr0", { devtype: "bridge", ifindex: 12, extra: ["bridge"], ports: ["tap0"] });
link("br0", { devtype: "bridge", ifindex: 13, extra: ["bridge"], ports: ["eth0", "tap0"] });
link("br1", { devtype: "bridge", ifindex: 14, extra: ["bridge"], ports: ["bond0"] });
link("br2", { devtype: "bridge", ifindex: 15, extra: ["bridge"], ports: ["eth0.5"] });
link("br3", { devtype: "bridge", ifindex: 16, extra: ["bridge"], ports: ["dummy0", "veth1"] });
link("veth1.5", { devtype: "vlan", ifindex: 17, iflink: 3, extra: ["lower_veth1"] });
link("bond1", { devtype: "bond", ifindex: 18, extra: ["bonding", "lower_veth1"] });
link("br4", { devtype: "bridge", ifindex: 19, extra: ["bridge"], ports: ["veth1.5"] });
link("br5", { devtype: "bridge", ifindex: 20, extra: ["bridge"], ports: ["bond1"] });
link("br6", { devtype: "bridge", ifindex: 21, extra: ["bridge"], ports: ["gone0", "veth1"] });

describe("linkKind", () => {
  test.each([
    ["eth0", "uplink"],
    ["veth1", "veth"],
    ["mv0", "uplink"],
    ["eth0.5", "uplink"],
    ["bond0", "uplink"],
    ["dummy0", "uplink"],
    ["tap0", "tun"],
    ["docker0", "bridge"],
    ["nothing0", "unknown"],
  ] satisfies [string, LinkKind][])("%s is %s", (name, kind) => {
    expect(linkKind(name, classNet)).toBe(kind);
  });

  test("without sysfs nothing is known", () => {
    expect(linkKind("eth0", join(root, "missing"))).toBe("unknown");
  });
});

describe("isGuestBridge", () => {
  test.each([
    ["docker0", "a bridge without ports", true],
    ["cni0", "only veth ports (containers)", true],
    ["virbr0", "only tap ports (VMs)", true],
    ["br0", "a NIC among its ports", false],
    ["br1", "a bond", false],
    ["br2", "a VLAN", false],
    ["br3", "a dummy beside a veth", false],
    ["br4", "a VLAN on a veth: judged by what it sits on", true],
    ["br5", "a bond of veths", true],
    ["br6", "a port gone while read (a container stopping) beside a veth", true],
    ["eth0", "not a bridge", false],
    ["veth1", "a veth end is an interface of this host", false],
    ["nothing0", "unknown", false],
  ])("%s (%s): %p", (name, _why, guest) => {
    expect(isGuestBridge(name, classNet)).toBe(guest);
  });
});
