#!/usr/bin/env bash
# build/hot-order.sh [OUT]      (make hot-order)
#
# Writes build/hot-symbols-amd64.txt (or OUT): the functions that one healthy
# probe of the HTTP-only amd64 build executes, one linker symbol a line, which
# build/dist.sh hands to rust-lld (--symbol-ordering-file) so that they sit
# together at the start of .text. See docs/costs.md, "Layout".
#
# How:
#   1. build/dist.sh amd64 (HTTP only) with DIST_STRIP=0: the same cargo
#      invocation as `make static`, into the same target dir, whose artifact
#      keeps its symbols. The symbols' hashes depend on the profile, so only
#      this very build gives the names the release link sees.
#   2. An nginx of its own on 127.0.0.1 (HOT_ORDER_PORT, default 18680, or the
#      next free port) answering `location = /healthz { return 200 '{"status": "ok"}'; }`,
#      stopped by its PID on exit.
#   3. One probe of it under `valgrind --tool=callgrind --dump-instr=yes` in an
#      empty environment: every instruction address executed.
#   4. Each address inside .text mapped to the symbols that cover it
#      (`nm -S`, mangled names; all the aliases of a folded or weak function),
#      sorted by name, with a header of '#' lines, which lld skips. Plus
#      _Exit and strcmp, which run natively but not under callgrind (below).
#
# Regenerate after changes to the code, the dependencies or the nightly: a
# name that has gone is skipped by the linker (costing page faults, not
# correctness), and build/dist.sh fails when the HTTP-only link finds fewer
# than 98% of the file's names.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$(readlink -m "${1:-build/hot-symbols-amd64.txt}")
PORT=${HOT_ORDER_PORT:-18680}
TARGET_DIR=$(readlink -m "${DIST_TARGET_DIR:-target/dist}")

