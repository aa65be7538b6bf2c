from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from . import config

MIDDLEWARE = "healthprobe.django.middleware.HealthProbeMiddleware"


def check_setup(app_configs, **kwargs):
    problems = []
    try:
        config.load(settings)
    except ImproperlyConfigured as exc:
        problems.append(checks.Error(str(exc), id="healthprobe.E001"))
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE not in middleware:
        problems.append(checks.Warning(
            f"{MIDDLEWARE} is not in MIDDLEWARE: nothing answers the probe paths",
            hint="Put it first in MIDDLEWARE.", id="healthprobe.W001"))
    elif middleware[0] != MIDDLEWARE:
        problems.append(checks.Warning(
            f"{MIDDLEWARE} is not first in MIDDLEWARE: {middleware[0]} runs before it "
            "and can answer a probe itself (ALLOWED_HOSTS 400, SECURE_SSL_REDIRECT 301)",
            hint="Put it first in MIDDLEWARE.", id="healthprobe.W002"))
    return problems


class HealthProbeConfig(AppConfig):
    name = "healthprobe.django"
    label = "healthprobe"
    verbose_name = "healthprobe"

    def ready(self):
        checks.register(check_setup)
