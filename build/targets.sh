# shellcheck shell=bash
# The release platforms, sourced by the other build/ scripts.
#
#   ARCH     the name in artifact file names (Docker's, with arm/vN as armvN)
#   RUST     the Rust target triple
#   DEB      the Debian architecture whose musl-dev gives libc.a and crt*.o
#            (unpacked by install-deps.sh into /opt/healthprobe-musl/root)
#   MULTI    the multiarch directory of that musl (/usr/lib/MULTI, /usr/include/MULTI)
#   CLANG    the triple clang compiles C for (ring, libunwind)
#   QEMU     how to run it here ("-" = natively)
#   PLATFORM the OCI platform (os/arch[/variant])
#
# riscv64: Debian 12 has no musl-dev:riscv64 (riscv64 is not a release
# architecture of bookworm), so build/install-deps.sh builds musl for it with
# clang from Debian's musl source package into /opt/healthprobe-musl/riscv64
# (DEB "-": no Debian architecture; MULTI is then that directory).
HP_TARGETS=(
# ARCH    RUST                            DEB     MULTI                  CLANG                          QEMU                   PLATFORM
  "amd64   x86_64-unknown-linux-musl       amd64   x86_64-linux-musl      x86_64-unknown-linux-musl      -                      linux/amd64"
  "arm64   aarch64-unknown-linux-musl      arm64   aarch64-linux-musl     aarch64-unknown-linux-musl     qemu-aarch64           linux/arm64/v8"
  "386     i686-unknown-linux-musl         i386    i386-linux-musl        i686-unknown-linux-musl        qemu-i386              linux/386"
  "armv7   armv7-unknown-linux-musleabihf  armhf   arm-linux-musleabihf   armv7-unknown-linux-musleabihf qemu-arm:-cpu:cortex-a7 linux/arm/v7"
  "armv6   arm-unknown-linux-musleabi      armel   arm-linux-musleabi     armv6-unknown-linux-musleabi   qemu-arm:-cpu:arm1176  linux/arm/v6"
  "ppc64le powerpc64le-unknown-linux-musl  ppc64el powerpc64le-linux-musl powerpc64le-unknown-linux-musl qemu-ppc64le           linux/ppc64le"
  "s390x   s390x-unknown-linux-musl        s390x   s390x-linux-musl       s390x-unknown-linux-musl       qemu-s390x             linux/s390x"
  "riscv64 riscv64gc-unknown-linux-musl    -       /opt/healthprobe-musl/riscv64 riscv64-unknown-linux-musl qemu-riscv64 linux/riscv64"
)

# hp_target ARCH: sets ARCH RUST DEB MULTI CLANG QEMU PLATFORM, or fails.
hp_target() {
  local row
  for row in "${HP_TARGETS[@]}"; do
    read -r ARCH RUST DEB MULTI CLANG QEMU PLATFORM <<<"$row"
    [ "$ARCH" = "$1" ] && { QEMU=${QEMU//:/ }; return 0; }
  done
  echo "unknown ARCH '$1' (known: $(hp_arches))" >&2
  return 1
}

hp_arches() {
  local row
  for row in "${HP_TARGETS[@]}"; do printf '%s ' "${row%% *}"; done
}
