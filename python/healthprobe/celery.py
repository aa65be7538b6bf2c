"""Heartbeat files for Celery workers and beat, for `healthprobe file://`.

One line in the module that creates the Celery app turns it on::

    app = Celery("proj")
    healthprobe.celery.install(app)      # import healthprobe.celery

and the container's probes read the files (max-age well above the interval)::

    liveness   healthprobe --max-age 30s file:///tmp/healthprobe/worker.alive
    readiness  healthprobe --max-age 30s file:///tmp/healthprobe/worker.ready
    beat       healthprobe --max-age 30s file:///tmp/healthprobe/beat.alive

Files, in DIR:

``NAME.alive``  (worker) touched every INTERVAL seconds by the worker's main
    process from its own main loop: the event loop's timer while it runs, and
    the broker reconnection loop while the broker is unreachable.
``NAME.ready``  (worker) exists only while the worker is connected to its
    broker and consuming (created when the consumer starts, removed when it
    stops: on a lost connection, and on shutdown), and is touched with
    ``NAME.alive``, so that it goes stale too when the main loop hangs.
``BEAT.alive``  (beat) touched by every pass of beat's scheduler loop, which
    then sleeps at most INTERVAL seconds.

Settings (the environment variable wins over the Celery setting, which wins
over the default; read when the worker or beat starts):

===============================  ===========================  ====================
environment                      Celery setting               default
===============================  ===========================  ====================
``HEALTHPROBE_CELERY_DIR``       ``healthprobe_dir``          ``/tmp/healthprobe``
``HEALTHPROBE_CELERY_INTERVAL``  ``healthprobe_interval``     ``2`` (seconds)
``HEALTHPROBE_CELERY_WORKER``    ``healthprobe_worker_name``  ``worker`` (NAME)
``HEALTHPROBE_CELERY_BEAT``      ``healthprobe_beat_name``    ``beat`` (BEAT)
===============================  ===========================  ====================

DIR is created when missing (mode 0755), so a non-root user in a read-only
image with a writable /tmp needs no setting. Several workers sharing one DIR
need a NAME each; NAME takes Celery's node-name placeholders (``%n`` the
node name's part before the @, ``%h`` the part after it, ``%p`` the whole),
e.g. ``worker-%n`` with ``celery worker -n emails@%h`` gives
``worker-emails.alive`` and ``worker-emails.ready``.

Both files are removed when the worker (or beat) starts, so that files left by
a killed run never read as ready, and a stale ``.alive`` fails its max-age
anyway. When DIR or a file cannot be written, one warning is logged, the
worker goes on working, and the probes fail saying the file is missing.

What a heartbeat can and cannot see:

* It is the main process's main loop. Prefork children are not covered: a
  child stuck in a task leaves the heartbeat beating (use task time limits).
* With the solo pool a task runs in the main loop, so the heartbeat stops for
  the task's duration: max-age must exceed the longest task.
* Liveness must not depend on the broker: restarting a worker cannot bring a
  broker back, so an outage must not make every worker be killed in a loop.
  While the broker is unreachable, the worker sits in Celery's reconnection
  loop instead of its event loop (its timer does not run there); that loop
  calls back every second and the heartbeat beats from that call back. A
  connection attempt that hangs (packets dropped) stalls it for the connect
  timeout: keep ``broker_connection_timeout`` and the transport's
  ``socket_connect_timeout`` below max-age. Readiness is the one that follows
  the broker.
* The timer is the event loop's with the transports Celery drives from its
  event loop (Redis, RabbitMQ) and the prefork and solo pools (the ones
  tested); with eventlet or gevent, or a transport without one, Celery's
  timer is a thread of its own and the heartbeat says only that the process
  is running.
* Beat's file is touched after each pass of the scheduler: a pass that blocks
  (a publish that waits on the broker) stalls it for as long.

Only Celery is imported, and only by this module.
"""
import os
import time

from celery import bootsteps, signals
from celery.utils.log import get_logger
from celery.utils.nodenames import node_format

__all__ = ["install"]

logger = get_logger(__name__)

DEFAULTS = {"dir": "/tmp/healthprobe", "interval": "2", "worker_name": "worker", "beat_name": "beat"}
ENVIRON = {
    "dir": "HEALTHPROBE_CELERY_DIR",
    "interval": "HEALTHPROBE_CELERY_INTERVAL",
    "worker_name": "HEALTHPROBE_CELERY_WORKER",
    "beat_name": "HEALTHPROBE_CELERY_BEAT",
}


def install(app):
    """Add the worker's heartbeat and readiness files and beat's heartbeat to `app`."""
    app.steps["worker"].add(WorkerHeartbeat)
    app.steps["consumer"].add(ConsumerReady)

    def on_beat_init(sender=None, **kwargs):
        if getattr(sender, "app", None) is app:
            _beat_heartbeat(sender)

    signals.beat_init.connect(on_beat_init, weak=False, dispatch_uid=f"healthprobe.celery.beat.{id(app)}")


