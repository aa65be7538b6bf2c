#!/usr/bin/env bash
# build/install-deps.sh — what make dist, size, image, test-qemu and repro need,
# installed from Debian and rustup. Idempotent (quick when all is there); CI
# (.ci/run) calls it. Run as root.
#
# Debian: clang + llvm (llvm-ar) compile ring's C/asm and libunwind for every
#   target; musl-tools/musl-dev give amd64's libc.a and crt*.o, and musl-dev of
#   each foreign Debian architecture (downloaded, unpacked into
#   /opt/healthprobe-musl/root, never installed) gives theirs; riscv64 has no
#   musl-dev in Debian 12, so the same musl is built for it from Debian's
#   source package into /opt/healthprobe-musl/riscv64; qemu-user runs the
#   foreign binaries; skopeo checks the OCI archive; file/binutils check that
#   artifacts are static; python3 reads JSON.
# rustup: nightly's rust-src (for -Z build-std and libunwind's sources); the
#   stable musl targets for `make static` and DIST_STD=stable.
set -euo pipefail

PKGS=(clang llvm file binutils python3 qemu-user skopeo musl-tools musl-dev)
FOREIGN=(arm64 i386 armhf armel ppc64el s390x)   # musl-dev for these, unpacked privately
RUST_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl)
NIGHTLY=${DIST_NIGHTLY:-nightly}
MUSL=/opt/healthprobe-musl                       # build/musl-sysroot.sh looks here

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -q || true    # a broken index elsewhere must not stop us; install tells
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends "${missing[@]}"
fi

# The foreign musl-dev packages (and musl's source, for riscv64) come through a
# private apt configuration: Debian's main archive only, its own lists and
# cache under $MUSL/apt. The machine's dpkg gets no foreign architecture, so
# its own `apt-get update` stays as it was (with foreign architectures added
# it fails here: the security mirror's i386/armhf/ppc64el indexes are often
# caught mid-sync), and nothing is installed into /usr.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
P=$MUSL/apt
apt_private=(apt-get -q -o Dir::Etc::SourceList="$P/sources.list" -o Dir::Etc::SourceParts="$P/none"
             -o Dir::State::Lists="$P/lists" -o Dir::Cache="$P/cache" -o APT::Architecture=amd64
             -o APT::Architectures::=amd64)
for a in "${FOREIGN[@]}"; do apt_private+=(-o "APT::Architectures::=$a"); done
private_update() {
  [ -f "$P/updated" ] && return 0
  mkdir -p "$P/lists/partial" "$P/cache/archives/partial" "$P/none" "$P/debs"
  # The machine's own Debian mirror: the first archive its apt sources name.
  mirror=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && !/security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "install-deps: no Debian archive in the apt sources" >&2; exit 1; }
  printf '%s\n' \
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename main" \
    "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename main" \
    > "$P/sources.list"
  "${apt_private[@]}" update >/dev/null
  touch "$P/updated"
}
musl_version=$(dpkg-query -W -f='${Version}' "musl-dev:$(dpkg --print-architecture)")
for a in "${FOREIGN[@]}"; do
  stamp=$MUSL/root/.musl-dev-$a-$musl_version
  [ -f "$stamp" ] && continue
  private_update
  (cd "$P/debs" && "${apt_private[@]}" download "musl-dev:$a=$musl_version" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  dpkg-deb -x "$P/debs/musl-dev_${musl_version}_$a.deb" "$MUSL/root"
  touch "$stamp"
  echo "install-deps: musl-dev:$a $musl_version unpacked into $MUSL/root"
done

# riscv64: bookworm has no musl-dev:riscv64, so build the same musl version for
# it with clang from Debian's own source package.
if [ ! -f "$MUSL/riscv64/lib/libc.a" ]; then
  private_update
  work=$(mktemp -d)
  (cd "$work" && "${apt_private[@]}" source --download-only "musl=$musl_version" >/dev/null 2>&1 &&
    tar -xzf musl_*.orig.tar.gz)
  (cd "$work"/musl-*/ &&
    ./configure --target=riscv64-linux-musl --prefix="$MUSL/riscv64" --disable-shared \
      CC="clang --target=riscv64-unknown-linux-musl" AR=llvm-ar RANLIB=llvm-ranlib &&
    make -j"$(nproc)" && make install) > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
  rm -rf "$work"
  echo "install-deps: built musl $musl_version for riscv64 into $MUSL/riscv64"
fi

# The private lists (~150 MB) are only needed again for another musl version.
[ -f "$P/updated" ] && rm -rf "$P/lists" "$P/cache" "$P/updated"

installed=$(rustup target list --installed --toolchain stable)
for t in "${RUST_TARGETS[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add --toolchain stable "$t"
done
rustup toolchain list | grep -q "^$NIGHTLY" || rustup toolchain install "$NIGHTLY" --profile minimal
rustup component list --installed --toolchain "$NIGHTLY" | grep -q '^rust-src' ||
  rustup component add rust-src --toolchain "$NIGHTLY"
echo "install-deps: ready ($(rustc +"$NIGHTLY" --version); $(clang --version | head -1); $(qemu-aarch64 --version | head -1))"
