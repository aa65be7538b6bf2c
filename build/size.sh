#!/usr/bin/env bash
# build/size.sh [DIST_DIR]      (make size)
#
# A Markdown table of the sizes of the artifacts in dist/ (as left by
# build/dist.sh) as a Markdown table, and the size budgets checked:
# amd64 HTTP-only within 600 KiB, amd64 TLS within 1.8 MiB. Exits 1 when a
# budget is exceeded or the amd64 HTTP-only artifact is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=build/targets.sh
source "$ROOT/build/targets.sh"
dist=${1:-${DIST_DIR:-$ROOT/dist}}
name=healthprobe

kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }
cell() { if [ -f "$1" ]; then printf '%s (%s B)' "$(kib "$(stat -c %s "$1")")" "$(stat -c %s "$1")"; else printf '—'; fi; }

echo "| platform | target | HTTP only | HTTP + TLS |"
echo "|---|---|--:|--:|"
for arch in $(hp_arches); do
  hp_target "$arch"
  http=$dist/$name-linux-$ARCH tls=$dist/$name-tls-linux-$ARCH
  [ -f "$http" ] || [ -f "$tls" ] || continue
  echo "| \`$PLATFORM\` | \`$RUST\` | $(cell "$http") | $(cell "$tls") |"
done

fail=0
over() { # over FILE LIMIT_BYTES WHAT
  if [ ! -f "$1" ]; then return 0; fi
  local n; n=$(stat -c %s "$1")
  if [ "$n" -gt "$2" ]; then echo "size: $3 is $n bytes, over its budget of $2" >&2; fail=1; fi
}
if [ ! -f "$dist/$name-linux-amd64" ]; then echo "size: $dist/$name-linux-amd64 missing (make dist)" >&2; exit 1; fi
over "$dist/$name-linux-amd64" $((600 * 1024)) "amd64 HTTP-only"
over "$dist/$name-tls-linux-amd64" $((18 * 1024 * 1024 / 10)) "amd64 TLS"
exit $fail
