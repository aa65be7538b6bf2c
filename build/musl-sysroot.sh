#!/usr/bin/env bash
# build/musl-sysroot.sh ARCH OUTDIR [TOOLCHAIN]
#
# The link inputs for a std built from source (-Z build-std): Debian's
# multiarch musl-dev:DEB gives crt1.o, crti.o, crtn.o and libc.a, and LLVM's
# libunwind is compiled here by clang from the sources in the toolchain's
# rust-src component (the same sources rustc's own self-contained libunwind.a
# comes from; std links -lunwind for musl even with panic=abort).
# Prints the directory that holds them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=build/targets.sh
source "$here/targets.sh"
hp_target "$1"
out=$2 toolchain=${3:-$(cat "$here/nightly-toolchain")}

# Where build/install-deps.sh puts them: /usr for amd64 (Debian's musl-dev),
# /opt/healthprobe-musl/root/usr for the foreign musl-dev packages (unpacked),
# an absolute MULTI (riscv64: built from source) as it is.
musl=${HEALTHPROBE_MUSL:-/opt/healthprobe-musl}
if [ "${MULTI:0:1}" = / ]; then
  libdir=$MULTI/lib incdir=$MULTI/include
elif [ -f "/usr/lib/$MULTI/libc.a" ]; then
  libdir=/usr/lib/$MULTI incdir=/usr/include/$MULTI
else
  libdir=$musl/root/usr/lib/$MULTI incdir=$musl/root/usr/include/$MULTI
fi
if [ ! -f "$libdir/libc.a" ]; then
  echo "musl-sysroot: $libdir/libc.a is missing: run build/install-deps.sh (musl-dev:$DEB)" >&2
  exit 3
fi
src=$(rustc "+$toolchain" --print sysroot)/lib/rustlib/src/rust/src/llvm-project/libunwind
if [ ! -d "$src/src" ]; then
  echo "musl-sysroot: $src is missing: rustup component add rust-src --toolchain $toolchain" >&2
  exit 3
fi

dir=$out/$RUST
mkdir -p "$dir/obj"
for f in crt1.o crti.o crtn.o libc.a; do ln -sfn "$libdir/$f" "$dir/$f"; done

# Rebuild libunwind.a when the toolchain (and so its sources) changes.
stamp="$(rustc "+$toolchain" -vV | sed -n 's/^commit-hash: //p') $(clang --version | head -1)"
if [ ! -f "$dir/libunwind.a" ] || [ "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]; then
  # The flags of rustc's bootstrap (build_steps/llvm.rs, Libunwind).
  common=(--target="$CLANG" -nostdlibinc -isystem "$incdir" -I "$src/include"
          -O2 -fPIC -fstrict-aliasing -funwind-tables -fvisibility=hidden
          -D_LIBUNWIND_DISABLE_VISIBILITY_ANNOTATIONS -D_LIBUNWIND_IS_NATIVE_ONLY -DNDEBUG
          -ffile-prefix-map="$src"=/rustc/llvm-project/libunwind -w)
  case $ARCH in s390x) ;; *) common+=(-D__LITTLE_ENDIAN__=1) ;; esac
  case $ARCH in armv6) common+=(-march=armv6 -mfloat-abi=soft) ;; esac
  objs=()
  for f in UnwindLevel1.c UnwindLevel1-gcc-ext.c UnwindRegistersRestore.S UnwindRegistersSave.S; do
    clang "${common[@]}" -std=c99 -c "$src/src/$f" -o "$dir/obj/$f.o"
    objs+=("$dir/obj/$f.o")
  done
  for f in libunwind.cpp Unwind-EHABI.cpp; do
    clang "${common[@]}" -x c++ -std=c++17 -nostdinc++ -fno-exceptions -fno-rtti \
      -c "$src/src/$f" -o "$dir/obj/$f.o"
    objs+=("$dir/obj/$f.o")
  done
  rm -f "$dir/libunwind.a"
  llvm-ar crsD "$dir/libunwind.a" "${objs[@]}"
  echo "$stamp" > "$dir/stamp"
fi
echo "$dir"
