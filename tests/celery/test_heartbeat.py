"""healthprobe.celery against real Redis, real Celery workers (prefork and solo) and beat, and the binary.

Each heartbeat beats every second (HEALTHPROBE_CELERY_INTERVAL=1) and every
liveness probe allows three (--max-age 3s), so a heartbeat that stops fails
its probe within a few seconds and one that goes on passes every poll.
"""
import ast
import os
import signal
import subprocess
import sys
import time

import pytest
from celery import Celery as Client

from conftest import REPO, INTERVAL, MAX_AGE, free_port, holds, probe, wait_for, worker_args

POOLS = ["prefork", "solo"]
START = 40  # seconds for a worker to start and connect (prefork forks its child first)
SEVERAL_BEATS = 6  # seconds of sampling: twice the max-age


def send(broker, task, *args):
    client = Client(broker=broker)
    client.conf.broker_connection_retry_on_startup = False
    try:
        client.send_task(f"probe_app.{task}", args=args)
    finally:
        client.close()


def ok(w, *names):
    return lambda: probe(*(w.path(n) for n in names))[0] == 0


def fails(w, *names):
    return lambda: probe(*(w.path(n) for n in names))[0] == 1


def up(celery, redis, pool, **kw):
    w = celery(redis.url, *worker_args(pool), **kw)
    wait_for(f"{pool} worker alive and ready", ok(w, "worker.alive", "worker.ready"), START, w.tail)
    return w


@pytest.mark.parametrize("pool", POOLS)
def test_alive_and_ready(redis, celery, pool):
    w = up(celery, redis, pool)
    rc, out = probe(w.path("worker.alive"), w.path("worker.ready"))
    assert rc == 0, out
    holds("alive and ready while the worker runs", ok(w, "worker.alive", "worker.ready"), SEVERAL_BEATS, w.tail)
    send(redis.url, "mark", "ran")
    wait_for("the task ran", lambda: (w.marks / "ran").exists(), 20, w.tail)


@pytest.mark.parametrize("pool", POOLS)
def test_broker_outage_keeps_liveness_and_drops_readiness(redis, celery, pool):
    w = up(celery, redis, pool)
    redis.stop()
    wait_for("readiness lost once Redis stopped", fails(w, "worker.ready"), 10, w.tail)
    rc, out = probe(w.path("worker.ready"))
    assert rc == 1 and "no such file" in out, out
    holds("liveness during the outage", ok(w, "worker.alive"), 2 * SEVERAL_BEATS, w.tail)
    assert w.popen.poll() is None, w.tail()

    redis.start()
    wait_for("ready again once Redis is back", ok(w, "worker.alive", "worker.ready"), 45, w.tail)
    holds("alive and ready after the reconnection (the event loop's timer beats again)",
          ok(w, "worker.alive", "worker.ready"), SEVERAL_BEATS, w.tail)
    send(redis.url, "mark", "after")
    wait_for("a task ran after the reconnection", lambda: (w.marks / "after").exists(), 20, w.tail)


@pytest.mark.parametrize("pool", POOLS)
def test_broker_refusing_is_alive_not_ready(tmp_path, celery, pool):
    w = celery(f"redis://127.0.0.1:{free_port()}/0", *worker_args(pool))
    wait_for("alive with no broker to connect to", ok(w, "worker.alive"), START, w.tail)
    holds("alive and never ready while the broker refuses",
          lambda: ok(w, "worker.alive")() and fails(w, "worker.ready")(), 2 * SEVERAL_BEATS, w.tail)
    rc, out = probe(w.path("worker.ready"))
    assert rc == 1 and "no such file" in out, out
    assert "Cannot connect to redis://" in w.log.read_text(), w.tail()


