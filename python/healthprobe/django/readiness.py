"""Readiness: SELECT 1 on each database, a write and read-back on each cache,
all within one budget, shared by every concurrent request of the process.

Why threads: a database that accepts connections and never answers (a frozen
server, a network partition) blocks the driver inside C code that no Python
timeout can interrupt, and libpq's shortest connect_timeout is 2 s. So each
check runs in a thread of its own and the request waits for it at most the
budget; a check that has not answered by then is reported as "timeout".

Why no pile-up: a check whose thread is still stuck from an earlier round is
not started again; it is reported as "timeout" at once. Each check has at most
one thread per process, however long the database stays frozen.

Why a shared round: a round's result is reused for READINESS_MAX_AGE seconds
after it ends, so a burst of probes costs one round trip per check. While a
round runs, only the request that started it waits for it; the others get the
previous round's result at once when it is recent (ended at most
READINESS_MAX_AGE + READINESS_TIMEOUT ago), and wait for the running round
only when there is none. So a burst holds one thread of the process, not one
per request: under Gunicorn's gthread workers the other threads stay free.

Migrations (READINESS_MIGRATIONS): the migrations on disk are loaded once per
process, the first time they are checked; each round then reads the
django_migrations table on the database check's own connection, after its
SELECT 1, in the same thread and budget, and reports "pending" while the
database lacks a migration the code has.
"""
import asyncio
import logging
import math
import threading
import time
import uuid

logger = logging.getLogger("healthprobe.django")

OK = "ok"
UNAVAILABLE = "unavailable"
TIMEOUT = "timeout"
PENDING = "pending"


def check_name(kind, alias):
    """'database' for the default alias (the article's name), else 'database:ALIAS'."""
    return kind if alias == "default" else f"{kind}:{alias}"


def database_settings_for_check(settings_dict, timeout):
    """A copy of a database's settings for a short-lived check connection:
    no pool, and the driver's own timeouts no longer than the budget allows."""
    settings_dict = dict(settings_dict)
    options = dict(settings_dict.get("OPTIONS") or {})
    # A pool would be a second pool per check; the check wants one connection.
    options.pop("pool", None)
    engine = settings_dict.get("ENGINE", "")
    whole = max(1, math.ceil(timeout))
    if "postgres" in engine or "postgis" in engine:
        # libpq (and psycopg, which follows it) rounds anything below 2 up to 2.
        options["connect_timeout"] = min(int(options.get("connect_timeout") or 2 ** 31), max(2, whole))
    elif "mysql" in engine:
        for key in ("connect_timeout", "read_timeout", "write_timeout"):
            options[key] = min(int(options.get(key) or 2 ** 31), whole)
    elif "sqlite" in engine:
        # How long to wait on a locked database file.
        options["timeout"] = min(float(options.get("timeout") or math.inf), timeout)
    settings_dict["OPTIONS"] = options
    return settings_dict


def check_database(alias, timeout, migrations=None):
    """SELECT 1 on a connection of its own; raises when the database fails.
    With migrations (a MigrationPlan), then reads django_migrations on the
    same connection and returns {"migrations[:ALIAS]": error} when that part
    is not ok (None when all is)."""
    from django.db.utils import ConnectionHandler, load_backend

    # A handler of our own reads settings.DATABASES as it is now, with
    # Django's defaults filled in, and shares no connection with requests.
    settings_dict = database_settings_for_check(ConnectionHandler().settings[alias], timeout)
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    try:
        with wrapper.cursor() as cursor:
            # Oracle needs "FROM DUAL"; the suffix is empty elsewhere.
            cursor.execute("SELECT 1" + wrapper.features.bare_select_suffix)
            cursor.fetchone()
            if migrations is None:
                return None
            try:
                missing = migrations.missing(wrapper, cursor)
            except Exception as exc:  # the database answered SELECT 1 but not this
                return {check_name("migrations", alias): exc}
            if missing:
                return {check_name("migrations", alias): PendingMigrations(missing)}
            return None
    finally:
        wrapper.close()


class PendingMigrations(Exception):
    status = PENDING

    def __init__(self, missing):
        names = [f"{app}.{name}" for app, name in missing]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        super().__init__(f"{len(names)} not applied: {shown}")


