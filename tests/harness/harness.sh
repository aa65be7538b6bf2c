# tests/harness/harness.sh: what every real-stack suite shares (tests/e2e/run.sh,
# tests/docker/run.sh), sourced at their top after `set -uo pipefail`:
#
#   harness_begin                a work directory, one run of the suite at a time
#                                on this machine, and the exit trap that stops
#                                every server, whatever happens
#   serve NAME [--stop SIGNAL] [--grace SECONDS] -- COMMAND...
#                                the one place a server is started: in the
#                                background, output to $work/NAME.log, its pid
#                                recorded ($(server_pid NAME))
#   stop NAME [SIGNAL]           the one place it is stopped: by that pid, with
#                                its own signal or SIGNAL (KILL: kill -9), reaped,
#                                SIGKILL after the grace (15 s)
#   freeze NAME / thaw           SIGSTOP a server and its children / SIGCONT them
#   serve_postgres, serve_gunicorn, serve_uvicorn, serve_nginx, serve_redis,
#   serve_dockerd                each server's command line; await_http,
#                                await_postgres, await_redis gate on it answering
#   run_case NAME FUNCTION [ARG...]
#                                one case: FUNCTION says pass/fail/cannot DETAIL
#                                and the runner prints `ok - NAME (DETAIL)`,
#                                `not ok - NAME (DETAIL)` or `skip - NAME: WHY`
#   probe_case NAME EXIT [--elapsed MIN MAX] [WORD...] -- COMMAND...
#                                one row of a table: the probe's contract
#                                (silent on 0; one line holding every WORD on 1)
#   harness_end                  `N passed, N failed[, N skipped]`; status 1 on
#                                any failure
#
# A case that cannot run says so on its own `skip -` line; the totals count it.
# HARNESS_KEEP=1 keeps the work directory. tests/harness/selftest.sh checks
# the harness itself (make test-e2e runs it first).

harness_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$harness_dir/../.." && pwd)

# The deployment examples the suites run as written: the Dockerfile, the
# Kubernetes manifest and the Compose file whose health checks README.md's
# Docker, Kubernetes and Docker Compose sections quote. Moved? Change it here.
deployment_example() {   # deployment_example dockerfile|kubernetes|compose|compose-workers
    case $1 in
        dockerfile) echo "$repo/Dockerfile.example" ;;
        kubernetes) echo "$repo/examples/kubernetes.yaml" ;;
        compose)    echo "$repo/examples/compose.yaml" ;;
        compose-workers) echo "$repo/examples/compose-workers.yaml" ;;
        *) echo "harness: no deployment example '$1'" >&2; return 1 ;;
    esac
}

harness_die() { echo "$harness_suite: $*" >&2; exit 1; }
note() { echo "# $*"; }

# ---- the work directory and the exit trap ------------------------------------

# The suite's name (e2e, docker): its directory's. Its messages start with it.
harness_suite=$(basename "$(cd "$(dirname "$0")" && pwd)")
work= harness_hooks=()
harness_begin() {
    # One run at a time: concurrent runs would race for ports and the engine.
    exec 9>"${TMPDIR:-/tmp}/healthprobe-$harness_suite-$(id -u).lock"
    flock -w 600 9 || harness_die "another run of $harness_suite held the lock for 10 minutes"
    work=$(mktemp -d "${TMPDIR:-/tmp}/healthprobe-$harness_suite.XXXXXX")
    # Servers that drop root (PostgreSQL, nginx's workers) reach their files here.
    chmod 755 "$work"
    trap harness_cleanup EXIT
    trap 'exit 130' INT TERM
}
on_exit() { harness_hooks+=("$*"); }   # on_exit COMMAND: before the servers stop

