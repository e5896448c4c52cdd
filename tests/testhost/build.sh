#!/usr/bin/env bash
# Builds the test-host image machine-testhost:SUITE (Debian SUITE from debootstrap: sshd, systemd,
# sudo user `nick` with passwordless sudo, no Docker). Cached: rebuilt only when this folder changes.
set -euo pipefail
suite=${1:-bookworm}
here=$(cd "$(dirname "$0")" && pwd)
image="machine-testhost:$suite"
hash=$(cat "$here/build.sh" "$here/init.sh" | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "recipe"}}' "$image" 2>/dev/null)" = "$hash" ]; then
  exit 0
fi
echo "[testhost] building $image (debootstrap, about a minute)" >&2
work=$(mktemp -d /var/tmp/testhost-XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
debootstrap --variant=minbase \
  --include=openssh-server,sudo,systemd,systemd-sysv,dbus,ca-certificates,curl,iproute2,procps,gnupg,kmod \
  "$suite" "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
chroot "$rootfs" useradd -m -s /bin/bash -G sudo nick
echo 'nick ALL=(ALL:ALL) NOPASSWD: ALL' > "$rootfs/etc/sudoers.d/nick"
chmod 0440 "$rootfs/etc/sudoers.d/nick"
# a user without sudo, for the "user without sudo" error case
chroot "$rootfs" useradd -m -s /bin/bash nosudo
install -m 0755 "$here/init.sh" "$rootfs/usr/local/sbin/testhost-init"
rm -f "$rootfs"/etc/ssh/ssh_host_*    # each host generates its own keys on first boot
cat > "$rootfs/etc/systemd/system/ssh-keygen-host.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys
Before=ssh.service
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
UNIT
chroot "$rootfs" systemctl enable ssh-keygen-host.service >/dev/null 2>&1
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import \
  -c 'CMD ["/usr/local/sbin/testhost-init"]' -c "LABEL recipe=$hash" - "$image" >/dev/null
echo "[testhost] built $image" >&2
