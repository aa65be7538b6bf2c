"""Settings for the reference health-check app, all read from the environment.

  DATABASE_URL          postgres://USER:PASSWORD@HOST:PORT/NAME (or sqlite:///PATH)
  PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
                        libpq's variables; used when DATABASE_URL is unset and
                        PGHOST or PGDATABASE is set
  SQLITE_PATH           the SQLite file otherwise (default: db.sqlite3 beside manage.py)
  ALLOWED_HOSTS         comma-separated (default: 127.0.0.1,localhost,[::1])
  SECURE_SSL_REDIRECT   1/true/yes/on to redirect plain HTTP to https://
  SECURE_PROXY_SSL_HEADER
                        a header name such as X-Forwarded-Proto: a request is
                        taken as HTTPS when the proxy sets it to "https"
  DJANGO_DEBUG          1/true/yes/on for Django's debug mode (never in production)
  READINESS_MIGRATIONS  1/true/yes/on: /readyz also answers 503 "migrations":
                        "pending" until `manage.py migrate` has run (turn it on
                        where migrate runs first, as examples/compose-workers.yaml does)
  CELERY_BROKER_URL     the workers' broker (default redis://127.0.0.1:6379/0)
  DJANGO_SECRET_KEY     required outside a demo
"""
import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name, default=False):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# libpq waits for ever on a host that drops packets: bound the app's own
# connections (healthprobe.django bounds its readiness check by itself).
# 2 s is libpq's smallest timeout.
PG_CONNECT_TIMEOUT = "2"


def postgres_from_url(url):
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    options.setdefault("connect_timeout", PG_CONNECT_TIMEOUT)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
    }


def postgres_from_libpq_env(env):
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env.get("PGDATABASE") or env.get("PGUSER") or "postgres",
        "USER": env.get("PGUSER", ""),
        "PASSWORD": env.get("PGPASSWORD", ""),
        "HOST": env.get("PGHOST", ""),
        "PORT": env.get("PGPORT", ""),
        "OPTIONS": {"connect_timeout": env.get("PGCONNECT_TIMEOUT", PG_CONNECT_TIMEOUT)},
    }


def sqlite(path):
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}


def default_database(env):
    url = env.get("DATABASE_URL", "").strip()
    if url:
        scheme = urlsplit(url).scheme
        if scheme in ("postgres", "postgresql", "pgsql"):
            return postgres_from_url(url)
        if scheme == "sqlite":
            # sqlite:///relative/file or sqlite:////absolute/file
            return sqlite(unquote(url[len("sqlite:///"):]) or str(BASE_DIR / "db.sqlite3"))
        raise ValueError(f"DATABASE_URL: unsupported scheme {scheme!r}")
    if env.get("PGHOST") or env.get("PGDATABASE"):
        return postgres_from_libpq_env(env)
    return sqlite(env.get("SQLITE_PATH") or str(BASE_DIR / "db.sqlite3"))


DEBUG = env_flag("DJANGO_DEBUG")
# A fixed key is fine for this demo app, which has no sessions or signed data.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "healthprobe-demo-not-a-secret")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT")
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _proxy_header.upper().replace("-", "_"),
        "https",
    )

# CommonMiddleware's default, spelled out: a path that only matches with a
# trailing slash answers with a 301 to that slash URL.
APPEND_SLASH = True

# healthprobe.django answers /healthz and /readyz. Its middleware comes first,
# so that the two settings above and ALLOWED_HOSTS, which protect every other
# path, cannot turn a probe into a 301 or a 400. The app entry adds Django
# system checks for its placement and its settings.
INSTALLED_APPS = ["healthprobe.django", "healthsite"]
MIDDLEWARE = [
    "healthprobe.django.middleware.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "healthsite.urls"
WSGI_APPLICATION = "healthsite.wsgi.application"
ASGI_APPLICATION = "healthsite.asgi.application"

# Its defaults, spelled out: /readyz runs SELECT 1 on every database within
# 0.5 s and shares the answer for 1 s. Migrations are checked only where
# READINESS_MIGRATIONS is set: where migrate runs first, as a one-shot job
# (examples/compose-workers.yaml); elsewhere (Dockerfile.example alone,
# examples/compose.yaml) nothing migrates before web (docs/django.md, Migrations).
HEALTHPROBE = {
    "LIVENESS_PATHS": ["/healthz"],
    "READINESS_PATHS": ["/readyz"],
    "READINESS_DATABASES": "__all__",
    "READINESS_CACHES": [],
    "READINESS_TIMEOUT": 0.5,
    "READINESS_MAX_AGE": 1.0,
    "READINESS_MIGRATIONS": env_flag("READINESS_MIGRATIONS"),
}

DATABASES = {"default": default_database(os.environ)}

# Celery (healthsite/celery.py): the broker, and one task that beat schedules
# every 10 s, so that a worker always has something to do.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {"ping": {"task": "healthsite.ping", "schedule": 10.0}}

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
