"""Alembic environment: URL from the Config (set by spatial.db.migrate) or settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from spatial import models  # noqa: F401  (registers the core tables)
from spatial.models import Base

config = context.config
target_metadata = Base.metadata


def _include_object(obj, name, type_, reflected, compare_to):
    # PostGIS/tiger/topology tables are not ours
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations_online() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          include_object=_include_object, transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, include_object=_include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
