#!/usr/bin/env bash
# End-to-end tests (`make test-e2e`, part of `make test`): the static healthprobe
# against the reference Django app (examples/django, its endpoints served by
# healthprobe.django) under real Gunicorn (sync and gthread workers, on TCP and
# on a Unix socket) and Uvicorn, behind real nginx, with a real PostgreSQL
# server, which is also stopped and frozen (SIGSTOP) on the way. Every server
# is started here, on loopback ports in 18000-18999 that are free at the start,
# and stopped here by its process id, whatever happens (a frozen PostgreSQL is
# sent SIGCONT first).
#
# Prints one line per case (`ok - ...` / `not ok - ...`), then `N passed, N failed`
# (with `, N skipped` when some were). Exits 1 when any case failed.
#
# Needs: nginx and PostgreSQL's server binaries (build/install-deps.sh e2e installs
# them from Debian), python3 with venv, and the binary: $HEALTHPROBE_BIN or
# dist/healthprobe-linux-amd64 (`make static`); `make test-install` passes the
# one pip installed from the wheel, HEALTHPROBE_BIN=VENV/bin/healthprobe. As root, PostgreSQL runs as the
# `postgres` user, which its package creates.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
app_dir=$repo/examples/django

die() { echo "e2e: $*" >&2; exit 1; }

bin=${HEALTHPROBE_BIN:-$repo/dist/healthprobe-linux-amd64}
[ -x "$bin" ] || die "$bin not found; run 'make static' first"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || die "nginx not found; run build/install-deps.sh e2e (make test-e2e does)"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] || pg_bin=$(dirname "$(command -v postgres || echo /nonexistent/postgres)")
[ -x "$pg_bin/postgres" ] && [ -x "$pg_bin/initdb" ] || die "PostgreSQL server not found; run build/install-deps.sh e2e (make test-e2e does)"
as_postgres=()
if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root. setpriv execs, so $! stays the server's pid.
    id postgres >/dev/null 2>&1 || die "running as root, but there is no 'postgres' user to run PostgreSQL"
    as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups)
fi

# Nothing from the caller's environment may steer the app or the probe.
unset PORT HEALTHPROBE_URL HEALTHPROBE_TIMEOUT DATABASE_URL SQLITE_PATH ALLOWED_HOSTS \
    SECURE_SSL_REDIRECT SECURE_PROXY_SSL_HEADER DJANGO_DEBUG \
    PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE PGPASSFILE \
    HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY http_proxy https_proxy all_proxy no_proxy

# One run at a time on this machine: concurrent runs would race for the same ports.
exec 9>"${TMPDIR:-/tmp}/healthprobe-e2e-$(id -u).lock"
flock -w 600 9 || die "another run of tests/e2e/run.sh held the lock for 10 minutes"

venv=$("$app_dir/ensure-venv.sh" "$here/requirements.txt") || die "could not set up the virtualenv"
py=$venv/bin/python

work=$(mktemp -d "${TMPDIR:-/tmp}/healthprobe-e2e.XXXXXX")
# The postgres user and nginx's workers need to reach their files in here.
chmod 755 "$work"

# ---- servers: started in the background, stopped by pid ---------------------

