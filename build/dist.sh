#!/usr/bin/env bash
# build/dist.sh [ARCH...]        (make dist; default: every ARCH in build/targets.sh)
#
# Static musl executables, linked by rust-lld (`make static` is `dist.sh amd64`):
#   dist/healthprobe-linux-ARCH      HTTP only (default features)
#   dist/healthprobe-tls-linux-ARCH  --features tls, built only once Cargo.toml
#                                    lists a `tls` feature under [features]
#   dist/SHA256SUMS                  over every healthprobe-*linux-* in dist/
#
# How (see docs/platforms.md for why):
#   DIST_STD=build-std (default)  every target: `cargo +NIGHTLY -Z build-std=std,panic_abort`
#       (NIGHTLY: the toolchain named in build/nightly-toolchain) with std's
#       default features off and -C panic=immediate-abort (DIST_PANIC=abort
#       keeps the panic hook instead), linked
#       against Debian's musl-dev:ARCH and a libunwind built from rust-src.
#   DIST_STD=stable  amd64, arm64 and 386 with the stable toolchain's prebuilt
#       rust-std (rustup target add); the others still need build-std.
# Other knobs: DIST_VARIANTS ("http tls"), DIST_DIR (dist), DIST_TARGET_DIR (target/dist), DIST_NIGHTLY
# (build/nightly-toolchain), DIST_STABLE (stable), DIST_PANIC (immediate-abort),
# DIST_STRIP (1; 0 keeps the symbols in the artifact too).
#
# Each artifact is checked here: `file` says statically linked, there is no
# PT_INTERP, and `--version` (natively or under qemu) names the triple and the
# features. Paths of this machine are remapped out, so two builds from
# different checkouts give the same bytes (build/repro.sh proves it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=build/targets.sh
source "$ROOT/build/targets.sh"

DIST_DIR=${DIST_DIR:-$ROOT/dist}
TARGET_DIR=${DIST_TARGET_DIR:-$ROOT/target/dist}
MODE=${DIST_STD:-build-std}
NIGHTLY=${DIST_NIGHTLY:-$(cat "$ROOT/build/nightly-toolchain")}
STABLE=${DIST_STABLE:-stable}
PANIC=${DIST_PANIC:-immediate-abort}   # or "abort": panic=abort, the hook runs
STRIP=${DIST_STRIP:-1}                 # 0: the artifact keeps its symbols
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
case $MODE in build-std|stable) ;; *) echo "dist: DIST_STD must be build-std or stable" >&2; exit 2 ;; esac

mkdir -p "$DIST_DIR" "$TARGET_DIR"
DIST_DIR=$(cd "$DIST_DIR" && pwd) TARGET_DIR=$(cd "$TARGET_DIR" && pwd)
cd "$ROOT"

name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
if [ -n "${DIST_VARIANTS:-}" ]; then
  read -r -a variants <<<"$DIST_VARIANTS"
elif sed -n '/^\[features\]/,/^\[/p' Cargo.toml | grep -q '^tls *='; then
  variants=(http tls)
else
  variants=(http)
  echo "dist: Cargo.toml has no [features] tls yet: building the HTTP-only artifacts"
fi

