#!/usr/bin/env bash
# The benchmarks (issue 8), all against real things, in one command:
#
#   scripts/bench.sh            (root, Debian 12; prepares its own environment with test-env.sh)
#
# Progress goes to stderr; ONE markdown table goes to stdout: each measure, its target, its
# figure, and (in its header) the machine it ran on. Nothing here is a timed test: figures are
# reported, never asserted. A measure that cannot be taken honestly says "not measured" and why.
#
# The hosts are the test hosts of tests/testhost (Debian 12 containers with systemd and sshd, a
# sudo user `nick`); the vCenter is govmomi's simulator (tests/vcsim). The parts:
#   protocol    driver-protocol/benches/protocol.rs (criterion, plus loops that time every call):
#               a no-op `state` round trip over an in-memory connection (p50, p99), and spawning
#               the real generic driver up to its answer to `initialize`.
#   create      `create -d generic --engine-install-method packages` on a fresh host (Docker
#               installed by us), next to the bare `apt-get install docker.io` over plain SSH on
#               an identical fresh host.
#   commands    `status`, `ip`, `url`, `env` and `ssh NAME true` of that machine: median of 20.
#   ls          `machine ls` over 100, 1,000 and 5,000 machines that all point at that ONE host
#               (its folder copied under other names): wall time and peak RSS, median of 3
#               (5,000: one run when a run takes over 20 s); the TCP connections the host
#               accepted during one 1,000-machine ls next to the Running rows.
#   dockerhosts `create` on a host that already runs Docker (Debian's docker.io installed with
#               apt-get, never provisioned by us: the tests' image machine-testhost-docker):
#               time and SSH logins (sshd's "Accepted publickey" lines); then 10 creates at once
#               on one store, on 10 such hosts; then 10 at once through the library API
#               (examples/create-many: one Manager, one task per machine) on 10 more.
#   ssh         the SSH transport (`--engine-transport ssh`) on a host that already runs Docker
#               (machine-testhost-docker): `create` on a new store and again on a store that has
#               its certificates (time, SSH logins, whether the host's dockerd was restarted: its
#               MainPID and start time before and after), next to its floor (one plain SSH login
#               adding nick to the docker group and asking the daemon its version); then `machine
#               ls` over 1,000 ssh-transport machines of that one host (its folder copied under
#               other names), median of BENCH_RUNS: wall time, the CPU of machine and of the host
#               (its container's cgroup), the SSH logins the host accepted during one ls next to
#               the rows that answered (one connection per row, none shared). The host's sshd gets
#               MaxStartups 2000 first (its default 10:30:100 drops concurrent handshakes); the
#               output says so. Next to it, the floor: BENCH_SSH_FLOOR_LOGINS (1,000) plain
#               OpenSSH logins to that host, 50 at a time.
#   etcd        `machine ls` over 1,000 machines in an etcd store (a 3-member cluster of Debian's
#               etcd on loopback; the machines of "ls", copied in with `machine store migrate`):
#               wall time and peak RSS, median of BENCH_RUNS.
#   vsphere     `machine ls` over 100 vSphere machines of the simulator (one VM made by `machine
#               create -d vmwarevsphere`, its folder copied 99 times) with the VM running and
#               stopped: time, and vCenter's own count of logins (UserLoginSessionEvent).
#   plugin      the plugin's part of a create (start → Create → address): `create -d fakecloud`
#               with the test plugin docker-machine-driver-fakecloud and its fake cloud
#               (tests/plugins, built into target/plugins), from the command's start to its first
#               wait for SSH (the instance's SSH port is closed: the create is stopped there),
#               median of 5 after a warm-up; through the bridge (`machine`) and through Docker
#               Machine itself when DOCKER_MACHINE_BIN names a docker-machine built by hand.
#
# Environment:
#   BENCH_PARTS     the parts to run (default: all of "protocol create commands ls ssh etcd dockerhosts vsphere plugin")
#   DOCKER_MACHINE_BIN  a docker-machine binary built by hand, for the plugin part (unset: its
#                   figure is "not measured")
#   BENCH_LS_SIZES  machine counts for ls (default "100 1000 5000")
#   BENCH_SSH_FLOOR_LOGINS  plain SSH logins of the ssh part's floor (default 1000)
#   BENCH_RUNS      runs per ls measure (default 3)
#   TESTHOST_SUITES passed to test-env.sh (default here: bookworm, the only one used)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
parts=" ${BENCH_PARTS:-protocol create commands ls ssh etcd dockerhosts vsphere plugin} "
dm_bin=${DOCKER_MACHINE_BIN:-}
if [ -n "$dm_bin" ] && [ ! -x "$dm_bin" ]; then
  echo "DOCKER_MACHINE_BIN=$dm_bin is not an executable" >&2
  exit 2
fi
sizes=${BENCH_LS_SIZES:-100 1000 5000}
runs=${BENCH_RUNS:-3}
part() { [[ $parts == *" $1 "* ]]; }
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# the environment
export TESTHOST_SUITES=${TESTHOST_SUITES:-bookworm}
log "preparing the environment (scripts/test-env.sh)"
scripts/test-env.sh
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v hyperfine >/dev/null || missing+=(hyperfine)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q "${missing[@]}"; } >/dev/null 2>&1 \
    || log "could not install ${missing[*]}; falling back where possible"
fi
[ -x /usr/bin/time ] || { log "/usr/bin/time is needed (apt-get install time)"; exit 1; }

