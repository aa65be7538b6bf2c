#!/usr/bin/env bash
# build/release-check.sh     (make release-check, after make image and make wheel)
#
# Stages exactly what .github/workflows/release.yml uploads, in
# target/upload/ (UPLOAD_DIR), and checks it without publishing anything:
#
#   github/   every dist/healthprobe-*linux-* that SHA256SUMS lists, and
#             SHA256SUMS: the GitHub release's files
#   pypi/     the wheels of this version: PyPI's
#   crates/   NAME-VERSION.crate from `cargo package`: the bytes the release
#             workflow compares with its own `cargo package` before publishing
#   oci/      healthprobe-oci.tar and healthprobe-tls-oci.tar, each with its
#             index digest (.digest): what skopeo pushes to ghcr.io
#   release-notes.md  the CHANGELOG.md section of the version
#
# Checks: every mention of the identity agrees with Cargo.toml
# (build/identity.py check, and that the check catches a wrong one); the
# version is the same in Cargo.toml, Cargo.lock, each wheel's name and
# metadata, each binary's --version (natively or under qemu), each image's
# index annotation and config label, and the tag RELEASE_TAG when given;
# sha256sum -c SHA256SUMS, which lists exactly the staged binaries; twine
# check --strict on every wheel, whose script is the binary SHA256SUMS lists;
# cargo publish --dry-run; skopeo inspect of each archive's index and of each
# platform's manifest and config.
# Prints `ok - ...` / `not ok - ...` and `N passed, N failed`; exit 1 on any.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source=build/targets.sh
source "$ROOT/build/targets.sh"
DIST=${DIST_DIR:-$ROOT/dist}
UP=${UPLOAD_DIR:-$ROOT/target/upload}
VENV=${RELEASE_VENV:-$ROOT/target/release-venv}
CARGO=${CARGO:-cargo}
PLATFORMS=${IMAGE_PLATFORMS:-amd64 arm64}
read -r -a platforms <<<"$PLATFORMS"
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; exit $?; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

identity=$(python3 build/identity.py env) || { not_ok "build/identity.py env"; finish; }
eval "$identity"   # NAME VERSION MAJOR REPOSITORY SLUG IMAGE
echo "# $NAME $VERSION, $REPOSITORY, $IMAGE${RELEASE_TAG:+, tag $RELEASE_TAG}"

# ---- stage -------------------------------------------------------------------
rm -rf "$UP" && mkdir -p "$UP"/github "$UP"/pypi "$UP"/crates "$UP"/oci
[ -f "$DIST/SHA256SUMS" ] || { not_ok "no $DIST/SHA256SUMS (make dist)"; finish; }
mapfile -t binaries < <(awk '{print $2}' "$DIST/SHA256SUMS")
for b in "${binaries[@]}"; do cp "$DIST/$b" "$UP/github/" 2>/dev/null || not_ok "SHA256SUMS lists $b, dist/ has none"; done
cp "$DIST/SHA256SUMS" "$UP/github/"
cp "$DIST/$NAME-$VERSION"-py3-none-*.whl "$UP/pypi/" 2>/dev/null || not_ok "no wheel of $VERSION in $DIST (make wheel)"
for a in "$NAME-oci.tar" "$NAME-tls-oci.tar"; do
  if [ -f "$DIST/$a" ]; then cp "$DIST/$a" "$UP/oci/"; else not_ok "no $DIST/$a (make image)"; fi
done
python3 build/identity.py notes > "$UP/release-notes.md" 2>"$work/err" || not_ok "release notes: $(cat "$work/err")"

# ---- the identity ------------------------------------------------------------
if out=$(python3 build/identity.py check ${RELEASE_TAG:+--tag "$RELEASE_TAG"} 2>&1); then ok "$out"
else not_ok "build/identity.py check:"; echo "$out"; fi
# ... and that it would catch a stale mention: a copy with one wrong version.
mkdir -p "$work/id/docs" && cp Cargo.toml CHANGELOG.md "$work/id/"
wrong=$(awk -F. '{print $1 "." $2 "." $3 + 1}' <<<"$VERSION")
printf 'pip install %s==%s\n' "$NAME" "$VERSION" > "$work/id/docs/good.md"
if python3 build/identity.py check --root "$work/id" >/dev/null 2>&1 &&
   printf 'COPY --from=%s:%s /healthprobe /healthprobe\n' "$IMAGE" "$wrong" > "$work/id/docs/stale.md" &&
   ! python3 build/identity.py check --root "$work/id" >/dev/null 2>&1; then
  ok "build/identity.py check refuses a stale mention ($IMAGE:$wrong) and passes a right one"
else
  not_ok "build/identity.py check does not tell $IMAGE:$wrong from $VERSION"
fi

