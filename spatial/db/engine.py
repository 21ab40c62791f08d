"""Engine, sessions and database creation.

One cached engine per URL. The caller (HTTP request, Panel callback, CLI
command) owns the transaction through :func:`session_scope`; services only
``flush()``. Every connection runs with JIT and parallel query off: on two
cores, starting parallel workers costs 17-20 ms on sub-millisecond queries.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from spatial.errors import DatabaseUnavailable
from spatial.settings import get_settings, psycopg_url

_SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0 -c timezone=UTC"
_FACTORY_LOCK = threading.RLock()
_T = TypeVar("_T")


def _one_per_process(fn: Callable[..., _T]) -> Callable[..., _T]:
    """``lru_cache(8)`` whose calls run one at a time (``cache_clear`` kept).

    A bare ``lru_cache`` runs concurrent misses in parallel: the first requests after a server
    start each built an engine with its own pool (16 threads, 16 engines), whose connections then
    stayed open unused.
    """
    cached = functools.lru_cache(maxsize=8)(fn)

    @functools.wraps(fn)
    def get(*args, **kwargs):
        with _FACTORY_LOCK:
            return cached(*args, **kwargs)

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


@_one_per_process
def get_engine(url: str | None = None) -> Engine:
    """Cached engine for ``url`` (default: the configured database)."""
    settings = get_settings()
    url = url or settings.sqlalchemy_url()
    engine = sa.create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"options": _SESSION_OPTIONS, "connect_timeout": 10},
    )

    return engine


@_one_per_process
def _sessionmaker(url: str | None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def new_session(url: str | None = None) -> Session:
    return _sessionmaker(url)()


def read_url() -> str | None:
    """URL for read-only queries: the replica (``ONEMAP_DATABASE_REPLICA_URL``), or None for the primary."""
    url = get_settings().database_replica_url
    return psycopg_url(url) if url else None


def new_read_session() -> Session:
    """A session for read-only queries (map, reports): on the replica when one is configured."""
    return new_session(read_url())


@contextmanager
def read_session_scope() -> Iterator[Session]:
    """:func:`session_scope` on the replica when one is configured (read-only work only: a standby refuses writes)."""
    with session_scope(read_url()) as session:
        yield session


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session in one transaction: commit on success, roll back on error."""
    session = new_session(url)
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def ensure_database(url: str) -> None:
    """Create the database in ``url`` if missing and enable PostGIS, btree_gist and pg_trgm (as its owner role)."""
    u = make_url(get_settings().owner_url_for(url))
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname=:n"), {"n": u.database})
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{u.database}"'))
    except OperationalError as exc:
        raise DatabaseUnavailable(f"Cannot reach PostgreSQL at {u.render_as_string()}: {exc.orig}") from exc
    finally:
        admin.dispose()
    eng = sa.create_engine(u, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            for ext in ("postgis", "btree_gist", "pg_trgm"):  # pg_trgm: the geocoder (migration 0015)
                try:
                    conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS {ext}"))
                except Exception as exc:  # translated: missing packages
                    raise DatabaseUnavailable(
                        f"Extension {ext} is not available in {u.database}: {exc}. "
                        "Install PostGIS (apt-get install postgresql-postgis)."
                    ) from exc
    finally:
        eng.dispose()


def database_exists(url: str) -> bool:
    """Whether the database named in ``url`` exists (asked as its owner role)."""
    u = make_url(get_settings().owner_url_for(url))
    admin = sa.create_engine(u.set(database="postgres"), poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            return bool(conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}))
    except OperationalError as exc:
        raise DatabaseUnavailable(f"Cannot reach PostgreSQL for {u.database}: {exc.orig}") from exc
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    """Drop the database in ``url`` (as its owner role), disconnecting its sessions."""
    u = make_url(get_settings().owner_url_for(url))
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()
