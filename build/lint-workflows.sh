#!/usr/bin/env bash
# build/lint-workflows.sh      (make lint-workflows; part of make test)
#
# Every workflow in .github/workflows/ through the two checkers of GitHub
# Actions, both pinned in build/release-requirements.txt and installed into
# target/release-venv by build/install-deps.sh release:
#   actionlint  syntax, expressions, job needs and outputs, runner labels, and
#               each run: script through shellcheck
#   zizmor      security: template injection, unpinned actions, credentials
#               kept by checkout, excessive permissions, cache poisoning, …
#               (--offline: the audits that need no GitHub API)
# Prints `ok - ...` / `not ok - ...` and `N passed, N failed`; exit 1 on any.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
VENV=${RELEASE_VENV:-$ROOT/target/release-venv}
passed=0 failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }

mapfile -t workflows < <(ls .github/workflows/*.yml .github/workflows/*.yaml 2>/dev/null)
for want in ci.yml release.yml; do
  [ -f ".github/workflows/$want" ] || not_ok "no .github/workflows/$want"
done
command -v shellcheck >/dev/null || not_ok "no shellcheck on PATH: actionlint would skip the run: scripts"

for wf in "${workflows[@]}"; do
  if out=$("$VENV/bin/actionlint" -shellcheck="$(command -v shellcheck)" "$wf" 2>&1); then
    ok "actionlint $wf ($("$VENV/bin/actionlint" -version | head -1))"
  else
    not_ok "actionlint $wf"; echo "$out"
  fi
  if out=$("$VENV/bin/zizmor" --offline --no-progress "$wf" 2>&1); then
    ok "zizmor --offline $wf ($("$VENV/bin/zizmor" --version)): $(tail -1 <<<"$out")"
  else
    not_ok "zizmor --offline $wf"; echo "$out"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
