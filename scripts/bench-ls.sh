#!/usr/bin/env bash
# Benchmark: `machine ls` over many machines (default 1000), all real: one Debian test host is
# provisioned with `machine create -d generic`, then its machine folder is copied N-1 times under
# other names, so every row of `ls` asks the generic driver for the state (a TCP probe of the
# host's SSH port) and the daemon for its version over mutual TLS, as for N separate hosts.
#
#   scripts/bench-ls.sh [N]      (root, Debian 12; prepares its own environment)
#
# Prints wall time (hyperfine when installed, else three timed runs) and peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
scripts/test-env.sh
command -v /usr/bin/time >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null; }
cargo build --release -p machine -p machine-driver-generic
bin=$PWD/target/release/machine

work=$(mktemp -d /tmp/bench-ls-XXXXXX)
host="bench-ls-host-$$"
trap 'docker rm -f -v "$host" >/dev/null 2>&1; rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
docker run -d --name "$host" --hostname "$host" --restart unless-stopped \
  --cap-add ALL --cap-drop SYS_RESOURCE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v /var/lib/docker \
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --stop-signal SIGRTMIN+3 \
  -e PUBKEY="$(cat "$work/key.pub")" machine-testhost:bookworm >/dev/null
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$host")
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/"$ip"/22) 2>/dev/null && break; sleep 0.2; done

store="$work/store"
"$bin" -s "$store" create -d generic --generic-ip-address "$ip" --generic-ssh-user nick \
  --generic-ssh-key "$work/key" --engine-install-method packages m00000 >/dev/null
src="$store/machines/m00000"
for i in $(seq 1 $((n - 1))); do
  name=$(printf 'm%05d' "$i")
  cp -a "$src" "$store/machines/$name"
  sed -i "s/\"name\": \"m00000\"/\"name\": \"$name\"/" "$store/machines/$name/config.json"
done
echo "== machine ls over $n machines (one real host behind them)"
# TCP connections the host accepted during one ls (TcpExt PassiveOpens): every Running row must
# cost one TLS connection to its daemon, and nothing else (no SSH probe)
opens() { docker exec "$host" awk '/^Tcp:/ {n++; if (n==2) print $7}' /proc/net/snmp; }
before=$(opens)
"$bin" -s "$store" ls > "$work/ls.out"
after=$(opens)
awk 'NR>1 {print $4, $6}' "$work/ls.out" | sort | uniq -c
echo "connections the host accepted: $((after - before)); Running rows: $(awk 'NR>1 && $4=="Running"' "$work/ls.out" | wc -l)"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs 5 "$bin -s $store ls"
else
  for _ in 1 2 3; do /usr/bin/time -f "%e s wall, %U s user + %S s system CPU, %M KiB peak RSS" "$bin" -s "$store" ls >/dev/null; done
fi
/usr/bin/time -f 'peak memory: %M KiB' "$bin" -s "$store" ls >/dev/null
echo "== machine ls -q (names only, no driver calls)"
/usr/bin/time -f '%e s wall, %M KiB peak RSS' "$bin" -s "$store" ls -q >/dev/null
