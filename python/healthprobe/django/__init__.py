"""Liveness and readiness endpoints for Django that deployment settings and a
frozen database cannot break. See docs/django.md.

    INSTALLED_APPS = [..., "healthprobe.django"]          # system checks
    MIDDLEWARE = ["healthprobe.django.middleware.HealthProbeMiddleware", ...]
    HEALTHPROBE = {...}                                     # optional
"""
