#!/usr/bin/env bash
# make test-docker: the probe under a real Docker Engine (docs/platforms.md,
# "Under a real Docker Engine").
#
# Starts its own dockerd (Debian's docker.io) as root inside a network
# namespace of its own (tests/harness/harness.sh, serve_dockerd), so every
# bridge Docker makes (the default one, Compose's, Swarm's) exists only there
# and no packet can leave the machine; its socket, data root and exec root are
# under the work directory, and it is stopped by its pid at the end, whatever
# happens. With HEALTHPROBE_DOCKER_HOST=unix:///PATH it uses an engine that
# already answers instead (Swarm then needs that engine not to be in a swarm
# already).
#
# No registry is used: every image is built here, from
#   - the static probe (dist/, `make static`) and the OCI archive (`make image`);
#   - Debian roots made by tests/images/debian-root.sh (cached tarballs) and
#     `docker import`;
#   - Python wheels downloaded on the host into a cached wheelhouse and
#     installed in the builds with pip --no-index.
# Cache: $HEALTHPROBE_CACHE (default /var/cache/healthprobe).
# HEALTHPROBE_DOCKER_CASES="4 7" runs only those groups of cases (3 needs 2);
# HEALTHPROBE_DOCKER_DEBUG=1 traces the clean-up with times.
# Prints one line per case and `N passed, N failed`; exits 1 if any failed.
set -uo pipefail
# Read whole before it runs: an edit of this file cannot change a run under way.
{

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/harness/harness.sh
source "$here/../harness/harness.sh"
cache=${HEALTHPROBE_CACHE:-/var/cache/healthprobe}
export HEALTHPROBE_CACHE=$cache
bin=${HEALTHPROBE_BIN:-$repo/dist/healthprobe-linux-amd64}
oci=${HEALTHPROBE_OCI:-$repo/dist/healthprobe-oci.tar}
dockerfile=$(deployment_example dockerfile)
health_py="python3 $here/health.py"
started=$(date +%s)

[ "$(id -u)" = 0 ] || harness_die "needs root: it starts dockerd and runs debootstrap"
[ -x "$bin" ] || harness_die "no static probe at $bin: run make static-http first"

# --- what the suite needs, installed when missing -----------------------------
bash "$repo/build/install-deps.sh" docker >&2 || harness_die "could not install what the Docker tests need (build/install-deps.sh docker)"

harness_begin
tmp=$work
export DOCKER_CONFIG=$tmp/config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
swarm= compose_project= compose_files=()

# What the engine holds for the tests goes before the engine itself stops.
docker_cleanup() {
    set +e
    [ -n "${HEALTHPROBE_DOCKER_DEBUG:-}" ] && set -x && PS4='+ $(date +%T.%N | cut -c1-12) '
    if [ -n "$compose_project" ]; then
        docker-compose -p "$compose_project" "${compose_files[@]}" down -v --remove-orphans >/dev/null 2>&1
    fi
    [ -n "$swarm" ] && docker swarm leave --force >/dev/null 2>&1
    local ids
    ids=$(docker ps -aq --filter label=healthprobe-test 2>/dev/null)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1
}
on_exit docker_cleanup

# --- the engine ---------------------------------------------------------------
# buildx (Debian's docker-buildx, from a cached Debian root): BuildKit builds
# only the stages a target needs, so the app stage never compiles the probe.
# One Debian root for every service image, and the source of buildx.
services_packages=(busybox-static curl docker-buildx nginx-light postgresql redis-server)
services_root=$(bash "$repo/tests/images/debian-root.sh" "${services_packages[@]}") \
    || harness_die "could not build the Debian root for buildx and the service images (see above)"
tar -xOf "$services_root" ./usr/libexec/docker/cli-plugins/docker-buildx >"$DOCKER_CONFIG/cli-plugins/docker-buildx" \
    && chmod +x "$DOCKER_CONFIG/cli-plugins/docker-buildx" \
    || harness_die "no docker-buildx in $services_root"
export DOCKER_BUILDKIT=1 BUILDX_NO_DEFAULT_ATTESTATIONS=1

own_engine=
if [ -n "${HEALTHPROBE_DOCKER_HOST:-}" ]; then
    export DOCKER_HOST=$HEALTHPROBE_DOCKER_HOST
    docker version >/dev/null 2>&1 || harness_die "no engine answers at $DOCKER_HOST"
else
    own_engine=1
    export DOCKER_HOST=unix://$tmp/docker.sock
    # overlay2 where the kernel and file system allow it (fast to build on
    # and to delete); vfs, which works everywhere, otherwise.
    for driver in ${HEALTHPROBE_DOCKER_STORAGE:-overlay2 vfs}; do
        mountpoint -q "$tmp/data" && umount "$tmp/data"
        rm -rf "$tmp/data" "$tmp/exec"
        # The data root in memory: built on and removed in no time (about 2 GB
        # at the peak); on disk when tmpfs cannot be mounted.
        mkdir -p "$tmp/data" && mount -t tmpfs -o size=8g,mode=0700 hp-docker-data "$tmp/data" 2>/dev/null
        serve_dockerd dockerd "$tmp" "$driver"
        wait_ready http --pid "$(server_pid dockerd)" --unix "$tmp/docker.sock" --path /_ping 2>/dev/null \
            && docker version >/dev/null 2>&1 && break
        note "dockerd --storage-driver=$driver did not start: $(grep -m1 -iE 'level=(fatal|error)|failed' "$tmp/dockerd.log" || tail -n1 "$tmp/dockerd.log")"
        stop dockerd
    done
    docker version >/dev/null 2>&1 \
        || harness_die "no Docker engine could be started (dockerd from Debian's docker.io; see the lines above; log $tmp/dockerd.log)"
fi
engine=$(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}}, client {{.Client.Version}} negotiated {{.Client.APIVersion}})')
note "engine: dockerd $engine, storage $(docker info -f '{{.Driver}}')"

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
        || harness_die "base image $tag: the Debian root could not be built (see above)"
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$tarball" "$tag" >/dev/null || harness_die "base image $tag: docker import of $tarball failed"
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
wheels=$(wheelhouse "$django_app/requirements.txt" "$django_app/requirements-celery.txt") || harness_die "pip download of the app's wheels failed"

