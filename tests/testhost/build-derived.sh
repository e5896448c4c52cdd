#!/usr/bin/env bash
# Builds an image derived from the bookworm test host: `build-derived.sh KIND` builds
# machine-testhost-KIND:bookworm from Dockerfile.KIND (with the files named KIND-* beside it):
#   cloudinit  Debian's cloud-init (VMware data source, guestinfo through the environment as
#              vcsim passes it) and locales: a cloud-init ready VM template for the vSphere tests
#              (shared/testing/vsphere.md).
#   docker     Debian's docker.io installed with apt-get, never by us: a host that already runs
#              Docker, for the tests whose subject is not installing it (and the benchmarks).
# Cached by a hash of the recipe (and of the base image), like build.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kind=${1:?usage: build-derived.sh cloudinit|docker}
[ -f "$here/Dockerfile.$kind" ] || { echo "no $here/Dockerfile.$kind" >&2; exit 2; }
base="machine-testhost:bookworm"
image="machine-testhost-$kind:bookworm"
docker image inspect "$base" >/dev/null 2>&1 || "$here/build.sh" bookworm
base_id=$(docker image inspect -f '{{.Id}}' "$base")
files=("$here/Dockerfile.$kind")
for f in "$here/$kind"-*; do [ -e "$f" ] && files+=("$f"); done
hash=$( { cat "$here/build-derived.sh" "${files[@]}"; echo "$base_id"; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "recipe"}}' "$image" 2>/dev/null)" = "$hash" ]; then
  exit 0
fi
echo "[testhost] building $image (from Debian's packages, about a minute)" >&2
ctx=$(mktemp -d /var/tmp/testhost-$kind-XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "${files[@]}" "$ctx/"
DOCKER_BUILDKIT=0 docker build -q -f "$ctx/Dockerfile.$kind" --label "recipe=$hash" -t "$image" "$ctx" >"$ctx/build.log" 2>&1 \
  || { tail -30 "$ctx/build.log" >&2; exit 1; }
echo "[testhost] built $image" >&2
