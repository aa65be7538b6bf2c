"""HealthProbeMiddleware: /healthz and /readyz answered before any other middleware.

Put it first in MIDDLEWARE. It answers GET and HEAD on exactly the configured
paths (request.path_info, the path Django routes) and hands every other
request on untouched. Answering before SecurityMiddleware and CommonMiddleware
is the point: a probe sends the container's own address as its Host and plain
HTTP, so ALLOWED_HOSTS would answer 400 and SECURE_SSL_REDIRECT 301; and no
slash is appended. Those settings keep protecting every other path.
"""
import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpResponse

from . import config as config_module
from .readiness import Readiness, checks_for

PROBE_METHODS = ("GET", "HEAD")


def json_response(request, status, payload):
    body = json.dumps(payload).encode()
    response = HttpResponse(b"" if request.method == "HEAD" else body,
                            status=status, content_type="application/json")
    # A HEAD answer tells the length a GET would have.
    response["Content-Length"] = str(len(body))
    # A cached "ok" would hide the moment the instance stops being ready.
    response["Cache-Control"] = "no-store"
    return response


def liveness_response(request):
    return json_response(request, 200, {"status": "ok"})


def readiness_response(request, outcome):
    ready, statuses = outcome
    return json_response(request, 200 if ready else 503,
                         {"status": "ok" if ready else "error", "checks": statuses})


class HealthProbeMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.config = config_module.load(settings)
        self.readiness = Readiness(checks_for(self.config), self.config.timeout, self.config.max_age)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def endpoint(self, request):
        """'liveness', 'readiness', or None for a request that is not a probe."""
        if request.method not in PROBE_METHODS:
            return None
        path = request.path_info
        if path in self.config.liveness_paths:
            return "liveness"
        if path in self.config.readiness_paths:
            return "readiness"
        return None

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        endpoint = self.endpoint(request)
        if endpoint is None:
            return self.get_response(request)
        if endpoint == "liveness":
            return liveness_response(request)
        return readiness_response(request, self.readiness.result())

    async def __acall__(self, request):
        endpoint = self.endpoint(request)
        if endpoint is None:
            return await self.get_response(request)
        if endpoint == "liveness":
            return liveness_response(request)
        return readiness_response(request, await self.readiness.aresult())
