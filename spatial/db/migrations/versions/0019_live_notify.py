"""Live updates: a change log and ``NOTIFY onemap_live`` on every committed write to the live tables

``live_change`` (seq, at, kind, op, ids) gets one row per *statement* that
inserts, updates or deletes rows of a watched table, written by the statement
triggers ``trg_<table>_live_{ins,upd,del}`` (transition tables, so a 20k-row
import is one row and one notification, not 20k). ``ids`` are the affected
primary keys, or NULL when more than ``live_max_ids()`` (1,000) rows changed
("reload that kind"); TRUNCATE also logs NULL. The same trigger sends
``pg_notify('onemap_live', json)`` with ``{seq, kind, op, ids}`` (``ids`` NULL
above 200 to stay under NOTIFY's 8,000-byte payload); PostgreSQL delivers it
only when the writer commits, in commit order, and never after a rollback.

The server's one listener (``spatial.maps.live``) fans the notifications
out to the open app sessions; after a lost connection it reads
``live_change`` since the last notification it saw (catch-up). Old rows are
pruned by the server (``live_prune``).

The ``wall`` role (the command centre's big screen, ``spatial.auth``) is added to
``ck_api_token_role`` so a wall display can hold a read-only token.

Watching another table is one line in a later migration:
``SELECT live_watch('incident', 'incident')`` (table, kind; the table needs an ``id`` column).

Revision ID: 0019
Revises: 0018
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

#: (table, kind) watched from this migration: tickets, alerts, sensor states, worker positions.
WATCHED = (("ticket", "ticket"), ("alert", "alert"), ("sensor", "sensor"), ("worker", "worker"))

FUNCTIONS = """
CREATE FUNCTION live_max_ids() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 1000';

CREATE FUNCTION live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kind text := TG_ARGV[0];
  changed bigint[];
  n integer;
  s bigint;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    n := NULL;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT count(*), (array_agg(id ORDER BY id))[1:live_max_ids() + 1] INTO n, changed FROM live_old;
  ELSE
    SELECT count(*), (array_agg(id ORDER BY id))[1:live_max_ids() + 1] INTO n, changed FROM live_new;
  END IF;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF n IS NULL OR n > live_max_ids() THEN
    changed := NULL;
  END IF;
  INSERT INTO live_change (kind, op, ids, n) VALUES (kind, lower(TG_OP), changed, n) RETURNING seq INTO s;
  PERFORM pg_notify('onemap_live', json_build_object(
    'seq', s, 'kind', kind, 'op', lower(TG_OP), 'n', n,
    'ids', CASE WHEN cardinality(changed) <= 200 THEN to_json(changed) END)::text);
  RETURN NULL;
END $$;

CREATE FUNCTION live_watch(tbl regclass, kind text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  name text := (SELECT relname FROM pg_class WHERE oid = tbl);
BEGIN
  EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS live_new '
                 'FOR EACH STATEMENT EXECUTE FUNCTION live_notify(%L)', 'trg_' || name || '_live_ins', tbl, kind);
  EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING NEW TABLE AS live_new '
                 'FOR EACH STATEMENT EXECUTE FUNCTION live_notify(%L)', 'trg_' || name || '_live_upd', tbl, kind);
  EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS live_old '
                 'FOR EACH STATEMENT EXECUTE FUNCTION live_notify(%L)', 'trg_' || name || '_live_del', tbl, kind);
  EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION live_notify(%L)', 'trg_' || name || '_live_trunc', tbl, kind);
END $$;

CREATE FUNCTION live_prune(keep interval) RETURNS integer LANGUAGE sql AS $$
  WITH d AS (DELETE FROM live_change WHERE at < now() - keep RETURNING 1) SELECT count(*)::integer FROM d
$$;
"""


#: Token roles before and after this migration (``spatial.auth.ROLES``).
OLD_ROLES = "('citizen','channel','grid_worker','dispatcher','handler','leadership','admin')"
NEW_ROLES = "('citizen','channel','grid_worker','dispatcher','handler','leadership','admin','wall')"


def upgrade() -> None:
    op.drop_constraint("ck_api_token_role", "api_token", type_="check")
    op.create_check_constraint("ck_api_token_role", "api_token", f"role IN {NEW_ROLES}")
    op.execute("""
        CREATE TABLE live_change (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          at timestamptz NOT NULL DEFAULT clock_timestamp(),
          kind varchar(32) NOT NULL,
          op varchar(16) NOT NULL,
          n integer,
          ids bigint[]
        )""")
    op.execute("CREATE INDEX ix_live_change_at ON live_change USING brin (at)")
    op.execute(FUNCTIONS)
    for table, kind in WATCHED:
        op.execute(f"SELECT live_watch('{table}', '{kind}')")


def downgrade() -> None:
    for table, _ in WATCHED:
        for suffix in ("ins", "upd", "del", "trunc"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_live_{suffix} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS live_prune(interval)")
    op.execute("DROP FUNCTION IF EXISTS live_watch(regclass, text)")
    op.execute("DROP FUNCTION IF EXISTS live_notify()")
    op.execute("DROP FUNCTION IF EXISTS live_max_ids()")
    op.execute("DROP TABLE IF EXISTS live_change")
    op.execute("DELETE FROM api_token WHERE role = 'wall'")
    op.drop_constraint("ck_api_token_role", "api_token", type_="check")
    op.create_check_constraint("ck_api_token_role", "api_token", f"role IN {OLD_ROLES}")
