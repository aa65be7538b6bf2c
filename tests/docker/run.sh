#!/usr/bin/env bash
# make test-docker: the probe under a real Docker Engine (README, "Tested in").
#
# Starts its own dockerd (Debian's docker.io) as root inside a network
# namespace that this script creates, so every bridge Docker makes (the default
# one, Compose's, Swarm's) exists only there and no packet can leave the
# machine; its socket, data root and exec root are under a temporary directory,
# and it is stopped by its pid at the end, whatever happens. With
# HEALTHPROBE_DOCKER_HOST=unix:///PATH it uses an engine that already answers
# instead (Swarm then needs that engine not to be in a swarm already).
#
# No registry is used: every image is built here, from
#   - the static probe (dist/, `make static`) and the OCI archive (`make image`);
#   - Debian roots made by tests/images/debian-root.sh (cached tarballs) and
#     `docker import`;
#   - Python wheels downloaded on the host into a cached wheelhouse and
#     installed in the builds with pip --no-index.
# Cache: $HEALTHPROBE_CACHE (default /var/cache/healthprobe).
# Prints one line per case and `N passed, N failed`; exits 1 if any failed.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${HEALTHPROBE_CACHE:-/var/cache/healthprobe}
export HEALTHPROBE_CACHE=$cache
bin=${HEALTHPROBE_BIN:-$repo/dist/healthprobe-linux-amd64}
oci=${HEALTHPROBE_OCI:-$repo/dist/healthprobe-oci.tar}
health_py="python3 $here/health.py"
started=$(date +%s)

die() { echo "test-docker: $*" >&2; exit 1; }
note() { echo "# $*"; }

passed=0 failed=0 skipped=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
skip() { echo "skip - $*"; skipped=$((skipped + 1)); }

[ "$(id -u)" = 0 ] || die "needs root: it starts dockerd and runs debootstrap"
[ -x "$bin" ] || die "no static probe at $bin: run make static-http first"

# --- what the suite needs, installed when missing -----------------------------
bash "$repo/build/install-deps.sh" docker >&2 || die "could not install what the Docker tests need (build/install-deps.sh docker)"

tmp=$(mktemp -d /tmp/hp-docker.XXXXXX)
export DOCKER_CONFIG=$tmp/config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
dockerd_pid= netns_pid= swarm= compose_project=

cleanup() {
    set +e
    if [ -n "$compose_project" ]; then
        docker-compose -p "$compose_project" "${compose_files[@]}" down -v --remove-orphans >/dev/null 2>&1
    fi
    [ -n "$swarm" ] && docker swarm leave --force >/dev/null 2>&1
    ids=$(docker ps -aq --filter label=healthprobe-test 2>/dev/null)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
    if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
        kill -TERM "$dockerd_pid"
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$dockerd_pid" 2>/dev/null && kill -KILL "$dockerd_pid"
    fi
    if [ -n "$netns_pid" ]; then
        kill -0 "$netns_pid" 2>/dev/null && kill -KILL "$netns_pid"
        wait "$netns_pid" 2>/dev/null
    fi
    # Mounts the engine left (network namespaces under the exec root).
    grep -o " $tmp/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the engine ---------------------------------------------------------------
# buildx (Debian's docker-buildx, from a cached Debian root): BuildKit builds
# only the stages a target needs, so the app stage never compiles the probe.
buildx_root=$(bash "$repo/tests/images/debian-root.sh" docker-buildx) \
    || die "could not build a Debian root with docker-buildx (see above)"
tar -xOf "$buildx_root" ./usr/libexec/docker/cli-plugins/docker-buildx >"$DOCKER_CONFIG/cli-plugins/docker-buildx" \
    && chmod +x "$DOCKER_CONFIG/cli-plugins/docker-buildx" \
    || die "no docker-buildx in $buildx_root"
export DOCKER_BUILDKIT=1 BUILDX_NO_DEFAULT_ATTESTATIONS=1

own_engine=
if [ -n "${HEALTHPROBE_DOCKER_HOST:-}" ]; then
    export DOCKER_HOST=$HEALTHPROBE_DOCKER_HOST
    docker version >/dev/null 2>&1 || die "no engine answers at $DOCKER_HOST"
else
    own_engine=1
    export DOCKER_HOST=unix://$tmp/docker.sock
    cat >"$tmp/dockerd.sh" <<EOF
ip link set lo up || exit 1
exec dockerd --data-root '$tmp/data' --exec-root '$tmp/exec' -H 'unix://$tmp/docker.sock' \
    --pidfile '$tmp/dockerd.pid' --storage-driver=vfs --iptables=false --ip6tables=false \
    --userland-proxy=true
EOF
    unshare --net --fork bash "$tmp/dockerd.sh" >"$tmp/dockerd.log" 2>&1 </dev/null &
    netns_pid=$!
    for _ in $(seq 1 150); do
        docker version >/dev/null 2>&1 && break
        kill -0 "$netns_pid" 2>/dev/null || break
        sleep 0.2
    done
    docker version >/dev/null 2>&1 \
        || die "dockerd did not start: $(grep -m1 -iE 'level=(fatal|error)|failed' "$tmp/dockerd.log" || tail -n1 "$tmp/dockerd.log")"
    dockerd_pid=$(cat "$tmp/dockerd.pid")
fi
engine=$(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}}, client {{.Client.Version}} negotiated {{.Client.APIVersion}})')
note "engine: dockerd $engine"

