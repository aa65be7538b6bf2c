#!/usr/bin/env bash
# A Debian root file system made by debootstrap from the machine's own apt
# mirror, cached as a tarball: the base of the test images (`docker import`)
# and a chroot for tests that need a newer Python than the host's.
#
# Interface:
#   tests/images/debian-root.sh [EXTRA_PACKAGE...]
#     prints the path of an uncompressed tarball of the root (and nothing else
#     on stdout). The root is Debian trixie (Python 3.13), variant minbase,
#     with python3 and python3-venv (so `python3 -m venv` and its pip work
#     offline), plus any EXTRA_PACKAGEs (e.g. curl). apt's lists and downloaded
#     .debs are removed from it. Numeric owners; extract as root with
#     `tar --numeric-owners -xf TARBALL -C DIR`.
#   Environment:
#     HEALTHPROBE_CACHE  cache dir (default /var/cache/healthprobe); the
#                        tarball is $HEALTHPROBE_CACHE/debian-trixie[-EXTRA...].tar
#     DEBIAN_SUITE       default trixie
#     DEBIAN_MIRROR      default: the first Debian URI in the host's apt sources
#   Needs root. Installs debootstrap when missing. Built once, then reused;
#   concurrent callers wait on a lock. On failure: one line on stderr naming
#   the step that failed (and the log), exit 1.
set -euo pipefail

cache=${HEALTHPROBE_CACHE:-/var/cache/healthprobe}
suite=${DEBIAN_SUITE:-trixie}
extra=("$@")
name="debian-$suite"
if [ ${#extra[@]} -gt 0 ]; then
    name="$name-$(printf '%s\n' "${extra[@]}" | sort -u | paste -sd- -)"
fi
tarball="$cache/$name.tar"

fail() { echo "debian-root: $*" >&2; exit 1; }

if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi

[ "$(id -u)" = 0 ] || fail "building $name needs root (debootstrap and chroot)"
mkdir -p "$cache" || fail "cannot create the cache dir $cache"

exec 9>"$cache/.$name.lock"
flock 9
if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi

if ! command -v debootstrap >/dev/null; then
    echo "debian-root: installing debootstrap" >&2
    { apt-get -o DPkg::Lock::Timeout=600 update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
            install -y -qq --no-install-recommends debootstrap; } >&2 \
        || fail "apt-get install debootstrap failed"
fi

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    # deb822 sources first (URIs: line), then one-line sources.list.
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/*$/\1/p' | head -n1)
    [ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)\/*[[:space:]].*/\2/p' | head -n1)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi

work=$(mktemp -d "$cache/.$name.XXXXXX")
log="$cache/$name.log"
cleanup() {
    # debootstrap may leave proc/sys mounted in the root when it fails.
    for m in proc sys dev/pts dev; do
        mountpoint -q "$work/root/$m" 2>/dev/null && umount -l "$work/root/$m" || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

packages=python3,python3-venv
for p in "${extra[@]}"; do packages="$packages,$p"; done

echo "debian-root: debootstrap $suite ($packages) from $mirror, about a minute; log: $log" >&2
keyring=()
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
    && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
debootstrap --variant=minbase "${keyring[@]}" --include="$packages" \
    "$suite" "$work/root" "$mirror" >"$log" 2>&1 \
    || fail "debootstrap of $suite from $mirror failed (last line: $(tail -n1 "$log")); log: $log"

chroot "$work/root" python3 -c 'import ensurepip, venv, sys; assert sys.version_info >= (3, 12)' >>"$log" 2>&1 \
    || fail "the $suite root has no usable python3 with venv; log: $log"

rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* \
    "$work/root/var/log/"*.log "$work/root/debootstrap" 2>/dev/null || true
tar --numeric-owner --xattrs -C "$work/root" -cf "$work/root.tar" . >>"$log" 2>&1 \
    || fail "packing the $suite root failed; log: $log"
mv -f "$work/root.tar" "$tarball"
echo "$tarball"
