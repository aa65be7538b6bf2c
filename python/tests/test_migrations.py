"""READINESS_MIGRATIONS: "pending" while a checked database lacks a migration
on disk, "ok" once migrated; the plan loaded once per process; the budget,
the shared round and the reuse of results as for the other checks. The
database is the unit tests' SQLite file, migrated by Django's own migrate;
the apps are probe_migrations (two migrations) and probe_squashed (two
migrations and their squashed replacement)."""
import json
import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from healthprobe.django import config, readiness
from healthprobe.django.apps import check_setup
from healthprobe.django.middleware import HealthProbeMiddleware

BUDGET = 0.5
MARGIN = 0.4  # for a loaded machine
AT_ONCE = 0.25

SQUASHED = ("probe_squashed", "0001_squashed_0002_part_weight")
REPLACED = [("probe_squashed", "0001_initial"), ("probe_squashed", "0002_part_weight")]


def app(request):
    return HttpResponse("app")


def probe(middleware):
    response = middleware(RequestFactory().get("/readyz"))
    return response.status_code, json.loads(response.content)


def migrate(app_label, target):
    call_command("migrate", app_label, target, verbosity=0, interactive=False)


def django_would_migrate():
    """Django's own answer: the plan `migrate` would carry out, from a loader
    that reads the database afresh."""
    executor = MigrationExecutor(connection)
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


class CountingLoad:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return readiness.load_migration_plan()


@pytest.fixture
def plan(monkeypatch):
    """A fresh per-process plan whose loads are counted; both apps at zero."""
    load = CountingLoad()
    monkeypatch.setattr(readiness, "migration_plan", readiness.MigrationPlan(load))
    migrate("probe_migrations", "zero")
    migrate("probe_squashed", "zero")
    yield load
    connection.close()


def checked(**healthprobe):
    return override_settings(HEALTHPROBE={"READINESS_MIGRATIONS": True, "READINESS_MAX_AGE": 0,
                                          "READINESS_TIMEOUT": BUDGET, **healthprobe})


def test_pending_until_every_migration_is_applied_then_ok(plan):
    with checked():
        middleware = HealthProbeMiddleware(app)
        assert probe(middleware) == (503, {"status": "error", "checks": {"database": "ok", "migrations": "pending"}})
        migrate("probe_migrations", "0001")
        migrate("probe_squashed", "0001_squashed_0002_part_weight")
        assert probe(middleware) == (503, {"status": "error", "checks": {"database": "ok", "migrations": "pending"}})
        migrate("probe_migrations", "0002")
        assert probe(middleware) == (200, {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}})
        # Back one step, as a rollback of the database would: pending again.
        migrate("probe_migrations", "0001")
        assert probe(middleware) == (503, {"status": "error", "checks": {"database": "ok", "migrations": "pending"}})
    assert plan.calls == 1


def test_the_pending_migrations_are_logged_by_name(plan, caplog):
    migrate("probe_squashed", "0001_squashed_0002_part_weight")
    migrate("probe_migrations", "0001")
    with checked(), caplog.at_level("WARNING", logger="healthprobe.django"):
        probe(HealthProbeMiddleware(app))
    assert "readiness check migrations: PendingMigrations: 1 not applied: probe_migrations.0002_thing_size" \
        in caplog.text


def test_off_by_default_and_then_no_migrations_key(plan):
    with override_settings(HEALTHPROBE={"READINESS_MAX_AGE": 0}):
        assert probe(HealthProbeMiddleware(app)) == (200, {"status": "ok", "checks": {"database": "ok"}})
    assert plan.calls == 0


def test_a_database_never_migrated_is_pending(plan, tmp_dir):
    fresh = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_dir / "never-migrated.sqlite3")}
    with override_settings(DATABASES={"default": fresh}), checked():
        assert probe(HealthProbeMiddleware(app)) == (
            503, {"status": "error", "checks": {"database": "ok", "migrations": "pending"}})


def test_with_no_migrations_on_disk_a_database_without_the_table_is_ok(monkeypatch, tmp_dir):
    monkeypatch.setattr(readiness, "migration_plan", readiness.MigrationPlan(lambda: (frozenset(), ())))
    fresh = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_dir / "no-migrations.sqlite3")}
    with override_settings(DATABASES={"default": fresh}), checked():
        assert probe(HealthProbeMiddleware(app)) == (200, {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}})