# The stand-in for python:3.12-slim: python and pip on PATH (a venv), pip
# pointed at the wheelhouse and never at an index.
python_image() { # python_image TAG BASE
    local ctx=$tmp/python-ctx
    rm -rf "$ctx" && mkdir -p "$ctx" && cp -r "$wheels" "$ctx/wheelhouse"
    cat >"$ctx/Dockerfile" <<'EOT'
ARG BASE
FROM ${BASE}
RUN python3 -m venv /opt/venv
COPY wheelhouse /wheelhouse
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheelhouse PIP_DISABLE_PIP_VERSION_CHECK=1
EOT
    build -t "$1" --build-arg BASE="$2" "$ctx"
}
python_image hp-test/python hp-test/debian || harness_die "base image hp-test/python could not be built"

example_args=(-f "$dockerfile" --build-arg PROBE_FROM=dist --build-arg PYTHON_IMAGE=hp-test/python)
build "${example_args[@]}" --target probe -t hp-test/probe "$repo" || harness_die "the probe stage of Dockerfile.example did not build"
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
probe_stage() {
    local ctx=$tmp/static-ctx
    mkdir -p "$ctx/www" && echo ok >"$ctx/www/healthz"
    tar -xOf "$services_root" ./usr/bin/busybox >"$ctx/busybox" && chmod +x "$ctx/busybox" \
        || { fail "no static busybox in the services root"; return; }
    cat >"$ctx/Dockerfile" <<'EOT'
FROM hp-test/probe
COPY busybox /busybox
COPY www /www
ENTRYPOINT ["/busybox", "httpd", "-f", "-p", "8000", "-h", "/www"]
EOT
    build -t hp-test/static "$ctx" || { fail "build failed"; return; }
    local test
    test=$(docker image inspect hp-test/static | $health_py test)
    [ "$test" = '["CMD", "/healthprobe", "--timeout", "2s", "http://localhost:8000/healthz"]' ] \
        || { fail "HEALTHCHECK not the file's: $test"; return; }
    run_c hp-static --network none "${fast[@]}" hp-test/static || { fail "run failed"; return; }
    local first codes
    first=$(status_of hp-static)
    [ "$first" = starting ] || { fail "first status $first, not starting"; return; }
    wait_status hp-static healthy 20 || { fail "not healthy in 20 s: $(last_of hp-static)"; return; }
    codes=$(docker inspect hp-static | $health_py codes)
    docker rm -f hp-static >/dev/null
    case " $codes" in *" 0"*) pass "exit codes: $codes" ;; *) fail "exit codes: $codes" ;; esac
}

# --- 2, 3. the app stage ---------------------------------------------------------
app_stage() {
    [ -n "$app_built" ] || { fail "build failed"; return; }
    local test user
    test=$(docker image inspect hp-test/app | $health_py test)
    [ "$test" = '["CMD", "/usr/local/bin/healthprobe", "--timeout", "2s", "/healthz"]' ] \
        || { fail "HEALTHCHECK not the file's: $test"; return; }
    run_c hp-app --network none "${fast[@]}" \
        -v "$here/healthsite_fault.py:/app/healthsite_fault.py:ro" -e DJANGO_SETTINGS_MODULE=healthsite_fault \
        hp-test/app || { fail "run failed"; return; }
    wait_status hp-app healthy 30 \
        || { fail "not healthy in 30 s: $(last_of hp-app); $(docker logs hp-app 2>&1 | tail -n 2 | tr '\n' ' ')"; return; }
    user=$(docker top hp-app -eo pid,user,args | awk '/gunicorn/ {print $2}' | sort -u | paste -sd, -)
    [ "$user" = nobody ] || [ "$user" = 65534 ] || { fail "gunicorn runs as $user"; return; }
    pass "built in ${app_build_seconds}s"
}

app_transitions() {
    [ "$(status_of hp-app)" = healthy ] || { fail "app not healthy to begin with"; return; }
    local pids line1 line2
    pids=$(docker top hp-app -eo pid,args | awk '/gunicorn/ {print $1}')
    kill -STOP $pids
    if ! wait_status hp-app unhealthy 30; then kill -CONT $pids; fail "SIGSTOP: not unhealthy: $(last_of hp-app)"; return; fi
    line1=$(last_of hp-app)
    kill -CONT $pids
    case "$line1" in
        1$'\t'*"no complete response headers within 2s (timeout)"*) ;;
        *) fail "SIGSTOP: the log says '$line1', not the probe's timeout line"; return ;;
    esac
    wait_status hp-app healthy 30 || { fail "SIGCONT: not healthy again: $(last_of hp-app)"; return; }
    docker exec hp-app touch /tmp/healthsite-fail-500
    wait_status hp-app unhealthy 30 || { fail "500: not unhealthy: $(last_of hp-app)"; return; }
    line2=$(last_of hp-app)
    docker exec hp-app rm -f /tmp/healthsite-fail-500
    case "$line2" in
        1$'\t'*"500 Internal Server Error"*) ;;
        *) fail "500: the log says '$line2'"; return ;;
    esac
    wait_status hp-app healthy 30 || { fail "500 cleared: not healthy again: $(last_of hp-app)"; return; }
    pass "SIGSTOP: '$(cut -f2 <<<"$line1")'; 500: '$(cut -f2 <<<"$line2")'; SIGCONT and fix: healthy"
}

