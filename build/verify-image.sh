#!/usr/bin/env bash
# build/verify-image.sh [ARCHIVE...]   (part of make image; default dist/*oci.tar)
#
# Checks an archive made by build/image.sh with Debian's skopeo, which reads
# it independently of the script that wrote it:
#   - `skopeo inspect --raw` gives an OCI image index with linux/amd64 and
#     linux/arm64 images;
#   - for each platform, skopeo resolves the image (`skopeo inspect
#     --override-arch`) and copies it out (`skopeo copy ... dir:`), the layer is
#     unpacked, and it holds exactly /healthprobe (mode 0755, uid 0) and the
#     licence text(s), with /healthprobe byte-identical to the dist artifact;
#   - the unpacked binary runs (natively or under qemu) and says its triple;
#   - the image's creation time and the layer's file times are the commit's
#     (SOURCE_DATE_EPOCH, by default the commit time of HEAD), not 1970.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=build/targets.sh
source "$ROOT/build/targets.sh"
dist=${DIST_DIR:-$ROOT/dist}
PLATFORMS=${IMAGE_PLATFORMS:-amd64 arm64}
if [ $# -eq 0 ]; then set -- "$dist"/*oci.tar; fi
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || true)}
[ -n "$epoch" ] || { echo "verify-image: not a git checkout: set SOURCE_DATE_EPOCH" >&2; exit 1; }
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
[ -f "$1" ] || { echo "verify-image: no archive (make image)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "verify-image: $*" >&2; exit 1; }

for archive in "$@"; do
  archive=$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")
  prefix=$(basename "$archive" oci.tar)          # healthprobe- or healthprobe-tls-
  skopeo inspect --raw "oci-archive:$archive" > "$work/index.json"
  python3 - "$work/index.json" $PLATFORMS <<'EOF' || fail "$archive: bad index"
import json, sys
index = json.load(open(sys.argv[1]))
assert index["mediaType"] == "application/vnd.oci.image.index.v1+json", index
got = sorted(m["platform"]["architecture"] for m in index["manifests"])
assert got == sorted(sys.argv[2:]), got
assert all(m["platform"]["os"] == "linux" for m in index["manifests"])
EOF
  for arch in $PLATFORMS; do
    hp_target "$arch"
    cpu=${PLATFORM#*/} cpu=${cpu%%/*}
    skopeo inspect --override-os linux --override-arch "$cpu" "oci-archive:$archive" > "$work/inspect.json"
    python3 - "$work/inspect.json" "$cpu" "$created" <<'EOF' || fail "$archive: $cpu: skopeo inspect"
import json, sys
i = json.load(open(sys.argv[1]))
assert i["Architecture"] == sys.argv[2] and i["Os"] == "linux" and len(i["Layers"]) == 1, i
assert i["Created"] == sys.argv[3], f"created {i['Created']}, want {sys.argv[3]} (the commit's time)"
EOF
    rm -rf "$work/img" "$work/root" && mkdir -p "$work/root"
    skopeo copy -q --override-os linux --override-arch "$cpu" "oci-archive:$archive" "dir:$work/img"
    layer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0]["digest"].split(":")[1])' "$work/img/manifest.json")
    listing=$(TZ=UTC tar -tzvf "$work/img/$layer")
    stamp=$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M')
    [ "$(echo "$listing" | grep -vc " $stamp ")" = 0 ] || fail "$archive: $cpu: file times are not $stamp: $listing"
    names=$(tar -tzf "$work/img/$layer" | sort | tr '\n' ' ')
    want=$( (echo healthprobe; cd "$ROOT" && ls -1 LICENSE* COPYING* 2>/dev/null || true) | sort | tr '\n' ' ')
    [ "$names" = "$want" ] || fail "$archive: $cpu: layer holds '$names', want '$want'"
    echo "$listing" | grep -q '^-rwxr-xr-x 0/0 .* healthprobe$' || fail "$archive: $cpu: /healthprobe mode/owner: $listing"
    tar -xzf "$work/img/$layer" -C "$work/root"
    cmp "$work/root/healthprobe" "$dist/${prefix}linux-$ARCH" || fail "$archive: $cpu: /healthprobe differs from dist"
    if [ "$QEMU" = - ]; then v=$("$work/root/healthprobe" --version); else v=$($QEMU "$work/root/healthprobe" --version); fi
    case $v in *"$RUST"*) ;; *) fail "$archive: $cpu: --version says '$v'" ;; esac
    echo "verify-image: $(basename "$archive") $PLATFORM: created $created, layer $names ok; $v"
  done
done
