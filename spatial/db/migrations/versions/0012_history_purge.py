"""History imports: an owner-only purge of imported tickets, for ``--mode replace``

``ticket_event`` stays append-only: ``onemap_append_only()`` still refuses
every UPDATE and every DELETE, except a DELETE that runs inside
``onemap_purge_imported_tickets(ids)``. That function is SECURITY DEFINER
(it runs as the owner role, which owns ``ticket_event``), raises a
transaction-local flag only while it deletes, and removes only tickets whose
every event was written by an import (actor ``import:...``): their events,
then the tickets (reporter rows cascade; alerts', detections' and merged
tickets' references are set NULL). Besides the import's own events, those of
the two bookkeeping jobs (``system:sla-sweep`` flags and escalations,
``system:retention``) do not make a ticket live. The trigger accepts a DELETE
only when the flag is up, the current user is the table's owner and the event
is one of those, so the application role (which may set the flag but is not the
owner) and the owner outside the function are refused as before. A ticket
with a live event (worked on after the import) is never purged: the call
fails and nothing is deleted. Only the application role may execute it.

Revision ID: 0012
Revises: 0010
"""
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

APPEND_ONLY_FN = """
CREATE OR REPLACE FUNCTION onemap_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('onemap.purge_imported', true) = 'on'
     AND current_user::text = (SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = TG_RELID)
     AND (coalesce(to_jsonb(OLD) ->> 'actor', '') LIKE 'import:%'
          OR to_jsonb(OLD) ->> 'actor' IN ('system:sla-sweep', 'system:retention')) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""

PURGE_FN = """
CREATE OR REPLACE FUNCTION onemap_purge_imported_tickets(ids bigint[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  live bigint;
  n integer;
BEGIN
  SELECT e.ticket_id INTO live FROM ticket_event e
  WHERE e.ticket_id = ANY(ids) AND e.actor NOT LIKE 'import:%'
    AND e.actor NOT IN ('system:sla-sweep', 'system:retention') ORDER BY e.ticket_id LIMIT 1;
  IF live IS NOT NULL THEN
    RAISE EXCEPTION 'ticket % has events that are not an import''s: only imported history can be replaced', live
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM 1 FROM ticket WHERE id = ANY(ids) FOR UPDATE;
  PERFORM set_config('onemap.purge_imported', 'on', true);
  DELETE FROM ticket_event WHERE ticket_id = ANY(ids);
  DELETE FROM ticket WHERE id = ANY(ids);
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('onemap.purge_imported', 'off', true);
  RETURN n;
END $$;
REVOKE ALL ON FUNCTION onemap_purge_imported_tickets(bigint[]) FROM PUBLIC;
"""

ORIGINAL_FN = """
CREATE OR REPLACE FUNCTION onemap_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def upgrade() -> None:
    op.execute(APPEND_ONLY_FN)
    op.execute(PURGE_FN)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS onemap_purge_imported_tickets(bigint[])")
    op.execute(ORIGINAL_FN)