# --- 4. localhost where IPv6 is off ---------------------------------------------------
ipv6_off_net=(--network bridge) ipv6_off_where="Docker's default bridge"
if [ -z "$own_engine" ]; then
    # Not our engine: no bridge of another's engine is used; lo alone, IPv6 off.
    ipv6_off_net=(--network none --sysctl net.ipv6.conf.all.disable_ipv6=1 --sysctl net.ipv6.conf.lo.disable_ipv6=1)
    ipv6_off_where="--network none with IPv6 off"
fi
localhost_ipv6_off() {
    local v6 out rc
    v6=$(docker run --rm --label healthprobe-test "${ipv6_off_net[@]}" --entrypoint cat hp-test/debian /proc/net/if_inet6 2>&1)
    [ -z "$v6" ] || { fail "the container has IPv6 addresses: $v6"; return; }
    out=$(docker run --rm --label healthprobe-test "${ipv6_off_net[@]}" hp-test/probe --timeout 2s http://localhost:9/healthz 2>&1)
    rc=$?
    case "$rc $out" in
        "1 "*"connection refused: nothing is listening on 127.0.0.1:9"*) pass "'$out'" ;;
        *) fail "exit $rc: '$out'" ;;
    esac
}

# --- 5. the OCI archive of make image ------------------------------------------------
oci_archive() {
    [ -f "$oci" ] || { cannot "no $oci (make image builds it)"; return; }
    local sock=${DOCKER_HOST#unix://}
    skopeo copy --quiet --override-arch amd64 --override-os linux "oci-archive:$oci" \
        "docker-daemon:hp-test/oci:latest" --dest-daemon-host "unix://$sock" >"$tmp/skopeo.log" 2>&1 \
        || { fail "skopeo copy failed: $(tail -n1 "$tmp/skopeo.log")"; return; }
    local ctx=$tmp/oci-ctx
    mkdir -p "$ctx/www" && echo ok >"$ctx/www/healthz"
    tar -xOf "$services_root" ./usr/bin/busybox >"$ctx/busybox" && chmod +x "$ctx/busybox"
    cat >"$ctx/Dockerfile" <<'EOT'
FROM hp-test/oci AS probe
FROM scratch
COPY --from=probe /healthprobe /usr/local/bin/healthprobe
COPY busybox /busybox
COPY www /www
HEALTHCHECK --interval=1s --timeout=5s --retries=3 CMD ["/usr/local/bin/healthprobe", "--timeout", "2s", "http://localhost:8000/healthz"]
ENTRYPOINT ["/busybox", "httpd", "-f", "-p", "8000", "-h", "/www"]
EOT
    build -t hp-test/oci-user "$ctx" || { fail "build failed"; return; }
    run_c hp-oci --network none hp-test/oci-user || { fail "run failed"; return; }
    if wait_status hp-oci healthy 20; then pass; else fail "not healthy: $(last_of hp-oci)"; fi
    docker rm -f hp-oci >/dev/null
}

# --- 6. Compose ---------------------------------------------------------------------------
service_images() {
    docker image inspect hp-test/nginx >/dev/null 2>&1 && return 0
    docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "$services_root" hp-test/services >/dev/null || return 1
    build -t hp-test/postgres -f "$here/images/postgres.Dockerfile" "$here/images" || return 1
    build -t hp-test/nginx -f "$here/images/nginx.Dockerfile" "$here/images" || return 1
    build -t hp-test/redis -f "$here/images/redis.Dockerfile" "$here/images" || return 1
}

started_at() { docker inspect -f '{{.State.StartedAt}}' "$1"; }
# The End time of the first successful health check: when it became healthy.
first_healthy() {
    docker inspect "$1" | python3 -c '
import json, sys
log = json.load(sys.stdin)[0]["State"]["Health"]["Log"]
print(next((e["End"] for e in log if e["ExitCode"] == 0), ""))'
}
# is_before A B: RFC 3339 times, A earlier than B (nanoseconds kept).
is_before() { [ -n "$1" ] && [ -n "$2" ] && [[ "$(date -d "$1" +%s%N)" -lt "$(date -d "$2" +%s%N)" ]]; }
compose() { docker-compose -p "$compose_project" "${compose_files[@]}" "$@"; }

compose_web=   # web's container, once Compose is up
compose_gating() {
    service_images || { fail "service images did not build"; return; }
    compose_files=(-f "$(deployment_example compose)" -f "$here/compose.test.yaml")
    compose_project=hptest
    local up=$tmp/compose-up.log
    compose up -d >"$up" 2>&1 || { fail "docker-compose up failed: $(tail -n 2 "$up" | tr '\n' ' ')"; return; }
    local db web proxy db_ok web_ok
    db=$(compose ps -q db) web=$(compose ps -q web) proxy=$(compose ps -q proxy)
    compose_web=$web
    wait_status "$web" healthy 60
    db_ok=$(first_healthy "$db")
    web_ok=$(first_healthy "$web")
    if [ "$(status_of "$web")" != healthy ]; then
        fail "web is $(status_of "$web"): $(last_of "$web")"
    elif ! is_before "$db_ok" "$(started_at "$web")"; then
        fail "web started at $(started_at "$web"), before db was healthy at $db_ok"
    elif ! is_before "$web_ok" "$(started_at "$proxy")"; then
        fail "proxy started at $(started_at "$proxy"), before web was healthy at $web_ok"
    elif ! docker exec "$proxy" true 2>/dev/null; then
        fail "proxy is not running"
    else
        pass "db healthy $db_ok; web started $(started_at "$web"), healthy $web_ok; proxy started $(started_at "$proxy")"
    fi
}

compose_db_stopped() {
    local web=$compose_web
    [ -n "$web" ] || { cannot "no Compose run"; return; }
    # The image's own HEALTHCHECK command (liveness), run in the same container.
    local liveness
    mapfile -t liveness < <(docker image inspect hp-test/app | python3 -c '
import json, sys
print("\n".join(json.load(sys.stdin)[0]["Config"]["Healthcheck"]["Test"][1:]))')
    compose stop db >/dev/null 2>&1
    wait_status "$web" unhealthy 60 \
        || { fail "web is still $(status_of "$web") with the db stopped: $(last_of "$web")"; return; }
    local line out rc
    line=$(last_of "$web")
    out=$(docker exec "$web" "${liveness[@]}" 2>&1)
    rc=$?
    # Unready either way: a 503 once the app sees the database gone, or the
    # probe's own timeout while the app still waits on it.
    case "$line" in
        1$'\t'*"/readyz: 503 Service Unavailable"*) ;;
        1$'\t'*"/readyz: connected, but no complete response headers within 2s (timeout)"*) ;;
        *) fail "the readiness log says '$line'"; return ;;
    esac
    if [ "$rc" = 0 ]; then
        pass "readiness: '$(cut -f2 <<<"$line")'; liveness ${liveness[*]}: exit 0"
    else
        fail "liveness ${liveness[*]} exit $rc: $out"
    fi
}

