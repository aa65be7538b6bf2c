#!/usr/bin/env bash
# healthprobe.celery's tests (tests/celery) on each supported Celery, each in
# a virtualenv of its own made by examples/django/ensure-venv.sh (cached under
# target/, refreshed when the requirements change) with this machine's python3:
#   5.7   the newest Celery 5.x   (examples/django/requirements-celery.txt, the reference app's)
#   5.5   the Celery 5.5 series   (requirements-celery5.5.txt)
# They start redis-server (Debian's: make deps-e2e), Celery workers and beat,
# and run the binary: $HEALTHPROBE_BIN, else target/release/healthprobe, built
# here when missing. Each run ends with pytest's summary line; the script
# exits 1 when any run failed. The runs go on at the same time.
#   tests/celery/run.sh [5.5|5.7] [PYTEST_ARGS...]   one of them only
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
only=all
case "${1:-}" in 5.5|5.7) only=$1; shift ;; esac

if [ -z "${HEALTHPROBE_BIN:-}" ]; then
    (cd "$repo" && cargo build --release --locked --quiet) || { echo "celery tests: cargo build --release failed" >&2; exit 1; }
fi

status=0
run() {   # run SERIES REQUIREMENTS
    echo "== healthprobe.celery tests: Celery $1, $(python3 --version)"
    local venv
    venv=$(HEALTHPROBE_VENV=$repo/target/celery-venv-$1 "$repo/examples/django/ensure-venv.sh" \
        "$repo/python/tests/requirements.txt" "$here/$2") || return 1
    echo "# $("$venv/bin/python" -c 'import celery, kombu, redis; print("Celery", celery.__version__, "kombu", kombu.__version__, "redis-py", redis.__version__)')"
    (cd "$here" && "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "${pytest_args[@]}")
}
pytest_args=("$@")
series=()
[ "$only" = all ] || [ "$only" = 5.7 ] && series+=("5.7 ../../examples/django/requirements-celery.txt")
[ "$only" = all ] || [ "$only" = 5.5 ] && series+=("5.5 requirements-celery5.5.txt")
# The runs at the same time, each with its own virtualenv, Redis and
# directories: they mostly wait on workers (about 30 s of CPU in 3.5 min
# each). Each run's output is printed whole once it has ended.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for s in "${series[@]}"; do
    # shellcheck disable=SC2086
    run $s >"$logs/${s%% *}.log" 2>&1 &
    pids+=($!)
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$logs/${series[$i]%% *}.log"
done
exit "$status"
