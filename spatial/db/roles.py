"""Database roles and their privileges: owner, application, read-only.

* **owner** (``onemap`` in the managed cluster, ``ONEMAP_OWNER_DATABASE_URL``
  elsewhere) owns the database and every object in it, runs the migrations,
  creates databases (tests), dumps and restores.
* **app** (``onemap_app``, ``ONEMAP_DATABASE_URL``), what the server, the jobs
  and the CLI use for normal work: SELECT/INSERT/UPDATE/DELETE on the tables,
  USAGE on the sequences, EXECUTE on OneMap's functions; no superuser, no
  TRUNCATE (it would bypass the append-only trigger of ``ticket_event``), no
  DDL, cannot switch triggers off or set ``session_replication_role``.
* **readonly** (``onemap_readonly``, ``ONEMAP_READONLY_DATABASE_URL``):
  SELECT only, read-only transactions by default; for map/OGC readers and
  read replicas.

:func:`grant` (re)applies the privileges in one database; it runs after every
migration (``onemap db up`` / ``onemap migrate``) and restore, and ``ALTER
DEFAULT PRIVILEGES FOR ROLE <owner>`` covers tables that later migrations
create. It is idempotent. Objects that belong to an extension (PostGIS's
``spatial_ref_sys`` and functions) keep the extension's own privileges, apart
from SELECT.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import pool
from sqlalchemy.engine import make_url

from spatial.errors import ConfigError
from spatial.settings import get_settings

#: Privileges of the application role on tables, sequences and functions.
APP_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
APP_SEQUENCE_PRIVILEGES = "USAGE, SELECT"

_GRANTS = """
DO $grants$
DECLARE
  app text := {app};
  ro text := {ro};
  r record;
BEGIN
  EXECUTE 'REVOKE CREATE ON SCHEMA public FROM PUBLIC';
  FOR r IN SELECT unnest(ARRAY[app, ro]) AS role LOOP
    IF r.role IS NOT NULL THEN
      EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r.role);
      EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', r.role);
      EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO %I',
                     current_user, r.role);
    END IF;
  END LOOP;
  -- the OGC API's curated views (migration 0015): read by the read-only role (and the app role)
  FOR r IN SELECT n.nspname AS schema, x.role FROM pg_namespace n, unnest(ARRAY[app, ro]) AS x(role)
           WHERE n.nspname IN ('ogc', 'ogc_staff') AND x.role IS NOT NULL LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', r.schema, r.role);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', r.schema, r.role);
  END LOOP;
  IF app IS NULL THEN
    RETURN;
  END IF;
  -- the application writes data in OneMap's own tables, never in extension tables or alembic_version
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
             AND c.relname <> 'alembic_version'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype = 'e') LOOP
    EXECUTE format('GRANT {table} ON %s TO %I', r.rel, app);
  END LOOP;
  IF to_regclass('public.alembic_version') IS NOT NULL THEN
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM %I', app);
  END IF;
  EXECUTE format('GRANT {sequence} ON ALL SEQUENCES IN SCHEMA public TO %I', app);
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                             AND d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', r.fn, app);
  END LOOP;
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT {table} ON TABLES TO %I',
                 current_user, app);
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT {sequence} ON SEQUENCES TO %I',
                 current_user, app);
  EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO %I',
                 current_user, app);
END
$grants$
"""


def _literal(name: str | None) -> str:
    """``name`` as an SQL string literal (or NULL)."""
    return "NULL" if name is None else "'" + name.replace("'", "''") + "'"


def grantees(owner: str | None = None) -> dict[str, str | None]:
    """Names of the app and read-only roles to grant to (None: the owner itself, nothing to grant)."""
    settings = get_settings()
    owner = owner or settings.role_name("owner")
    names = {kind: settings.role_name(kind) for kind in ("app", "readonly")}
    return {kind: (None if name == owner else name) for kind, name in names.items()}


def grant(url: str | None = None) -> dict[str, str | None]:
    """Apply the app and read-only privileges in the database at ``url`` (run as its owner).

    ``url`` may name any role: the owner's credentials are used for its
    database (:meth:`spatial.settings.Settings.owner_url_for`). The defaults
    set with ``ALTER DEFAULT PRIVILEGES`` are those of the role running this,
    the owner, so they apply to the tables later migrations create. Returns
    the grantees (``{"app": ..., "readonly": ...}``, None when that role is
    the owner itself, e.g. a single ``DATABASE_URL``).
    """
    settings = get_settings()
    owner_url = settings.owner_url_for(url or settings.sqlalchemy_url(role="owner"))
    who = grantees(make_url(owner_url).username)
    if not any(who.values()):
        return who
    eng = sa.create_engine(owner_url, poolclass=pool.NullPool)
    try:
        with eng.begin() as conn:
            missing = [n for n in who.values() if n and not conn.scalar(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": n})]
            if missing:
                raise ConfigError(f"database role(s) {', '.join(missing)} do not exist; create them "
                                  "(see docs/operations.md) or run `onemap db up` for the managed cluster")
            # psycopg directly: without parameters it leaves format()'s %I and %s alone
            sql = _GRANTS.format(app=_literal(who["app"]), ro=_literal(who["readonly"]),
                                 table=APP_TABLE_PRIVILEGES, sequence=APP_SEQUENCE_PRIVILEGES)
            conn.connection.driver_connection.execute(sql)
    finally:
        eng.dispose()
    return who
