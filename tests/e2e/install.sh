#!/usr/bin/env bash
# Installs what tests/e2e/run.sh needs from Debian: nginx and the PostgreSQL
# server (run.sh starts its own instances; no service is enabled or used), and
# python3's venv module when the python3 on PATH lacks it. For CI (root, fresh
# machine) and developers (through sudo). Does nothing when all are present.
set -euo pipefail

packages=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || packages+=(nginx)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)

if [ ${#packages[@]} = 0 ]; then
    echo "e2e install: nginx, PostgreSQL and python3 venv are present"
    exit 0
fi

sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
# Other jobs on the machine may hold dpkg's lock for a while: wait, do not fail.
apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
echo "e2e install: ${packages[*]}"
"${sudo[@]}" "${apt[@]}" update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${packages[@]}"