work=$(mktemp -d /tmp/bench-XXXXXX)
# the docker contexts our creates make go with the run, not into the user's ~/.docker
export DOCKER_CONFIG=$work/docker-config
prefix="bench$$" # every container this run starts is named $prefix-... (or vcsim-${prefix}v...)
vcsim_pid=""
fakecloud_pid=""
vsphere_store=""
etcd_pids=()
cleanup() {
  set +e
  if [ -n "$vsphere_store" ] && [ -d "$vsphere_store/machines/${prefix}v00000" ]; then
    timeout 60 "$bin" -s "$vsphere_store" rm -y -f "${prefix}v00000" >/dev/null 2>&1
  fi
  if [ -n "$vcsim_pid" ]; then kill "$vcsim_pid" 2>/dev/null; wait "$vcsim_pid" 2>/dev/null; fi
  if [ -n "$fakecloud_pid" ]; then kill "$fakecloud_pid" 2>/dev/null; wait "$fakecloud_pid" 2>/dev/null; fi
  local p
  for p in "${etcd_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  local ids
  ids=$(docker ps -aq --filter "name=^${prefix}-" --filter "name=^vcsim-${prefix}v")
  # shellcheck disable=SC2086 # one word per container
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building the release binaries"
cargo build --release -q -p machine -p machine-driver-generic -p machine-driver-vsphere -p create-many \
  -p machine-plugin-bridge
# a copy, so that a build running meanwhile cannot swap the binaries under a measure (machine
# finds its drivers next to itself first)
mkdir -p "$work/bin"
cp target/release/machine target/release/machine-driver-generic target/release/machine-driver-vsphere \
  target/release/create-many target/release/machine-plugin-bridge "$work/bin/"
bin=$work/bin/machine

# ---------------------------------------------------------------------------------------------
# helpers
ssh-keygen -q -t ed25519 -N '' -f "$work/key"
SSH=(ssh -i "$work/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes)

start_host() { # NAME IMAGE
  docker run -d --name "$1" --hostname "$1" --restart unless-stopped \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v /var/lib/docker \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp --stop-signal SIGRTMIN+3 \
    -e PUBKEY="$(cat "$work/key.pub")" "$2" >/dev/null
}
host_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
wait_ssh() { # NAME: until sshd takes a login (logins are counted as differences, so this one is not)
  local ip i
  ip=$(host_ip "$1")
  for i in $(seq 1 300); do # 21 hosts booting at once on 2 cores take a while
    "${SSH[@]}" -o ConnectTimeout=2 "nick@$ip" true 2>/dev/null && return 0
    sleep 0.3
  done
  log "$1: sshd did not answer"
  return 1
}
wait_docker() { # NAME: until the host's own dockerd answers
  local i
  for i in $(seq 1 300); do
    docker exec "$1" docker version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "$1: its dockerd did not come up"
  return 1
}
# SSH logins the host accepted so far (sshd's own log lines, by its syslog identifier: a line
# from a session process moved into its session scope is not always filed under ssh.service)
logins() { docker exec "$1" journalctl -t sshd --no-pager -q 2>/dev/null | { grep -c 'Accepted publickey' || true; }; }
plural() { if [ "$1" = 1 ]; then echo "1 $2"; else echo "$1 $2s"; fi; } # N WORD
logins_word() { plural "$1" "SSH login"; }
tcp_opens() { docker exec "$1" awk '/^Tcp:/ {n++; if (n==2) print $7}' /proc/net/snmp; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
fmt() { awk "BEGIN {printf \"${2:-%.2f}\", ($1)}"; } # EXPRESSION [FORMAT]
thousands() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a < b)}'; }
verdict() { if lt "$1" "$2"; then echo "met"; else echo "missed"; fi; }
since() { fmt "$EPOCHREALTIME - $1" "${2:-%.2f}"; } # seconds since an $EPOCHREALTIME

# the table, filled as measures finish
rows=()
row() { rows+=("| $1 | $2 | $3 | $4 |"); }

# `machine create -d generic --engine-install-method packages` on HOST as NAME in STORE, its
# progress lines timestamped into $work/create-NAME.log; prints the wall time in seconds
create_generic() { # STORE NAME HOST
  local ip s rc=0
  ip=$(host_ip "$3")
  s=$EPOCHREALTIME
  "$bin" -s "$1" create -d generic --generic-ip-address "$ip" --generic-ssh-user nick \
    --generic-ssh-key "$work/key" --engine-install-method packages "$2" >/dev/null \
    2> >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$work/create-$2.log") \
    || rc=$?
  since "$s"
  sleep 0.1 # let the timestamping reader finish its file
  if [ $rc -ne 0 ]; then
    log "create $2 failed:"
    tail -5 "$work/create-$2.log" >&2
    return $rc
  fi
}
# seconds between the first progress line matching A and the first matching B of a create log
between() { awk -v a="$2" -v b="$3" '$0 ~ a && !ta {ta=$1} $0 ~ b && !tb {tb=$1} END {if (ta && tb) printf "%.1f", tb - ta; else print "?"}' "$1"; }
last_line() { tail -1 "$1" 2>/dev/null | cut -d' ' -f2- | tr '|' '/'; }

# ---------------------------------------------------------------------------------------------
bench_protocol() {
  log "driver protocol: criterion + timed loops (cargo bench -p driver-protocol --bench protocol)"
  if ! MACHINE_BENCH_DRIVER=$work/bin/machine-driver-generic \
    cargo bench -q -p driver-protocol --bench protocol -- --output-format bencher \
    >"$work/protocol.out" 2>"$work/protocol.err"; then
    tail -20 "$work/protocol.err" >&2
    row "driver protocol benchmarks" "p50 < 100 µs" "not measured: \`cargo bench -p driver-protocol\` failed (its output is above)" "—"
    return
  fi
  local rt sp
  rt=$(grep '^percentiles: round trip' "$work/protocol.out")
  sp=$(grep '^percentiles: spawn' "$work/protocol.out")
  pct() { sed -E "s/.* $2=([0-9.]+).*/\1/" <<<"$1"; }
  crit() { grep "$1" "$work/protocol.out" | sed -E 's/.*bench: *([0-9,]+) ns\/iter.*/\1/' | tr -d ,; }
  local rt50 rt99 sp50 sp99
  rt50=$(pct "$rt" p50_us); rt99=$(pct "$rt" p99_us)
  sp50=$(pct "$sp" p50_us); sp99=$(pct "$sp" p99_us)
  row "driver protocol: no-op \`state\` round trip over an in-memory connection (10,000 calls timed one by one; and criterion's mean of calls in a loop)" \
    "p50 < 100 µs" "p50 $(fmt "$rt50" %.1f) µs, p99 $(fmt "$rt99" %.1f) µs; criterion $(fmt "$(crit '^test round trip')e-3" %.1f) µs" "$(verdict "$rt50" 100)"
  row "driver protocol: spawn \`machine-driver-generic\` (release) until its answer to \`initialize\` (100 spawns timed one by one; and criterion)" \
    "—" "p50 $(fmt "${sp50}e-3" %.2f) ms, p99 $(fmt "${sp99}e-3" %.2f) ms; criterion $(fmt "$(crit '^test spawn')e-6" %.2f) ms" "—"
}

# the machine m00000 in $store on a fresh host $fresh (Docker installed by us); with the part
# "create", next to a bare install over plain SSH on an identical host
store="$work/store"
fresh="$prefix-fresh"
bench_fresh() {
  local bare="$prefix-bare" l0 t fig_fresh fig_bare s
  log "starting a fresh host$(part create && echo ' and an identical one for the bare install')"
  start_host "$fresh" machine-testhost:bookworm
  if part create; then start_host "$bare" machine-testhost:bookworm; fi
  wait_ssh "$fresh"
  log "create on a fresh host (Docker from Debian's packages, installed by machine)"
  l0=$(logins "$fresh")
  if t=$(create_generic "$store" m00000 "$fresh"); then
    fresh_ok=yes
    sleep 1 # journald
    fig_fresh="create $(fmt "$t" %.1f) s ($(logins_word $(($(logins "$fresh") - l0))); its install step about $(between "$work/create-m00000.log" "Installing Docker" "Copying certificates|Configuring the Docker daemon") s)"
  else
    fig_fresh="create: not measured, it failed ($(last_line "$work/create-m00000.log"))"
  fi
  part create || return 0
  wait_ssh "$bare"
  log "bare install over plain SSH on an identical host (apt-get update, apt-get install docker.io)"
  s=$EPOCHREALTIME
  if "${SSH[@]}" "nick@$(host_ip "$bare")" \
    'sudo DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null' \
    2>"$work/bare.err"; then
    fig_bare="bare install $(since "$s" %.1f) s"
  else
    fig_bare="bare install: not measured, it failed ($(tail -1 "$work/bare.err" | tr '|' '/'))"
  fi
  docker rm -f -v "$bare" >/dev/null
  row "\`create -d generic --engine-install-method packages\` on a fresh host (Docker installed by us, up to a TLS-verified daemon), next to the bare \`apt-get update && apt-get install -y docker.io\` over plain SSH on an identical fresh host" \
    "—" "$fig_fresh vs $fig_bare" "—"
}

bench_commands() {
  local tool c ms
  hf() { # CMD...: median of 20 runs in milliseconds, or nan when the command fails
    if command -v hyperfine >/dev/null; then
      hyperfine -N --style none --warmup 3 --runs 20 --export-csv "$work/hf.csv" "$*" >/dev/null 2>&1 \
        || { echo nan; return; }
      awk -F, 'NR==2 {printf "%.1f", $4 * 1000}' "$work/hf.csv"
    else
      local i s
      "$@" >/dev/null 2>&1 || { echo nan; return; }
      for i in $(seq 1 22); do
        s=$(date +%s%N)
        "$@" >/dev/null 2>&1
        echo $((($(date +%s%N) - s) / 1000))
      done | tail -n 20 | median | awk '{printf "%.1f", $1 / 1000}'
    fi
  }
  if command -v hyperfine >/dev/null; then tool="hyperfine"; else tool="a timed loop"; fi
  log "one machine's commands (median of 20 runs after 3 warm-ups, $tool)"
  for c in status ip url env "ssh m00000 true"; do
    local target=10 what="\`machine $c\` of one generic machine"
    if [ "${c%% *}" = ssh ]; then target=150; what="\`machine ssh NAME true\`"; fi
    # shellcheck disable=SC2086 # the command's words
    if [ "${c%% *}" = ssh ]; then ms=$(hf "$bin" -s "$store" $c); else ms=$(hf "$bin" -s "$store" "$c" m00000); fi
    if [ "$ms" = nan ]; then
      row "$what" "< $target ms" "not measured: the command failed" "—"
    else
      row "$what (median of 20 runs after 3 warm-ups, $tool)" "< $target ms" "$ms ms" "$(verdict "$ms" "$target")"
    fi
  done
}

bench_ls() {
  local n r k t u sy m ts cs ms running how what fig conns="" running1000=""
  declare -A ls_t ls_c ls_m ls_runs
  make_store() { # N DIR: m00000 and N-1 copies of it under other names
    local n=$1 dir=$2 src="$store/machines/m00000" cfg name i
    cp -a "$store" "$dir"
    cfg=$(cat "$src/config.json")
    for ((i = 1; i < n; i++)); do
      printf -v name 'm%05d' "$i"
      cp -a "$src" "$dir/machines/$name"
      printf '%s\n' "${cfg/\"name\": \"m00000\"/\"name\": \"$name\"}" >"$dir/machines/$name/config.json"
    done
  }
  for n in $sizes; do
    log "ls over $n machines: building the store"
    make_store "$n" "$work/ls$n"
    sync # so that writing the new store back to disk does not run during the measures
    r=$runs
    ts=()
    cs=()
    ms=()
    for ((k = 1; k <= r; k++)); do
      /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bin" -s "$work/ls$n" ls >"$work/ls.out" 2>"$work/ls.err" || true
      read -r t u sy m < <(tail -1 "$work/time")
      ts+=("$t")
      cs+=("$(fmt "$u + $sy")")
      ms+=("$m")
      running=$(awk 'NR>1 && $4=="Running"' "$work/ls.out" | wc -l)
      log "ls over $n: $t s wall, ${cs[-1]} s CPU, $m KiB peak RSS, $running/$n Running"
      if [ "$k" = 1 ] && [ "$n" -ge 5000 ] && lt 20 "$t"; then r=1; fi
    done
    ls_runs[$n]=$r
    ls_t[$n]=$(printf '%s\n' "${ts[@]}" | median)
    ls_m[$n]=$(printf '%s\n' "${ms[@]}" | median)
    ls_c[$n]=$(printf '%s\n' "${cs[@]}" | median)
    if [ "$n" = 1000 ]; then
      log "ls over 1000: the TCP connections the host accepts during one ls"
      local before after
      before=$(tcp_opens "$fresh")
      "$bin" -s "$work/ls$n" ls >"$work/ls.out" 2>/dev/null || true
      after=$(tcp_opens "$fresh")
      conns=$((after - before))
      running1000=$(awk 'NR>1 && $4=="Running"' "$work/ls.out" | wc -l)
    fi
    rm -rf "$work/ls$n"
  done
  for n in $sizes; do
    t=${ls_t[$n]}
    m=${ls_m[$n]}
    how="median of ${ls_runs[$n]} runs"
    if [ "${ls_runs[$n]}" = 1 ]; then
      how="one run"
      [ "$runs" = 1 ] || how="one run: a run takes over 20 s"
    fi
    what="\`machine ls\` over $(thousands "$n") generic machines, one real host behind them ($how)"
    fig="$(fmt "$t" %.2f) s wall ($(fmt "$t*1000/$n" %.2f) ms per machine; $(fmt "${ls_c[$n]}" %.2f) s CPU, user + system), $(fmt "$m/1024" %.1f) MB peak RSS"
    if [ "$n" = 1000 ]; then
      row "$what" "< 1 s and < 100 MB" "$fig" "time $(verdict "$t" 1), memory $(verdict "$m" $((100 * 1024)))"
    else
      row "$what" "—" "$fig" "—"
    fi
  done
  if [ -n "$conns" ]; then
    row "TCP connections the host accepted during one \`ls\` over 1,000 machines, next to its Running rows" \
      "equal" "$conns connections, $running1000 Running rows" "$(if [ "$conns" = "$running1000" ]; then echo met; else echo missed; fi)"
  fi
  local sz i a b growth="" ok=yes
  read -r -a sz <<<"$sizes"
  if [ ${#sz[@]} -ge 2 ]; then
    for ((i = 1; i < ${#sz[@]}; i++)); do
      a=${sz[$((i - 1))]}
      b=${sz[$i]}
      growth+="$(thousands "$a")→$(thousands "$b") machines (×$(fmt "$b/$a" %.0f)): wall time ×$(fmt "${ls_t[$b]}/${ls_t[$a]}" %.1f) (CPU ×$(fmt "${ls_c[$b]}/${ls_c[$a]}" %.1f)), memory ×$(fmt "${ls_m[$b]}/${ls_m[$a]}" %.1f); "
      lt "$(fmt "${ls_t[$b]}/${ls_t[$a]}" %.3f)" "$(fmt "$b/$a*1.1" %.3f)" || ok=no
      lt "$(fmt "${ls_m[$b]}/${ls_m[$a]}" %.3f)" "$(fmt "$b/$a*1.1" %.3f)" || ok=no
    done
    row "\`machine ls\`: how wall time and memory grow with the number of machines (met: each within 1.1× of linear)" "linear or better" "${growth%; }" \
      "$(if [ $ok = yes ]; then echo met; else echo "missed (over 1.1× linear)"; fi)"
  fi
}

# hosts that already run Docker: Debian's docker.io installed with apt-get outside machine
# (baked into an image; systemd starts docker.service at boot), cached by a hash of the recipe
start_docker_hosts() { # FIRST LAST: hosts $prefix-dFIRST..dLAST that already run Docker
  local i
  log "starting hosts d$1-d$2, which already run Docker"
  for i in $(seq "$1" "$2"); do start_host "$prefix-d$i" machine-testhost-docker:bookworm; done
  for i in $(seq "$1" "$2"); do
    wait_ssh "$prefix-d$i" && wait_docker "$prefix-d$i" || return 1
  done
  sleep 3 # let the hosts' boot settle
}

bench_dockerhosts() {
  local i l0 l t before restart s p failed=0 lsum=0 times=() l0s=() per=()
  # 11 hosts now, 10 more once these are gone (about 19 systemd hosts at once exhaust the
  # default inotify instances, fs.inotify.max_user_instances=128, and the 19th never boots)
  if ! start_docker_hosts 0 10; then
    row "\`create\` on hosts that already run Docker, one and 10 at once" "< 1 s, 1 SSH login; about 6.7 s" "not measured: a host did not come up" "—"
    return 0
  fi
  log "create on a host that already runs Docker"
  l0=$(logins "$prefix-d0")
  if t=$(create_generic "$work/pre" p0 "$prefix-d0"); then
    sleep 1 # journald
    l=$(($(logins "$prefix-d0") - l0))
    before=$(between "$work/create-p0.log" "pre-create checks" "Restarting Docker")
    restart=$(between "$work/create-p0.log" "Restarting Docker" "Docker is up")
    row "\`create -d generic --engine-install-method packages\` on a host that already runs Docker (Debian's docker.io, installed with apt-get, never provisioned by us), up to a TLS-verified daemon" \
      "< 1 s, 1 SSH login" "$(fmt "$t" %.2f) s: about $before s up to reloading systemd and restarting the host's dockerd, $restart s from there to its TLS answer; $(logins_word "$l")" \
      "time $(verdict "$t" 1), logins $(if [ "$l" = 1 ]; then echo met; else echo missed; fi)"
    # the least any tool does to reconfigure that dockerd: one login, systemd reloaded, dockerd
    # restarted (with the configuration the create wrote), over plain SSH
    log "the floor on that host: one SSH login, systemctl daemon-reload, systemctl restart docker"
    s=$EPOCHREALTIME
    if "${SSH[@]}" "nick@$(host_ip "$prefix-d0")" \
      'sudo systemctl daemon-reload && sudo systemctl reset-failed docker.service && sudo systemctl restart docker.service' \
      2>"$work/floor.err"; then
      row "the floor of that create on that host: one plain SSH login running \`systemctl daemon-reload\` and \`systemctl restart docker.service\`, nothing else" \
        "—" "$(since "$s" %.2f) s" "—"
    else
      row "the floor of that create on that host" "—" "not measured: it failed ($(tail -1 "$work/floor.err" | tr '|' '/'))" "—"
    fi
  else
    row "\`create\` on a host that already runs Docker" "< 1 s, 1 SSH login" "not measured: create failed ($(last_line "$work/create-p0.log"))" "—"
  fi
  docker rm -f -v "$prefix-d0" >/dev/null
  log "10 creates at once on one store"
  for i in $(seq 1 10); do l0s[i]=$(logins "$prefix-d$i"); done
  local pids=()
  s=$EPOCHREALTIME
  for i in $(seq 1 10); do
    create_generic "$work/par" "p$i" "$prefix-d$i" >"$work/par-time-$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  t=$(since "$s")
  sleep 1 # journald
  for i in $(seq 1 10); do
    per+=("$(($(logins "$prefix-d$i") - l0s[i]))")
    lsum=$((lsum + per[-1]))
    times+=("$(cat "$work/par-time-$i")")
  done
  row "10 \`machine create\` at once on one store, on 10 hosts that already run Docker (wall time)" \
    "about 6.7 s (the floor set by the hosts' own dockerd restarts on 2 shared cores)" \
    "$(fmt "$t" %.2f) s; $((10 - failed))/10 succeeded; each create $(printf '%s\n' "${times[@]}" | sort -g | head -1)-$(printf '%s\n' "${times[@]}" | sort -g | tail -1) s; SSH logins per host: $(printf '%s\n' "${per[@]}" | sort -n | uniq -c | awk '{printf "%s%s on %s", (NR>1 ? ", " : ""), $2, $1}') hosts" "—"
  for i in $(seq 1 10); do docker rm -f -v "$prefix-d$i" >/dev/null; done
  log "10 creates at once through the library API (examples/create-many)"
  if ! start_docker_hosts 11 20; then
    row "10 creates at once through the library API (examples/create-many)" "about 6.7 s" "not measured: a host did not come up" "—"
    return 0
  fi
  local hosts=()
  for i in $(seq 11 20); do
    l0s[i]=$(logins "$prefix-d$i")
    hosts+=("l$i=$(host_ip "$prefix-d$i")")
  done
  per=()
  s=$EPOCHREALTIME
  if "$work/bin/create-many" --packages "$work/lib" nick "$work/key" "${hosts[@]}" >"$work/lib.out" 2>&1; then
    t=$(since "$s")
    sleep 1 # journald
    for i in $(seq 11 20); do per+=("$(($(logins "$prefix-d$i") - l0s[i]))"); done
    row "10 creates at once through the library API (one \`Manager\`, 10 tasks: examples/create-many), on 10 other such hosts (wall time)" \
      "about 6.7 s, as the 10 processes" \
      "$(fmt "$t" %.2f) s; each create $(awk '$3 == "s" {print $2}' "$work/lib.out" | sort -g | head -1)-$(awk '$3 == "s" {print $2}' "$work/lib.out" | sort -g | tail -1) s; SSH logins per host: $(printf '%s\n' "${per[@]}" | sort -n | uniq -c | awk '{printf "%s%s on %s", (NR>1 ? ", " : ""), $2, $1}') hosts" "—"
  else
    row "10 creates at once through the library API (examples/create-many)" "about 6.7 s" "not measured: a create failed ($(grep -m1 failed "$work/lib.out" | tr '|' '/'))" "—"
  fi
  for i in $(seq 11 20); do docker rm -f -v "$prefix-d$i" >/dev/null; done
}

bench_vsphere() {
  local vc="$work/vcsim" port run s t i name src cfg
  mkdir -p "$vc"
  log "vSphere: starting the simulator"
  VCSIM_BUSYBOX=machine-testhost-cloudinit:bookworm "$repo/target/vcsim/vcsim" -tls -listen 127.0.0.1:0 \
    -username root -password 12345678 -shape one -cert-out "$vc/cert.pem" -url-out "$vc/url" \
    >"$vc/out.log" 2>"$vc/err.log" &
  vcsim_pid=$!
  for _ in $(seq 1 300); do
    [ -s "$vc/url" ] && break
    sleep 0.1
  done
  if [ ! -s "$vc/url" ]; then
    row "\`machine ls\` over 100 vSphere machines (simulator)" "≤ 1 vCenter login" "not measured: the simulator did not start" "—"
    return
  fi
  port=$(sed -E 's#.*:([0-9]+)/.*#\1#' "$vc/url")
  soap() {
    curl -sS --cacert "$vc/cert.pem" -b "$vc/jar" -c "$vc/jar" -H 'Content-Type: text/xml' --data-binary \
      "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>$1</soapenv:Body></soapenv:Envelope>" \
      "https://127.0.0.1:$port/sdk"
  }
  # vCenter's own count of logins (UserLoginSessionEvent), read in one session of our own
  soap '<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>root</userName><password>12345678</password></Login>' >/dev/null
  vc_logins() {
    soap '<QueryEvents xmlns="urn:vim25"><_this type="EventManager">EventManager</_this><filter><eventTypeId>UserLoginSessionEvent</eventTypeId><maxCount>1000</maxCount></filter></QueryEvents>' \
      | { grep -o ':type="UserLoginSessionEvent"' || true; } | wc -l
  }
  head -c 4096 /dev/zero | tr '\0' '\1' >"$vc/docker-ready.iso"
  # the VM's backing container: a test host with cloud-init (tests/support host_run_flags)
  run='["--restart","unless-stopped","--cap-add","ALL","--cap-drop","SYS_RESOURCE","--security-opt","seccomp=unconfined","--security-opt","apparmor=unconfined","--cgroupns=host","-v","/sys/fs/cgroup:/sys/fs/cgroup:rw","-v","/var/lib/docker","--tmpfs","/run","--tmpfs","/run/lock","--tmpfs","/tmp","--stop-signal","SIGRTMIN+3","--tmpfs","/sys/class","machine-testhost-cloudinit:bookworm"]'
  vsphere_store="$work/vstore"
  log "vSphere: create one VM (Docker from Debian's packages)"
  s=$EPOCHREALTIME
  if ! "$bin" -s "$vsphere_store" create -d vmwarevsphere --vmwarevsphere-vcenter=127.0.0.1 \
    --vmwarevsphere-vcenter-port="$port" --vmwarevsphere-username=root --vmwarevsphere-password=12345678 \
    --vmwarevsphere-cpu-count=1 --vmwarevsphere-memory-size=512 --vmwarevsphere-disk-size=10240 \
    --vmwarevsphere-ca-cert="$vc/cert.pem" --vmwarevsphere-boot2docker-url="$vc/docker-ready.iso" \
    "--vmwarevsphere-cfgparam=RUN.container=$run" --engine-install-method packages "${prefix}v00000" \
    >/dev/null 2>"$work/create-vsphere.log"; then
    row "\`machine ls\` over 100 vSphere machines (simulator)" "≤ 1 vCenter login" \
      "not measured: \`machine create -d vmwarevsphere\` failed ($(tail -1 "$work/create-vsphere.log" | tr '|' '/'))" "—"
    return
  fi
  row "\`create -d vmwarevsphere\` in the simulator (a VM backed by a real test host; Docker from Debian's packages)" "—" "$(since "$s" %.1f) s" "—"
  src="$vsphere_store/machines/${prefix}v00000"
  cfg=$(cat "$src/config.json")
  for ((i = 1; i < 100; i++)); do
    printf -v name '%sv%05d' "$prefix" "$i"
    cp -a "$src" "$vsphere_store/machines/$name"
    printf '%s\n' "${cfg/\"name\": \"${prefix}v00000\"/\"name\": \"$name\"}" >"$vsphere_store/machines/$name/config.json"
  done
  local vt vlogins vrows vpeak
  vs_ls() { # STATE: median time of $runs ls; logins during the last; its rows in STATE
    local ts=() k before t m
    for ((k = 1; k <= runs; k++)); do
      before=$(vc_logins)
      /usr/bin/time -f '%e %M' -o "$work/time" "$bin" -s "$vsphere_store" ls >"$work/ls.out" 2>"$work/ls.err" || true
      read -r t m < <(tail -1 "$work/time")
      ts+=("$t")
      vlogins=$(($(vc_logins) - before))
    done
    vt=$(printf '%s\n' "${ts[@]}" | median)
    vpeak=$m
    vrows=$(awk -v w="$1" 'NR>1 && $4==w' "$work/ls.out" | wc -l)
    if [ "$vrows" != 100 ]; then # what the rows said instead, and one of them whole
      log "rows not $1: $(awk 'NR>1 {print $4}' "$work/ls.out" | sort | uniq -c | tr -s ' \n' ' ')"
      log "for one: $(awk -v w="$1" 'NR>1 && $4!=w' "$work/ls.out" | head -1)"
      log "ls said: $(head -c 1500 "$work/ls.err")"
    fi
  }
  log "vSphere: ls over 100 machines, the VM running"
  vs_ls Running
  # at most one login: none at all when every daemon answers at its recorded address
  at_most_one() { if [ "$vlogins" -le 1 ] && [ "$vrows" = 100 ]; then echo met; else echo missed; fi; }
  row "\`machine ls\` over 100 vSphere machines of one vCenter (simulator), the VM running (median of $runs)" \
    "≤ 1 vCenter login" "$(fmt "$vt" %.2f) s, $(fmt "$vpeak/1024" %.1f) MB peak RSS; $(plural "$vlogins" "vCenter login") in one ls; $vrows/100 Running" \
    "$(at_most_one)"
  log "vSphere: stopping the VM; ls over 100 machines, the VM stopped (every row asks the driver)"
  if "$bin" -s "$vsphere_store" stop "${prefix}v00000" >/dev/null 2>&1; then
    vs_ls Stopped
    row "\`machine ls\` over 100 vSphere machines, the VM stopped by \`machine stop\` (no daemon answers: every row asks the driver for the state; the 99 copies still hold the address \`stop\` made the original forget, as machines stopped behind our back do, and wait for it first; median of $runs)" \
      "≤ 1 vCenter login" "$(fmt "$vt" %.2f) s; $(plural "$vlogins" "vCenter login") in one ls; $vrows/100 Stopped" \
      "$(at_most_one)"
  else
    row "\`machine ls\` over 100 vSphere machines, the VM stopped" "≤ 1 vCenter login" "not measured: \`machine stop\` failed" "—"
  fi
}

bench_etcd() {
  local n=1000 dir="$work/etcd-src" src="$store/machines/m00000" cfg name i k t u sy m ts=() ms=() running
  local peers="" clients=() url
  log "etcd: starting a 3-member cluster on loopback"
  for i in 0 1 2; do peers+="e$i=http://127.0.0.1:$((23800 + i)),"; done
  for i in 0 1 2; do
    etcd --name "e$i" --data-dir "$work/etcd/e$i" \
      --listen-client-urls "http://127.0.0.1:$((23790 + i))" --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
      --listen-peer-urls "http://127.0.0.1:$((23800 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
      --initial-cluster "${peers%,}" --initial-cluster-state new >"$work/etcd-e$i.log" 2>&1 &
    etcd_pids+=($!)
    clients+=("127.0.0.1:$((23790 + i))")
  done
  url="etcd://$(IFS=,; echo "${clients[*]}")/bench"
  for _ in $(seq 1 50); do
    ETCDCTL_API=3 etcdctl --endpoints="$(IFS=,; echo "${clients[*]}")" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
  done
  log "etcd: $n machines into the store (machine store migrate)"
  cp -a "$store" "$dir"
  cfg=$(cat "$src/config.json")
  for ((i = 1; i < n; i++)); do
    printf -v name 'm%05d' "$i"
    cp -a "$src" "$dir/machines/$name"
    printf '%s\n' "${cfg/\"name\": \"m00000\"/\"name\": \"$name\"}" >"$dir/machines/$name/config.json"
  done
  export MACHINE_STORE_KEY
  MACHINE_STORE_KEY=$(head -c 32 /dev/urandom | base64)
  if ! "$bin" store migrate "$dir" "$url" >"$work/migrate.log" 2>&1; then
    row "\`machine ls\` over 1,000 machines in etcd" "< 1.5 s" "not measured: store migrate failed ($(last_line "$work/migrate.log"))" "—"
    return 0
  fi
  for ((k = 1; k <= runs; k++)); do
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bin" -s "$url" ls >"$work/ls.out" 2>"$work/ls.err" || true
    read -r t u sy m < <(tail -1 "$work/time")
    ts+=("$t")
    ms+=("$m")
    running=$(awk 'NR>1 && $4=="Running"' "$work/ls.out" | wc -l)
    log "etcd ls over $n: $t s wall, $m KiB peak RSS, $running/$n Running"
  done
  t=$(printf '%s\n' "${ts[@]}" | median)
  m=$(printf '%s\n' "${ms[@]}" | median)
  row "\`machine ls\` over 1,000 generic machines in an etcd store (3 members on loopback; one real host behind them; median of $runs)" \
    "< 1.5 s" "$(fmt "$t" %.2f) s wall, $(fmt "$m/1024" %.1f) MB peak RSS, $running Running rows" "$(verdict "$t" 1.5)"
  unset MACHINE_STORE_KEY
  rm -rf "$dir"
}

# `BIN -s STORE create -d fakecloud` 6 times (the first a warm-up: the store's certificates),
# each timed from its start to its first "Waiting for SSH" line (machine's "Waiting for SSH...",
# Docker Machine's "Waiting for SSH to be available...", before 0.7 "Machine is running,
# waiting for SSH to be available..."), then stopped; prints the median of the last 5 in ms
plugin_creates() { # BIN STORE
  local i s t pid log ts=()
  for i in 0 1 2 3 4 5; do
    log=$work/plugin-create-$i.log
    rm -f "$log"
    s=$EPOCHREALTIME
    PATH="$repo/target/plugins:$PATH" "$1" -s "$2" create -d fakecloud --fakecloud-api-url "$fakecloud_url" \
      "pc$i" > >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$log") 2>&1 &
    pid=$!
    for _ in $(seq 1 500); do
      grep -qi 'waiting for ssh' "$log" 2>/dev/null && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    t=$(awk -v s="$s" 'tolower($0) ~ /waiting for ssh/ {printf "%.1f", ($1 - s) * 1000; exit}' "$log")
    [ -n "$t" ] || { echo "not measured: it failed ($(last_line "$log"))"; return 0; }
    [ "$i" = 0 ] || ts+=("$t")
  done
  echo "$(printf '%s\n' "${ts[@]}" | median) ms"
}

bench_plugin() {
  local plugins=$repo/target/plugins bridge dm="not measured (needs DOCKER_MACHINE_BIN, a docker-machine built by hand)"
  if [ ! -x "$plugins/docker-machine-driver-fakecloud" ] || [ ! -x "$plugins/fakecloud-api" ]; then
    row "the plugin's part of a create (start → Create → address)" "—" "not measured: target/plugins is not built (tests/plugins/build.sh)" "—"
    return 0
  fi
  log "the plugin's part of a create: the fake cloud's plugin through the bridge${dm_bin:+ and through $dm_bin}"
  rm -f "$work/fakecloud.out"
  "$plugins/fakecloud-api" --access-key AK --secret-key SK --host-ip 127.0.0.1 --host-ssh-port 1 \
    --host-key-file "$work/key" >"$work/fakecloud.out" 2>/dev/null &
  fakecloud_pid=$!
  for _ in $(seq 1 100); do grep -q : "$work/fakecloud.out" 2>/dev/null && break; sleep 0.1; done
  fakecloud_url="http://$(head -1 "$work/fakecloud.out")"
  export FAKECLOUD_ACCESS_KEY=AK FAKECLOUD_SECRET_KEY=SK
  bridge=$(plugin_creates "$bin" "$work/plugin-store")
  if [ -n "$dm_bin" ]; then dm=$(plugin_creates "$dm_bin" "$work/plugin-dm-store"); fi
  row "the plugin's part of a create (start → Create → address): \`create -d fakecloud\` (tests/plugins' docker-machine-driver-fakecloud and fake cloud API), from the command's start to its first wait for SSH, median of 5 after a warm-up" \
    "—" "through the bridge (\`machine\`): $bridge; through Docker Machine: $dm" "—"
}

# ---------------------------------------------------------------------------------------------
# the SSH transport

# like create_generic, with --engine-transport ssh (no Docker install expected: the host runs it)
create_ssh() { # STORE NAME HOST
  local ip s rc=0
  ip=$(host_ip "$3")
  s=$EPOCHREALTIME
  "$bin" -s "$1" create -d generic --generic-ip-address "$ip" --generic-ssh-user nick \
    --generic-ssh-key "$work/key" --engine-install-method packages --engine-transport ssh "$2" >/dev/null \
    2> >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$work/create-$2.log") \
    || rc=$?
  since "$s"
  sleep 0.1
  if [ $rc -ne 0 ]; then
    log "create $2 failed:"
    tail -5 "$work/create-$2.log" >&2
    return $rc
  fi
}
# the host's dockerd: its main PID and start time, as systemd shows them
daemon_id() { docker exec "$1" systemctl show docker.service -p MainPID -p ExecMainStartTimestamp | tr '\n' ' '; }
# CPU seconds the host's container used so far (cgroup v1 cpuacct, or v2 cpu.stat); empty if unknown
host_cpu() {
  local id
  id=$(docker inspect -f '{{.Id}}' "$1")
  if [ -r "/sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage" ]; then
    awk '{printf "%.3f", $1 / 1e9}' "/sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage"
  elif [ -r "/sys/fs/cgroup/system.slice/docker-$id.scope/cpu.stat" ]; then
    awk '$1 == "usage_usec" {printf "%.3f", $2 / 1e6}' "/sys/fs/cgroup/system.slice/docker-$id.scope/cpu.stat"
  fi
}

bench_ssh() {
  local h="$prefix-s0" sstore="$work/sshstore" t t2 l l2 l0 d0 d1 d2 fig s
  log "SSH transport: a host that already runs Docker"
  start_host "$h" machine-testhost-docker:bookworm
  if ! { wait_ssh "$h" && wait_docker "$h"; }; then
    row "\`create --engine-transport ssh\` on a host that already runs Docker; \`ls\` over 1,000 ssh-transport machines" "< 0.5 s" "not measured: the host did not come up" "—"
    docker rm -f -v "$h" >/dev/null
    return 0
  fi
  sleep 3 # let the host's boot settle
  d0=$(daemon_id "$h")
  l0=$(logins "$h")
  if ! t=$(create_ssh "$sstore" s00000 "$h"); then
    row "\`create --engine-transport ssh\` on a host that already runs Docker" "< 0.5 s" "not measured: create failed ($(last_line "$work/create-s00000.log"))" "—"
    docker rm -f -v "$h" >/dev/null
    return 0
  fi
  sleep 1 # journald
  l=$(($(logins "$h") - l0))
  d1=$(daemon_id "$h")
  # again on a store that has its CA and client certificate (rm first: it takes nick out of the
  # docker group again, and leaves the daemon alone)
  log "SSH transport: rm, and create again on the store that now has its certificates"
  "$bin" -s "$sstore" rm -y s00000 >/dev/null 2>&1 || log "rm s00000 failed"
  l0=$(logins "$h")
  if t2=$(create_ssh "$sstore" s00000 "$h"); then
    sleep 1
    l2=$(($(logins "$h") - l0))
    d2=$(daemon_id "$h")
    fig="$(fmt "$t2" %.2f) s on a store that has its certificates, $(fmt "$t" %.2f) s on a new store (making its CA and client certificate); $(logins_word "$l2") (new store: $(logins_word "$l")); the host's dockerd $(if [ "$d0" = "$d1" ] && [ "$d1" = "$d2" ]; then echo "not restarted (same MainPID and start time)"; else echo "RESTARTED ($d0 → $d1 → $d2)"; fi)"
    row "\`create -d generic --engine-transport ssh\` on a host that already runs Docker (Debian's docker.io, installed with apt-get, never provisioned by us): no port, no certificates, no daemon restart" \
      "< 0.5 s, 1 SSH login, no daemon restart" "$fig" \
      "time $(verdict "$t2" 0.5), logins $(if [ "$l2" = 1 ]; then echo met; else echo missed; fi), restart $(if [ "$d0" = "$d2" ]; then echo met; else echo missed; fi)"
  else
    row "\`create --engine-transport ssh\` on a host that already runs Docker (a store that has its certificates)" "< 0.5 s" "not measured: the second create failed ($(last_line "$work/create-s00000.log")); on a new store $(fmt "$t" %.2f) s" "—"
  fi
  log "the floor of that create: one plain SSH login adding nick to the docker group and asking the daemon its version"
  s=$EPOCHREALTIME
  if "${SSH[@]}" "nick@$(host_ip "$h")" 'sudo gpasswd -a nick docker >/dev/null && sudo docker version --format "{{.Server.Version}}" >/dev/null' 2>"$work/floor.err"; then
    row "the floor of that create: one plain SSH login (OpenSSH) running \`sudo gpasswd -a nick docker\` and \`sudo docker version\`, nothing else" "—" "$(since "$s" %.2f) s" "—"
  else
    row "the floor of that create" "—" "not measured: it failed ($(tail -1 "$work/floor.err" | tr '|' '/'))" "—"
  fi

  # ls over 1,000 of them
  local n=1000 dir="$work/sshls" src="$sstore/machines/s00000" cfg name i k u sy m ts=() cs=() ms=() running answered stopped before after hc0 hc1 hcpu="" ml=""
  log "SSH transport: ls over $n machines of that one host: building the store"
  log "raising sshd's MaxStartups on the bench host to 2000 (its default, 10:30:100, drops concurrent handshakes past 10 unauthenticated connections)"
  docker exec "$h" sh -c 'echo "MaxStartups 2000" >> /etc/ssh/sshd_config && systemctl reload ssh'
  cp -a "$sstore" "$dir"
  cfg=$(cat "$src/config.json")
  for ((i = 1; i < n; i++)); do
    printf -v name 's%05d' "$i"
    cp -a "$src" "$dir/machines/$name"
    printf '%s\n' "${cfg/\"name\": \"s00000\"/\"name\": \"$name\"}" >"$dir/machines/$name/config.json"
  done
  sync
  for ((k = 1; k <= runs; k++)); do
    before=$(logins "$h")
    hc0=$(host_cpu "$h")
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$bin" -s "$dir" ls >"$work/sshls.out" 2>"$work/sshls.err" || true
    hc1=$(host_cpu "$h")
    read -r t u sy m < <(tail -1 "$work/time")
    ts+=("$t")
    cs+=("$(fmt "$u + $sy")")
    ms+=("$m")
    sleep 1 # journald
    after=$(logins "$h")
    ml=$((after - before))
    [ -z "$hc0" ] || hcpu=$(fmt "$hc1 - $hc0")
    running=$(awk 'NR>1 && $4=="Running"' "$work/sshls.out" | wc -l)
    # Running with the daemon's version and no error: the rows whose daemon answered
    answered=$(awk 'NR>1 && $4=="Running" && $NF ~ /^v[0-9]/' "$work/sshls.out" | wc -l)
    stopped=$(awk 'NR>1 && $4=="Stopped"' "$work/sshls.out" | wc -l)
    log "ssh ls over $n: $t s wall, ${cs[-1]} s CPU (machine), ${hcpu:-?} s CPU (the host), $m KiB peak RSS, $answered/$n answered, $running Running, $stopped Stopped, $ml SSH logins"
    if [ "$running" != "$n" ]; then
      log "rows not Running: $(awk 'NR>1 && $4!="Running" {print $4}' "$work/sshls.out" | sort | uniq -c | tr -s ' \n' ' ')"
      log "for one: $(awk 'NR>1 && $4!="Running"' "$work/sshls.out" | head -1)"
    fi
  done
  t=$(printf '%s\n' "${ts[@]}" | median)
  m=$(printf '%s\n' "${ms[@]}" | median)
  local c tls_fig="" r
  c=$(printf '%s\n' "${cs[@]}" | median)
  for r in "${rows[@]}"; do
    [[ $r == *"over 1,000 generic machines, one real host"* ]] && tls_fig=$(awk -F' [|] ' '{print $3}' <<<"$r")
  done
  row "\`machine ls\` over 1,000 ssh-transport machines of one host (median of $runs; each row its own SSH connection, none shared; the bench host's sshd got MaxStartups 2000, its default 10:30:100 drops concurrent handshakes)" \
    "every row answered" "$(fmt "$t" %.2f) s wall ($(fmt "$t*1000/$n" %.2f) ms per machine; $(fmt "$c" %.2f) s CPU of machine, ${hcpu:-not measured} s CPU of the host's sshd and sessions in the last run), $(fmt "$m/1024" %.1f) MB peak RSS; in the last ls $ml SSH logins accepted, $answered rows answered (Running with the daemon's version), $((running - answered)) Running without an answer within ls's ping time (2 s), $stopped shown Stopped though the host was up; TLS over 1,000: ${tls_fig:-not measured in this run}. What bounds it: the logins the one host completes within each row's ping time ($ml in the last ls) and what each costs the host (the floor below)" "$(if [ "$answered" = "$n" ]; then echo met; else echo "missed: $((n - answered)) rows unanswered"; fi)"
  rm -rf "$dir"
  local fl=${BENCH_SSH_FLOOR_LOGINS:-1000} ip hc
  ip=$(host_ip "$h")
  log "the floor of that ls: $fl plain OpenSSH logins to that host, 50 at a time"
  hc0=$(host_cpu "$h")
  s=$EPOCHREALTIME
  seq "$fl" | xargs -P 50 -I{} "${SSH[@]}" "nick@$ip" 'echo ok' >"$work/floor-ls.out" 2>"$work/floor-ls.err" || true
  t=$(since "$s")
  local ok
  ok=$(grep -c '^ok$' "$work/floor-ls.out" || true)
  hc1=$(host_cpu "$h")
  [ -z "$hc0" ] || hc=$(fmt "$hc1 - $hc0")
  row "the floor of that ls: $(thousands "$fl") plain SSH logins (OpenSSH, \`ssh nick@HOST 'echo ok'\`, 50 at a time) to that host" \
    "—" "$(fmt "$t" %.2f) s wall, ${hc:-not measured} s CPU of the host ($(fmt "${hc:-0} * 1000 / $fl" %.0f) ms a login); $ok/$fl logins succeeded" "—"
  docker rm -f -v "$h" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# the run: the protocol first, while nothing else of ours runs
if part protocol; then bench_protocol; fi
if part create || part commands || part ls || part etcd; then
  fresh_ok=""
  bench_fresh
  if [ -n "$fresh_ok" ]; then
    if part commands; then bench_commands; fi
    if part ls; then bench_ls; fi
    # beside the TLS ls rows
    if part ssh; then bench_ssh; ssh_done=yes; fi
    if part etcd; then bench_etcd; fi
  elif part commands || part ls || part etcd; then
    row "\`machine status/ip/url/env/ssh\`, \`machine ls\` over many machines" "see the targets above" "not measured: the machine they need could not be created ($(last_line "$work/create-m00000.log"))" "—"
  fi
  docker rm -f -v "$fresh" >/dev/null
fi
if part ssh && [ -z "${ssh_done:-}" ]; then bench_ssh; fi
if part dockerhosts; then bench_dockerhosts; fi
if part vsphere; then bench_vsphere; fi
if part plugin; then bench_plugin; fi

# ---------------------------------------------------------------------------------------------
# the table
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
# shellcheck disable=SC1091
os=$(. /etc/os-release && echo "$PRETTY_NAME")
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || rev="$rev + uncommitted changes"
echo "### Benchmarks (\`scripts/bench.sh\`)"
echo
echo "Ran on: $(nproc) CPUs (nproc), $mem memory, CPU \"$cpu\"; $os, kernel $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC'); commit $rev, release build."
echo "Load average at the start: $load_start (1, 5, 15 min); at the end: $(cut -d' ' -f1-3 /proc/loadavg). The whole run took $(($(date +%s) - t_start)) s."
echo
echo "| measure | target | figure | target met? |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
