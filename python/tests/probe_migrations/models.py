"""A test app with two migrations: the code's side of the migrations check."""
from django.db import models


class Thing(models.Model):
    name = models.CharField(max_length=20)
    size = models.IntegerField(default=0)

    class Meta:
        app_label = "probe_migrations"
