#!/usr/bin/env bash
# make bench: the cost of one probe of healthprobe, busybox wget and curl, side by
# side, against an nginx of our own on loopback; the HTTPS probe of the TLS build
# beside curl's, against the same nginx with a private CA; then the budgets.
#
#   bash bench/run.sh [--strict] [--breakdown] [--bin PATH] [--tls-bin PATH]
#                     [--runs N] [--out FILE] [--compare PATH]
#
#   --strict     exit 1 when a budget fails (without it a failure is only printed)
#   --breakdown  also run bench/breakdown.sh (instructions per phase; builds a
#                copy of the tree with symbols, so it needs cargo)
#   --bin PATH   the probe to measure (default dist/healthprobe-linux-amd64)
#   --tls-bin PATH  the TLS build for the HTTPS rows (default
#                dist/healthprobe-tls-linux-amd64; without it they FAIL as not measured)
#   --runs N     hyperfine runs per command (default 300; env BENCH_RUNS)
#   --out FILE   where the results go (default bench/results.md, the one
#                source of every figure the documents quote: the report, then
#                each figure by key; bench/figures.py checks the quotes)
#   --compare PATH  another build of the probe (say, main's before a change):
#                its rows of the table "Each answer and each kind of target"
#                are measured in the same run, beside this one's
#   env BENCH_PORT   loopback port for nginx (default 18480; HTTPS on the next
#                one; a listener that never answers on the one after; the next
#                is left closed, for the refused probe)
#
# Every figure is measured here on each run; nothing is copied from elsewhere.

# LABEL_<name> and CMD_<name> are read through ${!...} indirection.
# shellcheck disable=SC2034
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
CALLER_PWD=$PWD
cd "$(dirname "$SELF")/.."
ROOT=$PWD

STRICT=0
BREAKDOWN=0
BIN=dist/healthprobe-linux-amd64
TLS_BIN=dist/healthprobe-tls-linux-amd64
RUNS=${BENCH_RUNS:-300}
WARMUP=20
PORT=${BENCH_PORT:-18480}
OUT=$ROOT/bench/results.md
COMPARE=
while [ $# -gt 0 ]; do
	case $1 in
	--strict) STRICT=1 ;;
	--breakdown) BREAKDOWN=1 ;;
	--bin) BIN=$(cd "$CALLER_PWD" && readlink -f "$2"); shift ;;
	--tls-bin) TLS_BIN=$(cd "$CALLER_PWD" && readlink -f "$2"); shift ;;
	--runs) RUNS=$2; shift ;;
	--out) OUT=$(cd "$CALLER_PWD" && readlink -m "$2"); shift ;;
	--compare) COMPARE=$(cd "$CALLER_PWD" && readlink -f "$2"); shift ;;
	-h | --help) sed -n '2,26p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

# --- tools -------------------------------------------------------------------

APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" = 0 ] || return 0
	# `apt-get update` takes the lists lock, which DPkg::Lock::Timeout does not
	# cover on every apt; others run apt on this machine too, so retry.
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 && { APT_UPDATED=1; return 0; }
		say "apt-get update failed (lock held?), retry $i in 10 s"
		sleep 10
	done
	return 1
}
apt_install() {
	[ "$(id -u)" = 0 ] || die "missing $*; install them (Debian: apt-get install $*) or run as root"
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >&2
}

need=()
command -v busybox >/dev/null || need+=(busybox)
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v valgrind >/dev/null || need+=(valgrind)
command -v strace >/dev/null || need+=(strace)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v cc >/dev/null || need+=(gcc libc6-dev)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	apt_install "${need[@]}"
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	say "installing nginx"
	apt_install nginx-light || apt_install nginx
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

[ -x "$BIN" ] || die "no probe at $BIN: run 'make static' first (or pass --bin)"
BIN=$(readlink -f "$BIN")
BIN_ORIG=$BIN