def load_migration_plan():
    """The code's side, from the migration files on disk: the migrations a
    fully migrated database has applied, as a frozenset of (app, name), and
    the squashed ones as ((app, name), frozenset of what it replaces)."""
    from django.db.migrations.loader import MigrationLoader

    # Without a connection nothing counts as applied, so each squashed
    # migration stands in the graph for the ones it replaces, as it does for
    # a new database.
    graph = MigrationLoader(None).graph
    plain, squashed = set(), []
    for key, migration in graph.nodes.items():
        if migration.replaces:
            squashed.append((key, frozenset(tuple(r) for r in migration.replaces)))
        else:
            plain.add(key)
    return frozenset(plain), tuple(squashed)


def applied_migrations(wrapper, cursor):
    """The rows of django_migrations as a set of (app, name); None when the
    table does not exist (the database was never migrated)."""
    from django.db.migrations.recorder import MigrationRecorder
    from django.db.utils import DatabaseError

    table = MigrationRecorder.Migration._meta.db_table
    quote = wrapper.ops.quote_name
    try:
        cursor.execute(f"SELECT {quote('app')}, {quote('name')} FROM {quote(table)}")
        return set(cursor.fetchall())
    except DatabaseError:
        # Only here, on the failure path, look the table up (or a view of
        # that name: it exists, and fails for another reason).
        if table not in wrapper.introspection.table_names(cursor, include_views=True):
            return None
        raise


class MigrationPlan:
    """The migrations on disk, loaded once per process (the first time a
    check asks, by one thread; the others wait for it), compared per round
    with one read of django_migrations."""

    def __init__(self, load=load_migration_plan):
        self._load = load
        self._lock = threading.Lock()
        self._plan = None

    def plan(self):
        with self._lock:
            if self._plan is None:
                self._plan = self._load()
            return self._plan

    def missing(self, wrapper, cursor):
        """The (app, name) of each migration on disk the database lacks, sorted."""
        plain, squashed = self.plan()
        if not plain and not squashed:
            return []  # nothing to apply, whatever the table holds
        applied = applied_migrations(wrapper, cursor) or set()
        missing = set(plain - applied)
        # As Django's loader: a squashed migration counts as applied when all
        # it replaces are, whether or not its own row is there.
        missing.update(key for key, replaces in squashed if not replaces <= applied)
        return sorted(missing)


# One per process: the files on disk do not change under a running process.
migration_plan = MigrationPlan()


# One key per process: two processes (or hosts) sharing a cache never read
# each other's token.
_CACHE_KEY = f"healthprobe:readiness:{uuid.uuid4().hex}"


def check_cache(alias, timeout):
    from django.core.cache import caches

    cache = caches.create_connection(alias)
    try:
        token = uuid.uuid4().hex
        cache.set(_CACHE_KEY, token, timeout=max(1, math.ceil(timeout * 4)))
        # Some backends swallow errors and return None: only the token proves it.
        if cache.get(_CACHE_KEY) != token:
            raise RuntimeError("the cache did not return the value just written")
    finally:
        cache.close()


class Check:
    def __init__(self, name, run, also=()):
        self.name = name
        # The statuses it reports: its own, then any it finds out on the way
        # (a database's migrations, on the database's connection).
        self.names = (name, *also)
        # run(timeout_seconds) raises when not ready (every name fails), or
        # returns {name: exception} for the names that are not ok, the
        # exception's `status` (default "unavailable") being their status.
        self.run = run


def preload_database_backends(aliases):
    """Import each database's backend (and its driver) now, at startup, so the
    first readiness check does not spend its budget on imports."""
    from django.db.utils import ConnectionHandler, load_backend

    handler = ConnectionHandler()
    for alias in aliases:
        try:
            load_backend(handler.settings[alias]["ENGINE"])
        except Exception:  # the check itself will report it, as "unavailable"
            pass


def checks_for(config):
    preload_database_backends(config.databases)
    checks = []
    for alias in config.databases:
        plan = migration_plan if alias in config.migrations else None
        checks.append(Check(check_name("database", alias),
                            lambda t, a=alias, p=plan: check_database(a, t, p),
                            also=(check_name("migrations", alias),) if plan else ()))
    checks += [Check(check_name("cache", a), lambda t, a=a: check_cache(a, t)) for a in config.caches]
    return checks


