#!/usr/bin/env bash
# The unit tests of healthprobe.django (python/tests) on each supported Django,
# each in its own environment:
#   Django 5.2 LTS  this machine's python3, in the reference app's virtualenv
#                   (examples/django/ensure-venv.sh: Django as the app pins it)
#   Django 6.x      Python 3.13 in a Debian trixie root (tests/images/debian-root.sh),
#                   entered with unshare and chroot; its wheels are downloaded
#                   here for 3.13, then installed in the root with --no-index.
#                   Needs root; without it the 6.x run is skipped, saying so.
# The trixie root and its virtualenv are kept under $HEALTHPROBE_CACHE
# (default /var/cache/healthprobe) and rebuilt when the requirements change.
# Each run ends with pytest's own summary line; the script exits 1 when any
# run failed.
#   python/tests/run.sh [5.2|6] [PYTEST_ARGS...]   one of them only
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${HEALTHPROBE_CACHE:-/var/cache/healthprobe}
only=all
case "${1:-}" in 5.2|6) only=$1; shift ;; esac

status=0

run_django52() {
    echo "== healthprobe.django unit tests: Django 5.2 LTS, $(python3 --version)"
    local venv
    venv=$("$repo/examples/django/ensure-venv.sh" "$here/requirements.txt") || return 1
    echo "# $("$venv/bin/python" -c 'import django; print("Django", django.get_version())')"
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here" "$@"
}

run_django6() {
    echo "== healthprobe.django unit tests: Django 6.x, Python 3.13 (Debian trixie root)"
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP - Django 6.x unit tests: need root for the Debian trixie root (chroot); run as root"
        return 0
    fi
    local tarball root=$cache/django6-trixie want
    tarball=$(bash "$repo/tests/images/debian-root.sh") || return 1
    want=$(cat "$tarball.sha256" 2>/dev/null || stat -c '%s %Y' "$tarball")
    want=$(printf '%s\n' "$want" | cat - "$here/requirements.txt" "$here/requirements-django6.txt" | sha256sum | cut -d' ' -f1)
    if [ "$(cat "$root/.healthprobe-stamp" 2>/dev/null)" != "$want" ]; then
        echo "django6: preparing $root from $tarball" >&2
        rm -rf "$root" && mkdir -p "$root" \
            && tar --numeric-owner -xf "$tarball" -C "$root" || { echo "django6: cannot extract $tarball" >&2; return 1; }
        mkdir -p "$root/wheelhouse"
        # Wheels for the root's Python, fetched from the registry by the pip of
        # the reference app's virtualenv (Debian's python3 has no pip module).
        local venv
        venv=$("$repo/examples/django/ensure-venv.sh" "$here/requirements.txt") || return 1
        "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --python-version 3.13 --only-binary=:all: \
            -d "$root/wheelhouse" -r "$here/requirements.txt" -r "$here/requirements-django6.txt" >&2 \
            || { echo "django6: pip download for Python 3.13 failed" >&2; return 1; }
        cp "$here/requirements.txt" "$here/requirements-django6.txt" "$root/wheelhouse/"
        in_root python3 -m venv /venv >&2 \
            && in_root /venv/bin/python -m pip install --quiet --disable-pip-version-check --no-index \
                --find-links /wheelhouse -r /wheelhouse/requirements.txt -r /wheelhouse/requirements-django6.txt >&2 \
            || { echo "django6: installing the wheels in the trixie root failed" >&2; return 1; }
        echo "$want" > "$root/.healthprobe-stamp"
    fi
    # The code under test, fresh each run.
    rm -rf "$root/src" && mkdir -p "$root/src" && cp -r "$repo/python/healthprobe" "$repo/python/tests" "$root/src/" || return 1
    echo "# $(in_root /venv/bin/python -c 'import django, sys; print("Django", django.get_version(), "on Python", sys.version.split()[0])')"
    in_root /venv/bin/python -m pytest -q -p no:cacheprovider /src/tests "$@"
}

in_root() {   # in_root COMMAND...: run COMMAND in the trixie root, in a mount namespace of its own
    local root=$cache/django6-trixie
    unshare --mount --fork -- sh -c '
        root=$1; shift
        mount --rbind /dev "$root/dev" && mount -t proc proc "$root/proc" \
            && exec chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@"
    ' in_root "$root" "$@"
}

if [ "$only" = all ] || [ "$only" = 5.2 ]; then run_django52 "$@" || status=1; fi
if [ "$only" = all ] || [ "$only" = 6 ]; then run_django6 "$@" || status=1; fi
exit "$status"
