#!/usr/bin/env bash
# Installs dynip for systemd:
#   /usr/local/bin/dynip                      the binary (0755), replaced on every run
#   /etc/systemd/system/dynip-update.service  one update pass
#   /etc/systemd/system/dynip-update.timer    ... every 5 minutes
#   /etc/systemd/system/dynip-cleanup.service the environment's long-lived cleanup
#   /etc/dynip/dynip.env                      settings template (0600), never overwritten
#
# Usage: [DESTDIR=/stage] scripts/install.sh [BINARY]   (BINARY defaults to dist/dynip)
# With DESTDIR set, everything goes under that root and systemctl is not called (for
# packaging and images); without it, it runs `systemctl daemon-reload`.
set -euo pipefail

die() {
  echo "install.sh: $*" >&2
  exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../dist/dynip}
destdir=${DESTDIR:-}
[ -f "$binary" ] && [ -x "$binary" ] || die "no executable at $binary: run \`bun run build\` or pass the binary"
# A Linux (ELF) executable, and for this machine's architecture unless it is only staged.
[ "$(head -c 4 "$binary" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] ||
  die "$binary is not a Linux executable (built for another OS?): use dist/dynip-linux-<arch>"
case $(od -An -tu2 -j 18 -N 2 "$binary" | tr -d ' \n') in # e_machine
  62) arch=x86_64 ;;
  183) arch=aarch64 ;;
  *) arch=unknown ;;
esac
[ -n "$destdir" ] || [ "$arch" = "$(uname -m)" ] ||
  die "$binary is built for $arch, this machine is $(uname -m): use dist/dynip-linux-<arch> for it"
[ -n "$destdir" ] || [ "$(id -u)" -eq 0 ] || die "run as root (or set DESTDIR to stage the files)"

install -D -m 0755 "$binary" "$destdir/usr/local/bin/dynip"
for unit in dynip-update.service dynip-update.timer dynip-cleanup.service; do
  install -D -m 0644 "$here/systemd/$unit" "$destdir/etc/systemd/system/$unit"
done

env_file=$destdir/etc/dynip/dynip.env
install -d -m 0700 "$destdir/etc/dynip"
if [ -e "$env_file" ]; then
  echo "kept $env_file (already there)"
else
  # umask first: the token must never be readable by others, not even for a moment.
  (umask 077 && cp "$here/dynip.env.example" "$env_file")
  chmod 0600 "$env_file"
  echo "wrote $env_file: set CF_API_TOKEN and at least one domain"
fi

if [ -n "$destdir" ]; then
  echo "installed under $destdir (DESTDIR set: systemctl not called)"
  exit 0
fi
systemctl daemon-reload
cat <<'DONE'
installed. Next:
  1. edit /etc/dynip/dynip.env (token, domains)
  2. on every host:           systemctl enable --now dynip-update.timer
  3. on ONE host per environment: systemctl enable --now dynip-cleanup.service
  check with: sudo dynip status --env-file /etc/dynip/dynip.env
DONE
