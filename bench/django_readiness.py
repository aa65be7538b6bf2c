"""What READINESS_MIGRATIONS adds to a readiness probe of healthprobe.django,
measured on the reference app (examples/django), with its settings and its
database (DATABASE_URL, PG* or SQLite, as healthsite/settings.py reads them).

    PY=$(examples/django/ensure-venv.sh)/bin/python
    $PY bench/django_readiness.py                      # SQLite in a temporary directory
    DATABASE_URL=postgres://... $PY bench/django_readiness.py

Two app sets, each in a process of its own:
  reference   the app as it is: healthprobe.django and healthsite, whose one
              migration is the check's whole plan
  contrib     the same plus django.contrib's admin, auth, contenttypes,
              sessions and messages, migrated by `migrate` first: a table of
              rows to read and compare on each probe

For each, with the check off and on, the median over rounds of the mean time of:
  check       the database check itself (readiness.check_database: a
              connection of its own, SELECT 1, then, on, the read of
              django_migrations and the comparison), called in this thread
  request     GET /readyz through Django's test Client with READINESS_MAX_AGE
              0, so each request runs a round (its thread, the check, the
              JSON answer)
  read        what "on" adds to a check, alone: the read of django_migrations
              and the comparison, on an open connection, beside a SELECT 1 on it
and the one-time load of the migrations on disk. Prints microseconds; with
BENCH_FIGURES=FILE it also appends each figure to FILE as `KEY VALUE` lines
(bench/run.sh puts them in bench/results.md, which the documents quote). The
check and request figures include a new connection each (for PostgreSQL,
its authentication), which varies far more than the read adds.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "django"
CONTRIB = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
           "django.contrib.sessions", "django.contrib.messages"]


def setup(apps):
    sys.path[:0] = [str(APP), str(ROOT / "python")]
    import healthsite.settings as reference

    settings = types.ModuleType("bench_settings")
    settings.__dict__.update({k: v for k, v in vars(reference).items() if k.isupper()})
    if apps == "contrib":
        settings.INSTALLED_APPS = reference.INSTALLED_APPS + CONTRIB
    settings.LOGGING_CONFIG = None
    sys.modules["bench_settings"] = settings
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"
    import django

    django.setup()


def per_call(off, on, n, rounds):
    """Median over rounds of the mean seconds per call of each, the two
    interleaved round by round so that the machine's drift falls on both."""
    off(), on()  # warm
    means = {off: [], on: []}
    for i in range(rounds):
        for function in ((off, on) if i % 2 == 0 else (on, off)):
            start = time.perf_counter()
            for _ in range(n):
                function()
            means[function].append((time.perf_counter() - start) / n)
    return statistics.median(means[off]), statistics.median(means[on])


def measure(apps, n, rounds):
    setup(apps)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings

    from healthprobe.django import readiness

    call_command("migrate", verbosity=0, interactive=False)
    engine = connection.settings_dict["ENGINE"].rsplit(".", 1)[-1]
    from django.db.migrations.recorder import MigrationRecorder

    rows = len(MigrationRecorder(connection).applied_migrations())
    connection.close()

    start = time.perf_counter()
    plain, squashed = readiness.migration_plan.plan()
    load = time.perf_counter() - start

    plan = readiness.migration_plan
    check_off, check_on = per_call(lambda: readiness.check_database("default", 0.5),
                                   lambda: readiness.check_database("default", 0.5, plan), n, rounds)

    # What "on" adds to each check, alone: the read and the comparison, on
    # an open connection of the check's kind, beside the SELECT 1 it follows.
    from django.db.utils import ConnectionHandler, load_backend

    settings_dict = readiness.database_settings_for_check(ConnectionHandler().settings["default"], 0.5)
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    with wrapper.cursor() as cursor:
        def select_1():
            cursor.execute("SELECT 1" + wrapper.features.bare_select_suffix)
            cursor.fetchone()

        assert plan.missing(wrapper, cursor) == []
        select_1_alone, read_alone = per_call(select_1, lambda: plan.missing(wrapper, cursor), n * 10, rounds)
    wrapper.close()

    def client(on):
        with override_settings(HEALTHPROBE={"READINESS_MAX_AGE": 0, "READINESS_MIGRATIONS": on}):
            client = Client()
            response = client.get("/readyz")  # the middleware is built here, with these settings
        expect = b'"migrations": "ok"' if on else b'"database": "ok"}'
        assert response.status_code == 200 and expect in response.content, response.content
        return lambda: client.get("/readyz")

    request_off, request_on = per_call(client(False), client(True), n, rounds)
    us = lambda seconds: f"{seconds * 1e6:.0f}"  # noqa: E731
    print(f"{apps} ({engine}): {len(plain) + len(squashed)} migrations on disk, {rows} rows applied; "
          f"loading them once: {us(load)} us")
    print(f"  on an open connection: SELECT 1 {us(select_1_alone)} us; "
          f"the migrations read and comparison {us(read_alone)} us")
    print(f"  the check (its own connection): off {us(check_off)} us, on {us(check_on)} us "
          f"({us(check_on - check_off)} us more)")
    print(f"  GET /readyz, a round each: off {us(request_off)} us, on {us(request_on)} us "
          f"({us(request_on - request_off)} us more)")
    figures = os.environ.get("BENCH_FIGURES")
    if figures:
        with open(figures, "a") as out:
            for key, seconds in [("load", load), ("select_1", select_1_alone), ("read", read_alone),
                                 ("check_off", check_off), ("check_on", check_on),
                                 ("request_off", request_off), ("request_on", request_on)]:
                out.write(f"django.{apps}.{key} {us(seconds)} µs\n")
            out.write(f"django.{apps}.migrations {len(plain) + len(squashed)}\n")


def main():
    if len(sys.argv) == 4 and sys.argv[1] in ("reference", "contrib"):
        measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
        return
    n = int(os.environ.get("BENCH_N", "300"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "10"))
    print(f"# {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores, {n} calls x {rounds} rounds, median")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="healthprobe-bench-") as tmp:
        if not (env.get("DATABASE_URL") or env.get("PGHOST") or env.get("PGDATABASE")):
            env["SQLITE_PATH"] = f"{tmp}/db.sqlite3"
        for apps in ("reference", "contrib"):
            subprocess.run([sys.executable, __file__, apps, str(n), str(rounds)], env=env, check=True)


if __name__ == "__main__":
    main()
