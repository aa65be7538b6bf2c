"""The reference app's Celery workers and scheduler.

    celery -A healthsite.celery worker
    celery -A healthsite.celery beat --schedule /tmp/celerybeat-schedule

Only the worker and beat import this module (the web process never imports
Celery). The last line gives both their heartbeat files, which healthprobe
reads as file:// targets (docs/workers.md).
"""
import os

from celery import Celery

import healthprobe.celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthsite.settings")

app = Celery("healthsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["healthsite"])


@app.task(name="healthsite.ping", bind=True)
def ping(task):
    from healthsite.models import Ping

    Ping.objects.create(worker=task.request.hostname or "")
    return "pong"


healthprobe.celery.install(app)
