#!/usr/bin/env bash
# build/image.sh [DIST_DIR]      (make image)
#
# An OCI image archive (an oci-archive: tar of an OCI image layout) without a
# container engine: a multi-platform image index for linux/amd64 and
# linux/arm64 whose images each hold one layer with only /healthprobe and the
# licence text(s) of the repository (LICENSE*, COPYING*). Built from the dist/
# artifacts with tar, gzip, sha256sum and hand-written JSON; deterministic
# (sorted names, uid/gid 0, gzip -n, and one time for the image's creation and
# every file's mtime: SOURCE_DATE_EPOCH, by default the commit time of HEAD, so
# `docker images` shows when the source was committed), so the same binaries
# from the same commit give the same archive bytes.
#
#   dist/healthprobe-oci.tar       from healthprobe-linux-{amd64,arm64}
#   dist/healthprobe-tls-oci.tar   from healthprobe-tls-linux-{amd64,arm64}, when both exist
#
# The image's entrypoint is /healthprobe, but it is meant for
#   COPY --from=IMAGE /healthprobe /healthprobe
# build/verify-image.sh checks an archive with skopeo and by unpacking it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=build/targets.sh
source "$ROOT/build/targets.sh"
dist=${1:-${DIST_DIR:-$ROOT/dist}}
dist=$(cd "$dist" && pwd)
name=healthprobe
version=$(python3 "$ROOT/build/identity.py" get version)
repository=$(python3 "$ROOT/build/identity.py" get repository)   # the label that links a ghcr.io package to its repository
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)}
[ -n "$epoch" ] || { echo "image: not a git checkout: set SOURCE_DATE_EPOCH (the image's creation time)" >&2; exit 1; }
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
PLATFORMS=${IMAGE_PLATFORMS:-amd64 arm64}

mapfile -t licences < <(cd "$ROOT" && ls -1 LICENSE* COPYING* 2>/dev/null | sort)
if [ ${#licences[@]} -eq 0 ]; then
  echo "image: no licence text (LICENSE*, COPYING*) in $ROOT to put beside /healthprobe" >&2
  exit 1
fi

TAR=(tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=ustar)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# blob FILE MEDIATYPE: store FILE as a blob, print its descriptor JSON.
blob() {
  local digest size
  digest=$(sha256sum "$1" | cut -d' ' -f1) size=$(stat -c %s "$1")
  cp "$1" "$layout/blobs/sha256/$digest"
  printf '{"mediaType":"%s","digest":"sha256:%s","size":%s}' "$2" "$digest" "$size"
}

# image VARIANT_PREFIX OUT: one archive from $dist/${prefix}linux-ARCH.
image() {
  local prefix=$1 out=$2 arch manifests=() sep=
  layout=$work/layout
  rm -rf "$layout" && mkdir -p "$layout/blobs/sha256"
  for arch in $PLATFORMS; do
    hp_target "$arch"
    local bin=$dist/${prefix}linux-$ARCH stage=$work/stage-$ARCH
    local os=${PLATFORM%%/*} rest=${PLATFORM#*/} cpu variant=
    cpu=${rest%%/*}; [ "$rest" != "$cpu" ] && variant=${rest#*/}
    rm -rf "$stage" && mkdir -p "$stage"
    install -m 0755 "$bin" "$stage/healthprobe"
    for l in "${licences[@]}"; do install -m 0644 "$ROOT/$l" "$stage/$l"; done
    (cd "$stage" && "${TAR[@]}" -cf "$work/layer-$ARCH.tar" healthprobe "${licences[@]}")
    local diff_id
    diff_id=$(sha256sum "$work/layer-$ARCH.tar" | cut -d' ' -f1)
    gzip -n -9 -c "$work/layer-$ARCH.tar" > "$work/layer-$ARCH.tar.gz"
    local layer config manifest plat
    layer=$(blob "$work/layer-$ARCH.tar.gz" application/vnd.oci.image.layer.v1.tar+gzip)
    plat="\"architecture\":\"$cpu\",\"os\":\"$os\"${variant:+,\"variant\":\"$variant\"}"
    printf '{%s,"created":"%s","config":{"Entrypoint":["/healthprobe"],"Labels":{"org.opencontainers.image.source":"%s","org.opencontainers.image.title":"%s","org.opencontainers.image.version":"%s"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"%s","created_by":"build/image.sh: /healthprobe from %s"}]}' \
      "$plat" "$created" "$repository" "$name" "$version" "$diff_id" "$created" "$(basename "$bin")" > "$work/config-$ARCH.json"
    config=$(blob "$work/config-$ARCH.json" application/vnd.oci.image.config.v1+json)
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":%s,"layers":[%s]}' \
      "$config" "$layer" > "$work/manifest-$ARCH.json"
    manifest=$(blob "$work/manifest-$ARCH.json" application/vnd.oci.image.manifest.v1+json)
    manifests+=("$sep${manifest%\}},\"platform\":{$plat}}")
    sep=,
  done
  local IFS=
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
    "${manifests[*]}" > "$work/index-blob.json"
  local index
  index=$(blob "$work/index-blob.json" application/vnd.oci.image.index.v1+json)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' \
    "${index%\}},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$version\"}}" > "$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"
  find "$layout" -exec touch -h -d "@$epoch" {} +
  (cd "$layout" && "${TAR[@]}" --mode=u+rw,go+r,go-w -cf "$out.new" oci-layout index.json blobs)
  mv "$out.new" "$out"
  index=${index#*\"digest\":\"} index=${index%%\"*}
  echo "image: $out: $(stat -c %s "$out") bytes, ${prefix}linux-{${PLATFORMS// /,}}, index $index"
}

made=0
for prefix in "$name-" "$name-tls-"; do
  ok=1
  for arch in $PLATFORMS; do
    [ -f "$dist/${prefix}linux-$arch" ] || ok=0
  done
  if [ $ok = 1 ]; then image "$prefix" "$dist/${prefix}oci.tar"; made=$((made + 1)); fi
done
if [ $made = 0 ]; then
  echo "image: need $dist/$name-linux-{${PLATFORMS// /,}} (make dist)" >&2
  exit 1
fi
