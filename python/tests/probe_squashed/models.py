"""A test app whose two migrations are also squashed into one, the squashed
one still beside them (as between `squashmigrations` and their removal)."""
from django.db import models


class Part(models.Model):
    label = models.CharField(max_length=20)
    weight = models.IntegerField(default=0)

    class Meta:
        app_label = "probe_squashed"