class Round:
    """One run of every check, shared by all requests that wait for it."""

    def __init__(self, names, started, deadline):
        self.names = names
        self.started = started
        self.deadline = deadline
        self.results = {}
        self.errors = {}
        self.ended = None  # when the last result came in, if before the deadline
        self.done = threading.Event()
        self.wakers = []
        self.outcome = None

    def end(self):
        return self.ended if self.ended is not None else self.deadline


class Readiness:
    def __init__(self, checks, timeout, max_age, clock=time.monotonic):
        self.checks = list(checks)
        self.timeout = timeout
        self.max_age = max_age
        self.clock = clock
        self._lock = threading.Lock()
        self._round = None
        self._running = {}  # check name -> its thread, while it runs
        self._reported = {}  # check name -> last status logged
        self._last = None  # (end time, outcome) of the last round that ended

    # -- the two ways to ask --------------------------------------------------

    def result(self):
        """(ready, {check name: status}) within the budget; blocks the caller."""
        current, recent = self._join_or_start()
        if recent is not None:
            return recent
        current.done.wait(max(0.0, current.deadline - self.clock()))
        return self._outcome(current)

    async def aresult(self):
        """The same for an event loop: waits without holding a thread."""
        current, recent = self._join_or_start()
        if recent is not None:
            return recent
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def wake():
            def settle():
                if not woken.done():
                    woken.set_result(None)
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # the loop has closed meanwhile
                pass

        with self._lock:
            finished = current.done.is_set()
            if not finished:
                current.wakers.append(wake)
        if not finished:
            try:
                await asyncio.wait_for(woken, max(0.0, current.deadline - self.clock()))
            except asyncio.TimeoutError:
                pass
        return self._outcome(current)

    # -- rounds -----------------------------------------------------------------

    def _join_or_start(self):
        """The round to answer from, and the recent outcome to answer with
        instead while that round runs (None: wait for the round)."""
        start = []
        with self._lock:
            now = self.clock()
            current = self._round
            if current is not None:
                running = not current.done.is_set() and now < current.deadline
                if running:
                    last = self._last
                    if last is not None and now - last[0] <= self.max_age + self.timeout:
                        return current, last[1]
                    return current, None
                if now < current.end() + self.max_age:
                    return current, None
            current = Round([n for c in self.checks for n in c.names], now, now + self.timeout)
            self._round = current
            for check in self.checks:
                if check.name in self._running:
                    # Still stuck since an earlier round, which began at least
                    # one budget ago: it has had its time.
                    for name in check.names:
                        current.results[name] = TIMEOUT
                else:
                    thread = threading.Thread(
                        target=self._run, args=(current, check),
                        name=f"healthprobe readiness {check.name}", daemon=True,
                    )
                    self._running[check.name] = thread
                    start.append(thread)
            if not start:
                current.ended = now
                current.done.set()
        for thread in start:
            thread.start()
        return current, None

    def _run(self, current, check):
        try:
            failed = check.run(self.timeout) or {}
        except Exception as exc:  # any failure means "not ready"
            failed = dict.fromkeys(check.names, exc)
        statuses = dict.fromkeys(check.names, OK)
        for name, error in failed.items():
            statuses[name] = getattr(error, "status", UNAVAILABLE)
        with self._lock:
            del self._running[check.name]
            current.results.update(statuses)
            current.errors.update(failed)
            wakers = []
            if len(current.results) == len(current.names) and not current.done.is_set():
                current.ended = self.clock()
                current.done.set()
                wakers, current.wakers = current.wakers, []
        for wake in wakers:
            wake()

    def _outcome(self, current):
        with self._lock:
            if current.outcome is None:
                statuses = {name: current.results.get(name, TIMEOUT) for name in current.names}
                current.outcome = (all(s == OK for s in statuses.values()), statuses)
                if self._last is None or self._last[0] <= current.end():
                    self._last = (current.end(), current.outcome)
                changed = [(name, status) for name, status in statuses.items()
                           if self._reported.get(name, OK) != status]
                for name, status in changed:
                    self._reported[name] = status
            else:
                changed = []
        for name, status in changed:
            if status == OK:
                logger.info("readiness check %s: ok again", name)
            elif status == TIMEOUT:
                logger.warning("readiness check %s: no answer within %gs", name, self.timeout)
            else:
                error = current.errors.get(name)
                logger.warning("readiness check %s: %s: %s", name, type(error).__name__, error)
        return current.outcome