def setting(app, key):
    """The value of one setting: its environment variable, its Celery setting, or the default."""
    value = os.environ.get(ENVIRON[key])
    if value is None or value == "":
        value = app.conf.get(f"healthprobe_{key}")
    if value is None or value == "":
        value = DEFAULTS[key]
    if key == "interval":
        value = float(value)
        if not value > 0:
            raise ValueError(f"healthprobe.celery: the interval must be a number of seconds above 0, not {value!r}")
    return value


class Files:
    """The heartbeat files of one process: `beat()` touches them, `clear()` removes them."""

    def __init__(self, directory, name, interval, ready=False):
        self.alive = os.path.join(directory, f"{name}.alive")
        self.ready = os.path.join(directory, f"{name}.ready") if ready else None
        self.directory, self.interval = directory, interval
        self.is_ready = False
        self.last = None
        self.warned = False

    def clear(self):
        for path in (self.alive, self.ready):
            if path:
                self.remove(path)

    def beat(self, force=False):
        now = time.monotonic()
        if not force and self.last is not None and now - self.last < self.interval / 2:
            return
        self.last = now
        self.touch(self.alive)
        if self.is_ready:
            self.touch(self.ready)

    def set_ready(self, ready):
        self.is_ready = ready
        if ready:
            self.touch(self.ready)
        else:
            self.remove(self.ready)

    def touch(self, path):
        try:
            try:
                os.utime(path)
            except FileNotFoundError:
                os.makedirs(self.directory, mode=0o755, exist_ok=True)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
        except OSError as exc:
            self.warn(path, exc)

    def remove(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.warn(path, exc)

    def warn(self, path, exc):
        if not self.warned:
            self.warned = True
            logger.warning(
                "healthprobe.celery: cannot write the heartbeat file %s (%s); working on without it, "
                "so its probe will fail (no such file)", path, exc)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """The worker's files: cleared at start, beaten from the reconnection loop, cleared at stop."""

    label = "healthprobe heartbeat"
    requires = {"celery.worker.components:Timer"}

    def __init__(self, w, **kwargs):
        super().__init__(w, **kwargs)
        name = node_format(setting(w.app, "worker_name"), w.hostname)
        w.healthprobe = self.files = Files(setting(w.app, "dir"), name, setting(w.app, "interval"), ready=True)
        self.files.clear()

    def start(self, w):
        _beat_in_reconnection_loop(self.files)
        self.files.beat(force=True)

    def stop(self, w):
        _beat_in_reconnection_loop(None)
        self.files.clear()

    shutdown = stop


class ConsumerReady(bootsteps.StartStopStep):
    """While the consumer runs: `NAME.ready`, and the beat from the worker's timer (the event loop's).

    The timer entry is made anew at each start, as a consumer that lost its
    connection may drop the timer's entries: Celery 5.5 clears the whole
    timer, 5.7 cancels the entries made since the consumer began connecting.
    """

    label = "healthprobe readiness"
    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.timer_entry = None

    def start(self, c):
        files = getattr(c.controller, "healthprobe", None)
        if files is not None:
            files.set_ready(True)
            self.timer_entry = c.timer.call_repeatedly(files.interval, files.beat)

    def stop(self, c):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
        files = getattr(c.controller, "healthprobe", None)
        if files is not None:
            files.set_ready(False)

    shutdown = stop


_reconnecting = {"files": None, "original": None}


def _beat_in_reconnection_loop(files):
    """Beat from the consumer's reconnection loop too (or stop, with None).

    While the broker cannot be reached the consumer's main loop is kombu's
    retry loop, which calls `maybe_shutdown` of Celery's consumer module once
    a second; the timer does not run there. That name is replaced by one that
    also beats. A Celery without it gets a warning and no beat there.
    """
    from celery.worker.consumer import consumer

    _reconnecting["files"] = files
    if files is None or _reconnecting["original"] is not None:
        return
    original = getattr(consumer, "maybe_shutdown", None)
    if original is None:
        logger.warning("healthprobe.celery: this Celery has no reconnection loop hook; "
                       "the heartbeat stops while the broker is unreachable")
        return
    _reconnecting["original"] = original

    def maybe_shutdown():
        original()
        if _reconnecting["files"] is not None:
            _reconnecting["files"].beat()

    consumer.maybe_shutdown = maybe_shutdown


def _beat_heartbeat(service):
    """Beat's `BEAT.alive`, touched after each scheduler pass, which sleeps at most the interval."""
    app = service.app
    files = Files(setting(app, "dir"), setting(app, "beat_name"), setting(app, "interval"))
    files.clear()
    scheduler = service.scheduler
    tick, close = scheduler.tick, scheduler.close

    def beating_tick(*args, **kwargs):
        wait = tick(*args, **kwargs)
        files.beat(force=True)
        return min(wait, files.interval) if wait else wait

    def closing(*args, **kwargs):
        try:
            return close(*args, **kwargs)
        finally:
            files.clear()

    scheduler.tick, scheduler.close = beating_tick, closing
    files.beat(force=True)
