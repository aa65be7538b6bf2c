"""Settings for make test-docker: the reference app with faults to inject.

Selected with DJANGO_SETTINGS_MODULE=healthsite_fault (the file sits next to
the healthsite package in /app). Everything is the reference app's, plus:
  - while /tmp/healthsite-fail-500 exists, every request is answered 500;
  - HEALTHSITE_FAULT=404: a release that moved liveness elsewhere, so
    /healthz is a 404;
  - HEALTHSITE_FAULT=slash: a release that routes liveness as /healthz/, so
    Django's APPEND_SLASH answers /healthz with a 301, which a probe must not
    follow.
"""
import os

from django.urls import path

from healthsite import urls, views
from healthsite.settings import *  # noqa: F401,F403
from healthsite.settings import HEALTHPROBE, MIDDLEWARE

FAIL_500_FLAG = "/tmp/healthsite-fail-500"
FAULT = os.environ.get("HEALTHSITE_FAULT", "")

ROOT_URLCONF = __name__
urlpatterns = list(urls.urlpatterns)
if FAULT in ("404", "slash"):
    HEALTHPROBE = {**HEALTHPROBE, "LIVENESS_PATHS": ["/livez"]}
if FAULT == "slash":
    urlpatterns.append(path("healthz/", views.home))


class Fail500:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if os.path.exists(FAIL_500_FLAG):
            from django.http import HttpResponse

            return HttpResponse("fault injected by make test-docker\n", status=500)
        return self.get_response(request)


MIDDLEWARE = [f"{__name__}.Fail500", *MIDDLEWARE]
