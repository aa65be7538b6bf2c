"""Readiness under a frozen database: the budget, one shared round, no pile-up
of stuck threads. The "database" is a loopback server that accepts
connections and never answers, reached through Django's PostgreSQL backend."""
import asyncio
import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from healthprobe.django import config
from healthprobe.django.apps import check_setup
from healthprobe.django.middleware import HealthProbeMiddleware
from healthprobe.django.readiness import Check, Readiness, database_settings_for_check

pytest.importorskip("psycopg", reason="the frozen-database cases need psycopg")

BUDGET = 0.5
MARGIN = 0.4  # for a loaded machine
AT_ONCE = 0.25  # an answer that did not wait for the budget


def frozen_settings(hole, **healthprobe):
    return override_settings(
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            "frozen": {"ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1",
                       "PORT": str(hole.port), "NAME": "app", "USER": "app", "PASSWORD": "x"},
        },
        HEALTHPROBE={"READINESS_DATABASES": ["frozen"], "READINESS_TIMEOUT": BUDGET, **healthprobe},
    )


def app(request):
    return HttpResponse("app")


def probe(middleware, path="/readyz"):
    start = time.monotonic()
    response = middleware(RequestFactory().get(path))
    return response, time.monotonic() - start


def readiness_threads():
    return [t for t in threading.enumerate() if t.name.startswith("healthprobe readiness")]


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_frozen_database_answers_503_within_the_budget(blackhole):
    with frozen_settings(blackhole):
        response, took = probe(HealthProbeMiddleware(app))
    assert response.status_code == 503
    assert response.content == b'{"status": "error", "checks": {"database:frozen": "timeout"}}'
    assert BUDGET - 0.01 <= took <= BUDGET + MARGIN
    assert wait_until(lambda: len(blackhole.accepted) == 1, 2)


def test_concurrent_requests_share_one_round(blackhole):
    with frozen_settings(blackhole, READINESS_MAX_AGE=5):
        middleware = HealthProbeMiddleware(app)
        results = []

        def one():
            results.append(probe(middleware))

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
    assert len(results) == 8
    assert all(r.status_code == 503 for r, _ in results)
    assert all(took <= BUDGET + MARGIN for _, took in results)
    # One connection for eight requests, and one check thread.
    assert wait_until(lambda: blackhole.accepted, 2)
    assert len(blackhole.accepted) == 1
    assert len(readiness_threads()) <= 1


def test_result_is_reused_then_a_stuck_check_is_not_started_again(blackhole):
    with frozen_settings(blackhole, READINESS_MAX_AGE=0.2):
        middleware = HealthProbeMiddleware(app)
        first, took = probe(middleware)
        assert first.status_code == 503 and took >= BUDGET - 0.01
        # Within the max age: the same answer, at once.
        again, took = probe(middleware)
        assert again.status_code == 503 and took < AT_ONCE
        time.sleep(0.25)
        # A new round, but the check's thread is still stuck in connect (libpq
        # waits 2 s): "timeout" at once, no second connection, no second thread.
        later, took = probe(middleware)
        assert later.content == b'{"status": "error", "checks": {"database:frozen": "timeout"}}'
        assert took < AT_ONCE
        assert len(blackhole.accepted) == 1
        assert len([t for t in readiness_threads() if t.name.endswith("database:frozen")]) == 1
        # When libpq gives up, the thread ends and the next round tries again.
        assert wait_until(lambda: not readiness_threads(), 4)
        time.sleep(0.25)
        retry, took = probe(middleware)
        assert retry.status_code == 503 and took >= BUDGET - 0.01
        assert wait_until(lambda: len(blackhole.accepted) == 2, 2)


def test_asgi_requests_share_one_round_without_a_thread_each(blackhole):
    async def app_async(request):
        return HttpResponse("app")

    async def burst(middleware):
        start = time.monotonic()
        responses = await asyncio.gather(*(middleware(RequestFactory().get("/readyz")) for _ in range(20)))
        return responses, time.monotonic() - start

    with frozen_settings(blackhole):
        middleware = HealthProbeMiddleware(app_async)
        before = threading.active_count()
        responses, took = asyncio.run(burst(middleware))
    assert all(r.status_code == 503 for r in responses)
    assert BUDGET - 0.01 <= took <= BUDGET + MARGIN
    assert threading.active_count() <= before + 2  # the check thread (and asyncio's)
    assert wait_until(lambda: blackhole.accepted, 2)
    assert len(blackhole.accepted) == 1


def test_liveness_answers_while_readiness_waits(blackhole):
    with frozen_settings(blackhole):
        middleware = HealthProbeMiddleware(app)
        waiting = threading.Thread(target=probe, args=(middleware,))
        waiting.start()
        time.sleep(0.05)
        response, took = probe(middleware, "/healthz")
        waiting.join(5)
    assert response.status_code == 200 and took < AT_ONCE


