from django.db import models


class Ping(models.Model):
    """One row per ping task a worker ran (healthsite/celery.py): the app's
    one model, so that its deployment has a migration to apply before web
    takes traffic."""

    at = models.DateTimeField(auto_now_add=True)
    worker = models.CharField(max_length=200)
