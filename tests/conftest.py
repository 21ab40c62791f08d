"""Test fixtures: a real PostGIS database, migrated once per run.

Each ``session`` test runs inside an outer transaction that is rolled back
(the session works in a savepoint), so tests never see each other's rows.
Tests that need several connections (concurrency, HTTP server) use
``committed`` and the tables are truncated afterwards.

The database is the project-managed local cluster (``<name>_test``) unless
``DATABASE_URL``/``ONEMAP_DATABASE_URL`` is set, whose server then hosts the
``_test`` database. No database is a failure, never a skip.

The owner role creates and migrates the test database; the tests then run as
the application role (``ONEMAP_DATABASE_URL``, no superuser), as the server
does. Cleaning up with TRUNCATE (:func:`truncate_all`) and loading the demo
run as the owner.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from spatial.db import migrate
from spatial.db.cluster import LocalCluster
from spatial.db.engine import drop_database, get_engine
from spatial.settings import get_settings
from tests.district import seed_small_district

# FastAPI's TestClient sends "Host: testserver"; real servers in tests use 127.0.0.1
os.environ.setdefault("ONEMAP_ALLOWED_HOSTS", '["localhost", "127.0.0.1", "[::1]", "testserver"]')
# every test talks from 127.0.0.1: the per-IP rate limits are raised here; tests/auth checks the real ones
os.environ.setdefault("ONEMAP_LOGIN_RATE", "100000/minute")
os.environ.setdefault("ONEMAP_PUBLIC_RATE", "1000000/minute")
# tests change tokens and accounts with plain SQL too (as another process would): no lookup cache by default;
# tests/test_auth_api.py::test_credential_cache turns it on
os.environ.setdefault("ONEMAP_AUTH_CACHE_SECONDS", "0")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_stale_test_databases(url: str, prefix: str) -> None:
    """Drop ``<prefix><pid>`` databases left by test runs that died."""
    admin = sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            names = conn.scalars(sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                 {"p": prefix + "%"}).all()
        for name in names:
            tail = name[len(prefix):]
            if tail.isdigit() and not _pid_alive(int(tail)):
                drop_database(make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        admin.dispose()


def _test_url() -> str:
    """A database private to this test process: ``<name>_test_<pid>`` on the configured server.

    Private, so that several test runs (developers, CI) never drop each other's database.
    ``ONEMAP_TEST_DATABASE_URL`` names one explicitly instead.
    """
    settings = get_settings()
    if settings.managed:
        LocalCluster(settings).start()
    explicit = os.environ.get("ONEMAP_TEST_DATABASE_URL")
    if explicit:
        return explicit
    u = make_url(settings.sqlalchemy_url())
    prefix = f"{u.database}_test_"
    _drop_stale_test_databases(settings.sqlalchemy_url(role="owner"), prefix)
    return u.set(database=f"{prefix}{os.getpid()}").render_as_string(hide_password=False)


def role_env(db_name: str) -> dict[str, str]:
    """Environment variables pointing the app, owner and read-only roles at database ``db_name``."""
    return get_settings().role_env(db_name)


@pytest.fixture(scope="session")
def db_url():
    """App-role URL of a freshly migrated test database; the three role URLs are exported (:func:`role_env`)."""
    url = _test_url()
    drop_database(url)
    migrate.upgrade(url)
    env = ({k: url for k in role_env("x")} if os.environ.get("ONEMAP_TEST_DATABASE_URL")
           else role_env(make_url(url).database))
    os.environ.update(env)
    get_settings.cache_clear()
    yield url
    from spatial.db.engine import get_engine as _ge

    _ge.cache_clear()
    if not os.environ.get("ONEMAP_TEST_DATABASE_URL"):
        drop_database(url)


@pytest.fixture(scope="session")
def engine(db_url: str) -> sa.Engine:
    """The application role's engine on the test database."""
    return get_engine(db_url)


@pytest.fixture(scope="session")
def owner_engine(db_url: str) -> sa.Engine:
    """The owner role's engine on the test database (DDL, TRUNCATE)."""
    return get_engine(get_settings().owner_url_for(db_url))


def _rolled_back_session(engine: sa.Engine):
    conn = engine.connect()
    outer = conn.begin()
    s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def session(engine: sa.Engine):
    """A session (application role) whose work is rolled back after the test."""
    yield from _rolled_back_session(engine)


@pytest.fixture
def owner_session(owner_engine: sa.Engine):
    """A session as the owner role (DDL in a test), rolled back after the test."""
    yield from _rolled_back_session(owner_engine)


def truncate_all(engine: sa.Engine) -> None:
    """Empty every table of ``engine``'s database, as its owner (TRUNCATE is not the app role's right)."""
    owner = get_engine(get_settings().owner_url_for(engine.url.render_as_string(hide_password=False)))
    with owner.begin() as conn:
        names = conn.scalars(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' "
            "AND tablename NOT IN ('spatial_ref_sys','alembic_version')"
        )).all()
        if names:
            conn.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def committed(engine: sa.Engine):
    """For tests that need committed data across connections: truncates every table after."""
    truncate_all(engine)
    yield engine
    truncate_all(engine)


@pytest.fixture
def district(session: Session) -> dict:
    """A small district (1 street level tree, 16 grids, departments, catalog) in the rolled-back session."""
    return seed_small_district(session)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a failure here (a missing database or browser must not pass quietly)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and os.environ.get("ONEMAP_ALLOW_SKIPS") != "1" and exitstatus == 0:
        if reporter:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped; skips are failures in OneMap "
                                "(set ONEMAP_ALLOW_SKIPS=1 locally to allow)", red=True)
        session.exitstatus = 1
