from django.urls import path

from . import views

# /healthz and /readyz are not routed here: healthprobe.django's middleware
# answers them before routing (see settings.MIDDLEWARE).
urlpatterns = [
    path("", views.home, name="home"),
    # Django's usual trailing-slash style. With APPEND_SLASH (on by default),
    # a probe of /health is answered with a 301 to /health/, which a probe must
    # not follow: this route exists to show that failure.
    path("health/", views.home, name="health-slash"),
]
