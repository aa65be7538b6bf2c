from django.urls import path

from . import views

urlpatterns = [
    # The two probe paths have no trailing slash, so Django matches them exactly.
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # Django's usual trailing-slash style. With APPEND_SLASH (on by default),
    # a probe of /health is answered with a 301 to /health/, which a probe must
    # not follow: this route exists to show that failure.
    path("health/", views.healthz, name="health-slash"),
]