compose_cases() {
    run_case "Compose: examples/compose.yaml (images overridden only): web healthy after db, proxy after web" compose_gating
    run_case "Compose: db stopped: web's /readyz check goes unhealthy while /healthz in the same container stays healthy" \
        compose_db_stopped
    [ -z "$compose_project" ] || compose down -v --remove-orphans >/dev/null 2>&1
    compose_project=
}

# --- 10. the whole deployment: migrate, web, worker, beat, Redis, PostgreSQL ---------------
# examples/compose-workers.yaml as written (images overridden only). The
# worker's HEALTHCHECK is its liveness heartbeat; its readiness is read with
# the probe through docker exec, as a CI script would.
worker_ready_probe=(/usr/local/bin/healthprobe --max-age 20s file:///tmp/healthprobe/worker.ready)
workers_up=
workers_started() {
    [ -n "$app_built" ] || { fail "the app image did not build (see above); Compose would try to build it from a registry"; return; }
    service_images || { fail "service images did not build"; return; }
    local up=$tmp/workers-up.log migrate web worker beat done_at
    compose up -d >"$up" 2>&1 || { fail "docker-compose up failed: $(tail -n 2 "$up" | tr '\n' ' ')"; return; }
    migrate=$(compose ps -aq migrate) web=$(compose ps -q web)
    worker=$(compose ps -q worker) beat=$(compose ps -q beat)
    for c in "$web" "$worker" "$beat"; do
        wait_status "$c" healthy 90 || { fail "$(docker inspect -f '{{.Name}}' "$c") is $(status_of "$c"): $(last_of "$c"); $(docker logs "$c" 2>&1 | tail -n 3 | tr '\n' ' ')"; return; }
    done
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$migrate")" = 0 ] || { fail "migrate exited $(docker inspect -f '{{.State.ExitCode}}' "$migrate")"; return; }
    done_at=$(docker inspect -f '{{.State.FinishedAt}}' "$migrate")
    is_before "$done_at" "$(started_at "$web")" || { fail "web started at $(started_at "$web"), before migrate finished at $done_at"; return; }
    is_before "$done_at" "$(started_at "$worker")" || { fail "worker started before migrate finished"; return; }
    local out
    out=$(docker exec "$worker" "${worker_ready_probe[@]}" 2>&1) || { fail "worker healthy but not ready: $out"; return; }
    workers_up=1
    pass "migrate finished $done_at; web, worker, beat healthy; the worker reads ready"
}

# wait_exec SECONDS WANT CONTAINER CMD...: 0 once CMD in CONTAINER exits WANT (0 or 1).
wait_exec() {
    local deadline=$(($(date +%s) + $1)) want=$2 c=$3 rc
    shift 3
    while [ "$(date +%s)" -le "$deadline" ]; do
        docker exec "$c" "$@" >"$tmp/exec.out" 2>&1 && rc=0 || rc=$?
        [ "$rc" = "$want" ] && return 0
        sleep 0.5
    done
    return 1
}

workers_broker_outage() {
    [ -n "$workers_up" ] || { cannot "the deployment did not come up"; return; }
    local worker
    worker=$(compose ps -q worker)
    compose stop redis >/dev/null 2>&1 || { fail "could not stop redis"; return; }
    wait_exec 60 1 "$worker" "${worker_ready_probe[@]}" \
        || { fail "the worker still reads ready 60 s after Redis stopped"; return; }
    local unready_line
    unready_line=$(cat "$tmp/exec.out")
    # Liveness must hold through the outage: watch it for longer than the
    # heartbeat's --max-age (20 s) plus an interval.
    local until=$(($(date +%s) + 30)) st
    while [ "$(date +%s)" -le "$until" ]; do
        st=$(status_of "$worker")
        [ "$st" = healthy ] || { fail "the worker went $st during the Redis outage: $(last_of "$worker")"; return; }
        sleep 1
    done
    compose start redis >/dev/null 2>&1 || { fail "could not start redis again"; return; }
    wait_exec 90 0 "$worker" "${worker_ready_probe[@]}" \
        || { fail "the worker is not ready again 90 s after Redis came back: $(cat "$tmp/exec.out")"; return; }
    pass "unready during the outage ('$unready_line'), healthy throughout, ready again after"
}