@pytest.mark.parametrize("rows, pending", [
    (REPLACED + [SQUASHED], False),   # as `migrate` leaves it
    (REPLACED, False),                # migrated before the squash existed
    (REPLACED[:1], True),             # half of what it replaces
    (REPLACED[:1] + [SQUASHED], True),
    ([SQUASHED], True),               # its own row alone: Django applies it again
    ([], True),
])
def test_a_squashed_migration_counts_as_applied_as_django_counts_it(plan, rows, pending):
    migrate("probe_migrations", "0002")
    migrate("probe_squashed", "0001_squashed_0002_part_weight")
    recorder = MigrationRecorder(connection)
    for row in REPLACED + [SQUASHED]:
        recorder.record_unapplied(*row)
    try:
        for row in rows:
            recorder.record_applied(*row)
        assert bool(django_would_migrate()) == pending  # the case is what it claims
        with checked():
            status, answer = probe(HealthProbeMiddleware(app))
    finally:  # the rows as the schema is, for the next test's migrate to zero
        for row in REPLACED + [SQUASHED]:
            recorder.record_applied(*row)
    assert answer["checks"] == {"database": "ok", "migrations": "pending" if pending else "ok"}
    assert status == (503 if pending else 200)


def test_a_database_that_fails_reports_its_own_failure_not_pending(plan, tmp_dir):
    missing = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_dir / "no-such-dir" / "db.sqlite3")}
    with override_settings(DATABASES={"default": missing}), checked():
        assert probe(HealthProbeMiddleware(app)) == (
            503, {"status": "error", "checks": {"database": "unavailable", "migrations": "unavailable"}})


def test_an_unreadable_migrations_table_is_unavailable_not_pending(plan, tmp_dir):
    import sqlite3

    path = tmp_dir / "odd-table.sqlite3"
    with sqlite3.connect(path) as db:
        # There, but failing when read (SQLite takes an unknown "column" in
        # double quotes for a string, so a table of other columns would not).
        db.execute("CREATE VIEW django_migrations AS SELECT app, name FROM gone")
    with override_settings(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}}), \
            checked():
        assert probe(HealthProbeMiddleware(app)) == (
            503, {"status": "error", "checks": {"database": "ok", "migrations": "unavailable"}})


def test_the_plan_is_loaded_once_for_every_database_round_and_middleware(plan):
    migrate("probe_migrations", "0002")
    migrate("probe_squashed", "0001_squashed_0002_part_weight")
    same = connection.settings_dict["NAME"]
    databases = {alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": same}
                 for alias in ("default", "a", "b", "c")}
    with override_settings(DATABASES=databases), checked():
        middlewares = [HealthProbeMiddleware(app) for _ in range(3)]
        answers = []

        def rounds(middleware):
            for _ in range(5):
                answers.append(probe(middleware))

        threads = [threading.Thread(target=rounds, args=(m,)) for m in middlewares]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(answers) == 15
    assert all(a == (200, {"status": "ok", "checks": {
        "database": "ok", "migrations": "ok", "database:a": "ok", "migrations:a": "ok",
        "database:b": "ok", "migrations:b": "ok", "database:c": "ok", "migrations:c": "ok"}}) for a in answers)
    assert plan.calls == 1


def test_a_list_checks_only_those_databases(plan):
    migrate("probe_migrations", "0002")
    migrate("probe_squashed", "0001_squashed_0002_part_weight")
    same = connection.settings_dict["NAME"]
    databases = {alias: {"ENGINE": "django.db.backends.sqlite3", "NAME": same} for alias in ("default", "other")}
    with override_settings(DATABASES=databases), checked(READINESS_MIGRATIONS=["other"]):
        assert probe(HealthProbeMiddleware(app)) == (200, {"status": "ok", "checks": {
            "database": "ok", "database:other": "ok", "migrations:other": "ok"}})


def test_results_are_reused_for_the_max_age_with_one_read_per_round(plan, monkeypatch):
    reads = []
    real = readiness.applied_migrations

    def counted(wrapper, cursor):
        reads.append(1)
        return real(wrapper, cursor)

    monkeypatch.setattr(readiness, "applied_migrations", counted)
    with checked(READINESS_MAX_AGE=0.3):
        middleware = HealthProbeMiddleware(app)
        first = probe(middleware)
        migrate("probe_migrations", "0002")
        migrate("probe_squashed", "0001_squashed_0002_part_weight")
        # Within the max age: the same answer, no second read.
        assert probe(middleware) == first
        assert first[1]["checks"]["migrations"] == "pending" and len(reads) == 1
        time.sleep(0.35)
        assert probe(middleware)[1]["checks"]["migrations"] == "ok"
        assert len(reads) == 2


