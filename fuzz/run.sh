#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 180) each, one after the
# other, then minimises each corpus (cargo fuzz cmin) so that what is kept in
# git stays small. Needs the pinned nightly (build/nightly-toolchain) and
# cargo-fuzz (installed when missing).
# A finding stops the run; libFuzzer leaves it in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${FUZZ_SECONDS:-180}
TARGETS=${FUZZ_TARGETS:-"cli target values header failure_line json"}
mkdir -p target
NIGHTLY=$(cat ../build/nightly-toolchain)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  echo "== fuzz $t for ${SECONDS_EACH}s"
  # cli.dict: every option name, generated from src/cli.rs (a test keeps it so).
  dict=(); [ -f "$t.dict" ] && dict=(-dict="$t.dict")
  cargo "+$NIGHTLY" fuzz run -O "$t" "corpus/$t" "regressions/$t" -- "${dict[@]}" \
    -max_total_time="$SECONDS_EACH" -max_len=${FUZZ_MAX_LEN:-1024} -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 2>&1 | tee "target/fuzz-$t.log" | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|Done)' || true
  grep -q 'Test unit written' "target/fuzz-$t.log" && { echo "fuzz $t: finding, see fuzz/artifacts/$t/"; exit 1; }
  # Edges only (no hit counters): the smallest set that keeps the coverage,
  # so that the corpus kept in git stays small.
  cargo "+$NIGHTLY" fuzz cmin -O "$t" "corpus/$t" -- -use_counters=0 >"target/cmin-$t.log" 2>&1
  echo "fuzz $t: $(ls "corpus/$t" | wc -l) inputs kept after cmin"
done