# --- images -------------------------------------------------------------------
# One build with BuildKit; output only when it fails.
build() {
    local log=$tmp/build.log
    if ! docker build "$@" >"$log" 2>&1; then
        echo "test-docker: docker build $* failed:" >&2
        tail -n 15 "$log" >&2
        return 1
    fi
}

import_root() { # import_root TAG [EXTRA_PACKAGE...]
    local tag=$1 tarball
    shift
    tarball=$(bash "$repo/tests/images/debian-root.sh" "$@") \
        || die "base image $tag: the Debian root could not be built (see above)"
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tarball" "$tag" >/dev/null || die "base image $tag: docker import of $tarball failed"
}

# Wheels for the images, for CPython 3.13 on x86_64 glibc, downloaded once.
wheelhouse() { # wheelhouse REQUIREMENTS... -> prints the directory
    local key dir
    key=$(cat "$@" | sha256sum | cut -c1-16)
    dir=$cache/wheelhouse-$key
    if [ ! -f "$dir/.complete" ]; then
        mkdir -p "$dir"
        local args=()
        for f in "$@"; do args+=(-r "$f"); done
        python3 -m pip download --quiet --disable-pip-version-check --dest "$dir" \
            --only-binary=:all: --implementation cp --python-version 3.13 --abi cp313 --abi abi3 --abi none \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            --platform any "${args[@]}" >&2 || return 1
        touch "$dir/.complete"
    fi
    echo "$dir"
}

note "building images (Debian trixie roots, wheelhouse, probe and app stages)"
import_root hp-test/debian
wheels=$(wheelhouse "$repo/examples/django/requirements.txt") || die "pip download of the app's wheels failed"

# The stand-in for python:3.12-slim: python and pip on PATH (a venv), pip
# pointed at the wheelhouse and never at an index.
python_image() { # python_image TAG BASE
    local ctx=$tmp/python-ctx
    rm -rf "$ctx" && mkdir -p "$ctx" && cp -r "$wheels" "$ctx/wheelhouse"
    cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE
FROM ${BASE}
RUN python3 -m venv /opt/venv
COPY wheelhouse /wheelhouse
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1
EOF
    build -t "$1" --build-arg BASE="$2" "$ctx"
}
python_image hp-test/python hp-test/debian || die "base image hp-test/python could not be built"

example_args=(-f "$repo/Dockerfile.example" --build-arg PROBE_FROM=dist --build-arg PYTHON_IMAGE=hp-test/python)
build "${example_args[@]}" --target probe -t hp-test/probe "$repo" || die "the probe stage of Dockerfile.example did not build"
t0=$(date +%s.%N)
build "${example_args[@]}" --target app -t hp-test/app "$repo" && app_built=1 || app_built=
app_build_seconds=$(python3 -c "import time; print(round(time.time() - $t0, 1))")

