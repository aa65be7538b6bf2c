#!/usr/bin/env bash
# ensure-venv.sh [EXTRA_REQUIREMENTS_FILE...]
# Creates (or refreshes) the virtualenv for the reference app at $REPO/.venv,
# or at $HEALTHPROBE_VENV, from requirements.txt and any extra requirements
# files. Prints the venv's path. Installs only when those files changed since
# the last install.
set -euo pipefail

app_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$app_dir/../.." && pwd)
venv=${HEALTHPROBE_VENV:-$repo/.venv}
requirements=("$app_dir/requirements.txt" "$@")
stamp=$venv/.requirements-installed

python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "ensure-venv: $python not found (Python 3.10 or newer is needed)" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
    echo "ensure-venv: creating $venv" >&2
    "$python" -m venv "$venv" >&2
fi

want=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
# The stamp lists every set of requirements installed so far: pip never
# removes a package, so a set installed once stays installed.
if ! grep -qx "$want" "$stamp" 2>/dev/null; then
    echo "ensure-venv: installing ${requirements[*]}" >&2
    args=()
    for file in "${requirements[@]}"; do args+=(-r "$file"); done
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" >&2
    echo "$want" >> "$stamp"
fi

# The package healthprobe (healthprobe.django) from this repository's python/
# directory, by a path entry: the app runs the code beside it. A project of
# its own gets it from `pip install healthprobe` instead.
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ "$(cat "$site/healthprobe-source.pth" 2>/dev/null)" != "$repo/python" ]; then
    echo "$repo/python" > "$site/healthprobe-source.pth"
fi

echo "$venv"