workers_frozen() {
    [ -n "$workers_up" ] || { cannot "the deployment did not come up"; return; }
    local worker pid t0 t1 took
    worker=$(compose ps -q worker)
    pid=$(docker inspect -f '{{.State.Pid}}' "$worker")
    [ "$(status_of "$worker")" = healthy ] || { fail "the worker is $(status_of "$worker") before the freeze"; return; }
    t0=$(date +%s)
    kill -STOP "$pid"
    wait_status "$worker" unhealthy 60
    t1=$(date +%s)
    took=$((t1 - t0))
    local line
    line=$(last_of "$worker")
    kill -CONT "$pid"
    # --max-age 20s plus one 5 s interval, and 5 s for Docker's exec and the
    # heartbeat's own period; never before the file can be 20 s old minus that period.
    [ "$(status_of "$worker")" = unhealthy ] || { fail "still $(status_of "$worker") 60 s after SIGSTOP"; return; }
    [ "$took" -ge 10 ] && [ "$took" -le 30 ] || { fail "unhealthy after ${took}s, outside 10..30 s"; return; }
    case "$line" in *"more than --max-age 20s"*) ;; *) fail "the health log says '$line'"; return ;; esac
    wait_status "$worker" healthy 30 || { fail "not healthy again after SIGCONT: $(last_of "$worker")"; return; }
    pass "unhealthy ${took}s after SIGSTOP ('$(cut -f2 <<<"$line")'), healthy again after SIGCONT"
}

workers_before_migrate() {
    [ -n "$app_built" ] || { fail "the app image did not build (see above); Compose would try to build it from a registry"; return; }
    service_images || { fail "service images did not build"; return; }
    local log=$tmp/workers-early.log web out
    compose up -d db >"$log" 2>&1 || { fail "db did not start: $(tail -n 2 "$log" | tr '\n' ' ')"; return; }
    wait_status "$(compose ps -q db)" healthy 60 || { fail "db not healthy"; return; }
    compose up -d --no-deps web >>"$log" 2>&1 || { fail "web did not start: $(tail -n 2 "$log" | tr '\n' ' ')"; return; }
    web=$(compose ps -q web)
    local deadline=$(($(date +%s) + 60)) seen=
    while [ "$(date +%s)" -le "$deadline" ]; do
        out=$(docker exec "$web" /usr/local/bin/healthprobe -v --timeout 2s /readyz 2>&1) && break
        case "$out" in *'"migrations": "pending"'*) seen=$out; break ;; esac
        sleep 0.5
    done
    [ -n "$seen" ] || { fail "web before migrate: '$out'"; return; }
    [ "$(status_of "$web")" != healthy ] || { fail "web reads healthy before migrate"; return; }
    compose run --rm migrate >>"$log" 2>&1 || { fail "migrate failed: $(tail -n 2 "$log" | tr '\n' ' ')"; return; }
    wait_exec 30 0 "$web" /usr/local/bin/healthprobe --timeout 2s /readyz \
        || { fail "web not ready 30 s after migrate: $(cat "$tmp/exec.out")"; return; }
    pass "before migrate: '$(grep -m1 -o 'readyz: 503[^{]*' <<<"$seen")…migrations: pending'; ready after migrate"
}

workers_cases() {
    compose_project=hpworkers
    compose_files=(-f "$(deployment_example compose-workers)" -f "$here/compose-workers.test.yaml")
    run_case "Compose: examples/compose-workers.yaml: migrate completes, then web, worker and beat healthy; the worker reads ready" workers_started
    run_case "Compose: Redis stopped: the worker reads unready and stays healthy; ready again when Redis is back" workers_broker_outage
    run_case "Compose: a worker frozen (SIGSTOP on its main process) turns unhealthy within --max-age plus an interval" workers_frozen
    compose down -v --remove-orphans >/dev/null 2>&1
    run_case "Compose: web started before migrate reads 'migrations: pending' until migrate has run" workers_before_migrate
    compose down -v --remove-orphans >/dev/null 2>&1
    compose_project=
}