def test_a_frozen_database_times_out_both_within_the_budget_on_one_connection(plan, blackhole):
    pytest.importorskip("psycopg", reason="the frozen-database case needs psycopg")
    frozen = {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": str(blackhole.port),
              "NAME": "app", "USER": "app", "PASSWORD": "x"}
    with override_settings(DATABASES={"default": connection.settings_dict, "frozen": frozen}), \
            checked(READINESS_DATABASES=["frozen"], READINESS_MAX_AGE=5):
        middleware = HealthProbeMiddleware(app)
        start = time.monotonic()
        answer = probe(middleware)
        took = time.monotonic() - start
        assert answer == (503, {"status": "error", "checks": {"database:frozen": "timeout",
                                                             "migrations:frozen": "timeout"}})
        assert BUDGET - 0.01 <= took <= BUDGET + MARGIN
        start = time.monotonic()
        assert probe(middleware) == answer
        assert time.monotonic() - start < AT_ONCE
    deadline = time.monotonic() + 2
    while not blackhole.accepted and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(blackhole.accepted) == 1  # one connection for both


def test_a_slow_plan_load_is_bounded_by_the_budget(monkeypatch):
    def slow():
        time.sleep(BUDGET + 0.3)
        return frozenset(), ()

    monkeypatch.setattr(readiness, "migration_plan", readiness.MigrationPlan(slow))
    with checked():
        middleware = HealthProbeMiddleware(app)
        start = time.monotonic()
        assert probe(middleware) == (503, {"status": "error", "checks": {"database": "timeout", "migrations": "timeout"}})
        assert time.monotonic() - start <= BUDGET + MARGIN
        time.sleep(0.5)  # the load ends; from then on the plan is there
        assert probe(middleware) == (200, {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}})


# -- settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    ({"READINESS_MIGRATIONS": "yes"}, "want True, False or a list of database aliases"),
    ({"READINESS_MIGRATIONS": 1}, "want True, False or a list of database aliases"),
    ({"READINESS_MIGRATIONS": "__all__"}, "want True, False or a list of database aliases"),
    ({"READINESS_MIGRATIONS": ["nope"]}, "'nope' is not a checked database"),
    ({"READINESS_MIGRATIONS": ["default"], "READINESS_DATABASES": []}, "'default' is not a checked database"),
    ({"READINESS_MIGRATION": True}, "unknown key 'READINESS_MIGRATION'"),
])
def test_bad_migrations_settings_are_refused_at_startup(value, words):
    with override_settings(HEALTHPROBE=value):
        with pytest.raises(ImproperlyConfigured, match=words):
            HealthProbeMiddleware(app)
        assert [e.id for e in check_setup(None)] == ["healthprobe.E001"]


def test_migrations_setting_values():
    settings = type("S", (), {"DATABASES": {"default": {}, "other": {}}})
    load = lambda **hp: config.load(type("S", (settings,), {"HEALTHPROBE": hp})()).migrations  # noqa: E731
    assert load() == ()
    assert load(READINESS_MIGRATIONS=False) == ()
    assert load(READINESS_MIGRATIONS=True) == ("default", "other")
    assert load(READINESS_MIGRATIONS=True, READINESS_DATABASES=["other"]) == ("other",)
    assert load(READINESS_MIGRATIONS=["other", "other"]) == ("other",)
    assert load(READINESS_MIGRATIONS=[]) == ()


def test_migration_files_that_cannot_load_are_unavailable_and_tried_again(monkeypatch):
    loads = []

    def broken():
        loads.append(1)
        raise ImportError("a migration file that does not import")

    monkeypatch.setattr(readiness, "migration_plan", readiness.MigrationPlan(broken))
    with checked():
        middleware = HealthProbeMiddleware(app)
        assert probe(middleware) == (503, {"status": "error", "checks": {"database": "ok", "migrations": "unavailable"}})
        probe(middleware)
    assert len(loads) == 2  # a failed load is not kept


def test_asgi_answers_the_same(plan):
    import asyncio

    from django.test import AsyncClient

    with checked():
        async def two():
            first = await AsyncClient().get("/readyz")
            await asyncio.to_thread(migrate, "probe_migrations", "0002")
            await asyncio.to_thread(migrate, "probe_squashed", "0001_squashed_0002_part_weight")
            return first, await AsyncClient().get("/readyz")

        first, second = asyncio.run(two())
    assert (first.status_code, json.loads(first.content)["checks"]) == (503, {"database": "ok", "migrations": "pending"})
    assert (second.status_code, json.loads(second.content)["checks"]) == (200, {"database": "ok", "migrations": "ok"})
