#!/usr/bin/env bash
# Writes the whole filesystem of the scratch image into DIR:
#
#   /dynip                       the binary, compiled for this machine (linux x64 glibc on
#                                an x64 build host; arm64 on an arm64 one)
#   /lib*/..., /usr/lib*/...     the ELF loader and the shared libraries ldd names for it
#   /etc/passwd, /etc/group      one unprivileged user and group: dynip, 65532
#
# Nothing else. No CA bundle: Bun ships Mozilla's root store inside the binary and uses
# it for HTTPS (tls.rootCertificates is populated with no file on disk). No /tmp: dynip
# writes no files. Docker adds /proc, /dev, /etc/hosts and /etc/resolv.conf at run time;
# glibc >= 2.34 resolves names without loading NSS modules from disk.
#
# Usage: scripts/rootfs.sh DIR
#   DYNIP_BINARY=path   use that binary instead of compiling one. By default the script
#                       always compiles from the current sources (scripts/build.ts, with its
#                       start check), so an image never ships a stale dist/dynip.
#
# Running it again over the same DIR rewrites the same files.
set -euo pipefail

die() {
  echo "rootfs.sh: $*" >&2
  exit 1
}

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: scripts/rootfs.sh DIR"
for tool in ldd install; do
  command -v "$tool" >/dev/null || die "$tool is required (glibc's ldd, coreutils' install)"
done

root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
[ "$dir" != / ] || die "refusing to write into /"

if [ -n "${DYNIP_BINARY:-}" ]; then
  [ -x "$DYNIP_BINARY" ] || die "DYNIP_BINARY=$DYNIP_BINARY is not an executable file"
  install -m 0755 "$DYNIP_BINARY" "$dir/dynip"
else
  command -v bun >/dev/null || die "bun is needed to compile dynip (or set DYNIP_BINARY)"
  (cd "$root" && bun scripts/build.ts "$dir/dynip") >&2 || die "compiling dynip failed"
  chmod 0755 "$dir/dynip"
fi

# ldd prints "name => /path (addr)" per library and "/path (addr)" for the loader; the
# vDSO has no file. A library ldd cannot find would make the image fail at start.
deps=$(ldd "$dir/dynip") || die "ldd cannot read $dir/dynip (not a dynamic executable for this machine?)"
if grep -q "not found" <<<"$deps"; then
  die "missing shared libraries: $(grep "not found" <<<"$deps" | tr -s ' \t' ' ')"
fi
libs=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps" | sort -u)
[ -n "$libs" ] || die "ldd lists no libraries for $dir/dynip"

# The same path inside the image, as a regular file: symlinks (/lib64/ld-linux-x86-64.so.2,
# merged /usr) are followed so the loader and libraries resolve with no link farm.
while IFS= read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$dir$lib"
done <<<"$libs"

# Bun finds its program through /proc/self/exe and aborts at start without it ("Bun has
# crashed ... abort()"): Docker and Kubernetes mount /proc here; under chroot, mount it first.
install -d -m 0555 "$dir/proc"
install -d -m 0755 "$dir/etc"
printf 'dynip:x:65532:65532:dynip:/nonexistent:/sbin/nologin\n' >"$dir/etc/passwd"
printf 'dynip:x:65532:\n' >"$dir/etc/group"
chmod 0644 "$dir/etc/passwd" "$dir/etc/group"

echo "rootfs in $dir: $(du -sh "$dir" | cut -f1), libraries: $(tr '\n' ' ' <<<"$libs")" >&2
