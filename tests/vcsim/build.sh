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
# A copy of govmomi with its simulator patched, found before Debian's on GOPATH. The fix: a VM powered
# on again (`docker start` of its container) takes its container's address anew; unpatched, it
# keeps reporting the address from before its power-off, which another container may hold by
# then (later govmomi releases re-read it too).
copy="$repo/target/vcsim/gopath/src/github.com/vmware/govmomi"
patched="$copy/simulator"
rm -rf "$copy"
mkdir -p "$copy"
cp -a /usr/share/gocode/src/github.com/vmware/govmomi/. "$copy/"
perl -0pi -e 's/(cmd := exec\.Command\("docker", start, c\.id\)\n\t\terr := cmd\.Run\(\)\n\t\tif err != nil \{\n\t\t\tlog\.Printf\([^\n]*\n\t\t\}\n)(\t\treturn\n)/$1\t\tif err = c.inspect(vm); err != nil {\n\t\t\tlog.Printf("%s inspect %s: %s", vm.Name, c.id, err)\n\t\t}\n$2/' \
  "$patched/container.go"
grep -q 'if err = c.inspect(vm); err != nil {' <(sed -n '/^func (c \*container) start/,/^}/p' "$patched/container.go" | head -20) \
  || { echo "[vcsim] could not patch $patched/container.go (another govmomi version?)" >&2; exit 1; }
( cd "$here" && GOPATH="$repo/target/vcsim/gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS='' GOCACHE="$gocache" \
    go build -o "$out.tmp" main.go )
mv "$out.tmp" "$out"
echo "[vcsim] built $out" >&2
