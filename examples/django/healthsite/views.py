"""Liveness and readiness views, as in the article "Django health check endpoint".

/healthz touches nothing but Django itself, so a database outage never makes
the process look dead (and never gets it restarted in a loop). /readyz runs
`SELECT 1` on the default database: 200 when it answers, 503 when it does not.
"""
from django.db import connections
from django.db.utils import DatabaseError
from django.http import JsonResponse
from django.views.decorators.http import require_safe


@require_safe  # GET and HEAD; anything else is a 405
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_safe
def readyz(request):
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        # No exception text in the body: it can carry host names and users.
        return JsonResponse(
            {"status": "error", "checks": {"database": "unavailable"}}, status=503
        )
    return JsonResponse({"status": "ok", "checks": {"database": "ok"}})
