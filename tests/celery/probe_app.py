"""The Celery app the tests run as real worker and beat processes.

The broker is $PROBE_BROKER; the heartbeat settings come from the
environment as a deployment would give them. Tasks leave files behind, so a
test sees that a task ran without a result backend.
"""
import os
import pathlib
import time

from celery import Celery

import healthprobe.celery

app = Celery("probe_app", broker=os.environ["PROBE_BROKER"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=2,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    # One entry due an hour apart: left to itself beat would sleep for its
    # whole max interval (300 s) between passes.
    beat_schedule={"hourly": {"task": "probe_app.mark", "schedule": 3600.0, "args": ("beat",)}},
)
healthprobe.celery.install(app)


@app.task
def mark(name):
    """Create the file $PROBE_MARKS/NAME."""
    pathlib.Path(os.environ["PROBE_MARKS"], name).touch()


@app.task
def sleep(seconds, name):
    """Sleep, then mark NAME."""
    time.sleep(seconds)
    mark(name)
