#!/usr/bin/env bash
# build/install-deps.sh [GROUP...]     (the Makefile's deps-GROUP targets)
#
# Everything the Makefile's targets need on a fresh Debian (bookworm) machine
# with rustup, installed idempotently: a second run checks and returns in a
# second or so. Root, or a user with sudo. GROUP (default: all of them):
#
#   build   make static/dist: the pinned nightly (build/nightly-toolchain) with
#           rust-src for -Z build-std; clang + llvm (ring's C, libunwind),
#           musl-tools/musl-dev (amd64's libc.a and crt*.o), file + binutils
#           (the static checks)
#   test    unshare (util-linux) for empty roots and network namespaces, ip
#           (iproute2) inside them, strace for least privilege,
#           openssl for the TLS tests' certificates, ca-certificates (a PEM
#           bundle the strace test trusts), python3's venv for the reference app
#   e2e     nginx, the PostgreSQL server (tests/e2e/run.sh starts its own) and
#           redis-server (tests/harness and tests/celery start their own)
#   dist    qemu-user (foreign binaries), skopeo (the OCI archive), the foreign
#           musl-dev packages (unpacked into /opt/healthprobe-musl, never
#           installed), musl built for riscv64, stable's prebuilt musl targets
#           for DIST_STD=stable, python3's venv for make wheel's build tools
#   docker  the Docker suite's engine, Compose and debootstrap
#   release skopeo (the OCI archives), shellcheck (actionlint runs it on each
#           run: script), and the pinned Python tools of
#           build/release-requirements.txt (twine, zizmor, actionlint) in
#           target/release-venv, for make release-check and make lint-workflows
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NIGHTLY=${DIST_NIGHTLY:-$(cat "$ROOT/build/nightly-toolchain")}
MUSL=/opt/healthprobe-musl                       # build/musl-sysroot.sh looks here
FOREIGN=(arm64 i386 armhf armel ppc64el s390x)   # musl-dev for these, unpacked privately
STABLE_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl i686-unknown-linux-musl)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build test e2e dist docker release)

sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
# Other jobs on the machine may hold dpkg's lock for a while: wait, do not fail.
apt=(apt-get -q -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

pkgs=() dist=0 build=0 release=0
for g in "${groups[@]}"; do
  case $g in
    build)  build=1; pkgs+=(clang llvm musl-tools musl-dev file binutils) ;;
    test)   pkgs+=(util-linux iproute2 strace openssl ca-certificates python3-venv) ;;
    e2e)    pkgs+=(nginx postgresql redis-server python3-venv) ;;
    dist)   dist=1 build=1; pkgs+=(clang llvm musl-tools musl-dev file binutils qemu-user skopeo python3 python3-venv) ;;
    docker) pkgs+=(docker.io docker-compose debootstrap skopeo util-linux iproute2 python3) ;;
    release) release=1; pkgs+=(skopeo shellcheck git python3 python3-venv) ;;
    *) echo "install-deps: unknown group '$g' (build test e2e dist docker release)" >&2; exit 2 ;;
  esac
done

# ---- Debian packages ---------------------------------------------------------
missing=()
for p in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  "${sudo[@]}" "${apt[@]}" update || true   # a broken index elsewhere must not stop us; install tells
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
fi

# ---- rustup: the pinned nightly, rust-src ------------------------------------
if [ $build = 1 ]; then
  rustup toolchain list | grep -q "^$NIGHTLY" ||
    rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src
  rustup component list --installed --toolchain "$NIGHTLY" | grep -q '^rust-src' ||
    rustup component add rust-src --toolchain "$NIGHTLY"
fi

# ---- the release tools: a venv of pinned packages from PyPI -------------------
# Reinstalled only when build/release-requirements.txt changes.
if [ $release = 1 ]; then
  venv=$ROOT/target/release-venv
  want=$(sha256sum < "$ROOT/build/release-requirements.txt" | cut -d' ' -f1)
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/build/release-requirements.txt"
    echo "$want" > "$venv/.installed"
    echo "install-deps: $("$venv/bin/twine" --version | head -1); $("$venv/bin/zizmor" --version); $("$venv/bin/actionlint" -version | head -1)"
  fi
fi

[ $dist = 1 ] || exit 0

# ---- the foreign musl libraries ----------------------------------------------
# The foreign musl-dev packages (and musl's source, for riscv64) come through a
# private apt configuration: Debian's main archive only, its own lists and
# cache under $MUSL/apt. The machine's dpkg gets no foreign architecture, so
# its own `apt-get update` stays as it was (with foreign architectures added
# it fails here: the security mirror's i386/armhf/ppc64el indexes are often
# caught mid-sync), and nothing is installed into /usr.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
P=$MUSL/apt
apt_private=("${sudo[@]}" apt-get -q -o Dir::Etc::SourceList="$P/sources.list" -o Dir::Etc::SourceParts="$P/none"
             -o Dir::State::Lists="$P/lists" -o Dir::Cache="$P/cache" -o APT::Architecture=amd64
             -o APT::Architectures::=amd64)
for a in "${FOREIGN[@]}"; do apt_private+=(-o "APT::Architectures::=$a"); done
private_update() {
  [ -f "$P/updated" ] && return 0
  "${sudo[@]}" mkdir -p "$P/lists/partial" "$P/cache/archives/partial" "$P/none" "$P/debs"
  # The machine's own Debian mirror: the first archive its apt sources name.
  mirror=$(awk '/^URIs:/ && !/security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && !/security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || { echo "install-deps: no Debian archive in the apt sources" >&2; exit 1; }
  printf '%s\n' \
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename main" \
    "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $codename main" |
    "${sudo[@]}" tee "$P/sources.list" >/dev/null
  "${apt_private[@]}" update >/dev/null
  "${sudo[@]}" touch "$P/updated"
}
musl_version=$(dpkg-query -W -f='${Version}' "musl-dev:$(dpkg --print-architecture)")
for a in "${FOREIGN[@]}"; do
  stamp=$MUSL/root/.musl-dev-$a-$musl_version
  [ -f "$stamp" ] && continue
  private_update
  (cd "$P/debs" && "${apt_private[@]}" download "musl-dev:$a=$musl_version" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  "${sudo[@]}" dpkg-deb -x "$P/debs/musl-dev_${musl_version}_$a.deb" "$MUSL/root"
  "${sudo[@]}" touch "$stamp"
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
    make -j"$(nproc)" && "${sudo[@]}" make install) > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
  rm -rf "$work"
  echo "install-deps: built musl $musl_version for riscv64 into $MUSL/riscv64"
fi

# The private lists (~150 MB) are only needed again for another musl version.
[ -f "$P/updated" ] && "${sudo[@]}" rm -rf "$P/lists" "$P/cache" "$P/updated"

installed=$(rustup target list --installed --toolchain stable)
for t in "${STABLE_TARGETS[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add --toolchain stable "$t"
done
echo "install-deps: ready ($(rustc +"$NIGHTLY" --version); $(clang --version | head -1); $(qemu-aarch64 --version | head -1))"
