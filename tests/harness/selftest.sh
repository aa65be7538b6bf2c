#!/usr/bin/env bash
# The harness checked against itself (run first by `make test-e2e`): a suite
# with a failing case exits 1, a case that cannot run has its own skip line and
# does not pass, the totals count each kind, and every server the suite served
# is stopped by its pid when it exits, frozen or not, with its own stop signal.
# Needs nothing but bash and python3; redis-server too for its gate, which is
# a skip line where it is not installed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/harness/harness.sh
source "$here/harness.sh"
harness_begin

# A suite of its own, run in a child: its output, its exit status, and the
# pids of the servers it left behind (it must leave none).
inner=$work/inner.sh
cat >"$inner" <<'EOF'
set -uo pipefail
source "$HARNESS_DIR/harness.sh"
harness_begin
serve sleeper -- sleep 300
serve signalled --stop USR1 -- bash -c 'trap "" TERM; trap "touch $PIDS.usr1; exit 0" USR1; while :; do sleep 0.1; done'
serve stubborn --grace 1 -- bash -c 'trap "" TERM INT; while :; do sleep 0.1; done'
serve frozen -- sleep 300
freeze frozen
for name in sleeper signalled stubborn frozen; do server_pid "$name"; done >"$PIDS"
holds() { pass "it holds"; }
breaks() { fail "it broke"; }
unrunnable() { cannot "not here"; }
run_case "a passing case" holds
run_case "a failing case" breaks
run_case "a case that cannot run" unrunnable
probe_case "an exit 1 with its one line" 1 expected -- bash -c 'echo "the expected line" >&2; exit 1'
probe_case "an exit 0 that talks" 0 -- echo chatter
harness_end
EOF

suite_ran() {
    HARNESS_DIR=$here PIDS=$work/pids TMPDIR=$work bash "$inner" >"$work/inner.out" 2>&1
    echo $? >"$work/inner.status"
}
suite_ran
inner_out=$(cat "$work/inner.out")
line_is() {   # line_is LINE: the inner suite printed exactly LINE
    grep -qxF -- "$1" "$work/inner.out" || fail "no line '$1' in: $inner_out"
}
exits_1() { [ "$(cat "$work/inner.status")" = 1 ] || fail "exit $(cat "$work/inner.status")"; }
no_server_left() {
    local pid left=()
    for pid in $(cat "$work/pids"); do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    [ ${#left[@]} = 0 ] || { kill -CONT "${left[@]}"; kill -KILL "${left[@]}"; fail "still running: ${left[*]}"; }
}

run_case "a failing case makes the suite exit 1" exits_1
run_case "a pass is one ok line with its detail" line_is "ok - a passing case (it holds)"
run_case "a failure is one not ok line with its detail" line_is "not ok - a failing case (it broke)"
run_case "a case that cannot run is a skip line, not a pass" line_is "skip - a case that cannot run: not here"
probe_passes() { grep -qE '^ok - an exit 1 with its one line \([0-9.]+s: the expected line\)$' "$work/inner.out" || fail "$inner_out"; }
run_case "probe_case: an exit 1 with one line holding the word passes" probe_passes
run_case "the totals count each kind" line_is "2 passed, 2 failed, 1 skipped"
run_case "every server is stopped by its pid at exit: frozen, or killed after its grace" no_server_left
got_its_signal() { [ -f "$work/pids.usr1" ] || fail "the server served with --stop USR1 did not get SIGUSR1"; }
run_case "a server is sent its own stop signal" got_its_signal

probe_failure_says_stdout() { grep -q '^not ok - an exit 0 that talks (.*unexpected stdout: chatter' "$work/inner.out" || fail "$inner_out"; }
run_case "probe_case: an exit 0 that prints is a failure that says so" probe_failure_says_stdout

killed_at_once() {
    local t0=$SECONDS pid
    serve stubborn -- bash -c 'trap "" TERM INT; while :; do sleep 0.1; done'
    pid=$(server_pid stubborn)
    stop stubborn KILL
    ! alive "$pid" || { fail "pid $pid still running"; return; }
    [ $((SECONDS - t0)) -lt 5 ] || fail "took $((SECONDS - t0)) s, not at once"
}
run_case "stop NAME KILL: killed at once (kill -9), whatever its own signal" killed_at_once

redis_answers() {
    command -v redis-server >/dev/null || { cannot "redis-server is not installed"; return; }
    local port
    port=$(free_ports 1) || { fail "no free port"; return; }
    serve_redis redis "$port"
    await_redis redis "127.0.0.1:$port" || { fail "no PONG"; return; }
    stop redis
    pass "127.0.0.1:$port"
}
run_case "serve_redis: redis-server on loopback answers PING, stopped by pid" redis_answers

harness_end
