#!/usr/bin/env bash
# make lint-docker: the deployment examples checked by their ecosystems' own
# tools. hadolint on Dockerfile.example; kubernetes-validate on
# examples/kubernetes.yaml for the oldest and the newest Kubernetes version it
# knows; Compose's `config` on examples/compose.yaml and
# examples/compose-workers.yaml, each alone and with the override make
# test-docker uses. hadolint and kubernetes-validate come from
# PyPI into the test virtualenv (examples/django/ensure-venv.sh).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

venv=$("$repo/examples/django/ensure-venv.sh" "$here/requirements.txt") || { echo "lint-docker: could not set up the virtualenv" >&2; exit 1; }
if ! command -v docker-compose >/dev/null; then
    bash "$repo/build/install-deps.sh" docker >&2 || exit 1
fi

passed=0 failed=0
check() { # check LABEL COMMAND...
    local label=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "ok - $label"
        passed=$((passed + 1))
    else
        echo "not ok - $label"
        sed 's/^/#   /' <<<"$out"
        failed=$((failed + 1))
    fi
}

check "hadolint $("$venv/bin/hadolint" --version | grep -o '[0-9][0-9.]*' | head -n1): Dockerfile.example" \
    "$venv/bin/hadolint" --no-color Dockerfile.example
read -r oldest newest < <("$venv/bin/python" -c '
from kubernetes_validate.utils import all_versions
v = sorted(set(all_versions()), key=lambda s: tuple(map(int, s.split("."))))
print(v[0], v[-1])')
for version in "$oldest" "$newest"; do
    check "kubernetes-validate --strict, Kubernetes $version: examples/kubernetes.yaml" \
        "$venv/bin/kubernetes-validate" --strict --kubernetes-version "$version" examples/kubernetes.yaml
done
compose_version=$(docker-compose version --short 2>/dev/null)
check "docker-compose $compose_version config: examples/compose.yaml" \
    docker-compose -f examples/compose.yaml config -q
check "docker-compose $compose_version config: examples/compose.yaml + tests/docker/compose.test.yaml" \
    docker-compose -f examples/compose.yaml -f tests/docker/compose.test.yaml config -q
check "docker-compose $compose_version config: examples/compose-workers.yaml" \
    docker-compose -f examples/compose-workers.yaml config -q
check "docker-compose $compose_version config: examples/compose-workers.yaml + tests/docker/compose-workers.test.yaml" \
    docker-compose -f examples/compose-workers.yaml -f tests/docker/compose-workers.test.yaml config -q
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
