#!/usr/bin/env bash
# `make demo`: the reference Django app (examples/django) under Gunicorn on
# 127.0.0.1:8000 with SQLite, probed the ways the README describes. Gunicorn is
# stopped on the way out, whatever happened.
set -euo pipefail

examples=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$examples/.." && pwd)
bin=${HEALTHPROBE_BIN:-$repo/dist/healthprobe-linux-amd64}
port=8000

if [ ! -x "$bin" ]; then
    echo "demo: $bin not found; build it with 'make static' (or run 'make demo')" >&2
    exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: something already listens on 127.0.0.1:$port; stop it and run again" >&2
    exit 1
fi

venv=$("$examples/django/ensure-venv.sh")

work=$(mktemp -d "${TMPDIR:-/tmp}/healthprobe-demo.XXXXXX")
gunicorn_pid=
cleanup() {
    if [ -n "$gunicorn_pid" ] && kill -0 "$gunicorn_pid" 2>/dev/null; then
        kill -TERM "$gunicorn_pid"
        wait "$gunicorn_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The commands below are shown as a user types them.
mkdir "$work/bin"
ln -s "$bin" "$work/bin/healthprobe"
export PATH="$work/bin:$PATH"
# The demo is SQLite with the app's defaults, whatever the caller's environment says.
unset PORT HEALTHPROBE_URL HEALTHPROBE_TIMEOUT DATABASE_URL PGHOST PGDATABASE \
    ALLOWED_HOSTS SECURE_SSL_REDIRECT SECURE_PROXY_SSL_HEADER DJANGO_DEBUG

SQLITE_PATH=$work/db.sqlite3 \
    "$venv/bin/gunicorn" --chdir "$examples/django" --bind "127.0.0.1:$port" --workers 2 --no-control-socket \
    --access-logfile - healthsite.wsgi >"$work/gunicorn.log" 2>&1 &
gunicorn_pid=$!

echo "healthprobe demo: examples/django under Gunicorn (pid $gunicorn_pid) on 127.0.0.1:$port, SQLite"
echo "binary: ${bin#"$repo"/} ($(stat -c %s "$bin") bytes)"
echo

unexpected=0
# show EXPECTED_EXIT COMMENT -- COMMAND...: print the command, what it printed, its exit status.
show() {
    local want=$1 note=$2 status=0
    shift 3
    printf '$ %s' "$*"
    [ -n "$note" ] && printf '    # %s' "$note"
    printf '\n'
    local out
    out=$("$@" 2>&1) || status=$?
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/  /'
    if [ "$status" = "$want" ]; then
        printf '  exit %s\n\n' "$status"
    else
        printf '  exit %s (expected %s)\n\n' "$status" "$want"
        unexpected=1
    fi
}

show 0 "as in CI: repeat until Gunicorn's workers answer" -- healthprobe --wait 20s
if ! kill -0 "$gunicorn_pid" 2>/dev/null || [ "$unexpected" = 1 ]; then
    echo "demo: Gunicorn did not come up; its log:" >&2
    sed 's/^/  /' "$work/gunicorn.log" >&2
    exit 1
fi
show 0 "liveness: GET http://127.0.0.1:8000/healthz, silent on success" -- healthprobe
show 0 "readiness: SELECT 1 on the database" -- healthprobe /readyz
show 0 "HEAD: status and headers only; -v prints a line on success too" -- healthprobe -v -X HEAD /readyz
show 1 "the route is 'health/': APPEND_SLASH answers 301, never followed" -- healthprobe /health

if [ "$unexpected" = 1 ]; then
    echo "demo: some probe did not answer as expected (see above); Gunicorn's log:" >&2
    sed 's/^/  /' "$work/gunicorn.log" >&2
    exit 1
fi
echo "demo: every probe answered as expected; stopping Gunicorn"
