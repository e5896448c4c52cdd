#!/usr/bin/env bash
# Builds machine-testhost-cloudinit:bookworm: the bookworm test host plus Debian's cloud-init
# (VMware data source, guestinfo through the environment as vcsim passes it) and locales.
# It stands in for a cloud-init ready VM template in the vSphere tests (shared/testing/vsphere.md).
# Cached by a hash of the recipe (and of the base image), like build.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base="machine-testhost:bookworm"
image="machine-testhost-cloudinit:bookworm"
docker image inspect "$base" >/dev/null 2>&1 || "$here/build.sh" bookworm
base_id=$(docker image inspect -f '{{.Id}}' "$base")
hash=$( { cat "$here/build-cloudinit.sh" "$here/Dockerfile.cloudinit" "$here/cloudinit-datasource.cfg" \
  "$here/cloudinit-ds-identify.cfg"; echo "$base_id"; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "recipe"}}' "$image" 2>/dev/null)" = "$hash" ]; then
  exit 0
fi
echo "[testhost] building $image (cloud-init from Debian, about a minute)" >&2
ctx=$(mktemp -d /var/tmp/testhost-cloudinit-XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile.cloudinit" "$here/cloudinit-datasource.cfg" "$here/cloudinit-ds-identify.cfg" "$ctx/"
DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Dockerfile.cloudinit" --label "recipe=$hash" -t "$image" "$ctx" >"$ctx/build.log" 2>&1 \
  || { tail -30 "$ctx/build.log" >&2; exit 1; }
echo "[testhost] built $image" >&2