# --- helpers --------------------------------------------------------------------
run_c() { # run_c NAME [docker run args...]: detached, labelled for cleanup
    local name=$1
    shift
    docker rm -f "$name" >/dev/null 2>&1
    docker run -d --name "$name" --label healthprobe-test "$@" >/dev/null
}
status_of() { docker inspect "$1" 2>/dev/null | $health_py status; }
last_of() { docker inspect "$1" 2>/dev/null | $health_py last; }

# wait_status CONTAINER STATUS SECONDS: 0 once the health status is STATUS.
wait_status() {
    local deadline=$(($(date +%s) + $3))
    while [ "$(date +%s)" -le "$deadline" ]; do
        [ "$(status_of "$1")" = "$2" ] && return 0
        sleep 0.3
    done
    return 1
}
# Fast health-check timing for the tests; the command, Docker's timeout and
# the retries stay as the image says.
fast=(--health-interval=1s --health-start-period=10s)

# --- 1. the probe stage in front of a static server ------------------------------
case1() {
    local name="probe stage: FROM scratch image with busybox httpd goes starting -> healthy, exit codes in inspect"
    local ctx=$tmp/static-ctx
    mkdir -p "$ctx/www" && echo ok >"$ctx/www/healthz"
    tar -xOf "$services_root" ./usr/bin/busybox >"$ctx/busybox" && chmod +x "$ctx/busybox" \
        || { not_ok "$name (no static busybox in the services root)"; return; }
    cat >"$ctx/Dockerfile" <<'EOF'
FROM hp-test/probe
COPY busybox /busybox
COPY www /www
ENTRYPOINT ["/busybox", "httpd", "-f", "-p", "8000", "-h", "/www"]
EOF
    build -t hp-test/static "$ctx" || { not_ok "$name (build failed)"; return; }
    local test
    test=$(docker image inspect hp-test/static | $health_py test)
    [ "$test" = '["CMD", "/healthprobe", "--timeout", "2s", "http://localhost:8000/healthz"]' ] \
        || { not_ok "$name (HEALTHCHECK not the file's: $test)"; return; }
    run_c hp-static --network none "${fast[@]}" hp-test/static || { not_ok "$name (run failed)"; return; }
    local first
    first=$(status_of hp-static)
    if [ "$first" != starting ]; then not_ok "$name (first status $first, not starting)"; return; fi
    if ! wait_status hp-static healthy 20; then not_ok "$name (not healthy in 20 s: $(last_of hp-static))"; return; fi
    local codes
    codes=$(docker inspect hp-static | $health_py codes)
    case " $codes" in *" 0"*) ok "$name (exit codes: $codes)" ;; *) not_ok "$name (exit codes: $codes)" ;; esac
    docker rm -f hp-static >/dev/null
}

# --- 2, 3. the app stage ---------------------------------------------------------
case2() {
    local name="app stage: builds offline on the local Debian base, Gunicorn as nobody, HEALTHCHECK as written -> healthy"
    [ -n "$app_built" ] || { not_ok "$name (build failed)"; return; }
    local test user
    test=$(docker image inspect hp-test/app | $health_py test)
    [ "$test" = '["CMD", "/usr/local/bin/healthprobe", "--timeout", "2s", "/healthz"]' ] \
        || { not_ok "$name (HEALTHCHECK not the file's: $test)"; return; }
    run_c hp-app --network none "${fast[@]}" \
        -v "$here/healthsite_fault.py:/app/healthsite_fault.py:ro" -e DJANGO_SETTINGS_MODULE=healthsite_fault \
        hp-test/app || { not_ok "$name (run failed)"; return; }
    if ! wait_status hp-app healthy 30; then
        not_ok "$name (not healthy in 30 s: $(last_of hp-app); $(docker logs hp-app 2>&1 | tail -n 2 | tr '\n' ' '))"
        return
    fi
    user=$(docker top hp-app -eo pid,user,args | awk '/gunicorn/ {print $2}' | sort -u | paste -sd, -)
    [ "$user" = nobody ] || [ "$user" = 65534 ] || { not_ok "$name (gunicorn runs as $user)"; return; }
    ok "$name (built in ${app_build_seconds}s)"
}

