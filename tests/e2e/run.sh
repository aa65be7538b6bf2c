#!/usr/bin/env bash
# End-to-end tests (`make test-e2e`, part of `make test`): the static healthprobe
# against the reference Django app (examples/django, its endpoints served by
# healthprobe.django) under real Gunicorn (sync and gthread workers, on TCP and
# on a Unix socket) and Uvicorn, behind real nginx, with a real PostgreSQL
# server, which is also stopped and frozen (SIGSTOP) on the way. Every server
# is started and stopped by tests/harness/harness.sh, by its pid, on loopback
# ports in 18000-18999 that are free at the start.
#
# Prints one line per case (`ok - ...`, `not ok - ...`, `skip - ...`), then
# `N passed, N failed` (with `, N skipped` when some were). Exits 1 when any
# case failed.
#
# Needs: nginx and PostgreSQL's server binaries (build/install-deps.sh e2e installs
# them from Debian), python3 with venv, and the binary: $HEALTHPROBE_BIN or
# dist/healthprobe-linux-amd64 (`make static`); `make test-install` passes the
# one pip installed from the wheel, HEALTHPROBE_BIN=VENV/bin/healthprobe.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/harness/harness.sh
source "$here/../harness/harness.sh"

bin=${HEALTHPROBE_BIN:-$repo/dist/healthprobe-linux-amd64}
[ -x "$bin" ] || harness_die "$bin not found; run 'make static' first"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
hp=$bin
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] \
    || harness_die "nginx not found; run build/install-deps.sh e2e (make test-e2e does)"
