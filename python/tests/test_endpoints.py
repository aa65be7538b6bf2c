"""The two endpoints through Django's test client (WSGI and ASGI paths):
which requests they answer, what they answer, and that every other request
still meets ALLOWED_HOSTS, SECURE_SSL_REDIRECT and APPEND_SLASH."""
import asyncio
import json

import pytest
from django.test import AsyncClient, Client, override_settings

OURS = "healthprobe.django.middleware.HealthProbeMiddleware"
SECURITY = "django.middleware.security.SecurityMiddleware"
COMMON = "django.middleware.common.CommonMiddleware"

STRICT = dict(
    ALLOWED_HOSTS=["app.example.com"],
    SECURE_SSL_REDIRECT=True,
    APPEND_SLASH=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)


def body(response):
    return json.loads(response.content)


def assert_probe_answer(response, status, payload):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert body(response) == payload


# -- liveness -------------------------------------------------------------------

def test_liveness_get():
    assert_probe_answer(Client().get("/healthz"), 200, {"status": "ok"})


def test_liveness_head_has_headers_and_no_body():
    response = Client().head("/healthz")
    assert response.status_code == 200
    assert response.content == b""
    assert response["Content-Length"] == str(len(b'{"status": "ok"}'))
    assert response["Cache-Control"] == "no-store"


def test_liveness_ignores_query_string():
    assert_probe_answer(Client().get("/healthz?from=kubelet"), 200, {"status": "ok"})


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_other_methods_pass_through_to_the_app(method, path):
    response = getattr(Client(), method)(path)
    assert response.status_code == 200
    assert response.content.decode() == f"app: {method.upper()} {path}"


@pytest.mark.parametrize("path", ["/healthz/", "/readyz/", "/HEALTHZ", "/healthz.json", "/x/healthz"])
def test_other_paths_pass_through(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response.get("Cache-Control") != "no-store"


@override_settings(HEALTHPROBE={"LIVENESS_PATHS": ["/live", "/-/health"], "READINESS_PATHS": ["/ready"]})
def test_configured_paths_replace_the_defaults():
    client = Client()
    assert_probe_answer(client.get("/live"), 200, {"status": "ok"})
    assert_probe_answer(client.get("/-/health"), 200, {"status": "ok"})
    assert_probe_answer(client.get("/ready"), 200, {"status": "ok", "checks": {"database": "ok"}})
    assert client.get("/healthz").content == b"app: GET /healthz"
    assert client.get("/readyz").content == b"app: GET /readyz"


@override_settings(FORCE_SCRIPT_NAME="/api")
def test_paths_are_matched_below_the_script_name():
    # Under a subpath deployment, Django routes path_info; so does the middleware.
    assert_probe_answer(Client().get("/healthz", SCRIPT_NAME="/api"), 200, {"status": "ok"})


# -- readiness ------------------------------------------------------------------

def test_readiness_ok():
    assert_probe_answer(Client().get("/readyz"), 200, {"status": "ok", "checks": {"database": "ok"}})


def test_readiness_head():
    response = Client().head("/readyz")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response["Content-Length"]) == len(b'{"status": "ok", "checks": {"database": "ok"}}')


def test_readiness_unavailable_database_is_503_without_exception_text(tmp_dir):
    missing = tmp_dir / "no-such-dir" / "db.sqlite3"
    with override_settings(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(missing)}}):
        response = Client().get("/readyz")
    assert_probe_answer(response, 503, {"status": "error", "checks": {"database": "unavailable"}})
    assert b"no-such-dir" not in response.content and b"unable" not in response.content


def test_liveness_does_not_touch_the_database(tmp_dir):
    missing = tmp_dir / "no-such-dir" / "db.sqlite3"
    with override_settings(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(missing)}}):
        assert_probe_answer(Client().get("/healthz"), 200, {"status": "ok"})