@pytest.mark.parametrize("pool", POOLS)
def test_frozen_worker_goes_stale(redis, celery, pool):
    w = up(celery, redis, pool)
    os.kill(w.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        wait_for("liveness failing once the worker froze", fails(w, "worker.alive"), 3 + 2 * INTERVAL + 3, w.tail)
        took = time.monotonic() - t0
        rc, out = probe(w.path("worker.alive"))
        assert rc == 1 and f"more than --max-age {MAX_AGE}" in out, out
        # Touched with it, a moment later: stale a moment later.
        wait_for("readiness stale too", fails(w, "worker.ready"), 2, w.tail)
        rc, out = probe(w.path("worker.ready"))
        assert rc == 1 and f"more than --max-age {MAX_AGE}" in out, out
        print(f"{pool}: liveness failed {took:.1f}s after SIGSTOP (--max-age {MAX_AGE})")
    finally:
        os.kill(w.pid, signal.SIGCONT)
    wait_for("alive and ready again after SIGCONT", ok(w, "worker.alive", "worker.ready"), 10, w.tail)


def test_solo_long_task_stops_the_heartbeat_prefork_does_not(redis, celery):
    solo = up(celery, redis, "solo")
    send(redis.url, "sleep", 6, "solo-slept")
    wait_for("solo liveness stale during a 6 s task", fails(solo, "worker.alive"), 8, solo.tail)
    wait_for("solo task done", lambda: (solo.marks / "solo-slept").exists(), 15, solo.tail)
    wait_for("solo alive again after the task", ok(solo, "worker.alive"), 5, solo.tail)
    solo.stop()

    prefork = up(celery, redis, "prefork")
    send(redis.url, "sleep", 6, "prefork-slept")
    holds("prefork liveness during a 6 s task in its child", ok(prefork, "worker.alive"), 6, prefork.tail)
    wait_for("prefork task done", lambda: (prefork.marks / "prefork-slept").exists(), 15, prefork.tail)


@pytest.mark.parametrize("pool", POOLS)
def test_killed_run_leaves_nothing_that_reads_as_up(redis, celery, pool):
    old = up(celery, redis, pool)
    old.kill9()
    alive, ready = old.path("worker.alive"), old.path("worker.ready")
    assert os.path.exists(alive) and os.path.exists(ready), "kill -9 left no files: nothing to check"
    wait_for("the dead run's liveness file rejected as stale", lambda: probe(alive)[0] == 1, 3 + 3, old.tail)
    rc, out = probe(alive)
    assert "more than --max-age" in out, out

    # The next run comes up while the broker is down: it must not read as
    # ready, from the old file or otherwise, until it is connected.
    redis.stop()
    new = celery(redis.url, *worker_args(pool))
    wait_for("the old readiness file removed at start", lambda: not os.path.exists(ready), START, new.tail)
    wait_for("the new run alive", ok(new, "worker.alive"), START, new.tail)
    holds("not ready while the broker is down", fails(new, "worker.ready"), SEVERAL_BEATS, new.tail)
    redis.start()
    wait_for("ready once the broker is up", ok(new, "worker.alive", "worker.ready"), 45, new.tail)


@pytest.mark.parametrize("pool", POOLS)
def test_shutdown_removes_the_files(redis, celery, pool):
    w = up(celery, redis, pool)
    w.popen.send_signal(signal.SIGTERM)
    w.popen.wait(20)
    for name in ("worker.alive", "worker.ready"):
        assert not os.path.exists(w.path(name)), f"{name} left after a warm shutdown\n{w.tail()}"


def test_unwritable_directory_warns_once_and_works(redis, celery, tmp_path):
    # Under a regular file: no one, root included, can create the directory.
    (tmp_path / "a-file").write_text("")
    hb = tmp_path / "a-file" / "hb"
    w = celery(redis.url, *worker_args("solo"), env={"HEALTHPROBE_CELERY_DIR": str(hb)})
    wait_for("the worker consuming", lambda: "ready." in w.log.read_text(), START, w.tail)
    send(redis.url, "mark", "ran")
    wait_for("the task ran", lambda: (w.marks / "ran").exists(), 20, w.tail)
    time.sleep(3 * INTERVAL)  # beats that fail again must not log again
    warnings = [line for line in w.log.read_text().splitlines() if "cannot write the heartbeat file" in line]
    assert len(warnings) == 1, w.tail()
    assert str(hb) in warnings[0] and "WARNING" in warnings[0], warnings[0]
    for name in ("worker.alive", "worker.ready"):
        rc, out = probe(w.path(name))
        assert rc == 1 and out.endswith("no such file (its writer has not started yet, or has stopped)"), out


def test_beat_alive_then_frozen_goes_stale(redis, celery):
    b = celery(redis.url, "beat", "--schedule", "beat-schedule")
    wait_for("beat alive", ok(b, "beat.alive"), START, b.tail)
    holds("beat alive between its passes (its next entry is an hour away)", ok(b, "beat.alive"), SEVERAL_BEATS, b.tail)
    os.kill(b.pid, signal.SIGSTOP)
    try:
        wait_for("beat liveness failing once beat froze", fails(b, "beat.alive"), 3 + 2 * INTERVAL + 3, b.tail)
        rc, out = probe(b.path("beat.alive"))
        assert rc == 1 and f"more than --max-age {MAX_AGE}" in out, out
    finally:
        os.kill(b.pid, signal.SIGCONT)
    wait_for("beat alive again after SIGCONT", ok(b, "beat.alive"), 10, b.tail)
    b.popen.send_signal(signal.SIGTERM)
    b.popen.wait(20)
    assert not os.path.exists(b.path("beat.alive")), b.tail()


def test_beat_removes_a_leftover_file_at_start(redis, celery, tmp_path):
    hb = tmp_path / "hb"
    hb.mkdir()
    (hb / "beat.alive").touch()
    # A second link keeps the leftover's inode taken: a file beat made anew
    # has another one, a leftover it only touched keeps it.
    os.link(hb / "beat.alive", tmp_path / "leftover")
    b = celery(redis.url, "beat", "--schedule", "beat-schedule")
    leftover = os.stat(tmp_path / "leftover").st_ino

    def made_anew():
        try:
            return os.stat(hb / "beat.alive").st_ino != leftover
        except FileNotFoundError:
            return False

    wait_for("beat.alive made anew at start (another inode than the leftover's)", made_anew, START, b.tail)
    assert os.stat(tmp_path / "leftover").st_nlink == 1, "the leftover is still linked in the directory"
    wait_for("beat alive", ok(b, "beat.alive"), 5, b.tail)


def test_settings_environment_then_celery_then_default(monkeypatch):
    import healthprobe.celery as hc

    app = Client(set_as_current=False)
    for var in hc.ENVIRON.values():
        monkeypatch.delenv(var, raising=False)
    assert [hc.setting(app, k) for k in ("dir", "interval", "worker_name", "beat_name")] == \
        ["/tmp/healthprobe", 2.0, "worker", "beat"]
    app.conf.healthprobe_dir = "/run/hb"
    app.conf.healthprobe_interval = 5
    assert (hc.setting(app, "dir"), hc.setting(app, "interval")) == ("/run/hb", 5.0)
    monkeypatch.setenv("HEALTHPROBE_CELERY_DIR", "/var/hb")
    monkeypatch.setenv("HEALTHPROBE_CELERY_INTERVAL", "0.5")
    assert (hc.setting(app, "dir"), hc.setting(app, "interval")) == ("/var/hb", 0.5)
    monkeypatch.setenv("HEALTHPROBE_CELERY_INTERVAL", "0")
    with pytest.raises(ValueError, match="above 0"):
        hc.setting(app, "interval")


def test_imports_celery_only_when_imported():
    # What Celery imports in turn is Celery's (kombu imports Django when it is
    # installed, as it is here); the module itself imports Celery alone.
    code = ("import sys, healthprobe; a = 'celery' in sys.modules; import healthprobe.celery; "
            "print(a, 'celery' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["False", "True"], out
    tree = ast.parse((REPO / "python" / "healthprobe" / "celery.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"os", "time", "celery"}, imported


def test_two_workers_share_a_directory_by_name(redis, celery):
    env = {"HEALTHPROBE_CELERY_WORKER": "worker-%n"}
    a = celery(redis.url, "worker", "--pool", "solo", "--hostname", "emails@%h", env=env)
    b = celery(redis.url, "worker", "--pool", "solo", "--hostname", "reports@%h", env=env)
    for w, n in ((a, "emails"), (b, "reports")):
        wait_for(f"worker {n} alive and ready", ok(w, f"worker-{n}.alive", f"worker-{n}.ready"), START, w.tail)
    assert not os.path.exists(a.path("worker.alive")), "the default name used despite HEALTHPROBE_CELERY_WORKER"
    a.popen.send_signal(signal.SIGTERM)
    a.popen.wait(20)
    assert not os.path.exists(a.path("worker-emails.alive")), a.tail()
    holds("the other worker's files untouched by the first one's shutdown",
          ok(b, "worker-reports.alive", "worker-reports.ready"), SEVERAL_BEATS, b.tail)
