"""Django configured once for the unit tests; each test overrides what it needs.

The package under test is imported from the source tree (python/), not from
an installed copy, so the tests always run the code beside them.
"""
import pathlib
import socket
import sys
import tempfile
import threading

import django
import pytest
from django.conf import settings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

_tmp = tempfile.mkdtemp(prefix="healthprobe-unit-")

settings.configure(
    DEBUG=False,
    SECRET_KEY="unit-tests",
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF="probe_site",
    # Two apps with migrations, for the migrations check (test_migrations.py).
    INSTALLED_APPS=["healthprobe.django", "probe_migrations", "probe_squashed"],
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    MIDDLEWARE=[
        "healthprobe.django.middleware.HealthProbeMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{_tmp}/db.sqlite3"}},
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    USE_TZ=True,
    LOGGING_CONFIG=None,
)
django.setup()


class Blackhole:
    """A loopback TCP server that accepts connections and never answers: a
    frozen database as a client sees it. Counts the connections it accepted."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.closed.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.closed.set()
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.server.close()
        for conn in self.accepted:
            conn.close()
        self.thread.join(5)


@pytest.fixture
def blackhole():
    hole = Blackhole()
    yield hole
    hole.close()


@pytest.fixture
def tmp_dir():
    return pathlib.Path(_tmp)
