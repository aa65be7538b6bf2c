#!/usr/bin/env bash
# build/test-cargo.sh      (part of make test-install)
#
# The crates.io ways in, on the stable toolchain alone:
#   - `cargo package --locked` builds the packaged crate, which holds the
#     sources, build.rs, Cargo.lock, README and licences, and nothing of tests/,
#     fuzz/, bench/, build/, examples/ or python/;
#   - `cargo install --path .` installs an executable that runs and names its
#     target (the std build: dynamically linked to glibc here).
# Prints `ok - ...` / `not ok - ...` and `N passed, N failed`.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CARGO=${CARGO:-cargo}
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
log=$(mktemp) root=$(mktemp -d)
trap 'rm -rf "$log" "$root"' EXIT

# --allow-dirty: the check is of what is packaged and that it builds, also
# before a commit.
if list=$($CARGO +stable package --locked --allow-dirty --list 2>"$log"); then
  extra=$(grep -E '^(tests|fuzz|bench|build|examples|python|\.ci|\.cargo)/' <<<"$list" || true)
  missing=$(for f in build.rs Cargo.lock Cargo.toml README.md LICENSE-MIT LICENSE-APACHE src/main.rs src/lib.rs; do
    grep -qx "$f" <<<"$list" || echo "$f"; done)
  if [ -z "$extra$missing" ]; then ok "cargo package ships $(wc -l <<<"$list") files: sources, build.rs, lock, README, licences"
  else not_ok "cargo package: ships [$extra], lacks [$missing]"; fi
else
  not_ok "cargo package --list: $(tail -3 "$log")"
fi

if $CARGO +stable package --locked --allow-dirty >"$log" 2>&1; then
  ok "cargo package --locked: $(grep -o 'Packaged .*' "$log")"
else
  not_ok "cargo package --locked:"; tail -20 "$log"
fi

# Its own target dir, so a second run is quick and `cargo build`'s is untouched.
if $CARGO +stable install --locked --path . --root "$root" --target-dir target/install >"$log" 2>&1; then
  bin=$root/bin/healthprobe host=$(rustc +stable -vV | sed -n 's/^host: //p')
  version=$("$bin" --version 2>&1)
  case $version in
    *"$host"*) ok "cargo install --path .: $version, $(stat -c %s "$bin") bytes" ;;
    *) not_ok "cargo install --path .: --version says '$version', want $host" ;;
  esac
else
  not_ok "cargo install --path .:"; tail -20 "$log"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
