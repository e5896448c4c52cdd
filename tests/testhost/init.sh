#!/bin/sh
# Test-host entry point: add $PUBKEY to the sudo user's authorized_keys (keeping what is there,
# as a real host keeps it across reboots: machine installs its own key next to it), hand
# guestinfo (vcsim's VMX_GUESTINFO* variables) to systemd services for cloud-init, then become
# systemd.
set -e
if [ -n "${PUBKEY:-}" ]; then
  install -d -m 0700 -o nick -g nick /home/nick/.ssh
  touch /home/nick/.ssh/authorized_keys
  grep -qxF "$PUBKEY" /home/nick/.ssh/authorized_keys ||
    printf '%s\n' "$PUBKEY" >> /home/nick/.ssh/authorized_keys
  chown nick:nick /home/nick/.ssh/authorized_keys
  chmod 0600 /home/nick/.ssh/authorized_keys
fi
if [ -n "${VMX_GUESTINFO_PUBKEY:-}" ]; then
  install -d -m 0700 -o nick -g nick /home/nick/.ssh
  printf '%s' "$VMX_GUESTINFO_PUBKEY" | base64 -d > /home/nick/.ssh/authorized_keys
  chown nick:nick /home/nick/.ssh/authorized_keys
  chmod 0600 /home/nick/.ssh/authorized_keys
fi
if env | grep -q '^VMX_GUESTINFO'; then
  mkdir -p /etc/systemd/system.conf.d
  {
    echo '[Manager]'
    printf 'DefaultEnvironment='
    env | grep '^VMX_GUESTINFO' | while IFS= read -r kv; do printf '"%s" ' "$kv"; done
    echo
  } > /etc/systemd/system.conf.d/guestinfo.conf
fi
exec /sbin/init