case3() {
    local name="app stage: healthy -> unhealthy -> healthy with the probe's own lines in .State.Health.Log"
    [ "$(status_of hp-app)" = healthy ] || { not_ok "$name (app not healthy to begin with)"; return; }
    local pids line1 line2
    pids=$(docker top hp-app -eo pid,args | awk '/gunicorn/ {print $1}')
    kill -STOP $pids
    if ! wait_status hp-app unhealthy 30; then kill -CONT $pids; not_ok "$name (SIGSTOP: not unhealthy: $(last_of hp-app))"; return; fi
    line1=$(last_of hp-app)
    kill -CONT $pids
    case "$line1" in
        1$'\t'*"no complete response headers within 2s (timeout)"*) ;;
        *) not_ok "$name (SIGSTOP: the log says '$line1', not the probe's timeout line)"; return ;;
    esac
    if ! wait_status hp-app healthy 30; then not_ok "$name (SIGCONT: not healthy again: $(last_of hp-app))"; return; fi
    docker exec hp-app touch /tmp/healthsite-fail-500
    if ! wait_status hp-app unhealthy 30; then not_ok "$name (500: not unhealthy: $(last_of hp-app))"; return; fi
    line2=$(last_of hp-app)
    docker exec hp-app rm -f /tmp/healthsite-fail-500
    case "$line2" in
        1$'\t'*"500 Internal Server Error"*) ;;
        *) not_ok "$name (500: the log says '$line2')"; return ;;
    esac
    if ! wait_status hp-app healthy 30; then not_ok "$name (500 cleared: not healthy again: $(last_of hp-app))"; return; fi
    ok "$name (SIGSTOP: '$(cut -f2 <<<"$line1")'; 500: '$(cut -f2 <<<"$line2")'; SIGCONT and fix: healthy)"
}

# --- 5. the OCI archive of make image ------------------------------------------------
case5() {
    local name="OCI archive (make image): skopeo copy oci-archive: -> docker-daemon:, COPY --from= it in FROM scratch, HEALTHCHECK passes"
    if [ ! -f "$oci" ]; then
        skip "$name: no $oci (make image builds it)"
        return
    fi
    local sock=${DOCKER_HOST#unix://}
    if ! skopeo copy --quiet --override-arch amd64 --override-os linux "oci-archive:$oci" \
            "docker-daemon:hp-test/oci:latest" --dest-daemon-host "unix://$sock" >"$tmp/skopeo.log" 2>&1; then
        not_ok "$name (skopeo copy failed: $(tail -n1 "$tmp/skopeo.log"))"
        return
    fi
    local ctx=$tmp/oci-ctx
    mkdir -p "$ctx/www" && echo ok >"$ctx/www/healthz"
    tar -xOf "$services_root" ./usr/bin/busybox >"$ctx/busybox" && chmod +x "$ctx/busybox"
    cat >"$ctx/Dockerfile" <<'EOF'
FROM hp-test/oci AS probe
FROM scratch
COPY --from=probe /healthprobe /usr/local/bin/healthprobe
COPY busybox /busybox
COPY www /www
HEALTHCHECK --interval=1s --timeout=5s --retries=3 CMD ["/usr/local/bin/healthprobe", "--timeout", "2s", "http://localhost:8000/healthz"]
ENTRYPOINT ["/busybox", "httpd", "-f", "-p", "8000", "-h", "/www"]
EOF
    build -t hp-test/oci-user "$ctx" || { not_ok "$name (build failed)"; return; }
    run_c hp-oci --network none hp-test/oci-user || { not_ok "$name (run failed)"; return; }
    if wait_status hp-oci healthy 20; then ok "$name"; else not_ok "$name (not healthy: $(last_of hp-oci))"; fi
    docker rm -f hp-oci >/dev/null
}

services_root=$(bash "$repo/tests/images/debian-root.sh" busybox-static curl nginx-light postgresql) \
    || die "could not build the Debian root for the service images (see above)"

case1
case2
case3
case5

docker rm -f hp-app >/dev/null 2>&1
note "took $(($(date +%s) - started)) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
