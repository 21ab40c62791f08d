"""Schema migrations (Alembic) driven from Python: upgrade, downgrade, current.

Migrations run as the owner role (:meth:`spatial.settings.Settings.owner_url_for`
maps an app or read-only URL to the owner's for the same database); after an
upgrade :func:`spatial.db.roles.grant` re-applies the app and read-only
privileges, so tables of new revisions are covered too.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from spatial.db import roles
from spatial.db.engine import ensure_database
from spatial.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def owner_url(url: str | None = None) -> str:
    """The owner's URL for the database of ``url`` (default: the configured database)."""
    settings = get_settings()
    return settings.owner_url_for(url or settings.sqlalchemy_url(role="owner"))


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    url = url or get_settings().sqlalchemy_url()
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Create the database if needed, upgrade it to ``revision`` and grant the app and read-only roles."""
    url = owner_url(url)
    ensure_database(url)
    command.upgrade(alembic_config(url), revision)
    roles.grant(url)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(owner_url(url)), revision)


def current(url: str | None = None) -> str | None:
    url = url or get_settings().sqlalchemy_url()
    eng = create_engine(url, poolclass=pool.NullPool)
    try:
        with eng.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        eng.dispose()


def head() -> str:
    return ScriptDirectory.from_config(alembic_config("postgresql+psycopg://x@localhost/x")).get_current_head()