def test_every_database_is_checked_by_default(tmp_dir):
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_dir / "db.sqlite3")},
        "replica": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_dir / "missing" / "r.sqlite3")},
    }
    with override_settings(DATABASES=databases):
        response = Client().get("/readyz")
        assert_probe_answer(response, 503, {"status": "error",
                                            "checks": {"database": "ok", "database:replica": "unavailable"}})
        with override_settings(HEALTHPROBE={"READINESS_DATABASES": ["default"]}):
            assert_probe_answer(Client().get("/readyz"), 200, {"status": "ok", "checks": {"database": "ok"}})


@override_settings(HEALTHPROBE={"READINESS_DATABASES": []})
def test_no_checks_is_ready():
    assert_probe_answer(Client().get("/readyz"), 200, {"status": "ok", "checks": {}})


def test_cache_is_checked_when_asked(tmp_dir):
    (tmp_dir / "a-file").write_text("")
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # A real backend that cannot write: its directory is under a plain file.
        "files": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                  "LOCATION": str(tmp_dir / "a-file" / "cache")},
        # Accepts writes and forgets them: only the read-back notices.
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    with override_settings(CACHES=caches, HEALTHPROBE={"READINESS_CACHES": ["default", "files", "dummy"]}):
        response = Client().get("/readyz")
    assert_probe_answer(response, 503, {"status": "error", "checks": {
        "database": "ok", "cache": "ok", "cache:files": "unavailable", "cache:dummy": "unavailable"}})


def test_cache_not_checked_unless_asked():
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}):
        assert_probe_answer(Client().get("/readyz"), 200, {"status": "ok", "checks": {"database": "ok"}})


# -- strict deployment settings ------------------------------------------------------

@override_settings(**STRICT)
def test_strict_settings_do_not_touch_the_probes():
    client = Client()  # Host: testserver, plain HTTP: what a probe in the container sends
    assert_probe_answer(client.get("/healthz"), 200, {"status": "ok"})
    assert_probe_answer(client.get("/readyz"), 200, {"status": "ok", "checks": {"database": "ok"}})
    assert client.head("/healthz").status_code == 200
    assert client.head("/readyz").status_code == 200


@override_settings(**STRICT)
def test_strict_settings_still_protect_every_other_request():
    client = Client()
    assert client.get("/").status_code == 400                      # ALLOWED_HOSTS
    assert client.post("/healthz").status_code == 400              # not a probe method
    assert client.get("/healthz/").status_code == 400              # not a probe path
    allowed = client.get("/", headers={"host": "app.example.com"})
    assert allowed.status_code == 301                               # SECURE_SSL_REDIRECT
    assert allowed["Location"] == "https://app.example.com/"
    slash = client.get("/health", headers={"host": "app.example.com", "x-forwarded-proto": "https"})
    assert slash.status_code == 301                                 # APPEND_SLASH
    assert slash["Location"] == "/health/"
    page = client.get("/health/", headers={"host": "app.example.com", "x-forwarded-proto": "https"})
    assert page.content == b"app: GET /health/"


@override_settings(**STRICT, MIDDLEWARE=[SECURITY, COMMON, OURS])
def test_placed_last_the_middleware_cannot_help():
    # Why it must come first: behind SecurityMiddleware and CommonMiddleware
    # the same probes meet the 400 and the 301.
    client = Client()
    assert client.get("/healthz").status_code == 400
    assert client.get("/healthz", headers={"host": "app.example.com"}).status_code == 301


# -- ASGI --------------------------------------------------------------------------

def test_asgi_liveness_and_readiness():
    asyncio.run(asgi_liveness_and_readiness())


async def asgi_liveness_and_readiness():
    client = AsyncClient()
    assert_probe_answer(await client.get("/healthz"), 200, {"status": "ok"})
    assert_probe_answer(await client.get("/readyz"), 200, {"status": "ok", "checks": {"database": "ok"}})
    head = await client.head("/readyz")
    assert head.status_code == 200 and head.content == b""
    other = await client.post("/healthz")
    assert other.content == b"app: POST /healthz"


@override_settings(**STRICT)
def test_asgi_strict_settings():
    asyncio.run(asgi_strict_settings())


async def asgi_strict_settings():
    client = AsyncClient()
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/")).status_code == 400
    assert (await client.post("/healthz")).status_code == 400