harness_cleanup() {
    local i
    for ((i = ${#harness_hooks[@]} - 1; i >= 0; i--)); do eval "${harness_hooks[i]}"; done
    thaw
    for ((i = ${#server_names[@]} - 1; i >= 0; i--)); do stop "${server_names[i]}"; done
    # Mounts a server left under the work directory (dockerd's namespaces).
    grep -o " $work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m"; done
    if [ -n "${HARNESS_KEEP:-${E2E_KEEP:-}}" ]; then echo "# kept $work" >&2; else rm -rf "$work"; fi
}

# ---- servers: started and stopped by pid, here only ---------------------------

declare -A server_pids=() server_signal=() server_grace=()
server_names=()   # running servers, in start order
frozen=()         # pids stopped by freeze, continued by thaw

# Call serve in the suite's own shell, never in $(...) or a pipeline: the pid
# must be its child, to be waited for. A program started in the background by
# bash ignores SIGINT unless it sets its own handler (PostgreSQL does), so
# --stop INT is for such programs only.
serve() {   # serve NAME [--stop SIGNAL] [--grace SECONDS] -- COMMAND...
    local name=$1 signal=TERM grace=15
    shift
    while [ "$1" != -- ]; do
        case $1 in --stop) signal=$2 ;; --grace) grace=$2 ;; esac
        shift 2
    done
    shift
    [ -z "${server_pids[$name]:-}" ] || harness_die "serve $name: already running"
    # Not the lock (fd 9): a process the server leaves behind must not hold it.
    "$@" >>"$work/$name.log" 2>&1 </dev/null 9>&- &
    server_pids[$name]=$!
    server_signal[$name]=$signal server_grace[$name]=$grace
    server_names+=("$name")
}
server_pid() { echo "${server_pids[$1]}"; }

stop() {   # stop NAME [SIGNAL]: its own signal (or SIGNAL: KILL is kill -9), reaped; SIGKILL after its grace
    local name=$1 pid=${server_pids[$1]:-} signal=${2:-${server_signal[$1]:-TERM}} n kept=()
    [ -n "$pid" ] || return 0
    for n in "${server_names[@]}"; do [ "$n" = "$name" ] || kept+=("$n"); done
    server_names=("${kept[@]}")
    unset "server_pids[$name]"
    kill -"$signal" "$pid" 2>/dev/null || return 0
    # Polled, not a `( sleep; kill ) &` guard: a guard killed before its subshell
    # has reset the traps would run this shell's exit trap as a copy of it.
    local tenths=0
    while alive "$pid" && [ "$tenths" -lt $((server_grace[$name] * 10)) ]; do
        sleep 0.1
        tenths=$((tenths + 1))
    done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

alive() {   # alive PID: running, not exited (an unreaped child is a zombie)
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

children_of() {   # children_of PID: PID and its direct children, from /proc
    local stat pid ppid
    echo "$1"
    for stat in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$stat" || continue
        pid=${stat%% *}
        stat=${stat##*) }
        ppid=${stat#* }
        ppid=${ppid%% *}
        [ "$ppid" = "$1" ] && echo "$pid"
    done
}
# freeze NAME: SIGSTOP it and its children: it accepts connections (the kernel
# does) and never answers, as in a network partition.
freeze() {
    local pids
    mapfile -t pids < <(children_of "$(server_pid "$1")")
    frozen+=("${pids[@]}")
    kill -STOP "${pids[@]}"
}
thaw() {
    [ ${#frozen[@]} = 0 ] || kill -CONT "${frozen[@]}" 2>/dev/null
    frozen=()
}

show_log() {   # show_log NAME|FILE: its last 40 lines on stderr
    local file=$1
    [ -f "$file" ] || file=$work/$1.log
    echo "---- $file ----" >&2
    tail -n 40 "$file" >&2
}

# Readiness gates: until the server answers, or its process has died. They do
# not use healthprobe: a broken probe must fail its own cases, not the setup.
harness_python=python3   # a suite with a virtualenv sets its python here
wait_ready() { "$harness_python" "$harness_dir/wait_ready.py" "$@"; }
await() {   # await NAME KIND ARG...: wait_ready KIND --pid PID ARG..., the log on failure
    local name=$1 kind=$2
    shift 2
    wait_ready "$kind" --pid "$(server_pid "$name")" "$@" || { show_log "$name"; return 1; }
}
await_http() { local name=$1; shift; await "$name" http "$@"; }          # NAME (--tcp H:P | --unix PATH) [--path P]
await_postgres() { await "$1" pg --dsn "$2"; }                          # NAME DSN
await_redis() { await "$1" redis --tcp "$2"; }                          # NAME HOST:PORT
free_ports() { wait_ready free-ports "$1"; }   # free_ports COUNT: the first of COUNT free ports

# ---- each server's command line -------------------------------------------------

# PostgreSQL refuses to run as root: as root, it runs as the `postgres` user its
# package creates. setpriv execs, so the pid stays the server's.
as_postgres=()
[ "$(id -u)" = 0 ] && as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)
postgres_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bin" ] || bin=$(dirname "$(command -v postgres || echo /nonexistent/postgres)")
    [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && echo "$bin"
}
postgres_init() {   # postgres_init DATA_DIR USER PASSWORD: a cluster with scram-sha-256
    local pg
    pg=$(postgres_bin) || return 1
    mkdir "$1" && printf '%s\n' "$3" >"$1.password" && chmod 644 "$1.password"
    [ "$(id -u)" = 0 ] && chown postgres: "$1"
    "${as_postgres[@]}" "$pg/initdb" -D "$1" -U "$2" --pwfile="$1.password" \
        --auth=scram-sha-256 -E UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1 \
        || { show_log "$work/initdb.log"; return 1; }
}
serve_postgres() {   # serve_postgres NAME DATA_DIR PORT: on 127.0.0.1 only, no Unix socket
    # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for its clients.
    serve "$1" --stop INT -- "${as_postgres[@]}" "$(postgres_bin)/postgres" -D "$2" -p "$3" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off
}

django_app=$repo/examples/django
harness_venv=   # the virtualenv with Gunicorn and Uvicorn (examples/django/ensure-venv.sh)
serve_gunicorn() {   # serve_gunicorn NAME BIND [VAR=VALUE...] [-- GUNICORN_OPTION...]
    local name=$1 bind=$2 vars=() options=(--workers 1)
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; options=("$@"); }
    serve "$name" -- env "${vars[@]}" "$harness_venv/bin/gunicorn" --chdir "$django_app" --bind "$bind" \
        "${options[@]}" --no-control-socket --access-logfile - healthsite.wsgi
}
serve_uvicorn() {   # serve_uvicorn NAME PORT [VAR=VALUE...]
    local name=$1 port=$2
    shift 2
    serve "$name" -- env "$@" "$harness_venv/bin/uvicorn" --app-dir "$django_app" --host 127.0.0.1 \
        --port "$port" healthsite.asgi:application
}

serve_nginx() {   # serve_nginx NAME TEMPLATE [PLACEHOLDER=VALUE...]: @WORK@ and each @PLACEHOLDER@ filled in
    local name=$1 template=$2 nginx pair edits=(-e "s|@WORK@|$work|g")
    shift 2
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    for pair in "$@"; do edits+=(-e "s|@${pair%%=*}@|${pair#*=}|g"); done
    mkdir -p "$work/nginx-tmp"
    sed "${edits[@]}" "$template" >"$work/$name.conf"
    serve "$name" -- "$nginx" -p "$work" -e "$work/$name-error.log" -c "$work/$name.conf"
}

serve_redis() {   # serve_redis NAME PORT: on 127.0.0.1 only, nothing saved to disk
    mkdir -p "$work/$1"
    serve "$1" -- redis-server --bind 127.0.0.1 --port "$2" --dir "$work/$1" --save '' \
        --appendonly no --daemonize no
}

# serve_dockerd NAME DIR STORAGE_DRIVER: Debian's dockerd as root in a network
# namespace of its own (unshare execs, so the pid is dockerd's, and the
# namespace goes with it): every bridge it makes exists only there. Socket
# DIR/docker.sock, data root DIR/data, exec root DIR/exec.
serve_dockerd() {
    serve "$1" --grace 20 -- unshare --net -- sh -c 'ip link set lo up && exec "$@"' dockerd \
        dockerd --data-root "$2/data" --exec-root "$2/exec" -H "unix://$2/docker.sock" \
        --pidfile "$2/dockerd.pid" --storage-driver="$3" --iptables=false --ip6tables=false
}

# ---- cases -------------------------------------------------------------------------

harness_passed=0 harness_failed=0 harness_skipped=0
pass()   { harness_detail "$*"; return 0; }    # inside a case: it holds
fail()   { harness_detail "$*"; return 1; }    # it does not
cannot() { harness_detail "$*"; return 77; }   # it cannot run here (a skip line)
harness_detail() { [ -z "$1" ] || printf '%s%s' "$(test -s "$work/case.detail" && echo '; ')" "$1" >>"$work/case.detail"; }

run_case() {   # run_case NAME FUNCTION [ARG...]
    local name=$1 status=0 detail
    shift
    : >"$work/case.detail"
    "$@" || status=$?
    detail=$(cat "$work/case.detail")
    case $status in
        0)  harness_passed=$((harness_passed + 1)); echo "ok - $name${detail:+ ($detail)}" ;;
        77) harness_skipped=$((harness_skipped + 1)); echo "skip - $name: ${detail:-no reason given}" ;;
        *)  harness_failed=$((harness_failed + 1)); echo "not ok - $name${detail:+ ($detail)}" ;;
    esac
}

probe_case() { run_case "$1" expect_probe "${@:2}"; }
# expect_probe EXIT [--elapsed MIN MAX] [WORD...] -- COMMAND...
# Holds when COMMAND exits with EXIT and
#   EXIT 0: prints nothing at all (success is silent);
#   EXIT 1: prints nothing on stdout and exactly one line on stderr, containing
#           every WORD;
# and, with --elapsed, takes between MIN and MAX seconds on the monotonic clock
# (COMMAND must then be an executable, not a shell function).
expect_probe() {
    local want=$1 min= max= words=() status=0 why=() elapsed_us
    shift
    if [ "${1:-}" = --elapsed ]; then min=$2 max=$3; shift 3; fi
    while [ "$1" != -- ]; do words+=("$1"); shift; done
    shift
    if [ -n "$min" ]; then
        "$harness_python" "$harness_dir/time_command.py" "$work/case.us" "$@" \
            >"$work/case.out" 2>"$work/case.err" </dev/null || status=$?
        elapsed_us=$(cat "$work/case.us")
    else
        local t0=${EPOCHREALTIME//[.,]/}
        "$@" >"$work/case.out" 2>"$work/case.err" </dev/null || status=$?
        elapsed_us=$((${EPOCHREALTIME//[.,]/} - t0))
    fi
    local elapsed err lines
    elapsed=$(printf '%d.%03ds' $((elapsed_us / 1000000)) $((elapsed_us % 1000000 / 1000)))
    err=$(cat "$work/case.err")
    lines=$(wc -l <"$work/case.err")

    [ "$status" = "$want" ] || why+=("exit $status, want $want")
    [ -s "$work/case.out" ] && why+=("unexpected stdout: $(head -c 300 "$work/case.out")")
    if [ "$want" = 0 ]; then
        [ -s "$work/case.err" ] && why+=("unexpected stderr: $(head -c 300 "$work/case.err")")
    else
        [ "$lines" = 1 ] && [ -n "$err" ] || why+=("want one line on stderr, got $lines: $(head -c 500 "$work/case.err")")
        local word lacking=()
        for word in "${words[@]}"; do
            grep -qF -- "$word" "$work/case.err" || lacking+=("'$word'")
        done
        [ ${#lacking[@]} = 0 ] || why+=("stderr lacks ${lacking[*]}: $(head -c 500 "$work/case.err")")
    fi
    if [ -n "$min" ]; then
        local min_us max_us
        min_us=$(awk -v s="$min" 'BEGIN { printf "%d", s * 1000000 }')
        max_us=$(awk -v s="$max" 'BEGIN { printf "%d", s * 1000000 }')
        [ "$elapsed_us" -ge "$min_us" ] || why+=("took $elapsed, want at least ${min}s")
        [ "$elapsed_us" -le "$max_us" ] || why+=("took $elapsed, want at most ${max}s")
    fi
    if [ ${#why[@]} = 0 ]; then
        pass "$elapsed${err:+: $err}"
    else
        local IFS=';'
        fail "$elapsed: ${why[*]}"
    fi
}

# Every server still registered must have lived through the run: one case each.
server_lived() { if alive "$1"; then pass; else fail "died during the run"; fi; }
case_servers_lived() {
    local name
    for name in "${server_names[@]}"; do
        run_case "$name (pid $(server_pid "$name")) ran to the end" server_lived "$(server_pid "$name")"
    done
}

harness_end() {
    local summary="$harness_passed passed, $harness_failed failed"
    [ "$harness_skipped" = 0 ] || summary+=", $harness_skipped skipped"
    echo "$summary"
    [ "$harness_failed" = 0 ]
}