if [ $# -eq 0 ]; then read -r -a arches <<<"$(hp_arches)"; else arches=("$@"); fi

join_us() { local IFS=$'\x1f'; printf '%s' "$*"; }

build() { # build ARCH VARIANT
  hp_target "$1" || return 1
  local variant=$2 toolchain std features=() flags cflags sysroot commit
  local out="$DIST_DIR/$name-linux-$ARCH"
  [ "$variant" = tls ] && { features=(--features tls); out="$DIST_DIR/$name-tls-linux-$ARCH"; }
  std=build-std toolchain=$NIGHTLY
  if [ "$MODE" = stable ]; then case $ARCH in amd64|arm64|386) std=prebuilt toolchain=$STABLE ;; esac; fi

  sysroot=$(rustc "+$toolchain" --print sysroot)
  commit=$(rustc "+$toolchain" -vV | sed -n 's/^commit-hash: //p')
  # Later prefixes win in rustc, so the target dir (maybe inside ROOT) comes last.
  flags=(-C target-feature=+crt-static -C relocation-model=static
         "--remap-path-prefix=$CARGO_HOME=/cargo"
         "--remap-path-prefix=$sysroot/lib/rustlib/src/rust=/rustc/$commit"
         "--remap-path-prefix=$ROOT=/build"
         "--remap-path-prefix=$TARGET_DIR=/target")
  local cargo=(cargo "+$toolchain" build --release --locked --target "$RUST")
  if [ "$std" = build-std ]; then
    local lib
    lib=$("$ROOT/build/musl-sysroot.sh" "$ARCH" "$TARGET_DIR/musl-sysroot" "$toolchain")
    # crt1.o only: crti.o and crtn.o would wrap .init and .fini sections that
    # nothing here has (check() refuses an artifact with one), and musl calls
    # its own empty _init and _fini without them. Their few bytes sat alone
    # at the end of the text, run at start-up and exit: one more 64 KiB
    # window that every probe faulted in (VmHWM 316 -> 256 KiB, one fault
    # less; docs/costs.md, "Layout", says what each setting does).
    flags+=(-C link-self-contained=no -L "native=$lib" -Z "pre-link-arg=$lib/crt1.o")
    cargo+=(-Z build-std=std,panic_abort -Z build-std-features=)
    # std itself at "z", the rest at "s" (Cargo.toml): a probe runs little of
    # std (a socket, a clock): 3 KB less for ~450 instructions more. Here and
    # not in Cargo.toml, where every build without build-std would warn that
    # no package is called std.
    cargo+=(--config 'profile.release.package.std.opt-level="z"')
    # A panic traps at once (no unwinder, no backtrace printer
    # linked) and src/watchdog.rs turns SIGILL/SIGTRAP into exit 1.
    # Nothing unwinds then, so no unwind tables either (.eh_frame was
    # 44 KB of the amd64 binary, and pages a probe maps).
    [ "$PANIC" = immediate-abort ] && flags+=(-Z unstable-options -C panic=immediate-abort -C force-unwind-tables=no)
    # HTTP-only build: a derived Debug prints the type's name alone. None of
    # its messages shows a derived Debug (its one {:?} is a str's, which is
    # written by hand, and panics print nothing), and the tests check them:
    # 7,232 bytes less for amd64, the same instructions. Not the TLS build,
    # whose messages show rustls's errors with {:?} (src/connect.rs).
    [ "$variant" = http ] && flags+=(-Z fmt-debug=shallow)
  fi
  # Read-only data in the same segment as the code: one mapping and no page
  # of padding between them. Identical functions folded into one (generic
  # code instantiated for types of the same layout): 2 KB less for amd64.
  # Folding is safe here since no code compares function addresses.
  flags+=(-C link-arg=--no-rosegment -C link-arg=--icf=all)
  # No RELRO segment: in a static executable nothing ever makes it read-only
  # (that is the dynamic loader's work; the probe makes no mprotect call), so
  # it only split the data into two mappings, two pages. One page less
  # resident (VmHWM -4 KiB), one page fault less at exec, 192 bytes less.
  flags+=(-C link-arg=-znorelro)
  # The data (0x250 bytes for amd64) at the start of a page of its own in
  # the file, not right after the text's last byte. There, it straddled two
  # pages whenever the text ended less than 0x250 bytes before a page end (it
  # did when measured: text to 0x4df7e), and its first page, the text's last
  # one in the file, took a read fault and then a copy-on-write fault. In a
  # page of its own, it is in the page that exec zero-fills past the data,
  # private before the probe starts: own faults 20 -> 18, time -v 41 -> 39,
  # VmHWM -4 KiB. The padding costs 0-4,095 bytes (128 then). amd64 only: on
  # arm64 and ppc64le lld would pad to 64 KiB, their largest page size.
  [ "$ARCH" = amd64 ] && flags+=(-C link-arg=-zseparate-loadable-segments)
  # The functions one probe executes, packed at the start of .text, right
  # after .rodata (build/hot-symbols-ARCH.txt, written by build/hot-order.sh;
  # amd64 has one). The kernel maps a file's pages 64 KiB at a time around a
  # fault (fault-around), so each 64 KiB window of the text that the probe
  # runs any code in is resident whole. Scattered, the 150 KB of functions a
  # probe runs touched all five windows (80 pages); packed, they fill the
  # first three (VmHWM 384 -> 320 KiB, one fault less; with the settings
  # above, the last window is not touched either). A name that no longer
  # exists is skipped without a word, so a stale file costs page faults,
  # never correctness: hot_order_fresh below fails the build instead.
  local order=$ROOT/build/hot-symbols-$ARCH.txt
  if [ -f "$order" ]; then
    flags+=(-C "link-arg=--symbol-ordering-file=$order" -C link-arg=--no-warn-symbol-ordering)
    relink_on_new_order "$order"
  fi
  cflags="-ffile-prefix-map=$CARGO_HOME=/cargo"
  [ "$ARCH" = armv6 ] && cflags+=" -march=armv6 -mfloat-abi=soft"   # clang's "arm" is armv4t

  local u=${RUST//-/_} start=$SECONDS
  echo "dist: $ARCH $variant ($RUST, $std, $toolchain)"
  # Linked with its symbols (strip = false) and stripped below: the linked
  # file in the target dir keeps the names of this very build, to map the
  # addresses of a profile to. Those names carry cargo's -C metadata hash,
  # which covers the profile (strip included): a build with any other profile
  # settings, strip = false alone, gives other names.
  env CARGO_TARGET_DIR="$TARGET_DIR" CARGO_PROFILE_RELEASE_STRIP=false \
      CARGO_ENCODED_RUSTFLAGS="$(join_us "${flags[@]}")" \
      "CARGO_TARGET_${u^^}_LINKER=rust-lld" \
      "CC_$u=clang" "AR_$u=llvm-ar" "CFLAGS_$u=$cflags" \
      "${cargo[@]}" ${features[@]+"${features[@]}"}
  [ -f "$order" ] && { hot_order_fresh "$order" "$TARGET_DIR/$RUST/release/$name" "$variant" || { rm -f "$out"; return 1; }; }
  if [ "$STRIP" = 1 ]; then
    # The toolchain's own llvm-objcopy: pinned with the nightly, so the bytes
    # do not depend on the machine's binutils or LLVM. Its libLLVM is in the
    # sysroot's lib, which its RUNPATH does not name. Unlike the linker's
    # --strip-all it also drops .comment (the linker's and rustc's version
    # strings): 216 bytes less for amd64, the code byte for byte the same.
    LD_LIBRARY_PATH="$sysroot/lib" \
      "$sysroot/lib/rustlib/$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')/bin/rust-objcopy" --strip-all \
       "$TARGET_DIR/$RUST/release/$name" "$out"
    chmod 0755 "$out"
  else
    install -m 0755 "$TARGET_DIR/$RUST/release/$name" "$out"
  fi
  check "$out" "$variant"
  echo "dist: $(basename "$out"): $(stat -c %s "$out") bytes, $((SECONDS - start))s"
}

# Cargo knows the ordering file by its path only (in RUSTFLAGS), not by its
# contents: when they change, the executables are deleted so that cargo links
# them again (the stamp holds the contents' hash of the last link).
relink_on_new_order() { # relink_on_new_order FILE  (uses TARGET_DIR RUST name)
  local dir=$TARGET_DIR/$RUST/release sum
  sum=$(sha256sum < "$1")
  [ "$(cat "$dir/.symbol-order.sha256" 2>/dev/null)" = "$sum" ] && return 0
  rm -f "$dir/$name" "$dir/deps/$name"-*
  mkdir -p "$dir" && printf '%s\n' "$sum" > "$dir/.symbol-order.sha256"
}

# How many names of the ordering file the linked executable (with its
# symbols) defines. Any change to the code, the dependencies, the nightly or
# the profile renames some (crate hashes, LLVM's numeric suffixes), and each
# function whose name has gone falls back to its default place: when a few of
# them sat in a 64 KiB window of their own, every probe faulted it in
# (docs/costs.md, "Layout"). So the HTTP-only build, the one the file was
# written from, fails when fewer than HOT_ORDER_MIN_PERCENT (98) of the names
# are found, rather than ship a layout nobody measured; `make hot-order`
# writes the file again. (The TLS build links with it too, but its own crate
# hash renames every healthprobe function: its count is only printed.)
# HOT_ORDER_CHECK=0 builds anyway (build/hot-order.sh, which needs a build
# to write the file from, sets it).
hot_order_fresh() { # hot_order_fresh FILE EXECUTABLE VARIANT
  local n found min=${HOT_ORDER_MIN_PERCENT:-98}
  n=$(grep -cv '^#' "$1")
  found=$(grep -v '^#' "$1" | grep -cxF -f <(nm --defined-only "$2" | awk 'NF == 3 { print $3 }') || true)
  echo "dist: $(basename "$1"): $found of $n names are in this link"
  [ "$3" = http ] && [ "${HOT_ORDER_CHECK:-1}" != 0 ] || return 0
  if [ $((found * 100)) -lt $((n * min)) ]; then
    echo "dist: ${1#"$ROOT"/} is out of date: $found of its $n names are in this link, under $min%." >&2
    echo "dist: run \`make hot-order\` (it writes the file again from one probe of this build), then commit it." >&2
    return 1
  fi
}

check() { # check FILE VARIANT  (uses ARCH RUST QEMU from hp_target)
  local f=$1 variant=$2 desc version want=http
  desc=$(file -b "$f")
  case $desc in *"statically linked"*) ;; *) echo "dist: $f is not statically linked: $desc" >&2; return 1 ;; esac
  if readelf -lW "$f" | grep -q INTERP; then echo "dist: $f has a PT_INTERP" >&2; return 1; fi
  # Without crti.o/crtn.o an .init or .fini section would never run.
  if readelf -SW "$f" | grep -qE ' \.(init|fini) '; then echo "dist: $f has an .init or .fini section" >&2; return 1; fi
  if [ "$QEMU" = - ]; then version=$("$f" --version); else version=$($QEMU "$f" --version); fi
  [ "$variant" = tls ] && want=http+tls
  case $version in
    *"$RUST"*"$want)"*) echo "dist: $version" ;;
    *) echo "dist: $f --version says '$version', want '$RUST' and '$want'" >&2; return 1 ;;
  esac
}

for arch in "${arches[@]}"; do
  for variant in "${variants[@]}"; do build "$arch" "$variant"; done
done

(cd "$DIST_DIR" && sha256sum "$name"-linux-* "$name"-tls-linux-* 2>/dev/null > SHA256SUMS.new || true
 mv SHA256SUMS.new SHA256SUMS && cat SHA256SUMS)