# -- settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    ({"LIVENESS_PATH": "/healthz"}, "unknown key 'LIVENESS_PATH'"),
    ({"LIVENESS_PATHS": "/healthz"}, "want a list of paths"),
    ({"READINESS_PATHS": ["readyz"]}, "is not a path starting with '/'"),
    ({"READINESS_PATHS": ["/healthz"]}, "also a liveness path"),
    ({"READINESS_DATABASES": ["nope"]}, "'nope' is not in settings.DATABASES"),
    ({"READINESS_CACHES": ["nope"]}, "'nope' is not in settings.CACHES"),
    ({"READINESS_CACHES": "__all__"}, "want a list of cache aliases"),
    ({"READINESS_TIMEOUT": 0}, "out of range"),
    ({"READINESS_TIMEOUT": "1"}, "want a number of seconds"),
    ({"READINESS_TIMEOUT": 60}, "out of range"),
    ({"READINESS_MAX_AGE": -1}, "out of range"),
])
def test_bad_settings_are_refused_at_startup(value, words):
    with override_settings(HEALTHPROBE=value):
        with pytest.raises(ImproperlyConfigured, match=words.replace("(", r"\(")):
            HealthProbeMiddleware(app)
        assert [e.id for e in check_setup(None)] == ["healthprobe.E001"]


def test_defaults():
    loaded = config.load(type("S", (), {"DATABASES": {"default": {}, "other": {}}, "CACHES": {"default": {}}})())
    assert loaded.liveness_paths == {"/healthz"} and loaded.readiness_paths == {"/readyz"}
    assert loaded.databases == ("default", "other") and loaded.caches == ()
    assert loaded.timeout == 0.5 and loaded.max_age == 1.0


def test_system_check_wants_the_middleware_first():
    assert check_setup(None) == []
    with override_settings(MIDDLEWARE=["django.middleware.security.SecurityMiddleware",
                                       "healthprobe.django.middleware.HealthProbeMiddleware"]):
        assert [w.id for w in check_setup(None)] == ["healthprobe.W002"]
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        assert [w.id for w in check_setup(None)] == ["healthprobe.W001"]


@pytest.mark.parametrize("engine, options, budget, want", [
    ("django.db.backends.postgresql", {}, 0.5, {"connect_timeout": 2}),
    ("django.db.backends.postgresql", {"connect_timeout": 10, "pool": True}, 0.5, {"connect_timeout": 2}),
    ("django.db.backends.postgresql", {"connect_timeout": 1}, 3.5, {"connect_timeout": 1}),
    ("django.contrib.gis.db.backends.postgis", {}, 3.5, {"connect_timeout": 4}),
    ("django.db.backends.mysql", {"read_timeout": 30}, 0.5,
     {"connect_timeout": 1, "read_timeout": 1, "write_timeout": 1}),
    ("django.db.backends.sqlite3", {"timeout": 20}, 0.5, {"timeout": 0.5}),
    ("django.db.backends.oracle", {"threaded": True}, 0.5, {"threaded": True}),
])
def test_driver_timeouts_for_the_check_connection(engine, options, budget, want):
    settings_dict = {"ENGINE": engine, "NAME": "x", "OPTIONS": options}
    adjusted = database_settings_for_check(settings_dict, budget)
    assert adjusted["OPTIONS"] == want
    assert settings_dict["OPTIONS"] is options  # the project's settings are left alone


# -- a burst holds one thread -------------------------------------------------------------

def slow_check(seconds, calls):
    def run(timeout):
        calls.append(time.monotonic())
        time.sleep(seconds)
    return Check("slow", run)


def test_while_a_round_runs_the_others_get_the_recent_result_at_once():
    calls = []
    readiness = Readiness([slow_check(0.4, calls)], timeout=1.0, max_age=0.1)
    assert readiness.result() == (True, {"slow": "ok"})
    time.sleep(0.15)  # the result has aged out: the next request starts a round
    starter = threading.Thread(target=readiness.result)
    starter.start()
    assert wait_until(lambda: len(calls) == 2, 2)  # its check is running
    assert readiness.result() == (True, {"slow": "ok"})  # the previous round's
    answered = time.monotonic()
    assert len(calls) == 2 and answered < calls[1] + 0.4  # before the running check ended
    starter.join(5)


def test_with_no_recent_result_the_others_wait_for_the_round():
    calls = []
    readiness = Readiness([slow_check(0.2, calls)], timeout=0.5, max_age=0.05)
    readiness.result()
    time.sleep(0.6)  # older than max age + budget: too old to stand in
    starter = threading.Thread(target=readiness.result)
    starter.start()
    assert wait_until(lambda: len(calls) == 2, 2)  # its check is running
    assert readiness.result() == (True, {"slow": "ok"})
    answered = time.monotonic()
    assert len(calls) == 2 and answered >= calls[1] + 0.2  # after the running check ended
    starter.join(5)
