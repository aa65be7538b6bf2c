#!/usr/bin/env bash
# build/repro.sh [ARCH...]      (make repro)
#
# Proves the release build is reproducible: copies the source tree to two
# fresh places whose paths differ (and differ in length), builds each from
# clean (its own target dir, its own libunwind, and for the second a CARGO_HOME
# at another path, seeded from this one's downloaded crates) with
# build/dist.sh, and requires identical SHA256SUMS, byte for byte; when a
# licence text exists it also builds the OCI archive in both and compares.
# It also checks that no path of either build appears in any artifact.
#
#   default ARCHs: $REPRO_ARCHES, else "amd64 arm64 armv7" (the two image
#   platforms and one build-std-only platform); REPRO_ARCHES=all for every one.
#   REPRO_KEEP=1 keeps the scratch directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=build/targets.sh
source "$ROOT/build/targets.sh"
arches=("$@")
if [ ${#arches[@]} -eq 0 ]; then read -r -a arches <<<"${REPRO_ARCHES:-amd64 arm64 armv7}"; fi
[ "${arches[*]}" = all ] && read -r -a arches <<<"$(hp_arches)"

CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
# The copies below have no .git: both builds take the image's time from here.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
scratch=$(mktemp -d /tmp/healthprobe-repro.XXXXXX)
[ "${REPRO_KEEP:-}" = 1 ] || trap 'rm -rf "$scratch"' EXIT
a=$scratch/a/healthprobe
b=$scratch/second-build/src/healthprobe

copy() { # the working tree as it is (committed or not), without build output
  mkdir -p "$1"
  (cd "$ROOT" && tar --exclude=./target --exclude=./dist --exclude=./.git \
      --exclude=./fuzz/target --exclude=./.venv -cf - .) | tar -C "$1" -xf -
}
copy "$a"
copy "$b"
# A second CARGO_HOME at another path: the same crate files, extracted anew.
mkdir -p "$scratch/cargo-home-b/registry"
cp -a "$CARGO_HOME/registry/index" "$CARGO_HOME/registry/cache" "$scratch/cargo-home-b/registry/"

start=$SECONDS
echo "repro: build 1 in $a (${arches[*]})"
(cd "$a" && build/dist.sh "${arches[@]}") > "$scratch/build-a.log" 2>&1 || { tail -30 "$scratch/build-a.log"; exit 1; }
echo "repro: build 2 in $b, CARGO_HOME=$scratch/cargo-home-b"
(cd "$b" && CARGO_HOME=$scratch/cargo-home-b build/dist.sh "${arches[@]}") > "$scratch/build-b.log" 2>&1 || { tail -30 "$scratch/build-b.log"; exit 1; }

status=0
if cmp -s "$a/dist/SHA256SUMS" "$b/dist/SHA256SUMS"; then
  echo "repro: identical ($((SECONDS - start))s for both builds):"
  cat "$a/dist/SHA256SUMS"
else
  echo "repro: the two builds differ:" >&2
  diff "$a/dist/SHA256SUMS" "$b/dist/SHA256SUMS" >&2 || true
  status=1
fi

for f in "$a"/dist/healthprobe-*linux-* "$b"/dist/healthprobe-*linux-*; do
  if grep -a -q -F -e "$scratch" -e "$CARGO_HOME" -e "$HOME/.rustup" -e "$ROOT" "$f"; then
    echo "repro: $f contains a build path" >&2
    status=1
  fi
done

if compgen -G "$ROOT/LICENSE*" >/dev/null || compgen -G "$ROOT/COPYING*" >/dev/null; then
  if [ -f "$a/dist/healthprobe-linux-amd64" ] && [ -f "$a/dist/healthprobe-linux-arm64" ]; then
    (cd "$a" && build/image.sh) >/dev/null && (cd "$b" && build/image.sh) >/dev/null
    for f in "$a"/dist/*oci.tar; do
      if cmp -s "$f" "$b/dist/$(basename "$f")"; then
        echo "repro: $(basename "$f") identical: $(sha256sum < "$f" | cut -d' ' -f1)"
      else
        echo "repro: $(basename "$f") differs" >&2; status=1
      fi
    done
  fi
fi
exit $status