servers=()   # "pid name" of every server still running, in start order
stop_server() {   # stop_server PID: stop one server and reap it, within 15 s
    local pid=$1 signal=TERM name entry kept=()
    for entry in "${servers[@]}"; do
        if [ "${entry%% *}" = "$pid" ]; then name=${entry#* }; else kept+=("$entry"); fi
    done
    servers=("${kept[@]}")
    # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for its clients.
    [ "${name:-}" = postgresql ] && signal=INT
    kill -"$signal" "$pid" 2>/dev/null || return 0
    # wait has no time limit of its own: a guard kills the server after 15 s.
    ( sleep 15; kill -KILL "$pid" 2>/dev/null ) >/dev/null 2>&1 &
    local guard=$!
    wait "$pid" 2>/dev/null
    kill "$guard" 2>/dev/null
    wait "$guard" 2>/dev/null
    return 0
}
alive() {   # alive PID: running, not exited (an unreaped child is a zombie)
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}
frozen=()   # pids of a PostgreSQL frozen with SIGSTOP, to be continued
thaw_postgres() {
    [ ${#frozen[@]} = 0 ] || kill -CONT "${frozen[@]}" 2>/dev/null
    frozen=()
}
cleanup() {
    local i
    thaw_postgres
    for ((i = ${#servers[@]} - 1; i >= 0; i--)); do
        stop_server "${servers[i]%% *}"
    done
    if [ -n "${E2E_KEEP:-}" ]; then echo "# kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_log() {
    echo "---- $1 ----" >&2
    tail -n 40 "$1" >&2
}

base=$("$py" "$here/wait_ready.py" free-ports 13) || die "no free ports"
app_port=$base             # Gunicorn, TCP, PostgreSQL through DATABASE_URL
nginx_port=$((base + 1))   # nginx -> app_port, /readyz allows 127.0.0.1
nginx_deny_port=$((base + 2))    # nginx -> app_port, /readyz denies 127.0.0.1
nginx_socket_port=$((base + 3))  # nginx -> app_socket
hosts_port=$((base + 4))   # Gunicorn with ALLOWED_HOSTS=app.example.test
ssl_port=$((base + 5))     # Gunicorn with SECURE_SSL_REDIRECT
pg_port=$((base + 6))
unused_port=$((base + 7))  # nothing listens here
sync2_port=$((base + 8))   # Gunicorn, 2 sync workers, PostgreSQL (the frozen-database cases)
gthread_port=$((base + 9)) # Gunicorn, 1 gthread worker with 4 threads, PostgreSQL
uvicorn_port=$((base + 10))  # Uvicorn (ASGI), PostgreSQL
strict_port=$((base + 11))   # Gunicorn with ALLOWED_HOSTS, SECURE_SSL_REDIRECT and APPEND_SLASH
uvicorn_strict_port=$((base + 12))  # Uvicorn with the same
app_socket=$work/gunicorn.sock   # Gunicorn, Unix socket, PostgreSQL through PG* variables

pg_password=e2e-$RANDOM$RANDOM
pg_dsn="host=127.0.0.1 port=$pg_port user=probe password=$pg_password dbname=postgres"
pg_data=$work/pgdata

start_postgres() {
    "${as_postgres[@]}" "$pg_bin/postgres" -D "$pg_data" -p "$pg_port" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off \
        >>"$work/postgresql.log" 2>&1 &
    pg_pid=$!
    servers+=("$pg_pid postgresql")
}

mkdir "$pg_data"
printf '%s\n' "$pg_password" > "$work/pg-password"
chmod 644 "$work/pg-password"
[ "$(id -u)" = 0 ] && chown postgres: "$pg_data"
"${as_postgres[@]}" "$pg_bin/initdb" -D "$pg_data" -U probe --pwfile="$work/pg-password" \
    --auth=scram-sha-256 -E UTF8 --locale=C --no-sync >"$work/initdb.log" 2>&1 \
    || { show_log "$work/initdb.log"; die "initdb failed"; }
start_postgres
"$py" "$here/wait_ready.py" pg --pid "$pg_pid" --dsn "$pg_dsn" \
    || { show_log "$work/postgresql.log"; die "PostgreSQL did not start"; }

start_gunicorn() {   # start_gunicorn NAME BIND [VAR=VALUE...] [-- GUNICORN_OPTION...]
    local name=$1 bind=$2 vars=() options=(--workers 1)
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
    [ $# -gt 0 ] && { shift; options=("$@"); }
    env "${vars[@]}" "$venv/bin/gunicorn" --chdir "$app_dir" --bind "$bind" "${options[@]}" --no-control-socket \
        --access-logfile - healthsite.wsgi >"$work/$name.log" 2>&1 &
    local pid=$!
    servers+=("$pid $name")
    eval "${name//-/_}_pid=$pid"
}

start_gunicorn gunicorn-tcp "127.0.0.1:$app_port" \
    "DATABASE_URL=postgres://probe:$pg_password@127.0.0.1:$pg_port/postgres"
start_gunicorn gunicorn-socket "unix:$app_socket" \
    PGHOST=127.0.0.1 PGPORT="$pg_port" PGUSER=probe PGPASSWORD="$pg_password" PGDATABASE=postgres
start_gunicorn gunicorn-hosts "127.0.0.1:$hosts_port" \
    ALLOWED_HOSTS=app.example.test SQLITE_PATH="$work/hosts.sqlite3"
start_gunicorn gunicorn-ssl "127.0.0.1:$ssl_port" \
    SECURE_SSL_REDIRECT=1 SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto SQLITE_PATH="$work/ssl.sqlite3"
pg_url="postgres://probe:$pg_password@127.0.0.1:$pg_port/postgres"
start_gunicorn gunicorn-sync2 "127.0.0.1:$sync2_port" DATABASE_URL="$pg_url" -- --workers 2
start_gunicorn gunicorn-gthread "127.0.0.1:$gthread_port" DATABASE_URL="$pg_url" \
    -- --workers 1 --worker-class gthread --threads 4
start_gunicorn gunicorn-strict "127.0.0.1:$strict_port" DATABASE_URL="$pg_url" \
    ALLOWED_HOSTS=app.example.com SECURE_SSL_REDIRECT=1 SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto
start_uvicorn() {   # start_uvicorn NAME PORT [VAR=VALUE...]
    local name=$1 port=$2
    shift 2
    env "$@" "$venv/bin/uvicorn" --app-dir "$app_dir" --host 127.0.0.1 --port "$port" \
        healthsite.asgi:application >"$work/$name.log" 2>&1 &
    local pid=$!
    servers+=("$pid $name")
    eval "${name//-/_}_pid=$pid"
}
start_uvicorn uvicorn "$uvicorn_port" DATABASE_URL="$pg_url"
start_uvicorn uvicorn-strict "$uvicorn_strict_port" DATABASE_URL="$pg_url" \
    ALLOWED_HOSTS=app.example.com SECURE_SSL_REDIRECT=1 SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto

mkdir -p "$work/nginx-tmp"
sed -e "s|@WORK@|$work|g" -e "s|@APP_PORT@|$app_port|g" -e "s|@APP_SOCKET@|$app_socket|g" \
    -e "s|@NGINX_PORT@|$nginx_port|g" -e "s|@NGINX_DENY_PORT@|$nginx_deny_port|g" \
    -e "s|@NGINX_SOCKET_PORT@|$nginx_socket_port|g" \
    "$here/nginx.conf.in" > "$work/nginx.conf"
"$nginx_bin" -p "$work" -e "$work/nginx-error.log" -c "$work/nginx.conf" >"$work/nginx.log" 2>&1 &
nginx_pid=$!
servers+=("$nginx_pid nginx")

for gate in "gunicorn-tcp --tcp 127.0.0.1:$app_port" "gunicorn-socket --unix $app_socket" \
    "gunicorn-hosts --tcp 127.0.0.1:$hosts_port" "gunicorn-ssl --tcp 127.0.0.1:$ssl_port" \
    "gunicorn-sync2 --tcp 127.0.0.1:$sync2_port" "gunicorn-gthread --tcp 127.0.0.1:$gthread_port" \
    "gunicorn-strict --tcp 127.0.0.1:$strict_port" "uvicorn --tcp 127.0.0.1:$uvicorn_port" \
    "uvicorn-strict --tcp 127.0.0.1:$uvicorn_strict_port" \
    "nginx --tcp 127.0.0.1:$nginx_socket_port"; do
    read -r name how where <<<"$gate"
    pid_var=${name//-/_}_pid
    "$py" "$here/wait_ready.py" http --pid "${!pid_var}" "$how" "$where" \
        || { show_log "$work/$name.log"; [ "$name" = nginx ] && show_log "$work/nginx-error.log"; die "$name did not start"; }
done

echo "# healthprobe: $bin (sha256 $(sha256sum < "$bin" | cut -d" " -f1))"
echo "# gunicorn 127.0.0.1:$app_port and unix:$app_socket, nginx 127.0.0.1:$nginx_port-$nginx_socket_port, postgresql 127.0.0.1:$pg_port"

# ---- cases -------------------------------------------------------------------

passed=0 failed=0 skipped=0

# check NAME EXIT [--elapsed MIN MAX] [WORD...] -- COMMAND...
# Runs COMMAND. It passes when it exits with EXIT and
#   EXIT 0: prints nothing at all (success is silent);
#   EXIT 1: prints nothing on stdout and exactly one line on stderr, containing
#           every WORD;
# and, with --elapsed, takes between MIN and MAX seconds (COMMAND must then be
# an executable, not a shell function: it is timed by time_command.py).
check() {
    local name=$1 want=$2 min= max= words=() status=0
    shift 2
    if [ "${1:-}" = --elapsed ]; then min=$2 max=$3; shift 3; fi
    while [ "$1" != -- ]; do words+=("$1"); shift; done
    shift
    local elapsed_us why=()
    if [ -n "$min" ]; then
        "$py" "$here/time_command.py" "$work/case.us" "$@" \
            >"$work/case.out" 2>"$work/case.err" </dev/null || status=$?
        elapsed_us=$(cat "$work/case.us")
    else
        local t0=${EPOCHREALTIME//[.,]/}
        "$@" >"$work/case.out" 2>"$work/case.err" </dev/null || status=$?
        elapsed_us=$((${EPOCHREALTIME//[.,]/} - t0))
    fi
    local elapsed
    elapsed=$(printf '%d.%03d' $((elapsed_us / 1000000)) $((elapsed_us % 1000000 / 1000)))
    local err lines
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
        [ "$elapsed_us" -ge "$min_us" ] || why+=("took ${elapsed}s, want at least ${min}s")
        [ "$elapsed_us" -le "$max_us" ] || why+=("took ${elapsed}s, want at most ${max}s")
    fi

    if [ ${#why[@]} = 0 ]; then
        passed=$((passed + 1))
        if [ "$want" = 0 ]; then echo "ok - $name (${elapsed}s)"; else echo "ok - $name (${elapsed}s): $err"; fi
    else
        failed=$((failed + 1))
        local IFS=';'
        echo "not ok - $name (${elapsed}s): ${why[*]}"
    fi
}

skip() {   # skip NAME REASON
    skipped=$((skipped + 1))
    echo "SKIP - $1: $2"
}

both() {   # both PROBE URL1 URL2: the probe passes on each URL
    "$1" "$2" && "$1" "$3"
}

hp=$bin
app=http://127.0.0.1:$app_port
nginx=http://127.0.0.1:$nginx_port
unix_socket_supported=
"$bin" --help 2>&1 | grep -q -- --unix-socket && unix_socket_supported=1

# Gunicorn over TCP, PostgreSQL up (DATABASE_URL)
check "healthz over TCP" 0 -- "$hp" "$app/healthz"
check "readyz over TCP (PostgreSQL from DATABASE_URL)" 0 -- "$hp" "$app/readyz"
check "healthz by the name localhost" 0 -- "$hp" "http://localhost:$app_port/healthz"
check "readyz by the name localhost" 0 -- "$hp" "http://localhost:$app_port/readyz"
check "no URL: /healthz on \$PORT" 0 -- env PORT="$app_port" "$hp"
check "bare path /readyz on \$PORT" 0 -- env PORT="$app_port" "$hp" /readyz
check "HEALTHPROBE_URL names the target" 0 -- env HEALTHPROBE_URL="$app/readyz" "$hp"
check "HEAD /healthz" 0 -- "$hp" -X HEAD "$app/healthz"
check "HEAD /readyz on \$PORT" 0 -- env PORT="$app_port" "$hp" -X HEAD /readyz
check "--expect-body '\"database\": \"ok\"' when ready" 0 -- "$hp" --expect-body '"database": "ok"' "$app/readyz"
check "--wait on a healthy endpoint returns at once" 0 --elapsed 0 1 -- "$hp" --wait 10s "$app/readyz"
check "proxy variables are ignored" 0 -- env HTTP_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 \
    ALL_PROXY=http://127.0.0.1:9 "$hp" "$app/readyz"

# Django settings that turn a probe away
check "APPEND_SLASH: /health answers 301 to /health/, not followed" 1 "GET $app/health:" 301 /health/ \
    -- "$hp" "$app/health"
check "APPEND_SLASH: the slash URL itself passes" 0 -- "$hp" "$app/health/"
# (healthprobe.django answers /healthz and /readyz before these settings apply,
# so the app's home page / stands for an endpoint without it.)
check "ALLOWED_HOSTS without the probe's host: 400" 1 "http://127.0.0.1:$hosts_port/" 400 \
    -- "$hp" "http://127.0.0.1:$hosts_port/"
check "ALLOWED_HOSTS: -H 'Host: app.example.test' passes" 0 \
    -- "$hp" -H 'Host: app.example.test' "http://127.0.0.1:$hosts_port/"
check "ALLOWED_HOSTS: /healthz and /readyz pass without -H" 0 \
    -- both "$hp" "http://127.0.0.1:$hosts_port/healthz" "http://127.0.0.1:$hosts_port/readyz"
check "SECURE_SSL_REDIRECT: 301 naming the https Location" 1 301 "https://127.0.0.1:$ssl_port/" \
    -- "$hp" "http://127.0.0.1:$ssl_port/"
check "SECURE_SSL_REDIRECT: -H 'X-Forwarded-Proto: https' passes" 0 \
    -- "$hp" -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$ssl_port/"
check "SECURE_SSL_REDIRECT: /healthz and /readyz pass without -H" 0 \
    -- both "$hp" "http://127.0.0.1:$ssl_port/healthz" "http://127.0.0.1:$ssl_port/readyz"

# All three at once (ALLOWED_HOSTS=app.example.com, SECURE_SSL_REDIRECT,
# APPEND_SLASH): the probe with no flags passes on both endpoints, and the
# same client still meets Django's 400 and 301 everywhere else.
for server in "Gunicorn $strict_port" "Uvicorn $uvicorn_strict_port"; do
    read -r label port <<<"$server"
    strict=http://127.0.0.1:$port
    check "strict settings, $label: healthz, no flags" 0 -- "$hp" "$strict/healthz"
    check "strict settings, $label: readyz, no flags (PostgreSQL)" 0 -- "$hp" "$strict/readyz"
    check "strict settings, $label: HEAD readyz, no flags" 0 -- "$hp" -X HEAD "$strict/readyz"
    check "strict settings, $label: / gets ALLOWED_HOSTS' 400" 1 "GET $strict/:" 400 -- "$hp" "$strict/"
    check "strict settings, $label: /healthz/ (not a probe path) gets the 400 too" 1 400 -- "$hp" "$strict/healthz/"
    check "strict settings, $label: / with the allowed Host gets SECURE_SSL_REDIRECT's 301" 1 301 \
        "https://app.example.com/" -- "$hp" -H 'Host: app.example.com' "$strict/"
    check "strict settings, $label: /health over https gets APPEND_SLASH's 301" 1 301 /health/ \
        -- "$hp" -H 'Host: app.example.com' -H 'X-Forwarded-Proto: https' "$strict/health"
    check "strict settings, $label: / with the allowed Host over https passes" 0 \
        -- "$hp" -H 'Host: app.example.com' -H 'X-Forwarded-Proto: https' "$strict/"
done

# WSGI with threads and ASGI
for server in "gthread $gthread_port" "uvicorn $uvicorn_port"; do
    read -r label port <<<"$server"
    check "$label: healthz" 0 -- "$hp" "http://127.0.0.1:$port/healthz"
    check "$label: readyz (PostgreSQL)" 0 -- "$hp" --expect-body '"database": "ok"' "http://127.0.0.1:$port/readyz"
    check "$label: HEAD healthz" 0 -- "$hp" -X HEAD "http://127.0.0.1:$port/healthz"
    check "$label: HEAD readyz" 0 -- "$hp" -X HEAD "http://127.0.0.1:$port/readyz"
    check "$label: /healthz/ is not a probe path: the app's 404" 1 404 \
        -- "$hp" "http://127.0.0.1:$port/healthz/"
done

# nginx, configured as in the article "Django health check endpoint"
check "nginx: healthz" 0 -- "$hp" "$nginx/healthz"
check "nginx: readyz, allowed from 127.0.0.1" 0 -- "$hp" "$nginx/readyz"
check "nginx: HEAD readyz" 0 -- "$hp" -X HEAD "$nginx/readyz"
check "nginx: readyz denied to 127.0.0.1: 403" 1 "GET http://127.0.0.1:$nginx_deny_port/readyz:" 403 \
    -- "$hp" "http://127.0.0.1:$nginx_deny_port/readyz"
check "nginx: healthz beside the denied readyz passes" 0 -- "$hp" "http://127.0.0.1:$nginx_deny_port/healthz"
check "app on a socket, probe on its TCP port: refused, naming it" 1 "connection refused" "127.0.0.1:$unused_port" \
    -- "$hp" "http://127.0.0.1:$unused_port/healthz"
check "nginx -> Gunicorn's Unix socket: healthz" 0 -- "$hp" "http://127.0.0.1:$nginx_socket_port/healthz"
check "nginx -> Gunicorn's Unix socket: readyz (PostgreSQL from PG* variables)" 0 \
    -- "$hp" "http://127.0.0.1:$nginx_socket_port/readyz"

# Gunicorn on a Unix socket, probed directly
if [ -n "$unix_socket_supported" ]; then
    check "unix socket: healthz" 0 -- "$hp" --unix-socket "$app_socket" http://localhost/healthz
    check "unix socket: readyz (PostgreSQL from PG* variables)" 0 -- "$hp" --unix-socket "$app_socket" http://localhost/readyz
    check "unix socket: HEAD readyz" 0 -- "$hp" --unix-socket "$app_socket" -X HEAD http://localhost/readyz
    check "unix socket: a missing socket fails naming it" 1 "$work/missing.sock" \
        -- "$hp" --unix-socket "$work/missing.sock" http://localhost/healthz
else
    for name in healthz readyz "HEAD readyz" "a missing socket fails naming it"; do
        skip "unix socket: $name" "healthprobe --help does not mention --unix-socket"
    done
fi

# The commands in Dockerfile.example, examples/kubernetes.yaml and
# examples/compose.yaml, as written, except: the executable's path becomes the
# binary under test, and port 8000 becomes the test app's (PORT and any URL).
deploy_files=("$repo/Dockerfile.example" "$repo/examples/kubernetes.yaml" "$repo/examples/compose.yaml")
deploy=()
if deploy_lines=$("$py" "$here/deploy_commands.py" "${deploy_files[@]}" 2>"$work/deploy.err"); then
    mapfile -t deploy <<<"$deploy_lines"
    passed=$((passed + 1))
    echo "ok - deployment examples: ${#deploy[@]} healthprobe commands, all in exec form"
else
    failed=$((failed + 1))
    echo "not ok - deployment examples: $(cat "$work/deploy.err")"
fi
if "$py" "$here/deploy_commands.py" --copy-sources "$repo/Dockerfile.example" "$repo" 2>"$work/deploy.err"; then
    passed=$((passed + 1))
    echo "ok - Dockerfile.example: every COPY source is in the repository"
else
    failed=$((failed + 1))
    echo "not ok - $(cat "$work/deploy.err")"
fi
deploy_argv() {   # deploy_argv ARGV_JSON: the command, one argument a line, for this test
    "$py" -c 'import json, sys
argv = json.loads(sys.argv[1])
argv[0] = sys.argv[2]
print("\n".join(a.replace(":8000/", ":%s/" % sys.argv[3]) for a in argv))' "$1" "$bin" "$app_port"
}
for line in "${deploy[@]}"; do
    IFS=$'\t' read -r label argv_json outer inner <<<"$line"
    mapfile -t argv < <(deploy_argv "$argv_json")
    check "$label: $argv_json" 0 -- env PORT="$app_port" "${argv[@]}"
    if awk -v o="$outer" -v i="$inner" 'BEGIN { exit !(o > i) }'; then
        passed=$((passed + 1))
        echo "ok - $label: its timeout (${outer}s) is above the probe's -t (${inner}s)"
    else
        failed=$((failed + 1))
        echo "not ok - $label: its timeout (${outer}s) is not above the probe's -t (${inner}s)"
    fi
done

# PostgreSQL stopped
stop_server "$pg_pid"
# healthprobe.django reuses a readiness result for 1 s (READINESS_MAX_AGE):
# let the last "ok" age out.
sleep 1.1
for server in "Gunicorn 2 sync workers $sync2_port" "Gunicorn gthread $gthread_port" "Uvicorn $uvicorn_port"; do
    port=${server##* }
    # Refused at once, so "unavailable" in milliseconds; the bound is the
    # budget (0.5 s) plus the same margin as when frozen, for a loaded machine.
    check "PostgreSQL down: ${server% *}: readyz 503 within the budget" 1 --elapsed 0 1.0 \
        503 -- "$hp" "http://127.0.0.1:$port/readyz"
    check "PostgreSQL down: ${server% *}: healthz passes" 0 -- "$hp" "http://127.0.0.1:$port/healthz"
done
check "PostgreSQL down: readyz 503 with the body naming the database" 1 \
    "GET $app/readyz:" 503 '"database": "unavailable"' -- "$hp" "$app/readyz"
check "PostgreSQL down: HEAD readyz 503" 1 "HEAD $app/readyz:" 503 -- "$hp" -X HEAD "$app/readyz"
check "PostgreSQL down: healthz still passes" 0 -- "$hp" "$app/healthz"
check "PostgreSQL down: readyz through nginx 503" 1 "$nginx/readyz" 503 '"database": "unavailable"' \
    -- "$hp" "$nginx/readyz"
check "PostgreSQL down: readyz through nginx's Unix-socket upstream 503" 1 503 \
    -- "$hp" "http://127.0.0.1:$nginx_socket_port/readyz"
check "PostgreSQL down: --expect-body '\"database\": \"ok\"' fails though 503 is listed" 1 '"database": "ok"' \
    -- "$hp" --expect-status 200,503 --expect-body '"database": "ok"' "$app/readyz"
if [ -n "$unix_socket_supported" ]; then
    check "PostgreSQL down: unix socket readyz 503" 1 503 -- "$hp" --unix-socket "$app_socket" http://localhost/readyz
else
    skip "PostgreSQL down: unix socket readyz 503" "healthprobe --help does not mention --unix-socket"
fi
for line in "${deploy[@]}"; do
    IFS=$'\t' read -r label argv_json outer inner <<<"$line"
    [[ $argv_json == *'/readyz"'* ]] || continue
    mapfile -t argv < <(deploy_argv "$argv_json")
    check "PostgreSQL down: $label fails" 1 503 -- env PORT="$app_port" "${argv[@]}"
done
check "PostgreSQL down: --wait 3s gives up at 3s" 1 --elapsed 3 4 "$app/readyz" 503 \
    -- "$hp" --wait 3s --interval 200ms "$app/readyz"
check "PostgreSQL down: --wait 1500ms -t 5s gives up at 1.5s" 1 --elapsed 1.5 2.5 "$app/readyz" 503 \
    -- "$hp" --wait 1500ms -t 5s "$app/readyz"

# PostgreSQL started again while a probe waits: the probe must first be
# answered 503 (seen in Gunicorn's access log), then recover once PostgreSQL
# is up, with no readiness gate in between.
wait_through_restart() {
    local log=$work/gunicorn-tcp.log seen probe status=0
    seen=$(wc -l <"$log")
    "$hp" --wait 30s --interval 100ms "$app/readyz" &
    probe=$!
    timeout 15 tail -n +"$((seen + 1))" -f "$log" 2>/dev/null \
        | grep -q -m 1 -E '"GET /readyz HTTP/1\.[01]" 503 '
    local seen_503=${PIPESTATUS[1]}
    start_postgres
    wait "$probe" || status=$?
    if [ "$seen_503" != 0 ]; then
        echo "no 503 for the waiting probe in Gunicorn's log within 15s" >&2
        return 1
    fi
    return "$status"
}
check "PostgreSQL restarted while --wait 30s runs: 503 first, then recovers" 0 -- wait_through_restart
check "PostgreSQL back: readyz through nginx's Unix-socket upstream" 0 -- "$hp" "http://127.0.0.1:$nginx_socket_port/readyz"
check "PostgreSQL back: --expect-body '\"database\": \"ok\"'" 0 -- "$hp" --expect-body '"database": "ok"' "$app/readyz"

# PostgreSQL frozen: SIGSTOP to the postmaster and its backends. It accepts
# connections (the kernel does) and never answers, as in a network partition.
postgres_processes() {   # the postmaster and its children, from /proc
    local stat pid ppid
    echo "$pg_pid"
    for stat in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$stat" || continue
        pid=${stat%% *}
        stat=${stat##*) }
        ppid=${stat#* }
        ppid=${ppid%% *}
        [ "$ppid" = "$pg_pid" ] && echo "$pid"
    done
}
freeze_postgres() {
    mapfile -t frozen < <(postgres_processes)
    kill -STOP "${frozen[@]}"
}
# frozen_burst URL: 4 readiness probes at a time and a liveness probe with
# -t 1s every 200 ms, for 10 s. Every liveness probe must pass; every readiness
# probe must be answered (a 503, not a timeout). Says what went wrong on
# stderr; the counts and the slowest answers go to $work/burst.summary.
frozen_burst() {
    local url=$1 i loops=() end_us=$((${EPOCHREALTIME//[.,]/} + 10000000)) lively=0 dead=0 t0 us slowest=0
    for i in 1 2 3 4; do
        (
            slow=0
            while [ "${EPOCHREALTIME//[.,]/}" -lt "$end_us" ]; do
                t0=${EPOCHREALTIME//[.,]/}
                "$hp" -t 2s "$url/readyz" 2>>"$work/burst-$i.err" && echo "unexpected 200" >>"$work/burst-$i.err"
                us=$((${EPOCHREALTIME//[.,]/} - t0))
                [ "$us" -gt "$slow" ] && slow=$us
                sleep 0.05
            done
            echo "$slow" >"$work/burst-$i.slowest"
        ) &
        loops+=($!)
    done
    : >"$work/burst-live.err"
    while [ "${EPOCHREALTIME//[.,]/}" -lt "$end_us" ]; do
        t0=${EPOCHREALTIME//[.,]/}
        if "$hp" -t 1s "$url/healthz" 2>>"$work/burst-live.err"; then lively=$((lively + 1)); else dead=$((dead + 1)); fi
        us=$((${EPOCHREALTIME//[.,]/} - t0))
        [ "$us" -gt "$slowest" ] && slowest=$us
        sleep 0.2
    done
    wait "${loops[@]}"
    local answered unanswered ready_slowest
    answered=$(cat "$work"/burst-[1-4].err | grep -c ' 503 ')
    unanswered=$(cat "$work"/burst-[1-4].err | grep -vc ' 503 ')
    ready_slowest=$(sort -n "$work"/burst-[1-4].slowest | tail -n 1)
    rm -f "$work"/burst-[1-4].err "$work"/burst-[1-4].slowest
    echo "liveness $lively passed, $dead failed, slowest $((slowest / 1000)) ms;" \
        "readiness $answered answered 503, slowest $((ready_slowest / 1000)) ms" >"$work/burst.summary"
    if [ "$dead" != 0 ] || [ "$lively" -lt 20 ] || [ "$unanswered" != 0 ] || [ "$answered" -lt 8 ]; then
        echo "liveness passed $lively, failed $dead ($(head -n 1 "$work/burst-live.err")); readiness 503 $answered, other $unanswered" >&2
        return 1
    fi
}
for server in "Gunicorn 2 sync workers $sync2_port" "Gunicorn gthread $gthread_port" "Uvicorn $uvicorn_port"; do
    port=${server##* }
    name=${server% *}
    check "$name: readyz with PostgreSQL up" 0 -- "$hp" --wait 10s "http://127.0.0.1:$port/readyz"
    freeze_postgres
    # The last good readiness result is kept 1 s; then the budget (0.5 s) applies.
    sleep 1.2
    check "PostgreSQL frozen: $name: readyz 503 within the budget + 0.5s" 1 --elapsed 0.5 1.0 \
        503 '"database": "timeout"' -- "$hp" -t 3s "http://127.0.0.1:$port/readyz"
    check "PostgreSQL frozen: $name: 4 readiness probes at a time, liveness -t 1s passes for 10s" 0 \
        -- frozen_burst "http://127.0.0.1:$port"
    echo "# $name, PostgreSQL frozen: $(cat "$work/burst.summary")"
    thaw_postgres
    check "PostgreSQL thawed: $name: readyz recovers" 0 -- "$hp" --wait 10s "http://127.0.0.1:$port/readyz"
done

# Every server must have lived through the run.
for entry in "${servers[@]}"; do
    if alive "${entry%% *}"; then
        passed=$((passed + 1)); echo "ok - ${entry#* } (pid ${entry%% *}) ran to the end"
    else
        failed=$((failed + 1)); echo "not ok - ${entry#* } (pid ${entry%% *}) died during the run"
    fi
done
if [ "$failed" != 0 ]; then
    for log in "$work"/gunicorn-*.log "$work/nginx-error.log" "$work/postgresql.log"; do show_log "$log"; done
fi

summary="$passed passed, $failed failed"
[ "$skipped" != 0 ] && summary+=", $skipped skipped"
echo "$summary"
[ "$failed" = 0 ]
