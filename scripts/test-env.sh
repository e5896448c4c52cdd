#!/usr/bin/env bash
# Prepares this machine for the end-to-end tests and the demo, idempotently:
#   1. Debian packages (docker.io, debootstrap, busybox-static, Go + govmomi for the vCenter simulator,
#      fish and tcsh for `machine env`'s tests, protoc for the etcd store, etcd for its tests, ...)
#   2. a Docker engine (started in the background if none answers)
#   3. the test-host images (built from debootstrap, cached by tag), and those derived from them
#      (cloud-init for vSphere; Debian's docker.io for hosts that already run Docker)
#   4. the vCenter simulator binary (target/vcsim/vcsim)
# Run as root on Debian 12. Safe to run again: every step checks before it acts.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[test-env] %s\n' "$*" >&2; }

SUITES=${TESTHOST_SUITES:-bookworm bullseye trixie}

need_pkgs=()
# protobuf-compiler builds the etcd store (the etcd-client crate); etcd-server and etcd-client
# (etcdctl) run the etcd tests' 3-member clusters
for p in docker.io debootstrap openssh-client busybox-static golang-go golang-github-vmware-govmomi-dev rsync sshfs curl ca-certificates protobuf-compiler etcd-server etcd-client fish tcsh; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

if ! docker version >/dev/null 2>&1; then
  log "starting dockerd (log: /var/log/dockerd-test.log)"
  nohup dockerd >/var/log/dockerd-test.log 2>&1 &
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
  docker version >/dev/null 2>&1 || { log "dockerd did not come up; see /var/log/dockerd-test.log"; tail -20 /var/log/dockerd-test.log >&2; exit 1; }
fi

# the host images and the simulator build side by side (mostly waiting on the mirror)
pids=()
for suite in $SUITES; do
  "$here/tests/testhost/build.sh" "$suite" & pids+=($!)
done
"$here/tests/vcsim/build.sh" & pids+=($!)
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { log "building the test images or the simulator failed (see above)"; exit 1; }
# the images FROM machine-testhost:bookworm, side by side
pids=()
for kind in cloudinit docker; do "$here/tests/testhost/build-derived.sh" "$kind" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[ "$failed" = 0 ] || { log "building the derived test images failed (see above)"; exit 1; }
# the Docker Machine driver plugins and fake cloud API of the plugin bridge's tests (Go, standard
# library only, offline; cached) into target/plugins
"$here/tests/plugins/build.sh" "$here/target/plugins" \
  || { log "building the test plugins failed (see above)"; exit 1; }
log "ready"