# --- 7. Swarm ------------------------------------------------------------------------------
svc=hp-swarm
svc_state() { docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$svc" 2>/dev/null; }
svc_image() { docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$svc"; }
# The service's running, healthy container, if any.
svc_healthy_container() {
    local c
    for c in $(docker ps -q --filter "label=com.docker.swarm.service.name=$svc"); do
        [ "$(status_of "$c")" = healthy ] && { echo "$c"; return 0; }
    done
    return 1
}
wait_svc_state() { # wait_svc_state SECONDS STATE...
    local deadline=$(($(date +%s) + $1)) state
    shift
    while [ "$(date +%s)" -le "$deadline" ]; do
        state=$(svc_state)
        for want in "$@"; do [ "$state" = "$want" ] && return 0; done
        sleep 1
    done
    return 1
}
# Every health-log line of the service's containers made from IMAGE.
svc_lines_of() {
    local c
    for c in $(docker ps -aq --filter "label=com.docker.swarm.service.name=$svc" --filter "ancestor=$1"); do
        docker inspect "$c" | $health_py outputs
    done
}
until_healthy_task() { # until_healthy_task SECONDS: the healthy task's container, once there is one
    local deadline=$(($(date +%s) + $1)) c
    until c=$(svc_healthy_container) || [ "$(date +%s)" -gt "$deadline" ]; do sleep 1; done
    [ -n "$c" ] && echo "$c"
}
until_replaced() { # until_replaced OLD SECONDS: a healthy task's container other than OLD, once there is one
    local deadline=$(($(date +%s) + $2)) c
    while [ "$(date +%s)" -le "$deadline" ]; do
        c=$(svc_healthy_container) && [ "$c" != "$1" ] && { echo "$c"; return 0; }
        sleep 1
    done
    return 1
}

swarm_up=        # the service ran healthy
swarm_task=      # the healthy task after the good update
swarm_service_healthy() {
    local ctx=$tmp/swarm-ctx first
    mkdir -p "$ctx" && cp "$here/healthsite_fault.py" "$ctx/"
    printf 'FROM hp-test/app\nCOPY healthsite_fault.py /app/\nENV DJANGO_SETTINGS_MODULE=healthsite_fault PORT=8100\n' >"$ctx/Dockerfile"
    build -t hp-test/swarm:good "$ctx" \
        && printf 'FROM hp-test/swarm:good\nENV HEALTHSITE_FAULT=404\n' | build -t hp-test/swarm:404 - \
        && printf 'FROM hp-test/swarm:good\nENV HEALTHSITE_FAULT=slash\n' | build -t hp-test/swarm:slash - \
        && printf 'FROM hp-test/swarm:good\nLABEL release=2\n' | build -t hp-test/swarm:good2 - \
        || { fail "images did not build"; return; }
    [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ] || { cannot "the engine is already in a swarm"; return; }
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >"$tmp/swarm.log" 2>&1 \
        || { fail "docker swarm init failed: $(tail -n1 "$tmp/swarm.log")"; return; }
    swarm=1
    # Host networking of the engine's own namespace: no overlay network needed.
    # The probe's command, timeout and retries are the image's; only the
    # interval and start period are shortened.
    docker service create -d --quiet --name "$svc" --no-resolve-image --network host \
        --label healthprobe-test --container-label healthprobe-test \
        --health-interval 1s --health-start-period 8s \
        --update-failure-action rollback --update-monitor 15s --update-max-failure-ratio 0 \
        --update-order stop-first --rollback-monitor 5s --restart-delay 1s \
        hp-test/swarm:good >"$tmp/swarm.log" 2>&1 \
        || { fail "service create failed: $(tail -n1 "$tmp/swarm.log")"; return; }
    first=$(until_healthy_task 60) \
        || { fail "no healthy task in 60 s: $(docker service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' "$svc" | head -n 2 | tr '\n' ' ')"; return; }
    swarm_up=1
    pass "image hp-test/swarm:good"
}

swarm_rolled_back() { # swarm_rolled_back TAG EXPECT: an update to hp-test/swarm:TAG fails on EXPECT and is rolled back
    local tag=$1 expect=$2 state image line
    [ -n "$swarm_up" ] || { cannot "no healthy service to update"; return; }
    docker service update -d --quiet --no-resolve-image --image "hp-test/swarm:$tag" "$svc" >/dev/null 2>&1
    wait_svc_state 120 rollback_completed paused rollback_paused completed \
        || { fail "update state after 120 s: $(svc_state)"; return; }
    state=$(svc_state) image=$(svc_image)
    line=$(svc_lines_of "hp-test/swarm:$tag" | grep -m1 -F "$expect")
    if [ "$state" != rollback_completed ] || [ "${image%%@*}" != hp-test/swarm:good ]; then
        fail "update state $state, service image $image"
    elif [ -z "$line" ]; then
        fail "no '$expect' in the failed task's health log: $(svc_lines_of "hp-test/swarm:$tag" | tail -n1)"
    elif until_healthy_task 60 >/dev/null; then
        pass "rollback_completed; the failed task's log: '$line'"
    else
        fail "rolled back, but no healthy task after it"
    fi
}

swarm_updated() {
    [ -n "$swarm_up" ] || { cannot "no healthy service to update"; return; }
    docker service update -d --quiet --no-resolve-image --image hp-test/swarm:good2 "$svc" >/dev/null 2>&1
    if wait_svc_state 120 completed rollback_completed paused rollback_paused && [ "$(svc_state)" = completed ]; then
        swarm_task=$(until_healthy_task 30)
        if [ -n "$swarm_task" ] && [ "$(docker inspect -f '{{.Config.Image}}' "$swarm_task")" = hp-test/swarm:good2 ]; then
            pass "completed; the running task is hp-test/swarm:good2 and healthy"
        else
            fail "completed, but no healthy hp-test/swarm:good2 task"
        fi
    else
        fail "update state $(svc_state)"
    fi
}

swarm_replaced() {
    [ -n "$swarm_up" ] || { cannot "no healthy service"; return; }
    local c2=$swarm_task c3 why
    [ -n "$c2" ] || c2=$(svc_healthy_container) || { fail "no healthy task to break"; return; }
    docker exec "$c2" touch /tmp/healthsite-fail-500
    c3=$(until_replaced "$c2" 90)
    why=$(docker inspect "$c2" 2>/dev/null | $health_py outputs | grep -m1 "500 Internal Server Error")
    if [ -n "$c3" ] && [ -n "$why" ]; then
        pass "old task's log: '$why'; a new healthy task replaced it"
    else
        fail "replacement: '${c3:-none}', old task's log: '$(docker inspect "$c2" 2>/dev/null | $health_py outputs | tail -n1)'"
    fi
}

# A Celery worker as a Swarm service, its HEALTHCHECK the liveness heartbeat
# (exec form, as in examples/compose-workers.yaml but with a shorter
# --max-age), its broker refused (nothing listens on the container's
# loopback): it must stay the same healthy task through that, and be replaced
# once its main process is frozen.
wsvc=hp-swarm-worker
swarm_worker_frozen() {
    [ -n "$swarm" ] || { cannot "no swarm"; return; }
    [ -n "$app_built" ] || { fail "the app image did not build (see above)"; return; }
    printf '%s\n' 'FROM hp-test/app' \
        'ENV CELERY_BROKER_URL=redis://127.0.0.1:6379/0' \
        'HEALTHCHECK --interval=2s --timeout=3s --start-period=30s --retries=1 CMD ["/usr/local/bin/healthprobe", "--max-age", "10s", "file:///tmp/healthprobe/worker.alive"]' \
        'CMD ["celery", "-A", "healthsite.celery", "worker", "--loglevel=INFO", "--concurrency=1"]' |
        build -t hp-test/worker - || { fail "image did not build"; return; }
    docker service create -d --quiet --name "$wsvc" --no-resolve-image --network host \
        --label healthprobe-test --container-label healthprobe-test --restart-delay 1s \
        hp-test/worker >"$tmp/swarm-worker.log" 2>&1 \
        || { fail "service create failed: $(tail -n1 "$tmp/swarm-worker.log")"; return; }
    local svc=$wsvc first c2 deadline pid line
    first=$(until_healthy_task 90) || { fail "no healthy worker task in 90 s: $(docker service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' "$wsvc" | head -n 2 | tr '\n' ' ')"; docker service rm "$wsvc" >/dev/null 2>&1; return; }
    # The broker is refused all along: 20 s (twice --max-age) of the same healthy task.
    deadline=$(($(date +%s) + 20))
    while [ "$(date +%s)" -le "$deadline" ]; do
        [ "$(status_of "$first")" = healthy ] || { fail "the worker went $(status_of "$first") with its broker refused: $(last_of "$first")"; docker service rm "$wsvc" >/dev/null 2>&1; return; }
        sleep 1
    done
    pid=$(docker inspect -f '{{.State.Pid}}' "$first")
    kill -STOP "$pid"
    c2=$(until_replaced "$first" 90)
    line=$(docker inspect "$first" 2>/dev/null | $health_py outputs | grep -m1 -F 'more than --max-age 10s')
    kill -CONT "$pid" 2>/dev/null
    docker service rm "$wsvc" >/dev/null 2>&1
    if [ -n "$c2" ] && [ -n "$line" ]; then
        pass "healthy for 20 s with its broker refused; frozen, its log read '$line' and a new healthy task replaced it"
    else
        fail "replacement: '${c2:-none}'; the frozen task's log: '$(docker inspect "$first" 2>/dev/null | $health_py outputs | tail -n1)'"
    fi
}

swarm_cases() {
    run_case "Swarm: a service with the probe as HEALTHCHECK runs healthy" swarm_service_healthy
    run_case "Swarm: an update to an image whose /healthz is a 404 is rolled back" swarm_rolled_back 404 "404 Not Found"
    run_case "Swarm: an update to an image whose /healthz is an APPEND_SLASH redirect is rolled back" \
        swarm_rolled_back slash APPEND_SLASH
    run_case "Swarm: an update to a good image completes" swarm_updated
    run_case "Swarm: a task that turns unhealthy is replaced" swarm_replaced
    run_case "Swarm: a Celery worker stays the same healthy task while its broker is refused, and is replaced once frozen" \
        swarm_worker_frozen
    if [ -n "$swarm" ]; then
        docker service rm "$svc" >/dev/null 2>&1
        docker swarm leave --force >/dev/null 2>&1 && swarm=
    fi
}

# --- 8. what a health check costs, as Docker runs it -------------------------------------
# Measured, not asserted (each command must pass, that is all): the time from
# the health log's Start and End (Docker's exec included) and the peak RSS of
# the command and its children (busybox time in the container).
cost_rows=() cost_floor=
cost_labels=("healthprobe (exec form, the file's HEALTHCHECK)" "curl -f ... || exit 1 (shell form)" "python -c urllib one-liner (exec form)")
cost_commands=(
    '["CMD", "/usr/local/bin/healthprobe", "--timeout", "2s", "/healthz"]'
    '["CMD-SHELL", "curl -f http://localhost:8000/healthz || exit 1"]'
    '["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('"'"'http://localhost:8000/healthz'"'"', timeout=2)"]'
)
# cost_of I: a table row for cost_commands[I] (or a line starting FAIL), from
# 20 checks of a container whose HEALTHCHECK it is and 5 runs under busybox time.
cost_of() {
    local i=$1 c=hp-cost-$1 seen=$tmp/cost-$1.txt deadline argv a out rss=()
    # --health-cmd takes a string (shell form only): each command goes
    # into a derived image's HEALTHCHECK instead, exec or shell form.
    printf 'FROM hp-test/app-curl\nCOPY --from=hp-test/services /usr/bin/busybox /opt/busybox\nHEALTHCHECK --interval=1s --timeout=5s --start-period=10s --retries=3 CMD %s\n' \
        "$(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); print(json.dumps(t[1:]) if t[0]=="CMD" else t[1])' "${cost_commands[$i]}")" \
        | build -t "hp-test/cost:$i" - || { echo "FAIL image $i did not build"; return; }
    run_c "$c" --network none "hp-test/cost:$i" || { echo "FAIL run $i failed"; return; }
    wait_status "$c" healthy 30 || { echo "FAIL ${cost_labels[$i]} never healthy: $(last_of "$c")"; return; }
    : >"$seen"
    deadline=$(($(date +%s) + 25))
    while [ "$(date +%s)" -le "$deadline" ] && [ "$(sort -u "$seen" | wc -l)" -lt 20 ]; do
        docker inspect "$c" | python3 -c '
import json, sys
for e in json.load(sys.stdin)[0]["State"]["Health"]["Log"]:
    print(e["Start"], e["End"], e["ExitCode"])' >>"$seen"
        sleep 1
    done
    argv=$(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); print("\n".join(t[1:] if t[0]=="CMD" else ["sh","-c",t[1]]))' "${cost_commands[$i]}")
    mapfile -t a <<<"$argv"
    for _ in 1 2 3 4 5; do
        # busybox time: the command's peak RSS (wait4), its exit status kept.
        out=$(docker exec "$c" /opt/busybox time -f 'RSS %M' "${a[@]}" 2>&1 >/dev/null) \
            && rss+=("$(sed -n 's/^RSS //p' <<<"$out" | tail -n1)") || rss+=(fail)
    done
    [ "$i" = 0 ] && cost_floor=$(docker exec "$c" /opt/busybox time -f 'RSS %M' /bin/true 2>&1 | sed -n 's/^RSS //p')
    docker rm -f "$c" >/dev/null
    python3 - "$seen" "${cost_labels[$i]}" "${rss[@]}" <<'EOT'
import statistics, sys
from datetime import datetime
def when(t):
    d, _, rest = t.partition(".")
    digits = "".join(c for c in rest if c.isdigit())
    return datetime.fromisoformat(f"{d}.{digits[:6].ljust(6, '0')}+00:00")
entries = sorted(set(tuple(l.split()) for l in open(sys.argv[1]) if l.strip()))
ms = sorted((when(e) - when(s)).total_seconds() * 1000 for s, e, code in entries if code == "0")
fails = sum(1 for *_, code in entries if code != "0")
rss = sys.argv[3:]
if fails or "fail" in rss or len(ms) < 5:
    print(f"FAIL {sys.argv[2]}: {len(ms)} passing checks, {fails} failing, rss {rss}")
else:
    kib = sorted(int(r) for r in rss)
    print(f"| {sys.argv[2]} | {len(ms)} | {statistics.median(ms):.0f} ms | {ms[-1]:.0f} ms | {statistics.median(kib):.0f} KiB |")
EOT
}
cost_per_check() {
    service_images && python_image hp-test/python-curl hp-test/services \
        && build -f "$dockerfile" --build-arg PROBE_FROM=dist --build-arg PYTHON_IMAGE=hp-test/python-curl \
            --target app -t hp-test/app-curl "$repo" \
        || { fail "the curl variant did not build"; return; }
    local i row
    for i in 0 1 2; do
        cost_of "$i" >"$tmp/cost-row"   # not in $(...): cost_of sets cost_floor
        row=$(cat "$tmp/cost-row")
        [ "${row#FAIL }" = "$row" ] || { cost_rows=(); fail "${row#FAIL }"; return; }
        cost_rows+=("$row")
    done
}
cost_cases() {
    run_case "cost per health check, measured in the app image (time from the health log, peak RSS)" cost_per_check
    [ ${#cost_rows[@]} != 0 ] || return 0
    note "peak RSS by busybox time; /bin/true measures ${cost_floor:-?} KiB that way (the measuring fork's floor)"
    note "| health check | checks | median time (Start to End) | slowest | peak RSS (median of 5) |"
    note "| --- | --- | --- | --- | --- |"
    printf '# %s\n' "${cost_rows[@]}"
}

# --- 9. the wheel instead of COPY --from ------------------------------------------------------
wheel_in_app_image() {
    local wheels_found=("$repo"/dist/healthprobe-*.whl)
    [ -f "${wheels_found[0]}" ] || { cannot "no dist/healthprobe-*.whl (make wheel builds them)"; return; }
    local ctx=$tmp/wheel-ctx
    rm -rf "$ctx" && mkdir -p "$ctx/wheels" && cp "${wheels_found[@]}" "$ctx/wheels/"
    cp -r "$django_app" "$ctx/app"
    cat >"$ctx/Dockerfile" <<'EOT'
FROM hp-test/python
ENV PORT=8000 SQLITE_PATH=/tmp/db.sqlite3
WORKDIR /app
COPY wheels /wheels
COPY app/requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt && pip install --no-cache-dir --find-links /wheels healthprobe
COPY app/ ./
USER 65534:65534
HEALTHCHECK --interval=1s --timeout=5s --retries=3 CMD ["healthprobe", "/healthz"]
CMD ["gunicorn", "--workers", "2", "--no-control-socket", "healthsite.wsgi"]
EOT
    build -t hp-test/app-wheel "$ctx" || { fail "build failed"; return; }
    run_c hp-wheel --network none hp-test/app-wheel || { fail "run failed"; return; }
    local where
    where=$(docker exec hp-wheel sh -c 'command -v healthprobe')
    if wait_status hp-wheel healthy 30; then pass "healthprobe on PATH at $where"; else fail "not healthy: $(last_of hp-wheel)"; fi
    docker rm -f hp-wheel >/dev/null
}

# --- the run: HEALTHPROBE_DOCKER_CASES="4 7" runs only those groups (3 needs 2) ------------------
docker_group() {
    case $1 in
        1) run_case "probe stage: FROM scratch image with busybox httpd goes starting -> healthy, exit codes in inspect" probe_stage ;;
        2) run_case "app stage: builds offline on the local Debian base, Gunicorn as nobody, HEALTHCHECK as written -> healthy" app_stage ;;
        3) run_case "app stage: healthy -> unhealthy -> healthy with the probe's own lines in .State.Health.Log" app_transitions ;;
        4) run_case "$ipv6_off_where, IPv6 off: the localhost probe of a port nobody listens on says refused on 127.0.0.1" localhost_ipv6_off ;;
        5) run_case "OCI archive (make image): skopeo copy oci-archive: -> docker-daemon:, COPY --from= it in FROM scratch, HEALTHCHECK passes" oci_archive ;;
        6) compose_cases ;;
        7) swarm_cases ;;
        8) cost_cases ;;
        10) workers_cases ;;
        9) run_case "wheel (make wheel): pip install healthprobe in the app image, HEALTHCHECK [\"healthprobe\", \"/healthz\"] passes" wheel_in_app_image ;;
    esac
}
selected=" ${HEALTHPROBE_DOCKER_CASES:-1 2 3 4 5 6 7 8 9 10} "
for n in 1 2 3 4 5 6 7 8 9 10; do
    [[ "$selected" == *" $n "* ]] && docker_group "$n"
    [ "$n" = 3 ] && docker rm -f hp-app >/dev/null 2>&1
done

note "took $(($(date +%s) - started)) s"
harness_end
exit
}
