"""The HEALTHPROBE setting, read and validated into a Config.

    HEALTHPROBE = {
        "LIVENESS_PATHS": ["/healthz"],      # answered 200 at once, nothing checked
        "READINESS_PATHS": ["/readyz"],      # answered 200 or 503 after the checks
        "READINESS_DATABASES": "__all__",    # or a list of aliases; [] for none
        "READINESS_CACHES": [],              # cache aliases to write and read back
        "READINESS_TIMEOUT": 0.5,            # seconds: the budget for all checks
        "READINESS_MAX_AGE": 1.0,            # seconds a result is reused
        "READINESS_MIGRATIONS": False,       # True, or a list of aliases: no unapplied migrations
    }

Every key is optional; an unknown key is an error, so a typo cannot silently
leave a default in place.
"""
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured

ALL = "__all__"

DEFAULTS = {
    "LIVENESS_PATHS": ("/healthz",),
    "READINESS_PATHS": ("/readyz",),
    "READINESS_DATABASES": ALL,
    "READINESS_CACHES": (),
    "READINESS_TIMEOUT": 0.5,
    "READINESS_MAX_AGE": 1.0,
    # Off by default: turned on by an upgrade, it would make every instance
    # of a deployment that starts the new code before running `migrate` (a
    # migrate step after the rollout, or beside it) answer 503 until the
    # migrations ran, and a rollout that waits for readiness before migrating
    # would never finish. It is for deployments that migrate first.
    "READINESS_MIGRATIONS": False,
}

# A readiness answer that takes longer than this is no longer a probe answer:
# probes time out at a few seconds, and a sync worker is held meanwhile.
MAX_TIMEOUT = 10.0


@dataclass(frozen=True)
class Config:
    liveness_paths: frozenset
    readiness_paths: frozenset
    databases: tuple
    caches: tuple
    timeout: float
    max_age: float
    migrations: tuple = ()  # database aliases whose migrations are checked


def _fail(key, problem):
    raise ImproperlyConfigured(f"HEALTHPROBE[{key!r}]: {problem}")


def _paths(key, value):
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        _fail(key, f"want a list of paths such as ['/healthz'], got {value!r}")
    for path in value:
        if not isinstance(path, str) or not path.startswith("/"):
            _fail(key, f"{path!r} is not a path starting with '/'")
    return frozenset(value)


def _aliases(key, value, configured, kind):
    if value == ALL and kind == "database":
        return tuple(configured)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        _fail(key, f"want a list of {kind} aliases, got {value!r}")
    for alias in value:
        if alias not in configured:
            _fail(key, f"{alias!r} is not in settings.{kind.upper()}S ({', '.join(configured) or 'empty'})")
    return tuple(dict.fromkeys(value))


def _migrations(key, value, databases):
    if value is True:
        return databases
    if value is False:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        _fail(key, f"want True, False or a list of database aliases, got {value!r}")
    for alias in value:
        if alias not in databases:
            _fail(key, f"{alias!r} is not a checked database (READINESS_DATABASES: {', '.join(databases) or 'none'})")
    return tuple(dict.fromkeys(value))


def _seconds(key, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(key, f"want a number of seconds, got {value!r}")
    if not low(value) or value > high:
        _fail(key, f"{value!r} seconds is out of range")
    return float(value)


def load(settings):
    """Read settings.HEALTHPROBE; raise ImproperlyConfigured naming the bad key."""
    given = getattr(settings, "HEALTHPROBE", None) or {}
    if not isinstance(given, dict):
        raise ImproperlyConfigured(f"HEALTHPROBE: want a dict, got {given!r}")
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ImproperlyConfigured(
            f"HEALTHPROBE: unknown key {unknown[0]!r} (known: {', '.join(DEFAULTS)})"
        )
    value = {**DEFAULTS, **given}
    liveness = _paths("LIVENESS_PATHS", value["LIVENESS_PATHS"])
    readiness = _paths("READINESS_PATHS", value["READINESS_PATHS"])
    both = liveness & readiness
    if both:
        _fail("READINESS_PATHS", f"{sorted(both)[0]!r} is also a liveness path")
    databases = _aliases("READINESS_DATABASES", value["READINESS_DATABASES"],
                         list(getattr(settings, "DATABASES", {}) or {}), "database")
    return Config(
        liveness_paths=liveness,
        readiness_paths=readiness,
        databases=databases,
        caches=_aliases("READINESS_CACHES", value["READINESS_CACHES"],
                        list(getattr(settings, "CACHES", {}) or {}), "cache"),
        timeout=_seconds("READINESS_TIMEOUT", value["READINESS_TIMEOUT"], lambda v: v > 0, MAX_TIMEOUT),
        max_age=_seconds("READINESS_MAX_AGE", value["READINESS_MAX_AGE"], lambda v: v >= 0, 3600),
        migrations=_migrations("READINESS_MIGRATIONS", value["READINESS_MIGRATIONS"], databases),
    )
