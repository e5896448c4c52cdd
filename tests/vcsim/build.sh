#!/usr/bin/env bash
# Builds govmomi's vCenter simulator (tests/vcsim/main.go) from Debian's packaged govmomi sources
# into target/vcsim/vcsim. Cached: skipped when the binary is newer than main.go and this script.
# Needs the Debian packages golang-go and golang-github-vmware-govmomi-dev (scripts/test-env.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out="$repo/target/vcsim/vcsim"
if [ -x "$out" ] && [ "$out" -nt "$here/main.go" ] && [ "$out" -nt "$here/build.sh" ]; then
  exit 0
fi
command -v go >/dev/null || { echo "[vcsim] go is missing: apt-get install golang-go" >&2; exit 1; }
[ -d /usr/share/gocode/src/github.com/vmware/govmomi/simulator ] \
  || { echo "[vcsim] govmomi sources are missing: apt-get install golang-github-vmware-govmomi-dev" >&2; exit 1; }
echo "[vcsim] building $out (about a minute)" >&2
mkdir -p "$(dirname "$out")"
gocache="$repo/target/vcsim/gocache"
mkdir -p "$gocache"
( cd "$here" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$gocache" \
    go build -o "$out.tmp" main.go )
mv "$out.tmp" "$out"
echo "[vcsim] built $out" >&2