postgres_bin >/dev/null || harness_die "PostgreSQL server not found; run build/install-deps.sh e2e (make test-e2e does)"
[ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1 \
    || harness_die "running as root, but there is no 'postgres' user to run PostgreSQL"

# Nothing from the caller's environment may steer the app or the probe.
unset PORT HEALTHPROBE_URL HEALTHPROBE_TIMEOUT DATABASE_URL SQLITE_PATH ALLOWED_HOSTS \
    SECURE_SSL_REDIRECT SECURE_PROXY_SSL_HEADER DJANGO_DEBUG \
    PGHOST PGHOSTADDR PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE PGPASSFILE \
    HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY http_proxy https_proxy all_proxy no_proxy

harness_begin
harness_venv=$("$django_app/ensure-venv.sh" "$here/requirements.txt") || harness_die "could not set up the virtualenv"
harness_python=$harness_venv/bin/python

# ---- servers ---------------------------------------------------------------------

base=$(free_ports 15) || harness_die "no free ports"
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
redis_port=$((base + 13))    # redis-server: a tcp:// target beside PostgreSQL
migrations_port=$((base + 14))  # Gunicorn with READINESS_MIGRATIONS, PostgreSQL not migrated until its cases
app_socket=$work/gunicorn.sock   # Gunicorn, Unix socket, PostgreSQL through PG* variables
app=http://127.0.0.1:$app_port
nginx=http://127.0.0.1:$nginx_port

pg_password=e2e-$RANDOM$RANDOM
pg_url="postgres://probe:$pg_password@127.0.0.1:$pg_port/postgres"
pg_data=$work/pgdata
postgres_init "$pg_data" probe "$pg_password" || harness_die "initdb failed"
serve_postgres postgresql "$pg_data" "$pg_port"
await_postgres postgresql "host=127.0.0.1 port=$pg_port user=probe password=$pg_password dbname=postgres" \
    || harness_die "PostgreSQL did not start"
command -v redis-server >/dev/null || harness_die "redis-server not found; run build/install-deps.sh e2e (make test-e2e does)"
serve_redis redis "$redis_port"
await_redis redis "127.0.0.1:$redis_port" || harness_die "Redis did not start"

strict=(ALLOWED_HOSTS=app.example.com SECURE_SSL_REDIRECT=1 SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto)
serve_gunicorn gunicorn-tcp "127.0.0.1:$app_port" DATABASE_URL="$pg_url"
serve_gunicorn gunicorn-socket "unix:$app_socket" \
    PGHOST=127.0.0.1 PGPORT="$pg_port" PGUSER=probe PGPASSWORD="$pg_password" PGDATABASE=postgres
serve_gunicorn gunicorn-hosts "127.0.0.1:$hosts_port" \
    ALLOWED_HOSTS=app.example.test SQLITE_PATH="$work/hosts.sqlite3"
serve_gunicorn gunicorn-ssl "127.0.0.1:$ssl_port" \
    SECURE_SSL_REDIRECT=1 SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto SQLITE_PATH="$work/ssl.sqlite3"
serve_gunicorn gunicorn-sync2 "127.0.0.1:$sync2_port" DATABASE_URL="$pg_url" -- --workers 2
serve_gunicorn gunicorn-gthread "127.0.0.1:$gthread_port" DATABASE_URL="$pg_url" \
    -- --workers 1 --worker-class gthread --threads 4
serve_gunicorn gunicorn-strict "127.0.0.1:$strict_port" DATABASE_URL="$pg_url" "${strict[@]}"
serve_gunicorn gunicorn-migrations "127.0.0.1:$migrations_port" DATABASE_URL="$pg_url" READINESS_MIGRATIONS=1
serve_uvicorn uvicorn "$uvicorn_port" DATABASE_URL="$pg_url"
serve_uvicorn uvicorn-strict "$uvicorn_strict_port" DATABASE_URL="$pg_url" "${strict[@]}"
serve_nginx nginx "$here/nginx.conf.in" APP_PORT="$app_port" APP_SOCKET="$app_socket" \
    NGINX_PORT="$nginx_port" NGINX_DENY_PORT="$nginx_deny_port" NGINX_SOCKET_PORT="$nginx_socket_port"

for gate in "gunicorn-tcp --tcp 127.0.0.1:$app_port" "gunicorn-socket --unix $app_socket" \
    "gunicorn-hosts --tcp 127.0.0.1:$hosts_port" "gunicorn-ssl --tcp 127.0.0.1:$ssl_port" \
    "gunicorn-sync2 --tcp 127.0.0.1:$sync2_port" "gunicorn-gthread --tcp 127.0.0.1:$gthread_port" \
    "gunicorn-strict --tcp 127.0.0.1:$strict_port" "uvicorn --tcp 127.0.0.1:$uvicorn_port" \
    "gunicorn-migrations --tcp 127.0.0.1:$migrations_port" \
    "uvicorn-strict --tcp 127.0.0.1:$uvicorn_strict_port" "nginx --tcp 127.0.0.1:$nginx_socket_port"; do
    read -r name how where <<<"$gate"
    await_http "$name" "$how" "$where" \
        || { [ "$name" = nginx ] && show_log nginx-error; harness_die "$name did not start"; }
done

note "healthprobe: $bin (sha256 $(sha256sum < "$bin" | cut -d" " -f1))"
note "gunicorn $app and unix:$app_socket, nginx 127.0.0.1:$nginx_port-$nginx_socket_port, postgresql 127.0.0.1:$pg_port"

unix_socket_supported=
"$bin" --help 2>&1 | grep -q -- --unix-socket && unix_socket_supported=1
unix_case() {   # unix_case NAME ARG...: probe_case NAME ARG... where the probe has --unix-socket
    if [ -n "$unix_socket_supported" ]; then probe_case "$@"
    else run_case "$1" cannot "healthprobe --help does not mention --unix-socket"; fi
}
both() {   # both PROBE URL1 URL2: the probe passes on each URL
    "$1" "$2" && "$1" "$3"
}

# ---- cases: PostgreSQL up ------------------------------------------------------------

# Gunicorn over TCP, PostgreSQL up (DATABASE_URL)
gunicorn_tcp_cases() {
    probe_case "healthz over TCP" 0 -- "$hp" "$app/healthz"
    probe_case "readyz over TCP (PostgreSQL from DATABASE_URL)" 0 -- "$hp" "$app/readyz"
    probe_case "healthz by the name localhost" 0 -- "$hp" "http://localhost:$app_port/healthz"
    probe_case "readyz by the name localhost" 0 -- "$hp" "http://localhost:$app_port/readyz"
    probe_case "no URL: /healthz on \$PORT" 0 -- env PORT="$app_port" "$hp"
    probe_case "bare path /readyz on \$PORT" 0 -- env PORT="$app_port" "$hp" /readyz
    probe_case "HEALTHPROBE_URL names the target" 0 -- env HEALTHPROBE_URL="$app/readyz" "$hp"
    probe_case "HEAD /healthz" 0 -- "$hp" -X HEAD "$app/healthz"
    probe_case "HEAD /readyz on \$PORT" 0 -- env PORT="$app_port" "$hp" -X HEAD /readyz
    probe_case "--expect-body '\"database\": \"ok\"' when ready" 0 -- "$hp" --expect-body '"database": "ok"' "$app/readyz"
    probe_case "--wait on a healthy endpoint returns at once" 0 --elapsed 0 1 -- "$hp" --wait 10s "$app/readyz"
    probe_case "proxy variables are ignored" 0 -- env HTTP_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 \
        ALL_PROXY=http://127.0.0.1:9 "$hp" "$app/readyz"
}

# tcp:// to the real PostgreSQL and Redis, --expect-json on the real readiness
# body, and several targets in one call, as one HEALTHCHECK of a container
# that runs more than one process.
targets_cases() {
    probe_case "tcp:// PostgreSQL accepts a connection" 0 -- "$hp" "tcp://127.0.0.1:$pg_port"
    probe_case "tcp:// Redis by the name localhost" 0 -- "$hp" "tcp://localhost:$redis_port"
    probe_case "tcp:// nothing listening: refused, naming the address" 1 \
        "tcp://127.0.0.1:$unused_port: connection refused: nothing is listening on 127.0.0.1:$unused_port" \
        -- "$hp" "tcp://127.0.0.1:$unused_port"
    probe_case "--expect-json checks.database=ok on readyz" 0 -- "$hp" --expect-json status=ok --expect-json checks.database=ok "$app/readyz"
    probe_case "--expect-json on a JSON field that differs" 1 "--expect-json checks.database: found" '"ok", wanted "down"' \
        -- "$hp" --expect-json checks.database=down "$app/readyz"
    probe_case "web, its database and its broker in one call" 0 \
        -- "$hp" "$app/readyz" "$nginx/healthz" "tcp://127.0.0.1:$pg_port" "tcp://127.0.0.1:$redis_port"
    probe_case "-H with only a tcp:// target is refused" 1 "--header means nothing for a tcp:// target" \
        -- "$hp" -H "Host: x" "tcp://127.0.0.1:$pg_port"
}

# Django settings that turn a probe away. (healthprobe.django answers /healthz
# and /readyz before these settings apply, so the app's home page / stands for
# an endpoint without it.)
django_settings_cases() {
    probe_case "APPEND_SLASH: /health answers 301 to /health/, not followed" 1 "GET $app/health:" 301 /health/ \
        -- "$hp" "$app/health"
    probe_case "APPEND_SLASH: the slash URL itself passes" 0 -- "$hp" "$app/health/"
    probe_case "ALLOWED_HOSTS without the probe's host: 400" 1 "http://127.0.0.1:$hosts_port/" 400 \
        -- "$hp" "http://127.0.0.1:$hosts_port/"
    probe_case "ALLOWED_HOSTS: -H 'Host: app.example.test' passes" 0 \
        -- "$hp" -H 'Host: app.example.test' "http://127.0.0.1:$hosts_port/"
    probe_case "ALLOWED_HOSTS: /healthz and /readyz pass without -H" 0 \
        -- both "$hp" "http://127.0.0.1:$hosts_port/healthz" "http://127.0.0.1:$hosts_port/readyz"
    probe_case "SECURE_SSL_REDIRECT: 301 naming the https Location" 1 301 "https://127.0.0.1:$ssl_port/" \
        -- "$hp" "http://127.0.0.1:$ssl_port/"
    probe_case "SECURE_SSL_REDIRECT: -H 'X-Forwarded-Proto: https' passes" 0 \
        -- "$hp" -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$ssl_port/"
    probe_case "SECURE_SSL_REDIRECT: /healthz and /readyz pass without -H" 0 \
        -- both "$hp" "http://127.0.0.1:$ssl_port/healthz" "http://127.0.0.1:$ssl_port/readyz"
}

# All three at once (ALLOWED_HOSTS=app.example.com, SECURE_SSL_REDIRECT,
# APPEND_SLASH): the probe with no flags passes on both endpoints, and the
# same client still meets Django's 400 and 301 everywhere else.
strict_settings_cases() {   # strict_settings_cases LABEL PORT
    local label=$1 strict=http://127.0.0.1:$2
    probe_case "strict settings, $label: healthz, no flags" 0 -- "$hp" "$strict/healthz"
    probe_case "strict settings, $label: readyz, no flags (PostgreSQL)" 0 -- "$hp" "$strict/readyz"
    probe_case "strict settings, $label: HEAD readyz, no flags" 0 -- "$hp" -X HEAD "$strict/readyz"
    probe_case "strict settings, $label: / gets ALLOWED_HOSTS' 400" 1 "GET $strict/:" 400 -- "$hp" "$strict/"
    probe_case "strict settings, $label: /healthz/ (not a probe path) gets the 400 too" 1 400 -- "$hp" "$strict/healthz/"
    probe_case "strict settings, $label: / with the allowed Host gets SECURE_SSL_REDIRECT's 301" 1 301 \
        "https://app.example.com/" -- "$hp" -H 'Host: app.example.com' "$strict/"
    probe_case "strict settings, $label: /health over https gets APPEND_SLASH's 301" 1 301 /health/ \
        -- "$hp" -H 'Host: app.example.com' -H 'X-Forwarded-Proto: https' "$strict/health"
    probe_case "strict settings, $label: / with the allowed Host over https passes" 0 \
        -- "$hp" -H 'Host: app.example.com' -H 'X-Forwarded-Proto: https' "$strict/"
}

# WSGI with threads and ASGI
server_kind_cases() {   # server_kind_cases LABEL PORT
    local label=$1 url=http://127.0.0.1:$2
    probe_case "$label: healthz" 0 -- "$hp" "$url/healthz"
    probe_case "$label: readyz (PostgreSQL)" 0 -- "$hp" --expect-body '"database": "ok"' "$url/readyz"
    probe_case "$label: HEAD healthz" 0 -- "$hp" -X HEAD "$url/healthz"
    probe_case "$label: HEAD readyz" 0 -- "$hp" -X HEAD "$url/readyz"
    probe_case "$label: /healthz/ is not a probe path: the app's 404" 1 404 -- "$hp" "$url/healthz/"
}

# nginx, configured as in the article "Django health check endpoint", and
# Gunicorn on a Unix socket, behind it and probed directly
nginx_and_socket_cases() {
    probe_case "nginx: healthz" 0 -- "$hp" "$nginx/healthz"
    probe_case "nginx: readyz, allowed from 127.0.0.1" 0 -- "$hp" "$nginx/readyz"
    probe_case "nginx: HEAD readyz" 0 -- "$hp" -X HEAD "$nginx/readyz"
    probe_case "nginx: readyz denied to 127.0.0.1: 403" 1 "GET http://127.0.0.1:$nginx_deny_port/readyz:" 403 \
        -- "$hp" "http://127.0.0.1:$nginx_deny_port/readyz"
    probe_case "nginx: healthz beside the denied readyz passes" 0 -- "$hp" "http://127.0.0.1:$nginx_deny_port/healthz"
    probe_case "app on a socket, probe on its TCP port: refused, naming it" 1 "connection refused" "127.0.0.1:$unused_port" \
        -- "$hp" "http://127.0.0.1:$unused_port/healthz"
    probe_case "nginx -> Gunicorn's Unix socket: healthz" 0 -- "$hp" "http://127.0.0.1:$nginx_socket_port/healthz"
    probe_case "nginx -> Gunicorn's Unix socket: readyz (PostgreSQL from PG* variables)" 0 \
        -- "$hp" "http://127.0.0.1:$nginx_socket_port/readyz"
    unix_case "unix socket: healthz" 0 -- "$hp" --unix-socket "$app_socket" http://localhost/healthz
    unix_case "unix socket: readyz (PostgreSQL from PG* variables)" 0 -- "$hp" --unix-socket "$app_socket" http://localhost/readyz
    unix_case "unix socket: HEAD readyz" 0 -- "$hp" --unix-socket "$app_socket" -X HEAD http://localhost/readyz
    unix_case "unix socket: a missing socket fails naming it" 1 "$work/missing.sock" \
        -- "$hp" --unix-socket "$work/missing.sock" http://localhost/healthz
}

# The commands in the deployment examples (Dockerfile.example,
# examples/kubernetes.yaml, examples/compose.yaml), as written, except: the
# executable's path becomes the binary under test, and port 8000 becomes the
# test app's (PORT and any URL).
deploy=()   # LABEL<TAB>ARGV_JSON<TAB>OUTER_TIMEOUT<TAB>PROBE_TIMEOUT, one a command
read_deploy_commands() {
    local lines
    lines=$("$harness_python" "$here/deploy_commands.py" "$(deployment_example dockerfile)" \
        "$(deployment_example kubernetes)" "$(deployment_example compose)" 2>"$work/deploy.err") \
        || { fail "$(cat "$work/deploy.err")"; return; }
    mapfile -t deploy <<<"$lines"
    pass "${#deploy[@]} healthprobe commands"
}
copy_sources_present() {
    "$harness_python" "$here/deploy_commands.py" --copy-sources "$(deployment_example dockerfile)" "$repo" \
        2>"$work/deploy.err" || fail "$(cat "$work/deploy.err")"
}
deploy_argv() {   # deploy_argv ARGV_JSON: the command, one argument a line, for this test
    "$harness_python" -c 'import json, sys
argv = json.loads(sys.argv[1])
argv[0] = sys.argv[2]
print("\n".join(a.replace(":8000/", ":%s/" % sys.argv[3]) for a in argv))' "$1" "$bin" "$app_port"
}
outer_above_inner() {   # outer_above_inner OUTER INNER (seconds)
    awk -v o="$1" -v i="$2" 'BEGIN { exit !(o > i) }' || fail "${1}s is not above ${2}s"
}
deployment_cases() {
    local line label argv_json outer inner argv
    run_case "deployment examples: their healthprobe commands, all in exec form" read_deploy_commands
    run_case "Dockerfile.example: every COPY source is in the repository" copy_sources_present
    for line in "${deploy[@]}"; do
        IFS=$'\t' read -r label argv_json outer inner <<<"$line"
        mapfile -t argv < <(deploy_argv "$argv_json")
        probe_case "$label: $argv_json" 0 -- env PORT="$app_port" "${argv[@]}"
        run_case "$label: its timeout (${outer}s) is above the probe's -t (${inner}s)" outer_above_inner "$outer" "$inner"
    done
}

# ---- cases: PostgreSQL stopped, restarted, frozen ------------------------------------

postgres_down_cases() {
    local server port line label argv_json argv
    for server in "Gunicorn 2 sync workers $sync2_port" "Gunicorn gthread $gthread_port" "Uvicorn $uvicorn_port"; do
        port=${server##* }
        # Refused at once, so "unavailable" in milliseconds; the bound is the
        # budget (0.5 s) plus the same margin as when frozen, for a loaded machine.
        probe_case "PostgreSQL down: ${server% *}: readyz 503 within the budget" 1 --elapsed 0 1.0 \
            503 -- "$hp" "http://127.0.0.1:$port/readyz"
        probe_case "PostgreSQL down: ${server% *}: healthz passes" 0 -- "$hp" "http://127.0.0.1:$port/healthz"
    done
    probe_case "PostgreSQL down: readyz 503 with the body naming the database" 1 \
        "GET $app/readyz:" 503 '"database": "unavailable"' -- "$hp" "$app/readyz"
    probe_case "PostgreSQL down: HEAD readyz 503" 1 "HEAD $app/readyz:" 503 -- "$hp" -X HEAD "$app/readyz"
    probe_case "PostgreSQL down: healthz still passes" 0 -- "$hp" "$app/healthz"
    probe_case "PostgreSQL down: tcp:// to it is refused" 1 "tcp://127.0.0.1:$pg_port: connection refused" \
        -- "$hp" "tcp://127.0.0.1:$pg_port"
    probe_case "PostgreSQL down: --expect-json checks.database=ok fails naming the field" 1 \
        '--expect-json checks.database: found "unavailable"' -- "$hp" --expect-status 200,503 --expect-json checks.database=ok "$app/readyz"
    probe_case "PostgreSQL down: readyz through nginx 503" 1 "$nginx/readyz" 503 '"database": "unavailable"' \
        -- "$hp" "$nginx/readyz"
    probe_case "PostgreSQL down: readyz through nginx's Unix-socket upstream 503" 1 503 \
        -- "$hp" "http://127.0.0.1:$nginx_socket_port/readyz"
    probe_case "PostgreSQL down: --expect-body '\"database\": \"ok\"' fails though 503 is listed" 1 '"database": "ok"' \
        -- "$hp" --expect-status 200,503 --expect-body '"database": "ok"' "$app/readyz"
    unix_case "PostgreSQL down: unix socket readyz 503" 1 503 -- "$hp" --unix-socket "$app_socket" http://localhost/readyz
    for line in "${deploy[@]}"; do
        IFS=$'\t' read -r label argv_json _ <<<"$line"
        [[ $argv_json == *'/readyz"'* ]] || continue
        mapfile -t argv < <(deploy_argv "$argv_json")
        probe_case "PostgreSQL down: $label fails" 1 503 -- env PORT="$app_port" "${argv[@]}"
    done
    probe_case "PostgreSQL down: --wait 3s gives up at 3s" 1 --elapsed 3 4 "$app/readyz" 503 \
        -- "$hp" --wait 3s --interval 200ms "$app/readyz"
    probe_case "PostgreSQL down: --wait 1500ms -t 5s gives up at 1.5s" 1 --elapsed 1.5 2.5 "$app/readyz" 503 \
        -- "$hp" --wait 1500ms -t 5s "$app/readyz"
}

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
    serve_postgres postgresql "$pg_data" "$pg_port"
    wait "$probe" || status=$?
    if [ "$seen_503" != 0 ]; then
        echo "no 503 for the waiting probe in Gunicorn's log within 15s" >&2
        return 1
    fi
    return "$status"
}
postgres_restart_cases() {
    probe_case "PostgreSQL restarted while --wait 30s runs: 503 first, then recovers" 0 -- wait_through_restart
    probe_case "PostgreSQL back: readyz through nginx's Unix-socket upstream" 0 -- "$hp" "http://127.0.0.1:$nginx_socket_port/readyz"
    probe_case "PostgreSQL back: --expect-body '\"database\": \"ok\"'" 0 -- "$hp" --expect-body '"database": "ok"' "$app/readyz"
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
postgres_frozen_cases() {   # postgres_frozen_cases NAME PORT
    local name=$1 url=http://127.0.0.1:$2
    probe_case "$name: readyz with PostgreSQL up" 0 -- "$hp" --wait 10s "$url/readyz"
    freeze postgresql
    # The last good readiness result is kept 1 s; then the budget (0.5 s) applies.
    sleep 1.2
    probe_case "PostgreSQL frozen: $name: readyz 503 within the budget + 0.5s" 1 --elapsed 0.5 1.0 \
        503 '"database": "timeout"' -- "$hp" -t 3s "$url/readyz"
    probe_case "PostgreSQL frozen: $name: 4 readiness probes at a time, liveness -t 1s passes for 10s" 0 \
        -- frozen_burst "$url"
    note "$name, PostgreSQL frozen: $(cat "$work/burst.summary")"
    thaw
    probe_case "PostgreSQL thawed: $name: readyz recovers" 0 -- "$hp" --wait 10s "$url/readyz"
}

# READINESS_MIGRATIONS: the app's own migration (healthsite/migrations) is
# pending on the fresh database until manage.py migrate has run.
migrations_cases() {
    local url=http://127.0.0.1:$migrations_port
    probe_case "READINESS_MIGRATIONS, not migrated: readyz 503 'migrations: pending'" 1 503 '"migrations": "pending"' \
        -- "$hp" "$url/readyz"
    probe_case "READINESS_MIGRATIONS, not migrated: healthz passes" 0 -- "$hp" "$url/healthz"
    probe_case "manage.py migrate on that database" 0 \
        -- env DATABASE_URL="$pg_url" "$harness_python" "$django_app/manage.py" migrate --noinput -v 0
    # The last answer is reused for 1 s (READINESS_MAX_AGE).
    sleep 1.1
    probe_case "READINESS_MIGRATIONS, migrated: readyz passes with checks.migrations=ok" 0 \
        -- "$hp" --expect-json checks.migrations=ok "$url/readyz"
}

# ---- the run ------------------------------------------------------------------------

gunicorn_tcp_cases
targets_cases
django_settings_cases
strict_settings_cases Gunicorn "$strict_port"
strict_settings_cases Uvicorn "$uvicorn_strict_port"
server_kind_cases gthread "$gthread_port"
server_kind_cases uvicorn "$uvicorn_port"
nginx_and_socket_cases
deployment_cases
migrations_cases

stop redis
probe_case "Redis stopped: tcp:// is refused" 1 "connection refused" -- "$hp" "tcp://127.0.0.1:$redis_port"
stop postgresql
# healthprobe.django reuses a readiness result for 1 s (READINESS_MAX_AGE):
# let the last "ok" age out.
sleep 1.1
postgres_down_cases
postgres_restart_cases
postgres_frozen_cases "Gunicorn 2 sync workers" "$sync2_port"
postgres_frozen_cases "Gunicorn gthread" "$gthread_port"
postgres_frozen_cases Uvicorn "$uvicorn_port"

case_servers_lived
if [ "$harness_failed" != 0 ]; then
    for log in "$work"/gunicorn-*.log "$work/nginx-error.log" "$work/postgresql.log"; do show_log "$log"; done
fi
harness_end