T=$(mktemp -d /tmp/healthprobe-bench.XXXXXX)
NGINX_PID= QUIET_PID=
cleanup() {
	[ -z "$QUIET_PID" ] || kill "$QUIET_PID" 2>/dev/null || true
	if [ -n "$NGINX_PID" ]; then
		kill "$NGINX_PID" 2>/dev/null || true
		wait "$NGINX_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Measure a copy: a `make static` running meanwhile must not swap the binary
# between two measurements.
mkdir -p "$T/bin"
cp -p "$BIN_ORIG" "$T/bin/$(basename "$BIN_ORIG")"
BIN=$T/bin/$(basename "$BIN_ORIG")
TLS_BIN_ORIG=
if [ -x "$TLS_BIN" ]; then
	TLS_BIN_ORIG=$(readlink -f "$TLS_BIN")
	cp -p "$TLS_BIN_ORIG" "$T/bin/$(basename "$TLS_BIN_ORIG")"
	TLS_BIN=$T/bin/$(basename "$TLS_BIN_ORIG")
else
	say "no TLS build at $TLS_BIN ('make static' builds it): the HTTPS rows are not measured"
	TLS_BIN=
fi

if [ -n "$COMPARE" ]; then
	[ -x "$COMPARE" ] || die "--compare $COMPARE: not an executable"
	cp -p "$COMPARE" "$T/bin/compare"
	COMPARE_ORIG=$COMPARE
	COMPARE=$T/bin/compare
fi

# peakrss reads the peak RSS of the exec'd program itself (see peakrss.c).
cc -O2 -o "$T/peakrss" "$ROOT/bench/peakrss.c"

# --- nginx -------------------------------------------------------------------

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
	die "something already listens on 127.0.0.1:$PORT; set BENCH_PORT to a free port"
fi
TLS_PORT=$((PORT + 1))
if (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then
	die "something already listens on 127.0.0.1:$TLS_PORT; set BENCH_PORT to a free pair of ports"
fi
mkdir -p "$T/ca"
# A private CA and a certificate for 127.0.0.1 signed by it, as a team would
# make for an internal service: ECDSA P-256 keys, SHA-256 signatures.
(
	cd "$T/ca"
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 -days 2 \
		-subj '/CN=healthprobe bench CA' -keyout ca.key -out ca.pem
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -sha256 \
		-subj '/CN=127.0.0.1' -keyout server.key -out server.csr
	printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days 2 \
		-extfile ext.cnf -out server.pem
) >"$T/ca/openssl.log" 2>&1 || { cat "$T/ca/openssl.log" >&2; die "openssl could not make the private CA"; }
# shellcheck source=bench/nginx.sh
source "$ROOT/bench/nginx.sh"
healthz_nginx "$T/nginx" "$PORT" "$TLS_PORT" "$T/ca/server.pem" "$T/ca/server.key"
URL=http://127.0.0.1:$PORT/healthz
TLS_URL=https://127.0.0.1:$TLS_PORT/healthz
CACERT=$T/ca/ca.pem
curl -fsS -o /dev/null --cacert "$CACERT" "$TLS_URL" || die "nginx does not answer on $TLS_URL with the private CA"

# --- what is measured -----------------------------------------------------------

# Every probe runs in the same small, fixed environment (no proxies, no HOME so
# no ~/.curlrc, no locale), as in a container; the environment's size is part
# of start-up cost.
CLEAN=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin)
BUSYBOX=$(readlink -f "$(command -v busybox)")
CURL=$(readlink -f "$(command -v curl)")
NAMES=(healthprobe)
LABEL_healthprobe="healthprobe"
CMD_healthprobe=("$BIN" "$URL")
# Debian's busybox is dynamically linked (glibc); the busybox that slim images
# carry is static, and so are the usual figures for it. Both are measured: the
# static one from the busybox-static package, unpacked here, since it cannot be
# installed beside busybox.
unpack_busybox_static() { (cd "$T" && apt-get download busybox-static >/dev/null 2>&1 && dpkg-deb -x busybox-static_*.deb bbs); }
unpack_busybox_static || { [ "$(id -u)" = 0 ] && apt_update && unpack_busybox_static; } || true
if [ -x "$T/bbs/bin/busybox" ]; then
	NAMES+=(busybox_static)
	LABEL_busybox_static="busybox wget (static)"
	CMD_busybox_static=("$T/bbs/bin/busybox" wget -q -O /dev/null "$URL")
else
	say "could not unpack busybox-static; measuring Debian's dynamic busybox only"
fi
NAMES+=(busybox curl)
# The other kinds of target, with every column of the table: a connection to
# the same nginx (tcp://) and a heartbeat file (file://, touched once; its
# --max-age outlasts the run).
HEARTBEAT=$T/heartbeat
touch "$HEARTBEAT"
NAMES+=(hp_tcp hp_file)
LABEL_hp_tcp="healthprobe tcp://"
LABEL_hp_file="healthprobe file://"
CMD_hp_tcp=("$BIN" "tcp://127.0.0.1:$PORT")
CMD_hp_file=("$BIN" --max-age 1440m "file://$HEARTBEAT")
LABEL_busybox="busybox wget (Debian, dynamic)"
LABEL_curl="curl"
CMD_busybox=("$BUSYBOX" wget -q -O /dev/null "$URL")
CMD_curl=("$CURL" -fsS -o /dev/null "$URL")
cmd_of() { local v="CMD_$1[@]"; CMD=("${!v}"); }

for n in "${NAMES[@]}"; do
	cmd_of "$n"
	"${CLEAN[@]}" "${CMD[@]}" || die "$n: probe of $URL failed (exit $?): ${CMD[*]}"
done
# The probe must also fail where it should, or we would be timing a no-op.
if "${CLEAN[@]}" "$BIN" -q "http://127.0.0.1:$PORT/missing" 2>/dev/null; then
	die "healthprobe exits 0 on a 404: not measuring a real probe"
fi

# HTTPS: the TLS build and curl, each trusting the private CA only.
TLS_NAMES=()
if [ -n "$TLS_BIN" ]; then
	TLS_NAMES+=(tls_healthprobe)
	LABEL_tls_healthprobe="healthprobe-tls --cacert"
	CMD_tls_healthprobe=("$TLS_BIN" --cacert "$CACERT" "$TLS_URL")
	# Without the CA the certificate must be refused, or the handshake is not verified.
	if "${CLEAN[@]}" "$TLS_BIN" -q "$TLS_URL" 2>/dev/null; then
		die "healthprobe-tls accepts the private CA's certificate without --cacert: not measuring a verified handshake"
	fi
fi
TLS_NAMES+=(tls_curl)
LABEL_tls_curl="curl --cacert"
CMD_tls_curl=("$CURL" -fsS -o /dev/null --cacert "$CACERT" "$TLS_URL")
for n in "${TLS_NAMES[@]}"; do
	cmd_of "$n"
	"${CLEAN[@]}" "${CMD[@]}" || die "$n: probe of $TLS_URL failed (exit $?): ${CMD[*]}"
done

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

say "instructions (callgrind, 3 runs each)"
for n in "${NAMES[@]}" "${TLS_NAMES[@]}"; do
	cmd_of "$n"
	for i in 1 2 3; do
		"${CLEAN[@]}" valgrind --tool=callgrind --log-file="$T/vg.$n.$i" \
			--callgrind-out-file="$T/cg.$n.$i" "${CMD[@]}" ||
			die "$n failed under valgrind (see $T/vg.$n.$i)"
		awk '/^summary:/ { print $2 }' "$T/cg.$n.$i"
	done | median >"$T/ir.$n"
done

# The same probe in an environment like a Kubernetes pod's, where service
# links add two or more variables per service: every getenv scans them all.
ENV100=()
for i in $(seq 50); do ENV100+=("APP${i}_SERVICE_HOST=10.96.0.$i" "APP${i}_SERVICE_PORT=80"); done
"${CLEAN[@]}" "${ENV100[@]}" valgrind --tool=callgrind --log-file="$T/vg.env100" \
	--callgrind-out-file="$T/cg.env100" "$BIN" "$URL" || die "healthprobe failed under valgrind with 100 variables"
awk '/^summary:/ { print $2 }' "$T/cg.env100" >"$T/ir.env100"

say "syscalls (strace -f -c)"
for n in "${NAMES[@]}" "${TLS_NAMES[@]}"; do
	cmd_of "$n"
	"${CLEAN[@]}" strace -f -c -U name,calls -o "$T/st.$n" "${CMD[@]}" ||
		die "$n failed under strace"
	awk '$1 == "total" { print $2 }' "$T/st.$n" >"$T/sys.$n"
done
# A thread (clone/clone3) is allowed only for names that need DNS.
for host in 127.0.0.1 localhost; do
	"${CLEAN[@]}" strace -f -qq -e trace=clone,clone3,fork,vfork -o "$T/clone.$host" \
		"$BIN" "http://$host:$PORT/healthz" || true
	grep -cE '^([0-9]+ +)?(clone|clone3|fork|vfork)\(' "$T/clone.$host" >"$T/clones.$host" || true
	"${CLEAN[@]}" strace -f -c -U name,calls -o "$T/stl.$host" "$BIN" "http://$host:$PORT/healthz" &&
		echo ok >"$T/ok.$host" || echo "exit $?" >"$T/ok.$host"
done

say "peak RSS and minor page faults (/usr/bin/time -v and peakrss, 5 runs each)"
for n in "${NAMES[@]}" "${TLS_NAMES[@]}"; do
	cmd_of "$n"
	for i in 1 2 3 4 5; do
		"${CLEAN[@]}" /usr/bin/time -v -o "$T/time.$n.$i" "${CMD[@]}" || die "$n failed under time"
		awk -F': ' '/Maximum resident set size/ { print $2 }' "$T/time.$n.$i"
	done | median >"$T/rss.$n"
	for i in 1 2 3 4 5; do awk -F': ' '/Minor .*page faults/ { print $2 }' "$T/time.$n.$i"; done | median >"$T/faults.$n"
	for i in 1 2 3 4 5; do
		"${CLEAN[@]}" "$T/peakrss" "$T/hwm.$n.$i" "${CMD[@]}" || die "$n failed under peakrss"
	done
	for i in 1 2 3 4 5; do awk '{ print $1 }' "$T/hwm.$n.$i"; done | median >"$T/hwm.$n"
	for i in 1 2 3 4 5; do awk '{ print $2 }' "$T/hwm.$n.$i"; done | median >"$T/ownfaults.$n"
done
# What /usr/bin/time reports for a static program that does nothing: the part
# of its figure that is not the program's own.
# What /usr/bin/time reports for a program that does nothing (no libc, one
# page of code): the part of its figure that is not the program's own.
printf '.globl _start\n_start:\n\tmov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n' >"$T/nop.s"
if cc -nostdlib -static -o "$T/nop" "$T/nop.s" 2>/dev/null; then
	for i in 1 2 3 4 5; do
		"${CLEAN[@]}" /usr/bin/time -v -o "$T/time.nop.$i" "$T/nop"
		awk -F': ' '/Maximum resident set size/ { print $2 }' "$T/time.nop.$i"
	done | median >"$T/rss.nop"
	for i in 1 2 3 4 5; do awk -F': ' '/Minor .*page faults/ { print $2 }' "$T/time.nop.$i"; done | median >"$T/faults.nop"
else
	echo "?" >"$T/rss.nop"
	echo "?" >"$T/faults.nop"
fi

say "size on disk"
lib_bytes() { # the file and every shared library ldd resolves for it
	{
		readlink -f "$1"
		{ ldd "$1" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
			xargs -r readlink -f
	} | sort -u | xargs stat -L -c %s | awk '{ s += $1 } END { print s }'
}
for n in "${NAMES[@]}" "${TLS_NAMES[@]}"; do
	cmd_of "$n"
	stat -L -c %s "${CMD[0]}" >"$T/size.$n"
	lib_bytes "${CMD[0]}" >"$T/libsize.$n"
done

# The machine is shared and busy: rather than all runs of one command and then
# the next, ROUNDS rounds (default: one per 10 runs) each run every command
# RUNS/ROUNDS times, and the medians are taken over all runs pooled, so a burst
# of load falls on all commands alike.
ROUNDS=${BENCH_ROUNDS:-$(((RUNS + 9) / 10))}
PER_ROUND=$(((RUNS + ROUNDS - 1) / ROUNDS))
[ "$PER_ROUND" -ge 2 ] || PER_ROUND=2
say "wall time (hyperfine -N, $WARMUP warm-up, then $ROUNDS rounds × $PER_ROUND runs of each)"
HF=()
for n in "${NAMES[@]}" "${TLS_NAMES[@]}"; do
	cmd_of "$n"
	HF+=(-n "$n" "$(printf '%q ' "${CMD[@]}")")
done
# The floor: a static program that only exits (built above for the RSS floor).
HF_NAMES=("${NAMES[@]}" "${TLS_NAMES[@]}")
if [ -x "$T/nop" ]; then HF+=(-n nop "$T/nop"); HF_NAMES+=(nop); fi
for r in $(seq "$ROUNDS"); do
	w=3; [ "$r" = 1 ] && w=$WARMUP
	"${CLEAN[@]}" hyperfine -N --style none --warmup "$w" --runs "$PER_ROUND" \
		--export-json "$T/hf.$r.json" "${HF[@]}" >"$T/hf.log" 2>&1 ||
		{ cat "$T/hf.log" >&2; die "hyperfine failed"; }
done
# From each JSON: per command, every run's wall time and the round's mean user
# and system time (seconds).
for r in $(seq "$ROUNDS"); do
	awk '
		/"command":/ { c = $0; sub(/.*"command": *"/, "", c); sub(/".*/, "", c); next }
		/"times": *\[/ { t = 1; next }
		t && /\]/ { t = 0; next }
		t { v = $0; gsub(/[ ,]/, "", v); print c, "time", v; next }
		/"(user|system)":/ { k = $0; sub(/^ *"/, "", k); sub(/".*/, "", k); v = $0; sub(/.*: */, "", v); sub(/,.*/, "", v); print c, k, v }
	' "$T/hf.$r.json"
done >"$T/hf.all"
for n in "${HF_NAMES[@]}"; do
	awk -v n="$n" '$1 == n && $2 == "time" { print $3 }' "$T/hf.all" | median | awk '{ printf "%.9f\n", $1 }' >"$T/wall.$n"
	awk -v n="$n" '$1 == n && ($2 == "user" || $2 == "system") { s += $3 } $1 == n && $2 == "user" { k++ }
		END { printf "%.9f\n", s / k }' "$T/hf.all" >"$T/cpu.$n"
	awk -v n="$n" '$1 == n && $2 == "time"' "$T/hf.all" | wc -l >"$T/nruns.$n"
done

# --- each answer and each kind of target ---------------------------------------
# A probe fails exactly when a fleet is in trouble, so what a failing probe
# costs is measured too: a 503, a redirect, nothing listening, no answer
# within the deadline; and the other targets (tcp://, file://), --expect-json,
# and two targets in one call. Instructions: callgrind, one run (the count is
# the same on every run); VmHWM and own faults: median of 3; syscalls: strace.
QUIET_PORT=$((PORT + 2)) CLOSED_PORT=$((PORT + 3))
for p in "$QUIET_PORT" "$CLOSED_PORT"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "something already listens on 127.0.0.1:$p; set BENCH_PORT"; fi
done
# Accepts into its backlog, never reads, never answers.
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(3600)' "$QUIET_PORT" &
QUIET_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$QUIET_PORT") 2>/dev/null && break; sleep 0.05; done
CASES=(healthy unavailable moved refused timeout json several tcp file)
# The 200, tcp:// and file:// are rows of the table above too (CASE_MAIN_x):
# this build's figures are taken from there, not measured a second time, and
# the other build runs the very same command.
CASE_LABEL_healthy="200 (the healthy probe above)"; CASE_EXIT_healthy=0; CASE_ARGS_healthy=("${CMD_healthprobe[@]:1}"); CASE_MAIN_healthy=healthprobe
CASE_LABEL_unavailable="503 with a body"; CASE_EXIT_unavailable=1; CASE_ARGS_unavailable=("http://127.0.0.1:$PORT/unavailable")
CASE_LABEL_moved="302, not followed"; CASE_EXIT_moved=1; CASE_ARGS_moved=("http://127.0.0.1:$PORT/moved")
CASE_LABEL_refused="connection refused"; CASE_EXIT_refused=1; CASE_ARGS_refused=("http://127.0.0.1:$CLOSED_PORT/healthz")
CASE_LABEL_timeout="no answer within -t 300ms"; CASE_EXIT_timeout=1; CASE_ARGS_timeout=(-t 300ms "http://127.0.0.1:$QUIET_PORT/healthz")
CASE_LABEL_json="200, --expect-json status=ok"; CASE_EXIT_json=0; CASE_ARGS_json=(--expect-json status=ok "$URL")
CASE_LABEL_several="two targets: the 200 and tcp://"; CASE_EXIT_several=0; CASE_ARGS_several=("$URL" "tcp://127.0.0.1:$PORT")
CASE_LABEL_tcp="tcp:// (connect only)"; CASE_EXIT_tcp=0; CASE_ARGS_tcp=("${CMD_hp_tcp[@]:1}"); CASE_MAIN_tcp=hp_tcp
CASE_LABEL_file="file:// (a fresh heartbeat)"; CASE_EXIT_file=0; CASE_ARGS_file=("${CMD_hp_file[@]:1}"); CASE_MAIN_file=hp_file
CASE_BINS=(now)
[ -z "$COMPARE" ] || CASE_BINS+=(before)
case_bin() { if [ "$1" = now ]; then echo "$BIN"; else echo "$COMPARE"; fi; }
say "each answer and each kind of target (callgrind, peakrss, strace)$([ -z "$COMPARE" ] || echo ", this build and $COMPARE_ORIG")"
for who in "${CASE_BINS[@]}"; do
	b=$(case_bin "$who")
	for c in "${CASES[@]}"; do
		a="CASE_ARGS_$c[@]"; e="CASE_EXIT_$c"; args=("${!a}"); m="CASE_MAIN_$c"
		if [ "$who" = now ] && [ -n "${!m:-}" ]; then
			cp "$T/ir.${!m}" "$T/cir.$who.$c"; cp "$T/hwm.${!m}" "$T/chwm.$who.$c"
			cp "$T/ownfaults.${!m}" "$T/cflt.$who.$c"; cp "$T/sys.${!m}" "$T/csys.$who.$c"
			: >"$T/cline.$who.$c"
			continue
		fi
		rc=0; "${CLEAN[@]}" valgrind --tool=callgrind --log-file="$T/cvg.$who.$c" \
			--callgrind-out-file="$T/ccg.$who.$c" "$b" "${args[@]}" 2>"$T/cerr.$who.$c" || rc=$?
		[ "$rc" = "${!e}" ] || die "$who: probe '$c' exited $rc under valgrind, not ${!e}: $(head -c 300 "$T/cerr.$who.$c")"
		awk '/^summary:/ { print $2 }' "$T/ccg.$who.$c" >"$T/cir.$who.$c"
		head -n 1 "$T/cerr.$who.$c" >"$T/cline.$who.$c"
		for i in 1 2 3; do
			"${CLEAN[@]}" "$T/peakrss" "$T/chwm.$who.$c.$i" "$b" "${args[@]}" 2>/dev/null || true
		done
		for i in 1 2 3; do awk '{ print $1 }' "$T/chwm.$who.$c.$i"; done | median >"$T/chwm.$who.$c"
		for i in 1 2 3; do awk '{ print $2 }' "$T/chwm.$who.$c.$i"; done | median >"$T/cflt.$who.$c"
		"${CLEAN[@]}" strace -f -c -U name,calls -o "$T/cst.$who.$c" "$b" "${args[@]}" 2>/dev/null || true
		awk '$1 == "total" { print $2 }' "$T/cst.$who.$c" >"$T/csys.$who.$c"
	done
done
kill "$QUIET_PID" 2>/dev/null || true
wait "$QUIET_PID" 2>/dev/null || true
QUIET_PID=

# What healthprobe.django's READINESS_MIGRATIONS adds to a readiness round,
# on the reference app with SQLite (bench/django_readiness.py), in the app's
# virtualenv; skipped, saying so, when that cannot be made.
DJANGO_FIGURES=$T/django.figures
if venv=$("$ROOT/examples/django/ensure-venv.sh" 2>"$T/venv.log"); then
	say "healthprobe.django readiness with and without READINESS_MIGRATIONS (bench/django_readiness.py)"
	BENCH_FIGURES=$DJANGO_FIGURES "$venv/bin/python" "$ROOT/bench/django_readiness.py" >"$T/django.out" 2>&1 ||
		die "bench/django_readiness.py failed: $(tail -n 3 "$T/django.out")"
else
	say "SKIP: the reference app's virtualenv could not be made ($(tail -n 1 "$T/venv.log")); no READINESS_MIGRATIONS figures"
	: >"$DJANGO_FIGURES"
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ----------------------------------------------------------------------

v() { cat "$T/$1.$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) { print "–"; exit } r = a / b; printf (r < 10 ? "%.2f×" : r < 100 ? "%.1f×" : "%.0f×"), r }'; }
num() { awk -v x="$1" 'BEGIN { s = sprintf("%d", x); o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'; }
ms() { awk -v x="$1" 'BEGIN { printf "%.3f ms", x * 1000 }'; }
kib() { awk -v x="$1" 'BEGIN { printf "%.0f KiB", x / 1024 }'; }
cell() { # value as shown, then the ratio to the base row's unless it is the base row ($b, set by table)
	local shown=$1 val=$2 base=$3 n=$4
	if [ "$n" = "$b" ]; then printf '%s' "$shown"; else printf '%s (%s)' "$shown" "$(ratio "$val" "$base")"; fi
}

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
PROBES_PER_DAY=$((10000 * 86400 / 10))

report() {
	echo "### healthprobe vs busybox wget vs curl — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $CPU_MODEL, $(nproc) cores, Linux $(uname -r); load average $LOAD_BEFORE before, $LOAD_AFTER after."
	echo "Binary: ${BIN_ORIG#"$ROOT"/}, sha256 $(sha256sum "$BIN" | cut -c1-12), built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'); tree $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' with uncommitted changes')."
	echo "Probe: GET $URL (nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), \`return 200 '{\"status\": \"ok\"}'\`), in an empty environment."
	echo "Versions: $({ busybox 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }'), curl $("$CURL" -V | awk 'NR == 1 { print $2 }'), $(valgrind --version), $(hyperfine --version)."
	echo
	table healthprobe "${NAMES[@]}"
	echo
	echo "healthprobe tcp:// connects to the same nginx and sends nothing; healthprobe file:// reads a heartbeat file's modification time."
	echo "Ratios are to healthprobe. Instructions: callgrind total Ir (user space, including the dynamic loader), median of 3."
	echo "Wall and user+sys: hyperfine -N, $(v nruns healthprobe) runs of each in $ROUNDS interleaved rounds (median over all; user+sys is the mean). Peak RSS: median of 5; \`time -v\` counts pages inherited from"
	echo "the forking parent before exec (a static no-op measures $(v rss nop) KiB there), VmHWM is the program's own peak."
	echo "Minor page faults: median of 5; \`time -v\`'s count includes the forked \`time\` child's faults before exec (a static no-op measures $(v faults nop)); \"own\" counts from exec to exit (bench/peakrss.c)."
	[ -f "$T/wall.nop" ] && echo "Floor: a static program that only exits (no libc) measures $(ms "$(v wall nop)") median wall and $(ms "$(v cpu nop)") user+sys in the same rounds."
	echo "Syscalls: strace -f -c total, including the execve. Sizes: the file itself; then with every library \`ldd\` lists."
	echo
	echo "HTTPS: GET $TLS_URL, the same nginx with its default protocols (nginx 1.22's stop at TLS 1.2: ECDHE-ECDSA, X25519), a certificate for"
	echo "127.0.0.1 with an ECDSA P-256 key signed by a private ECDSA P-256 CA made for the run; each client trusts that CA alone (\`--cacert\`). Ratios are to healthprobe-tls."
	echo
	if [ -n "$TLS_BIN" ]; then
		table tls_healthprobe "${TLS_NAMES[@]}"
	else
		echo "(healthprobe-tls not measured: no TLS build; \`make static\` builds it.)"
		echo
		table tls_curl "${TLS_NAMES[@]}"
	fi
	echo
	echo "Fleet: 10,000 containers probed every 10 s = $(num $PROBES_PER_DAY) probes/day; CPU seconds/day = probes/day × measured user+sys per probe."
	echo
	echo "| | user+sys per probe | CPU s/day | CPU cores busy all day | instructions/day (user space) | minor page faults per probe |"
	echo "|---|---:|---:|---:|---:|---:|"
	for n in "${NAMES[@]}" "${TLS_NAMES[@]}"; do
		local label="LABEL_$n"
		awk -v l="${!label}" -v f="$(v faults $n)" -v c="$(v cpu $n)" -v ir="$(v ir $n)" -v p=$PROBES_PER_DAY \
			'BEGIN { printf "| %s | %.3f ms | %.0f | %.2f | %.3g | %s |\n", l, c * 1000, c * p, c * p / 86400, ir * p, f }'
	done
	echo
	echo "user+sys is the child's rusage as hyperfine reports it (mean over all runs): it includes exec, page faults and the"
	echo "kernel's socket work, which callgrind does not see. (Its split into user and sys is tick-sampled on this kernel and"
	echo "meaningless for a sub-millisecond process; only the sum is used.) The container runtime's own cost per exec probe"
	echo "(docker exec / runc, kubelet) is not included: it is the same whichever probe binary runs."
	echo
	cases_report
	if [ -s "$T/django.out" ]; then
		echo
		echo "healthprobe.django's readiness round with READINESS_MIGRATIONS off and on, the reference app on SQLite (bench/django_readiness.py; µs, median of rounds):"
		echo
		echo '```'
		cat "$T/django.out"
		echo '```'
	fi
}

cases_report() {
	echo "Each answer and each kind of target, $(basename "$BIN_ORIG") against the same nginx$([ -z "$COMPARE" ] || echo "; \"before\": $COMPARE_ORIG, sha256 $(sha256sum "$COMPARE" | cut -c1-12), measured in the same run"):"
	echo
	local head="| | exit | instructions | × the 200 | VmHWM | own faults | syscalls |" rule="|---|---:|---:|---:|---:|---:|---:|"
	[ -z "$COMPARE" ] || { head+=" instructions before | VmHWM before | syscalls before |"; rule+="---:|---:|---:|"; }
	echo "$head"
	echo "$rule"
	local c l e row
	for c in "${CASES[@]}"; do
		l="CASE_LABEL_$c"; e="CASE_EXIT_$c"
		row="| ${!l} | ${!e} | $(num "$(v cir now.$c)") | $(ratio "$(v cir now.$c)" "$(v cir now.healthy)") | $(v chwm now.$c) KiB | $(v cflt now.$c) | $(v csys now.$c) |"
		[ -z "$COMPARE" ] || row+=" $(num "$(v cir before.$c)") | $(v chwm before.$c) KiB | $(v csys before.$c) |"
		echo "$row"
	done
	echo
	echo "The lines the failing probes print:"
	echo
	for c in "${CASES[@]}"; do
		e="CASE_EXIT_$c"
		[ "${!e}" = 1 ] && echo "- \`$(sed "s/:$PORT\b/:PORT/g; s/:$QUIET_PORT\b/:PORT+2/g; s/:$CLOSED_PORT\b/:PORT+3/g" "$T/cline.now.$c")\`"
	done
	echo
	echo "microcheck's httpcheck is not measured here: it is in no registry this machine reaches."
}

table() { # base name, then the rows' names
	local b=$1 n
	shift
	echo "| | instructions | median wall | user+sys (mean) | peak RSS (time -v) | peak RSS (own VmHWM) | minor faults (time -v / own) | syscalls | binary | with shared libs |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for n in "$@"; do
		local label="LABEL_$n"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${!label}" \
			"$(cell "$(num "$(v ir $n)")" "$(v ir $n)" "$(v ir $b)" $n)" \
			"$(cell "$(ms "$(v wall $n)")" "$(v wall $n)" "$(v wall $b)" $n)" \
			"$(cell "$(ms "$(v cpu $n)")" "$(v cpu $n)" "$(v cpu $b)" $n)" \
			"$(cell "$(v rss $n) KiB" "$(v rss $n)" "$(v rss $b)" $n)" \
			"$(cell "$(v hwm $n) KiB" "$(v hwm $n)" "$(v hwm $b)" $n)" \
			"$(cell "$(v faults $n) / $(v ownfaults $n)" "$(v faults $n)" "$(v faults $b)" $n)" \
			"$(cell "$(v sys $n)" "$(v sys $n)" "$(v sys $b)" $n)" \
			"$(cell "$(kib "$(v size $n)")" "$(v size $n)" "$(v size $b)" $n)" \
			"$(cell "$(kib "$(v libsize $n)")" "$(v libsize $n)" "$(v libsize $b)" $n)"
	done
}

budget_lines=()
FAILED=0
budget() { # name, pass (0/1), measured text
	local mark=PASS
	if [ "$2" != 1 ]; then mark=FAIL; FAILED=1; fi
	budget_lines+=("| $mark | $1 | $3 |")
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
hp_ir=$(v ir healthprobe); hp_sys=$(v sys healthprobe); hp_faults=$(v faults healthprobe)
hp_hwm=$(v hwm healthprobe); hp_wall=$(v wall healthprobe); hp_size=$(v size healthprobe)
budget "≤ 37,000 instructions" "$(le "$hp_ir" 37000)" "$(num "$hp_ir")"
budget "≤ 26 syscalls" "$(le "$hp_sys" 26)" "$hp_sys"
budget "≤ 30 minor page faults (time -v)" "$(le "$hp_faults" 30)" \
	"$hp_faults (own, from exec to exit: $(v ownfaults healthprobe); a static no-op under time -v: $(v faults nop))"
budget "≤ 300 KiB own peak RSS (VmHWM)" "$(le "$hp_hwm" 300)" "$hp_hwm KiB (time -v: $(v rss healthprobe) KiB; no-op floor there $(v rss nop) KiB)"
budget "binary ≤ 320 KiB" "$(le "$hp_size" 327680)" "$(kib "$hp_size") ($(num "$hp_size") bytes)"
env_ir=$(v ir env100)
budget "100 more environment variables cost ≤ 2,000 instructions" "$(le "$((env_ir - hp_ir))" 2000)" \
	"$(num "$env_ir") instructions with them, $(awk -v a="$env_ir" -v b="$hp_ir" 'BEGIN { printf "%+d, %.0f per variable", a - b, (a - b) / 100 }')"
if [ -n "$TLS_BIN" ]; then
	tls_ir=$(v ir tls_healthprobe)
	budget "HTTPS with --cacert (TLS build) ≤ 2,000,000 instructions" "$(le "$tls_ir" 2000000)" \
		"$(num "$tls_ir") (curl: $(num "$(v ir tls_curl)"))"
else
	budget "HTTPS with --cacert (TLS build) ≤ 2,000,000 instructions" 0 "not measured: no TLS build at dist/ (make static)"
fi
h_ir=$(v cir now.healthy)
for c in unavailable moved refused timeout; do
	l="CASE_LABEL_$c"
	budget "${!l}: ≤ 300 KiB VmHWM and ≤ 1.15 × the 200's instructions" \
		"$(awk -v h="$(v chwm now.$c)" -v a="$(v cir now.$c)" -v b="$h_ir" 'BEGIN { print (h <= 300 && a <= 1.15 * b) ? 1 : 0 }')" \
		"$(v chwm now.$c) KiB, $(num "$(v cir now.$c)") ($(ratio "$(v cir now.$c)" "$h_ir"))"
done
for c in tcp file; do
	l="CASE_LABEL_$c"
	budget "${!l}: less than the 200 in instructions, VmHWM and syscalls" \
		"$(awk -v a="$(v cir now.$c)" -v b="$h_ir" -v x="$(v chwm now.$c)" -v y="$(v chwm now.healthy)" -v s="$(v csys now.$c)" -v t="$(v csys now.healthy)" \
			'BEGIN { print (a < b && x < y && s < t) ? 1 : 0 }')" \
		"$(num "$(v cir now.$c)") / $(v chwm now.$c) KiB / $(v csys now.$c) against $(num "$h_ir") / $(v chwm now.healthy) KiB / $(v csys now.healthy)"
done
for host in 127.0.0.1 localhost; do
	c=$(v clones "$host"); okh=$(v ok "$host")
	pass=0; [ "$c" = 0 ] && [ "$okh" = ok ] && pass=1
	budget "no thread for $host" "$pass" "$c clone/fork calls, probe $okh, $(awk '$1 == "total" { print $2 }' "$T/stl.$host") syscalls"
done
for n in busybox_static busybox; do
	[ -f "$T/wall.$n" ] || continue
	label="LABEL_$n"; bb_wall=$(v wall $n)
	budget "median wall ≤ 0.8 × ${!label}" "$(awk -v a="$hp_wall" -v b="$bb_wall" 'BEGIN { print (a <= 0.8 * b) ? 1 : 0 }')" \
		"$(ms "$hp_wall") vs $(ms "$bb_wall") = $(awk -v a="$hp_wall" -v b="$bb_wall" 'BEGIN { printf "%.2f", a / b }')×"
done

{
	report
	echo
	echo "Budgets for $(basename "$BIN")$([ -z "$TLS_BIN" ] || echo " and $(basename "$TLS_BIN")"):"
	echo
	echo "| | budget | measured |"
	echo "|---|---|---|"
	printf '%s\n' "${budget_lines[@]}"
} >"$T/report.md"

if [ "$BREAKDOWN" = 1 ]; then
	say "instructions per phase (bench/breakdown.sh)"
	{
		echo
		echo "Instructions per phase, $(basename "$BIN") built with symbols (bench/breakdown.sh):"
		echo
		BENCH_COMPARE_BIN=$BIN bash "$ROOT/bench/breakdown.sh" "$URL"
	} >>"$T/report.md"
fi

# Each figure by key, as the documents quote it: `[VALUE](bench/results.md "KEY")`.
figures() {
	local n m
	echo "| key | value |"
	echo "|---|---|"
	printf '| date | %s |\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf '| machine | %s, %s cores, Linux %s |\n' "$CPU_MODEL" "$(nproc)" "$(uname -r | cut -d. -f1-2)"
	printf '| commit | %s |\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
	for n in "${NAMES[@]}" "${TLS_NAMES[@]}"; do
		printf '| %s.instructions | %s |\n' "$n" "$(num "$(v ir "$n")")"
		printf '| %s.wall | %s |\n' "$n" "$(ms "$(v wall "$n")")"
		printf '| %s.cpu | %s |\n' "$n" "$(ms "$(v cpu "$n")")"
		printf '| %s.rss_time | %s KiB |\n' "$n" "$(v rss "$n")"
		printf '| %s.vmhwm | %s KiB |\n' "$n" "$(v hwm "$n")"
		printf '| %s.faults_time | %s |\n' "$n" "$(v faults "$n")"
		printf '| %s.faults_own | %s |\n' "$n" "$(v ownfaults "$n")"
		printf '| %s.syscalls | %s |\n' "$n" "$(v sys "$n")"
		printf '| %s.size | %s |\n' "$n" "$(kib "$(v size "$n")")"
		printf '| %s.bytes | %s |\n' "$n" "$(num "$(v size "$n")")"
		printf '| %s.with_libs | %s |\n' "$n" "$(kib "$(v libsize "$n")")"
		printf '| %s.cores | %s |\n' "$n" "$(awk -v c="$(v cpu "$n")" -v p="$PROBES_PER_DAY" 'BEGIN { printf "%.2f", c * p / 86400 }')"
	done
	for n in "${NAMES[@]}"; do
		[ "$n" = healthprobe ] && continue
		for m in ir:instructions wall:wall; do
			printf '| %s.%s_ratio | %s |\n' "$n" "${m#*:}" "$(ratio "$(v "${m%%:*}" "$n")" "$(v "${m%%:*}" healthprobe)")"
		done
	done
	for n in "${TLS_NAMES[@]}"; do
		[ "$n" = tls_healthprobe ] && continue
		for m in ir:instructions wall:wall; do
			printf '| %s.%s_ratio | %s |\n' "$n" "${m#*:}" "$(ratio "$(v "${m%%:*}" "$n")" "$(v "${m%%:*}" "${TLS_NAMES[0]}")")"
		done
	done
	for c in "${CASES[@]}"; do
		printf '| case.%s.instructions | %s |\n' "$c" "$(num "$(v cir now.$c)")"
		printf '| case.%s.vmhwm | %s KiB |\n' "$c" "$(v chwm now.$c)"
		printf '| case.%s.syscalls | %s |\n' "$c" "$(v csys now.$c)"
	done
	awk '{ k = $1; $1 = ""; sub(/^ /, ""); printf "| %s | %s |\n", k, $0 }' "$DJANGO_FIGURES"
	printf '| env100.instructions | %s |\n' "$(num "$env_ir")"
	printf '| env100.per_variable | %s |\n' "$(awk -v a="$env_ir" -v b="$hp_ir" 'BEGIN { printf "%.0f", (a - b) / 100 }')"
	printf '| nop.wall | %s |\n' "$([ -f "$T/wall.nop" ] && ms "$(v wall nop)" || echo '?')"
	printf '| nop.cpu | %s |\n' "$([ -f "$T/cpu.nop" ] && ms "$(v cpu nop)" || echo '?')"
	printf '| nop.rss_time | %s KiB |\n' "$(v rss nop)"
	printf '| nop.faults_time | %s |\n' "$(v faults nop)"
}

cat "$T/report.md"
{
	echo "# Results of \`make bench\`"
	echo
	echo "Generated by bench/run.sh; do not edit. Every measured figure the documents quote comes from"
	echo "the table \"Figures\" at the end, and \`make check\` (bench/figures.py) compares each quote with it."
	echo
	cat "$T/report.md"
	echo
	echo "## Figures"
	echo
	figures
} >"$T/results.md"
mkdir -p "$(dirname "$OUT")"
cp "$T/results.md" "$OUT"
say "wrote ${OUT#"$ROOT"/}"
if [ "$FAILED" = 1 ]; then
	echo
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
	echo "!!! BENCH: A BUDGET FAILED for $(basename "$BIN") — see FAIL rows above"
	echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
	[ "$STRICT" = 0 ] || exit 1
fi
exit 0
