/** Detection defaults (docs/detection.md, "Interfaces and bridges"), kept beside the code they shape so config and tests share one copy. */
export const DEFAULT_INTERNAL_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/** Bridges and overlays every container host shares (172.17.0.1 on docker0): never published. */
export const DEFAULT_EXCLUDE_INTERFACES = [
  "lo",
  "docker*",
  "br-*",
  "veth*",
  "virbr*",
  "cni*",
  "flannel*",
  "cali*",
  "cilium*",
  "podman*",
  "lxcbr*",
  "lxdbr*",
  "kube-*",
  "weave*",
  "vxlan*",
  "tunl*",
  // Host-only networks of VirtualBox and VMware are not Linux bridges: the kind rule
  // (src/detect/link-kind.ts) cannot see them.
  "vboxnet*",
  "vmnet*",
];
