"""The URLconf of the unit tests' site: every path the app routes answers with
what the app saw, so a test can tell the app's answer from the middleware's."""
from django.http import HttpResponse
from django.urls import path


def app(request):
    return HttpResponse(f"app: {request.method} {request.path}", content_type="text/plain")


urlpatterns = [
    path("", app),
    # Django's trailing-slash style: APPEND_SLASH sends /health to /health/.
    path("health/", app),
    # The probe paths, routed to the app too: a request the middleware hands
    # on reaches this view, which says so.
    path("healthz", app),
    path("readyz", app),
]