# ---- versions ----------------------------------------------------------------
if [ -n "${RELEASE_TAG:-}" ]; then
  if [ "$RELEASE_TAG" = "v$VERSION" ]; then ok "tag $RELEASE_TAG is v + Cargo.toml's $VERSION"
  else not_ok "tag $RELEASE_TAG, Cargo.toml says $VERSION"; fi
elif tagged=$(git rev-parse -q --verify "refs/tags/v$VERSION^{commit}" 2>/dev/null); then
  if [ "$tagged" = "$(git rev-parse HEAD)" ]; then ok "HEAD is tagged v$VERSION"
  else echo "# v$VERSION is tagged at ${tagged:0:12}, HEAD is another commit: the next release needs a new version"; fi
fi
lock=$(awk -v n="$NAME" '$0 == "name = \"" n "\"" {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ "$lock" = "$VERSION" ]; then ok "Cargo.lock: $NAME $lock"
else not_ok "Cargo.lock says $NAME '$lock', Cargo.toml $VERSION"; fi

# ---- the GitHub release's files ----------------------------------------------
if out=$(cd "$UP/github" && sha256sum -c SHA256SUMS 2>&1); then ok "sha256sum -c SHA256SUMS: $(grep -c ': OK$' <<<"$out") files OK"
else not_ok "sha256sum -c SHA256SUMS:"; echo "$out"; fi
read -r -a arches <<<"$(hp_arches)"
unlisted=()
for f in "$UP"/github/*; do
  f=$(basename "$f")
  [ "$f" = SHA256SUMS ] || printf '%s\n' "${binaries[@]}" | grep -qxF "$f" || unlisted+=("$f")
done
if [ "${#binaries[@]}" = $((2 * ${#arches[@]})) ] && [ ${#unlisted[@]} = 0 ]; then
  ok "github/: ${#binaries[@]} binaries (HTTP and TLS for ${#arches[@]} platforms) and SHA256SUMS"
else
  not_ok "github/: SHA256SUMS lists ${#binaries[@]} binaries, want $((2 * ${#arches[@]})); unlisted: [${unlisted[*]}]"
fi
versions_ok=0
for b in "${binaries[@]}"; do
  arch=${b##*-linux-} want_features=http
  [[ $b == "$NAME-tls-"* ]] && want_features=http+tls
  hp_target "$arch" || { not_ok "$b: unknown platform"; continue; }
  if [ "$QEMU" = - ]; then v=$("$UP/github/$b" --version 2>&1); else v=$($QEMU "$UP/github/$b" --version 2>&1); fi
  if [ "$v" = "$NAME $VERSION ($RUST, $want_features)" ]; then versions_ok=$((versions_ok + 1))
  else not_ok "$b --version says '$v', want '$NAME $VERSION ($RUST, $want_features)'"; fi
done
[ "$versions_ok" = "${#binaries[@]}" ] && ok "every binary's --version: $NAME $VERSION, its own target and features"

# ---- the wheels --------------------------------------------------------------
mapfile -t wheels < <(ls "$UP"/pypi/*.whl 2>/dev/null)
if [ ${#wheels[@]} -gt 0 ] && out=$("$VENV/bin/twine" check --strict "${wheels[@]}" 2>&1); then
  ok "twine check --strict: ${#wheels[@]} wheels PASSED"
else
  not_ok "twine check --strict ${#wheels[@]} wheels:"; echo "${out:-}"
fi
if out=$(python3 - "$UP/github/SHA256SUMS" "$NAME" "$VERSION" "$REPOSITORY" "${wheels[@]}" <<'EOF' 2>&1
import email.parser, hashlib, sys, zipfile
sums, name, version, repository, *wheels = sys.argv[1:]
listed = {line.split()[0] for line in open(sums)}
machines = []
for path in wheels:
    z = zipfile.ZipFile(path)
    base = path.rsplit("/", 1)[1]
    assert base.startswith(f"{name}-{version}-py3-none-"), f"{base}: not {name} {version}"
    meta = email.parser.Parser().parsestr(z.read(f"{name}-{version}.dist-info/METADATA").decode())
    assert (meta["Name"], meta["Version"]) == (name, version), f"{base}: METADATA {meta['Name']} {meta['Version']}"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL", []))
    assert urls.get("Repository") == repository, f"{base}: Repository {urls.get('Repository')}"
    script = hashlib.sha256(z.read(f"{name}-{version}.data/scripts/{name}")).hexdigest()
    assert script in listed, f"{base}: its {name} script is none of SHA256SUMS's binaries"
    machines.append(base.split("musllinux_1_1_", 1)[1].removesuffix(".whl"))
assert len(machines) == 7, f"{len(machines)} wheels: {machines}"
print(", ".join(sorted(machines)))
EOF
); then ok "wheels: $NAME $VERSION, Repository $REPOSITORY, each carrying a binary of SHA256SUMS ($out)"
else not_ok "wheels:"; echo "$out"; fi

# ---- the crate ---------------------------------------------------------------
# --allow-dirty only for a working tree with uncommitted changes (never in the
# release workflow, whose checkout is the tag): the check then says so.
dirty=()
[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=(--allow-dirty)
if $CARGO +stable publish --dry-run --locked "${dirty[@]}" >"$work/publish.log" 2>&1; then
  ok "cargo publish --dry-run --locked${dirty:+ --allow-dirty (uncommitted changes)}: $(grep -o 'Packaged .*' "$work/publish.log")"
else
  not_ok "cargo publish --dry-run:"; tail -20 "$work/publish.log"
fi
crate=target/package/$NAME-$VERSION.crate
if [ -f "$crate" ] && tar -xzOf "$crate" "$NAME-$VERSION/Cargo.toml" | grep -qx "version = \"$VERSION\""; then
  cp "$crate" "$UP/crates/" && ok "crates/$NAME-$VERSION.crate: version $VERSION"
else
  not_ok "no $crate of version $VERSION"
fi

# ---- the images --------------------------------------------------------------
for archive in "$UP"/oci/*.tar; do
  [ -f "$archive" ] || continue
  a=$(basename "$archive")
  if ! skopeo inspect --raw "oci-archive:$archive" > "$work/index.json" 2>"$work/err"; then
    not_ok "skopeo inspect --raw $a: $(cat "$work/err")"; continue
  fi
  digest=$(skopeo manifest-digest "$work/index.json")
  echo "$digest" > "${archive%.tar}.digest"
  tar -xOf "$archive" index.json > "$work/layout-index.json"
  if out=$(python3 - "$work/index.json" "$work/layout-index.json" "$digest" "$VERSION" "${platforms[@]}" <<'EOF' 2>&1
import json, sys
index, layout, digest, version, *platforms = sys.argv[1:]
index, layout = json.load(open(index)), json.load(open(layout))
assert index["mediaType"] == "application/vnd.oci.image.index.v1+json", index["mediaType"]
got = sorted(m["platform"]["architecture"] for m in index["manifests"])
assert got == sorted(platforms), f"platforms {got}"
assert all(m["mediaType"] == "application/vnd.oci.image.manifest.v1+json" for m in index["manifests"])
(top,) = layout["manifests"]
assert top["digest"] == digest, f"layout names {top['digest']}, skopeo read {digest}"
ref = top.get("annotations", {}).get("org.opencontainers.image.ref.name")
assert ref == version, f"ref.name {ref}"
EOF
  ); then ok "skopeo inspect --raw $a: an OCI index of ${PLATFORMS// /+}, $digest, ref.name $VERSION"
  else not_ok "$a: index: $out"; fi
  for arch in "${platforms[@]}"; do
    hp_target "$arch"
    cpu=${PLATFORM#*/} cpu=${cpu%%/*}
    # --raw gives the index whatever the platform: the platform's manifest is
    # the blob the index names for it.
    m=$(python3 -c 'import json,sys; print(next(m["digest"].split(":")[1] for m in json.load(open(sys.argv[1]))["manifests"] if m["platform"]["architecture"] == sys.argv[2]))' "$work/index.json" "$cpu")
    if tar -xOf "$archive" "blobs/sha256/$m" > "$work/manifest.json" 2>"$work/err" &&
       skopeo inspect --config --override-os linux --override-arch "$cpu" "oci-archive:$archive" > "$work/config.json" 2>>"$work/err" &&
       out=$(python3 - "$work/manifest.json" "$work/config.json" "$cpu" "$VERSION" "$REPOSITORY" <<'EOF' 2>&1
import json, sys
manifest, config, cpu, version, repository = sys.argv[1:]
manifest, config = json.load(open(manifest)), json.load(open(config))
assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json", manifest["mediaType"]
assert len(manifest["layers"]) == 1, manifest["layers"]
assert config["architecture"] == cpu and config["os"] == "linux", (config["architecture"], config["os"])
got = config["config"]["Labels"]["org.opencontainers.image.version"]
assert got == version, f"label version {got}"
got = config["config"]["Labels"]["org.opencontainers.image.source"]
assert got == repository, f"label source {got}"
assert config["config"]["Entrypoint"] == ["/healthprobe"], config["config"]["Entrypoint"]
print(manifest["layers"][0]["size"])
EOF
       ); then
      ok "skopeo inspect $a linux/$cpu: OCI manifest, one layer ($out bytes), labels version $VERSION and source $REPOSITORY"
    else
      not_ok "$a linux/$cpu: $(cat "$work/err") ${out:-}"
    fi
  done
done

echo "# target/upload/: $(cd "$UP" && find . -type f | wc -l) files, $(du -sk "$UP" | cut -f1) KiB"
finish
