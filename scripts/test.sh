#!/usr/bin/env bash
# The README's test command. On a Debian 12 machine (root, a Rust toolchain; cargo-nextest if
# present) it prepares everything the tests need, builds, and runs every check:
#   1. scripts/test-env.sh: Debian packages, a Docker engine, the test-host images, vcsim
#      (bookworm, bullseye and trixie; TESTHOST_SUITES="bookworm" builds only one)
#   2. cargo build --workspace --bins (the e2e tests drive target/debug/machine and its drivers)
#   3. the whole test suite: cargo nextest run --workspace (cargo test when nextest is missing);
#      end-to-end tests at most two at a time (tests/e2e/nextest.toml)
#   4. the API documentation: its examples run (cargo test --doc), its links resolve
#   5. a bounded fuzz run: the driver protocol's decoder, the store's config loader, the
#      plugin bridge's gob decoder and the --format template engine, FUZZ_SECONDS (default 20)
#      each (tests/fuzz)
#   6. cargo fmt --all -- --check
#   7. cargo clippy --workspace --all-targets -- -D warnings
# Steps 3-7 all run even when one fails; the exit status says whether all passed.
# Extra arguments go to the test runner, e.g. `scripts/test.sh -E 'test(generic)'` (nextest).
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$(date +%s)
declare -a summary=()
failed=0
log() { printf '\n[test.sh] %s\n' "$*" >&2; }

step() { # step NAME FATAL COMMAND...
  local name=$1 fatal=$2 s rc
  shift 2
  log "== $name: $*"
  s=$(date +%s)
  set +e
  "$@"
  rc=$?
  set -e
  local took=$(( $(date +%s) - s ))
  if [ $rc -eq 0 ]; then
    summary+=("ok     ${took}s  $name")
  else
    summary+=("FAILED ${took}s  $name (exit $rc)")
    failed=1
    if [ "$fatal" = fatal ]; then
      report
      exit $rc
    fi
  fi
}

report() {
  log "summary (total $(( $(date +%s) - t0 ))s):"
  printf '  %s\n' "${summary[@]}" >&2
}

step "test environment" fatal scripts/test-env.sh
step "build binaries" fatal cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  step "tests (nextest)" keep-going \
    cargo nextest run --workspace --config-file tests/e2e/nextest.toml "$@"
else
  log "cargo-nextest not found: using cargo test (e2e tests two at a time)"
  step "tests (cargo test)" keep-going \
    cargo test --workspace --no-fail-fast "$@" -- --test-threads=2
fi
# the examples in the API documentation (nextest runs no doctests), and its links
docs() { cargo test -q --workspace --doc && RUSTDOCFLAGS="-D warnings" cargo doc -q --workspace --no-deps; }
step "docs: examples and links" keep-going docs
# the fuzz targets one after another (every fuzz_ test of machine-fuzz and machine: protocol,
# config, gob, template), each for FUZZ_SECONDS with a fresh seed (printed)
fuzz() {
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} cargo test -q -p machine-fuzz -p machine fuzz_ -- --test-threads=1 --nocapture
}
step "fuzz (${FUZZ_SECONDS:-20}s per target)" keep-going fuzz
step "format" keep-going cargo fmt --all -- --check
step "clippy" keep-going cargo clippy --workspace --all-targets -- -D warnings

report
exit $failed
