#!/usr/bin/env bash
# Builds the Docker Machine test plugins and the fake cloud API (Go, standard library only,
# offline) into OUTDIR (scripts/test-env.sh: target/plugins):
#   docker-machine-driver-sshhost        an existing SSH host, like Docker Machine's generic driver
#   docker-machine-driver-fakecloud      a cloud driver for fakecloud-api
#   docker-machine-driver-fakecloud-old  the same, as a pre-0.5.1 plugin (-tags oldrpc)
#   docker-machine-driver-urlonly        a daemon registered by its URL, like Docker Machine's none
#   fakecloud-api                        the fake cloud API
# Cached: skipped when every binary is newer than every source here. Needs Debian's golang-go.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
bins=(docker-machine-driver-sshhost docker-machine-driver-fakecloud docker-machine-driver-fakecloud-old docker-machine-driver-urlonly fakecloud-api)

fresh=1
for b in "${bins[@]}"; do
  if [ ! -x "$out/$b" ] || [ -n "$(find "$here" \( -name '*.go' -o -name go.mod -o -name build.sh \) -newer "$out/$b" -print -quit)" ]; then
    fresh=0
  fi
done
[ "$fresh" = 1 ] && exit 0

command -v go >/dev/null || { echo "[plugins] go is missing: apt-get install golang-go" >&2; exit 1; }
echo "[plugins] building into $out" >&2
cache=${PLUGINS_GOCACHE:-$(dirname "$out")/plugins-gocache}
mkdir -p "$cache"
export GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOCACHE="$cache/build" GOPATH="$cache/gopath"
build() { # NAME PACKAGE [go build flags]
  local name=$1 pkg=$2
  shift 2
  ( cd "$here" && go build -trimpath "$@" -o "$out/$name.tmp" "$pkg" )
  mv "$out/$name.tmp" "$out/$name"
}
build docker-machine-driver-sshhost ./cmd/docker-machine-driver-sshhost
build docker-machine-driver-fakecloud ./cmd/docker-machine-driver-fakecloud
build docker-machine-driver-fakecloud-old ./cmd/docker-machine-driver-fakecloud -tags oldrpc
build docker-machine-driver-urlonly ./cmd/docker-machine-driver-urlonly
build fakecloud-api ./cmd/fakecloud-api
echo "[plugins] built ${bins[*]}" >&2
