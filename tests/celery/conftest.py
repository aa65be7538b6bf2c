"""Real processes for healthprobe.celery's tests, each started here and stopped by pid.

redis-server (Debian's) on 127.0.0.1 and a free port, without persistence;
Celery workers and beat of probe_app.py as subprocesses of this Python; the
healthprobe binary ($HEALTHPROBE_BIN, else target/release/healthprobe). Every
wait is a bounded poll that fails saying what it waited for, with the end of
the process's log.
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "python"))

BIN = os.environ.get("HEALTHPROBE_BIN") or str(REPO / "target" / "release" / "healthprobe")
INTERVAL = 1  # seconds between beats, for every process the tests start
MAX_AGE = "3s"  # the probes' --max-age: three missed beats


def wait_for(what, condition, timeout, detail=lambda: "", pause=0.2):
    """Poll `condition` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s\n{detail()}", pytrace=False)
        time.sleep(pause)


def holds(what, condition, seconds, detail=lambda: "", pause=0.25):
    """Check `condition` every `pause` seconds for `seconds`; fail the first time it is false."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            pytest.fail(f"{what}: stopped holding\n{detail()}", pytrace=False)
        time.sleep(pause)


def probe(*targets, max_age=MAX_AGE):
    """Run the binary on `targets`: (exit status, what it printed)."""
    args = [BIN] + (["--max-age", max_age] if max_age else []) + [f"file://{t}" for t in targets]
    done = subprocess.run(args, capture_output=True, text=True, timeout=10)
    return done.returncode, (done.stdout + done.stderr).strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def children(pid):
    try:
        return [int(p) for p in pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop_pid(popen, grace=15):
    """SIGCONT (a frozen one), SIGTERM, then SIGKILL after `grace` s; then its leftover children."""
    if popen.poll() is not None:
        return
    kids = children(popen.pid)
    for sig in (signal.SIGCONT, signal.SIGTERM):
        popen.send_signal(sig)
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(10)
    for kid in kids:
        try:
            os.kill(kid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Redis:
    def __init__(self, workdir, port=None):
        self.port = port or free_port()
        self.workdir = workdir
        self.popen = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        log = open(self.workdir / f"redis-{self.port}.log", "ab")
        self.popen = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for(f"redis-server accepting on 127.0.0.1:{self.port}", lambda: accepts(self.port), 10)

    def stop(self):
        if self.popen is not None:
            stop_pid(self.popen)
            self.popen = None
        wait_for(f"127.0.0.1:{self.port} closed after redis-server stopped", lambda: not accepts(self.port), 10)


class Celery:
    """One `celery worker` or `celery beat` of probe_app, logging to a file of its own."""

    def __init__(self, workdir, broker, *args, env=None):
        self.workdir, self.args = workdir, args
        self.hb = workdir / "hb"
        self.marks = workdir / "marks"
        self.marks.mkdir(exist_ok=True)
        self.log = workdir / f"{args[0]}-{len(list(workdir.glob(args[0] + '-*.log')))}.log"
        self.env = dict(os.environ, PROBE_BROKER=broker, PROBE_MARKS=str(self.marks),
                        HEALTHPROBE_CELERY_DIR=str(self.hb), HEALTHPROBE_CELERY_INTERVAL=str(INTERVAL),
                        PYTHONPATH=os.pathsep.join([str(HERE), str(REPO / "python")]), PYTHONUNBUFFERED="1")
        self.env.update(env or {})
        self.popen = None

    def start(self):
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "probe_app", *self.args, "--loglevel", "INFO"],
                cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def path(self, name):
        return str(pathlib.Path(self.env["HEALTHPROBE_CELERY_DIR"]) / name)

    def tail(self, lines=40):
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            text = []
        state = "running" if self.popen.poll() is None else f"exited {self.popen.returncode}"
        return f"--- {self.log.name} ({state}), last {lines} lines:\n" + "\n".join(text[-lines:])

    def stop(self):
        if self.popen is not None:
            stop_pid(self.popen)

    def kill9(self):
        kids = children(self.pid)
        for pid in [self.pid] + kids:
            os.kill(pid, signal.SIGKILL)
        self.popen.wait(10)


@pytest.fixture(scope="session", autouse=True)
def binary():
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"no healthprobe binary at {BIN}: cargo build --release, or set HEALTHPROBE_BIN", pytrace=False)
    return BIN


@pytest.fixture
def redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("SKIP - no redis-server on PATH (apt-get install redis-server; make deps-e2e)")
    server = Redis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def celery(tmp_path):
    """celery(broker, 'worker', '-P', 'solo', ...) starts one; all are stopped after the test."""
    started = []

    def start(broker, *args, env=None):
        proc = Celery(tmp_path, broker, *args, env=env).start()
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()


def worker_args(pool):
    return ("worker", "--pool", pool, "--concurrency", "1", "--hostname", f"probe-{pool}@%h")
