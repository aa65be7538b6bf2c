#!/usr/bin/env bash
# Where healthprobe's instructions go, phase by phase, for one healthy probe.
#
#   bash bench/breakdown.sh URL [OUTDIR]
#
# Builds the current tree once more with symbols and line tables (same
# profile otherwise, into target/bench-symbols; src/ is not touched), checks
# that it executes the same number of instructions as dist/, then runs it
# under callgrind with a dump before each call that marks a phase boundary
# (libc calls such as socket and sendto, and a few of our functions). Each
# dump holds the instructions executed since the previous boundary, so the
# timeline below is exact whatever the compiler inlined.
# OUTDIR (default: a temp dir, removed) keeps the dumps and the full
# `callgrind_annotate --inclusive=yes` listing.
set -euo pipefail

URL=${1:?usage: bash bench/breakdown.sh URL [OUTDIR]}
OUTDIR=${2:+$(readlink -m "$2")}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIST=${BENCH_COMPARE_BIN:-dist/healthprobe-linux-amd64}
TARGET_DIR=${BENCH_SYMBOLS_TARGET_DIR:-target/bench-symbols}

if [ -n "$OUTDIR" ]; then
	mkdir -p "$OUTDIR"; W=$(cd "$OUTDIR" && pwd)
else
	W=$(mktemp -d /tmp/healthprobe-breakdown.XXXXXX); trap 'rm -rf "$W"' EXIT
fi

say() { printf 'breakdown: %s\n' "$*" >&2; }
# The same recipe as `make static` (build/dist.sh: the pinned nightly,
# build-std, its RUSTFLAGS), with symbols kept and a target dir of its own.
say "building a copy with symbols into $TARGET_DIR (build/dist.sh amd64)"
DIST_DIR=$W/symbols DIST_TARGET_DIR=$TARGET_DIR DIST_VARIANTS=http \
	DIST_STRIP=0 CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
	bash build/dist.sh amd64 >&2
SYM=$W/symbols/healthprobe-linux-amd64

CLEAN=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin)
ir() { "${CLEAN[@]}" valgrind --tool=callgrind --callgrind-out-file="$W/$2" --log-file="$W/$2.log" "$1" "$URL" ||
	{ say "$1 $URL failed under valgrind"; exit 1; }; awk '/^summary:/ { print $2 }' "$W/$2"; }
sym_ir=$(ir "$SYM" whole.out)
if [ -x "$DIST" ]; then
	dist_ir=$(ir "$DIST" dist.out)
	say "$DIST: $dist_ir instructions; copy with symbols: $sym_ir"
	awk -v a="$dist_ir" -v b="$sym_ir" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= a * 0.01) }' ||
		say "WARNING: they differ by more than 1%: is dist/ stale? (make static)"
fi
callgrind_annotate --inclusive=yes "$W/whole.out" >"$W/annotate-inclusive.txt" 2>/dev/null

# Boundaries: Rust's main (std's entry), the watchdog's signal()/setitimer(),
# a few of our own functions that the compiler keeps out of line, and the libc
# socket calls. A boundary that is never reached (a function inlined or
# renamed) merges its segment with the next one; the total stays exact.
MARKS=('*__rust_begin_short_backtrace*' signal 'healthprobe::report::deadline_line' setitimer
	'healthprobe::probe::attempt' '*FixedResolver*resolve' socket connect setsockopt sendto recvfrom close exit _exit)
args=()
for m in "${MARKS[@]}"; do args+=("--dump-before=$m"); done
mkdir -p "$W/dumps"
"${CLEAN[@]}" valgrind --tool=callgrind --callgrind-out-file="$W/dumps/cg" --log-file="$W/dumps.log" "${args[@]}" "$SYM" "$URL"

# Dumps are numbered cg.1, cg.2, ... in order; the final one is plain cg.
tidy() {
	sed -E 's#/cargo/registry/src/[^/]+/##; s#/build/src/#src/#; s#/root/\.cargo/registry/src/[^/]+/##; s#/rustc/[0-9a-f]+/##; s#/root/\.rustup/toolchains/[^/]+/lib/rustlib/src/rust/##; s# \[[^]]*\]##; s#/[^ ]*/src_musl/#musl/#; s#^( *[0-9,]+) \( *[0-9.]+%\)#\1#' | sed "s#$PWD/##"
}
rows_from=() rows_to=() rows_n=() rows_top=() rows_big=()
prev=start
total=0
for f in $(find "$W/dumps" -name 'cg.[0-9]*' -printf '%f\n' | sort -t. -k2 -n) cg; do
	file="$W/dumps/$f"
	n=$(awk '/^summary:/ { print $2 }' "$file")
	trig=$(sed -n 's/^desc: Trigger: //p' "$file" | sed 's/--dump-before=//; s/Program termination/end/; s/std::sys::backtrace::__rust_begin_short_backtrace.*/Rust main/; s/.*FixedResolver.*resolve.*/FixedResolver::resolve/; s/^healthprobe:://')
	total=$((total + n))
	# The top functions of this segment, skipping the frames every segment shares.
	top=$({ callgrind_annotate --inclusive=yes "$file" 2>/dev/null |
		sed -n '/file:function/,/^-- Auto-annotated/p' | grep -E '^ *[0-9,]+ ' | tidy |
		grep -vE '_start_c|__dls2|below main|libc_start_main|^ *[0-9,]+ +\?\?\?:(main|0x)|__rust_begin_short_backtrace|^ *[0-9,]+ +[^ ]*main\.rs:' |
		awk -v n="$n" '{ c = $1; gsub(/,/, "", c) } c + 0 < n + 0' | head -4 || true; } | awk '{ c = $1; $1 = ""; sub(/^ /, ""); if (length($0) > 90) $0 = substr($0, 1, 87) "..."; printf "%s%s %s", (NR > 1 ? "; " : ""), c, $0 }')
	k=$((${#rows_n[@]} - 1))
	if [ "$k" -ge 0 ] && [ "$trig" = "$prev" ] && [ "${rows_to[$k]}" = "$trig" ]; then
		# A run of the same call (signal, signal, ...): one row.
		rows_n[$k]=$((rows_n[k] + n))
		if [ "$n" -gt "${rows_big[$k]}" ]; then rows_top[$k]=$top; rows_big[$k]=$n; fi
	else
		rows_from+=("$prev") rows_to+=("$trig") rows_n+=("$n") rows_top+=("$top") rows_big+=("$n")
	fi
	prev=$trig
done
printf '| from → to (before the call) | instructions | largest inclusive costs inside |\n'
printf '|---|---:|---|\n'
for k in "${!rows_n[@]}"; do
	printf '| %s → %s | %s | %s |\n' "${rows_from[$k]}" "${rows_to[$k]}" "${rows_n[$k]}" "${rows_top[$k]//|/\\|}"
done
printf '| **total** | **%s** | |\n' "$total"
if [ -n "$OUTDIR" ]; then
	say "dumps and the full inclusive listing are in $W (annotate-inclusive.txt)"
else
	say "pass an OUTDIR to keep the dumps and the full callgrind_annotate listing"
fi
