#!/usr/bin/env bash
# The README's demo command: the scenario's generic-driver walk-through against a disposable
# Debian host (a systemd + sshd container with a passwordless-sudo user `nick`, as in
# shared/testing/hosts.md), on this machine, with no internet beyond Debian's mirror:
#   machine create -d generic ... demo     install Docker on the host over SSH
#   machine ls                             the machine, Running, with its Docker version
#   eval "$(machine env demo)"; docker version   the local client talks to the remote daemon
#   machine rm -y demo                     and everything is removed again (also on failure)
# Docker is installed from Debian's packages (`--engine-install-method packages`), since the
# default install URL (get.docker.com) is not reachable here; set DEMO_ENGINE_FLAGS to change
# that, e.g. DEMO_ENGINE_FLAGS="--engine-install-url https://get.docker.com".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

suite=${DEMO_SUITE:-bookworm}
engine_flags=${DEMO_ENGINE_FLAGS---engine-install-method packages}

say "preparing this machine (scripts/test-env.sh) and building"
TESTHOST_SUITES=${TESTHOST_SUITES:-$suite} scripts/test-env.sh
cargo build --workspace --bins
bin="$root/target/debug/machine"
[ -x "$bin" ] || { echo "missing $bin after the build" >&2; exit 1; }

work=$(mktemp -d /tmp/machine-demo-XXXXXX)
store="$work/store"
host="machine-demo-host-$$"
machine() { "$bin" --storage-path "$store" "$@"; }
cleanup() {
  local rc=$?
  set +e
  if [ -d "$store/machines/demo" ]; then
    say "cleaning up: machine rm -f -y demo"
    machine rm -f -y demo
  fi
  docker rm -f -v "$host" >/dev/null 2>&1
  rm -rf "$work"
  [ $rc -eq 0 ] || echo "demo FAILED (exit $rc)" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting a disposable $suite host ($host) with a fresh key for user nick"
ssh-keygen -q -t ed25519 -N '' -C machine-demo -f "$work/id_ed25519"
docker run -d --name "$host" --hostname "$host" --restart unless-stopped \
  --cap-add ALL --cap-drop SYS_RESOURCE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v /var/lib/docker \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --stop-signal SIGRTMIN+3 \
  -e PUBKEY="$(cat "$work/id_ed25519.pub")" "machine-testhost:$suite" >/dev/null
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$host")
for _ in $(seq 1 120); do
  timeout 1 bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null && break
  sleep 0.5
done
timeout 1 bash -c "exec 3<>/dev/tcp/$ip/22" 2>/dev/null || { echo "sshd on $ip did not answer" >&2; exit 1; }
echo "host $host at $ip, sshd answers" >&2

say "machine create -d generic --generic-ip-address $ip --generic-ssh-user nick --generic-ssh-key KEY $engine_flags demo"
# shellcheck disable=SC2086  # engine_flags holds several words
machine create -d generic --generic-ip-address "$ip" --generic-ssh-user nick \
  --generic-ssh-key "$work/id_ed25519" $engine_flags demo

say "machine ls"
machine ls

say "machine ssh demo hostname"
machine ssh demo hostname

say 'eval "$(machine env demo)"; docker version'
machine env demo
(
  eval "$(machine env demo)"
  docker version
)

say "machine rm -y demo"
machine rm -y demo
machine ls
say "demo done"