say() { printf 'hot-order: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need[*]} (Debian: apt-get install ${need[*]})"
  say "installing ${need[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

W=$(mktemp -d /tmp/healthprobe-hot-order.XXXXXX)
NGINX_PID= QUIET_PID=
cleanup() {
  [ -z "$QUIET_PID" ] || kill "$QUIET_PID" 2>/dev/null || true
  if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The release build, with its symbols.
say "building (build/dist.sh amd64, HTTP only, symbols kept)"
# HOT_ORDER_CHECK=0: the file being replaced may well be out of date.
DIST_DIR=$W/dist DIST_TARGET_DIR=$TARGET_DIR DIST_VARIANTS=http DIST_STRIP=0 HOT_ORDER_CHECK=0 bash build/dist.sh amd64 >&2
BIN=$W/dist/healthprobe-linux-amd64
[ "$(nm --defined-only "$BIN" 2>/dev/null | wc -l)" -gt 0 ] || die "$BIN has no symbols"

# 2. nginx on a free loopback port.
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
# shellcheck source=bench/nginx.sh
source "$ROOT/bench/nginx.sh"
healthz_nginx "$W/nginx" "$PORT"
URL=http://127.0.0.1:$PORT/healthz

# 3. The probes under callgrind: every instruction address each executes.
#    The healthy probe first: its functions lead the text. Then the probes
#    that fail as a fleet in trouble sees them (503, a redirect, nothing
#    listening, no answer within the deadline) and the other kinds of target
#    (tcp://, file://, --expect-json): their functions follow, so that a
#    failing probe's code is as compact as the healthy one's. What all of
#    them share comes first of all (step 4).
QUIET_PORT=$((PORT + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$QUIET_PORT") 2>/dev/null; do QUIET_PORT=$((QUIET_PORT + 1)); done
CLOSED_PORT=$((QUIET_PORT + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$CLOSED_PORT") 2>/dev/null; do CLOSED_PORT=$((CLOSED_PORT + 1)); done
# A listener that accepts into its backlog and never answers.
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(600)' "$QUIET_PORT" &
QUIET_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$QUIET_PORT") 2>/dev/null && break; sleep 0.05; done
touch "$W/heartbeat"
probe_addrs() { # probe_addrs NAME WANT_EXIT ARGS...: NAME.addrs, the addresses executed
  local name=$1 want=$2 rc=0
  shift 2
  say "probe $name under callgrind: $*"
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin valgrind --tool=callgrind --dump-instr=yes \
    --compress-pos=no --compress-strings=no --callgrind-out-file="$W/cg.$name" --log-file="$W/cg.$name.log" \
    "$BIN" "$@" 2>/dev/null || rc=$?
  [ "$rc" = "$want" ] || { cat "$W/cg.$name.log" >&2; die "probe $name exited $rc under valgrind, not $want"; }
  # Cost lines start with the instruction's address ("positions: instr line").
  # shellcheck disable=SC2046
  printf '%d\n' $(grep -o '^0x[0-9a-f]*' "$W/cg.$name" | sort -u) | sort -n > "$W/$name.addrs"
}
probe_addrs healthy 0 "$URL"
ir=$(awk '/^summary:/ { print $2 }' "$W/cg.healthy")
cp "$W/healthy.addrs" "$W/addrs"
probe_addrs unavailable 1 "http://127.0.0.1:$PORT/unavailable"
probe_addrs moved 1 "http://127.0.0.1:$PORT/moved"
probe_addrs refused 1 "http://127.0.0.1:$CLOSED_PORT/healthz"
probe_addrs timeout 1 -t 300ms "http://127.0.0.1:$QUIET_PORT/healthz"
probe_addrs tcp 0 "tcp://127.0.0.1:$PORT"
probe_addrs file 0 "file://$W/heartbeat"
probe_addrs json 0 --expect-json status=ok "$URL"
kill "$QUIET_PID" 2>/dev/null || true; wait "$QUIET_PID" 2>/dev/null || true
sort -n -u "$W"/{unavailable,moved,refused,timeout,tcp,file,json}.addrs > "$W/more.addrs"

# 4. Addresses to symbols, in .text (the section the ordering applies to).
read -r text_start text_size < <(readelf -SW "$BIN" | awk '{ sub(/^.*\]/, "") } $1 == ".text" { print "0x" $3, "0x" $5 }')
text_start=$((text_start)) text_end=$((text_start + text_size))
# Function symbols (t, T, w, W) with their sizes; musl's assembly ones have
# none, so they reach to the next symbol.
nm -S --defined-only "$BIN" | awk 'NF == 4 && $3 ~ /^[tTwW]$/ { print $1, $2, $4 } NF == 3 && $2 ~ /^[tTwW]$/ { print $1, 0, $3 }' \
  > "$W/syms.hex"
paste -d' ' <(printf '%d\n' $(awk '{ print "0x" $1 }' "$W/syms.hex")) \
            <(printf '%d\n' $(awk '{ print "0x" $2 }' "$W/syms.hex")) \
            <(awk '{ print $3 }' "$W/syms.hex") |
  awk -v lo="$text_start" -v hi="$text_end" '$1 >= lo && $1 < hi' | sort -n -k1,1 -k3,3 > "$W/syms"
# Every symbol with an executed address in its range (binary search in the
# sorted addresses); on the side, the executed addresses no symbol covers and
# the bytes of the functions named (aliases of one function counted once).
names_run() { # names_run ADDRS STATS: the symbols covering ADDRS
awk -v lo="$text_start" -v hi="$text_end" -v stats="$2" '
  BEGIN { n = 0; na = 0 }
  FNR == NR { a[na++] = $1 + 0; next }
  { s[n] = $1 + 0; z[n] = $2 + 0; name[n] = $3; n++ }
  END {
    for (i = 0; i < n; i++) if (z[i] == 0) {
      for (j = i + 1; j < n && s[j] == s[i]; j++) ;
      z[i] = (j < n ? s[j] : hi) - s[i]
    }
    for (i = 0; i < n; i++) {
      l = 0; r = na
      while (l < r) { m = int((l + r) / 2); if (a[m] < s[i]) l = m + 1; else r = m }
      if (l < na && a[l] < s[i] + z[i]) {
        print name[i]
        if (!(s[i] in counted)) { counted[s[i]] = 1; nf++; total += z[i] }
        for (k = l; k < na && a[k] < s[i] + z[i]; k++) covered[k] = 1
      }
    }
    for (k = 0; k < na; k++) if (a[k] >= lo && a[k] < hi) { if (k in covered) hits++; else miss++ }
    printf "%d %d %d %d\n", hits, miss, nf, total > stats
  }' "$1" "$W/syms"
}
names_run "$W/addrs" "$W/stats" > "$W/names.run"
names_run "$W/more.addrs" "$W/more.stats" > "$W/more.run"
names_run "$W/file.addrs" /dev/null | LC_ALL=C sort -u > "$W/file.run"
names_run "$W/tcp.addrs" /dev/null | LC_ALL=C sort -u > "$W/tcp.run"
# Two functions that run natively but not under callgrind are named here
# (checked once by single-stepping a native probe under ptrace: these two were
# all it ran beyond callgrind's list). Left in their places, each kept one
# more 64 KiB window of the text resident:
#   _Exit   callgrind never counts the basic block that ends the process
#           (musl's _Exit: its exit_group does not return);
#   strcmp  valgrind gives the program no vDSO, so musl's lookup of
#           clock_gettime in it (__vdsosym, which compares names) never runs.
# A name that some data symbol has too (musl's local `dummy`: a function in
# several files, a .bss variable in another) is left out: lld orders every
# symbol of that name, and moving that variable before the arena in .bss cost
# one more page.
nm --defined-only "$BIN" | awk 'NF == 3 && $2 !~ /^[tTwW]$/ { print $3 }' | LC_ALL=C sort -u > "$W/data-names"
{ cat "$W/names.run"; printf '%s\n' _Exit strcmp; } | LC_ALL=C sort -u | LC_ALL=C comm -23 - "$W/data-names" > "$W/names.healthy"
LC_ALL=C sort -u "$W/more.run" | LC_ALL=C comm -23 - "$W/data-names" | LC_ALL=C comm -23 - "$W/names.healthy" > "$W/names.more"
# What every probe runs (start-up, the command line, the report, the exit:
# what the healthy, file:// and tcp:// probes share) first, then the rest of
# the healthy probe, then the rest: a file:// or tcp:// probe then touches the
# first pages and its own few, not the whole of the HTTP path.
LC_ALL=C comm -12 "$W/names.healthy" "$W/file.run" | LC_ALL=C comm -12 - "$W/tcp.run" > "$W/names.common"
LC_ALL=C comm -23 "$W/names.healthy" "$W/names.common" > "$W/names.http"
cat "$W/names.common" "$W/names.http" "$W/names.more" > "$W/names"
dropped=$({ cat "$W/names.run"; printf '%s\n' _Exit strcmp; } | LC_ALL=C sort -u | LC_ALL=C comm -12 - "$W/data-names" | tr '\n' ' ')
[ -z "$dropped" ] || say "left out, also the name of data: $dropped"
read -r hits miss nfunc bytes < "$W/stats"
[ "$miss" -eq 0 ] || say "warning: $miss executed addresses in .text are in no symbol's range"
nnames=$(wc -l < "$W/names")
[ "$nnames" -gt 0 ] || die "no executed function found"

toolchain=$(cat build/nightly-toolchain)
{
  echo "# The functions one healthy probe of dist/healthprobe-linux-amd64 executes (HTTP"
  echo "# only, GET of nginx's 'return 200'), those it shares with a file:// and a tcp:// probe"
  echo "# first; then those that only the failing probes and the other targets run; for"
  echo "# rust-lld's --symbol-ordering-file: build/dist.sh places them first in .text, in this"
  echo "# order. Written by build/hot-order.sh (make hot-order);"
  echo "# regenerate it rather than edit it. Built by $toolchain from tree $(git describe --always --dirty=+ 2>/dev/null || echo '?')."
  echo "# Healthy: $(wc -l < "$W/names.healthy") names of $nfunc functions, $bytes bytes of code; $hits instruction addresses, $ir instructions."
  echo "# Then $(wc -l < "$W/names.more") names for 503, 302, refused, timeout, tcp://, file:// and --expect-json."
  cat "$W/names"
} > "$W/out"
if [ -f "$OUT" ]; then
  old=$(grep -v '^#' "$OUT" | LC_ALL=C sort) || true
  say "against the previous $OUT: $(LC_ALL=C comm -13 <(echo "$old") <(LC_ALL=C sort "$W/names") | grep -c . || true) names new, $(LC_ALL=C comm -23 <(echo "$old") <(LC_ALL=C sort "$W/names") | grep -c . || true) gone"
fi
mv "$W/out" "$OUT"
say "wrote $OUT: $nnames names, $nfunc functions, $bytes bytes ($hits addresses executed in .text, $ir instructions)"
