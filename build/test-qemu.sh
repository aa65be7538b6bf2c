#!/usr/bin/env bash
# build/test-qemu.sh [ARCH...]      (make test-qemu; default: every ARCH built in dist/)
#
# Runs the integration tests against every artifact in dist/ (HTTP-only and
# TLS): amd64 natively, the others under Debian's qemu-user. The tests take
# the binary from HEALTHPROBE_BIN; for a foreign one that is a two-line wrapper
# in target/qemu/ that execs `qemu-ARCH dist/healthprobe-…-linux-ARCH "$@"`
# (exec, so signals sent to the probe's pid reach qemu, which passes them on).
#
#   QEMU_TEST_SUITES   test targets run against HTTP-only artifacts (default:
#                      "probe unix deadlines": make test-static's, and the
#                      deadline windows), ignored tests included
#   QEMU_TEST_TLS_SUITES  test targets run against TLS artifacts, compiled with
#                      --features tls (default: "tls unix deadlines")
#   QEMU_TEST_FILTER   test-name filters, e.g. "behaviour_table refused localhost"
#                      (default: every test)
#   QEMU_TEST_SKIP     skipped under qemu (default: empty_root_resolves_localhost,
#                      which copies the binary into an empty chroot: a wrapper
#                      script cannot run there; the native amd64 run keeps it)
#   HEALTHPROBE_TEST_SLACK_MS  widened upper time bounds under qemu (default 400)
#
# Each artifact must run at least one test and fail none; a summary follows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=build/targets.sh
source "$ROOT/build/targets.sh"
DIST_DIR=${DIST_DIR:-$ROOT/dist}
DIST_DIR=$(cd "$DIST_DIR" && pwd)
cd "$ROOT"
name=healthprobe
# As `make test-static`: probe + unix against the HTTP-only build, tls + unix
# (compiled with --features tls) against the TLS build; and the deadline
# windows against each.
suites=${QEMU_TEST_SUITES:-probe unix deadlines}
tls_suites=${QEMU_TEST_TLS_SUITES:-tls unix deadlines}
skip=${QEMU_TEST_SKIP-empty_root_resolves_localhost}
read -r -a filter <<<"${QEMU_TEST_FILTER:-}"
slack=${HEALTHPROBE_TEST_SLACK_MS:-400}

if [ $# -eq 0 ]; then read -r -a arches <<<"$(hp_arches)"; else arches=("$@"); fi

# Build the test binaries once, before any timing starts.
suite_args() { local a=() s; for s in "$@"; do a+=(--test "$s"); done; printf '%s\n' "${a[@]}"; }
mapfile -t http_args < <(suite_args $suites)
mapfile -t tls_args < <(suite_args $tls_suites)
cargo test --locked "${http_args[@]}" --no-run
cargo test --locked --features tls "${tls_args[@]}" --no-run

wrappers=$ROOT/target/qemu
mkdir -p "$wrappers"
summary=() failed=0 tested=0 total=0
for arch in "${arches[@]}"; do
  hp_target "$arch"
  for variant in "" tls-; do
    bin=$DIST_DIR/$name-${variant}linux-$ARCH
    [ -f "$bin" ] || continue
    args=(--include-ignored "${filter[@]+"${filter[@]}"}")
    if [ "$QEMU" = - ]; then
      probe_bin=$bin env_slack=0
    else
      command -v "${QEMU%% *}" >/dev/null || { echo "test-qemu: ${QEMU%% *} missing (build/install-deps.sh)" >&2; exit 1; }
      probe_bin=$wrappers/$name-${variant}linux-$ARCH
      printf '#!/bin/sh\nexec %s %q "$@"\n' "$QEMU" "$bin" > "$probe_bin"
      chmod +x "$probe_bin"
      env_slack=$slack
      for s in $skip; do args+=(--skip "$s"); done
    fi
    start=$SECONDS passed=0 bad=0 run_suites=$suites features=()
    [ -n "$variant" ] && { run_suites=$tls_suites; features=(--features tls); }
    if [ "$QEMU" = - ]; then how=native; else how=$QEMU; fi
    echo "== test-qemu: $(basename "$bin") ($how): $("$probe_bin" --version)"
    for s in $run_suites; do
      log=$(mktemp)
      if HEALTHPROBE_BIN=$probe_bin HEALTHPROBE_TEST_SLACK_MS=$env_slack \
          cargo test --locked ${features[@]+"${features[@]}"} --test "$s" -q -- "${args[@]+"${args[@]}"}" 2>&1 | tee "$log"; then :; else bad=1; fi
      n=$(sed -n 's/^test result: .*[^0-9]\([0-9][0-9]*\) passed.*/\1/p' "$log" | head -1)
      passed=$((passed + ${n:-0}))
      rm -f "$log"
    done
    [ "$passed" -gt 0 ] || bad=1
    tested=$((tested + 1)) total=$((total + passed))
    if [ $bad = 0 ]; then r=ok; else r=FAILED; failed=1; fi
    summary+=("$(printf '%-34s %-7s %3s passed  %4ss' "$(basename "$bin")" "$r" "$passed" "$((SECONDS - start))")")
  done
done

echo "== test-qemu summary (HTTP: $suites; TLS: $tls_suites${filter[*]:+; filter: ${filter[*]}}; skipped under qemu: ${skip:-none})"
printf '%s\n' "${summary[@]}"
[ "$tested" -gt 0 ] || { echo "test-qemu: no artifact in $DIST_DIR (make dist)" >&2; exit 1; }
if [ $failed = 0 ]; then echo "test-qemu: $tested artifacts, $total test runs passed"; else echo "test-qemu: some artifacts FAILED" >&2; fi
exit $failed
