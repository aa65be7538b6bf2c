#!/usr/bin/env bash
# python/build-wheels.sh [ARCH...]   (make wheel; default: every ARCH Python has a tag for)
#
# dist/healthprobe-VERSION-py3-none-manylinux2014_PY.manylinux_2_17_PY.musllinux_1_1_PY.whl,
# one a platform: the Python package in python/ plus dist/healthprobe-linux-ARCH
# as the script `healthprobe`, which pip puts on the PATH (a venv's bin/, or
# /usr/local/bin in an image). The binary is static, so one file serves glibc
# (manylinux) and musl (musllinux) Pythons alike.
#
# How, with the ecosystem's tools only (pinned in python/build-requirements.txt,
# installed into target/wheel-build-venv):
#   1. setuptools builds the pure wheel from python/ (`pip wheel`): METADATA
#      with name, version, summary and licence from Cargo.toml (python/setup.py),
#      README.md as the long description, the licence texts.
#   2. for each platform, `wheel unpack`, add the binary under
#      healthprobe-VERSION.data/scripts/, set Root-Is-Purelib: false and the
#      platform tags in WHEEL, `wheel pack` (which writes RECORD and names the
#      file from the tags).
# Not maturin: it compiles the crate itself, and these wheels must carry the
# very bytes that `make dist` built, tested and listed in dist/SHA256SUMS.
#
# Reproducible: zip timestamps from SOURCE_DATE_EPOCH (default: the commit
# time of HEAD), sorted entries, normalised modes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIST_DIR=${DIST_DIR:-$ROOT/dist}
VENV=${WHEEL_BUILD_VENV:-$ROOT/target/wheel-build-venv}
PYTHON=${PYTHON:-python3}
die() { echo "wheel: $*" >&2; exit 1; }

# ARCH (dist/ names) -> the machine name in Python's platform tags. armv6 has
# no manylinux or musllinux tag, so no wheel.
py_arch() {
  case $1 in
    amd64) echo x86_64 ;; arm64) echo aarch64 ;; 386) echo i686 ;; armv7) echo armv7l ;;
    ppc64le|s390x|riscv64) echo "$1" ;;
    *) return 1 ;;
  esac
}
# manylinux2014 is the PEP 599 alias of manylinux_2_17 (older pips know only
# it); PEP 599 defines it for these machines, not for riscv64.
platform_tags() {
  local py=$1
  echo "manylinux_2_17_$py"
  case $py in riscv64) ;; *) echo "manylinux2014_$py" ;; esac
  echo "musllinux_1_1_$py"
}

if [ $# -eq 0 ]; then set -- amd64 arm64 386 armv7 ppc64le s390x riscv64; fi
for arch in "$@"; do py_arch "$arch" >/dev/null || die "no Python platform tag for '$arch'"; done

# Every binary must be the one SHA256SUMS lists.
[ -f "$DIST_DIR/SHA256SUMS" ] || die "no $DIST_DIR/SHA256SUMS (make dist)"
for arch in "$@"; do
  bin=healthprobe-linux-$arch
  [ -f "$DIST_DIR/$bin" ] || die "no $DIST_DIR/$bin (make dist)"
  grep -q "  $bin\$" "$DIST_DIR/SHA256SUMS" || die "$bin is not listed in SHA256SUMS"
  (cd "$DIST_DIR" && grep "  $bin\$" SHA256SUMS | sha256sum -c --quiet -) || die "$bin differs from SHA256SUMS"
done

# The build tools, pinned; reinstalled only when the pins change.
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
  die "$PYTHON has no venv module (Debian: apt-get install python3-venv; tests/e2e/install.sh does)"
if [ ! -x "$VENV/bin/python" ]; then "$PYTHON" -m venv "$VENV"; fi
want=$(sha256sum < "$ROOT/python/build-requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/python/build-requirements.txt"
  echo "$want" > "$VENV/.installed"
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null) ||
    die "not a git checkout: set SOURCE_DATE_EPOCH (the time stamped into the wheels)"
fi
export SOURCE_DATE_EPOCH

work=$(mktemp -d)
trap 'rm -rf "$work" "$ROOT/python/build" "$ROOT/python"/*.egg-info' EXIT

# 1. The pure wheel (setuptools builds in place, hence the cleanup above).
"$VENV/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps \
  --no-build-isolation --no-index -w "$work/pure" "$ROOT/python"
pure=$(ls "$work"/pure/healthprobe-*-py3-none-any.whl)
version=$(basename "$pure"); version=${version#healthprobe-}; version=${version%%-*}
cargo_version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
[ "$version" = "$cargo_version" ] || die "built version $version, Cargo.toml says $cargo_version"

# 2. One wheel per platform.
mkdir -p "$DIST_DIR"
for arch in "$@"; do
  py=$(py_arch "$arch")
  tree=$work/$arch
  "$VENV/bin/wheel" unpack --dest "$tree" "$pure" >/dev/null
  root=$tree/healthprobe-$version
  info=$root/healthprobe-$version.dist-info
  mkdir -p "$root/healthprobe-$version.data/scripts"
  cp "$DIST_DIR/healthprobe-linux-$arch" "$root/healthprobe-$version.data/scripts/healthprobe"
  {
    grep -v -e '^Tag:' -e '^Root-Is-Purelib:' "$info/WHEEL" | sed '/^$/d'
    echo "Root-Is-Purelib: false"
    for tag in $(platform_tags "$py"); do echo "Tag: py3-none-$tag"; done
  } > "$info/WHEEL.new"
  mv "$info/WHEEL.new" "$info/WHEEL"
  rm -f "$info/RECORD"
  find "$root" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
  chmod 0755 "$root/healthprobe-$version.data/scripts/healthprobe"
  rm -f "$DIST_DIR"/healthprobe-*-py3-none-*_"$py".whl
  "$VENV/bin/wheel" pack --dest-dir "$DIST_DIR" "$root" >/dev/null
  echo "wheel: $(cd "$DIST_DIR" && ls healthprobe-"$version"-py3-none-*_"$py".whl) ($(stat -c %s "$DIST_DIR"/healthprobe-"$version"-py3-none-*_"$py".whl) bytes)"
done
