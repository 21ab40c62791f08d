"""Single-ticket intake in one round trip: onemap_intake()

A plpgsql function doing what ``spatial.tickets.intake.intake`` used to do in three
statements: check the caller's cached catalog row (id, xmin and ctid: its version), take the
duplicate-check advisory locks, then -- in a new snapshot, so a report
committed by a concurrent intake that held the same lock is visible --
point-in-polygon grid/community/street, idempotency on (channel,
external_id), duplicate search, and either the merge (reporter row +
``duplicate_report`` event) or the new ticket with its ``reported`` event and
first reporter row. Deadlines and the lock keys are computed by the caller
(Python: working days in the district time zone) from the cached catalog row.

Outcomes: ``created``, ``merged``, ``existing`` (with the ticket row),
``stale_category`` (the caller's catalog row changed or vanished: re-read it
and call again), ``outside`` (the point is outside the district).

Revision ID: 0006
Revises: 0005
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The open states exactly as the predicate of ix_ticket_geom_open (migration 0002).
OPEN = "('reported', 'accepted', 'dispatched', 'in_progress', 'reopened')"

FUNCTION = """
CREATE FUNCTION onemap_intake(
  p_cat_id bigint, p_cat_xmin text, p_ns int, p_keys int[], p_cat_lock int,
  p_dedupe boolean, p_lon double precision, p_lat double precision, p_channel text, p_ext text,
  p_since timestamptz, p_deg double precision, p_radius double precision,
  p_department_id bigint, p_priority int, p_address text, p_description text, p_photo_urls text[],
  p_reporter_name text, p_reporter_phone text, p_reporter_account text,
  p_created_at timestamptz, p_updated_at timestamptz, p_accept_due timestamptz, p_resolve_due timestamptz,
  p_attrs jsonb, p_actor text, p_role text, p_merge_account text, p_merge_data jsonb,
  OUT outcome text, OUT tk ticket)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  pt geometry := ST_SetSRID(ST_MakePoint(p_lon, p_lat), 4326);
  v_ok boolean;
  v_inside boolean;
  v_grid bigint; v_comm bigint; v_street bigint;
  v_existing bigint;
  v_dup bigint;
  v_rid bigint;
BEGIN
  -- 1. catalog check + advisory locks (released at commit)
  SELECT c.xmin::text || '/' || c.ctid::text = p_cat_xmin AND c.active INTO v_ok
    FROM category c WHERE c.id = p_cat_id;
  IF v_ok IS NOT TRUE THEN
    outcome := 'stale_category';
    RETURN;
  END IF;
  IF p_keys IS NOT NULL AND cardinality(p_keys) > 0 THEN
    PERFORM count(pg_advisory_xact_lock(p_ns, k)) FROM unnest(p_keys) AS u(k);
  END IF;
  IF p_cat_lock IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(p_ns, p_cat_lock);
  END IF;
  -- 2. idempotency (a new snapshot: sees what the lock holders committed)
  IF p_ext IS NOT NULL THEN
    SELECT coalesce((SELECT t.id FROM ticket t WHERE t.channel = p_channel AND t.external_id = p_ext),
                    (SELECT r.ticket_id FROM ticket_reporter r WHERE r.channel = p_channel
                       AND r.external_id = p_ext ORDER BY r.id LIMIT 1))
      INTO v_existing;
    IF v_existing IS NOT NULL THEN
      outcome := 'existing';
      SELECT * INTO tk FROM ticket WHERE id = v_existing;
      RETURN;
    END IF;
  END IF;
  -- 3. point in polygon: the grid, then its parent chain (or direct lookups outside any grid)
  SELECT EXISTS (SELECT 1 FROM admin_unit a WHERE a.level = 1 AND ST_Intersects(a.geom, pt)) INTO v_inside;
  IF NOT v_inside THEN
    outcome := 'outside';
    RETURN;
  END IF;
  SELECT g.id, CASE WHEN c.level = 3 THEN c.id END, CASE WHEN s.level = 2 THEN s.id END
    INTO v_grid, v_comm, v_street
    FROM (SELECT a.id, a.parent_id FROM admin_unit a WHERE a.level = 4 AND ST_Intersects(a.geom, pt)
          ORDER BY a.id + 0 LIMIT 1) g
    LEFT JOIN admin_unit c ON c.id = g.parent_id
    LEFT JOIN admin_unit s ON s.id = c.parent_id;
  IF v_grid IS NULL THEN
    v_comm := (SELECT a.id FROM admin_unit a WHERE a.level = 3 AND ST_Intersects(a.geom, pt)
               ORDER BY a.id + 0 LIMIT 1);
    v_street := (SELECT a.id FROM admin_unit a WHERE a.level = 2 AND ST_Intersects(a.geom, pt)
                 ORDER BY a.id + 0 LIMIT 1);
  END IF;
  -- 4. duplicate: the nearest open ticket of the category within the radius and window
  IF p_dedupe THEN
    SELECT t.id INTO v_dup
      FROM ticket t
     WHERE t.category_id = p_cat_id
       AND t.status IN """ + OPEN + """
       AND t.created_at >= p_since
       AND t.geom && ST_Expand(pt, p_deg)
       AND ST_DWithin(t.geom::geography, pt::geography, p_radius)
     ORDER BY t.geom <-> pt, t.created_at DESC
     LIMIT 1;
    IF v_dup IS NOT NULL THEN
      INSERT INTO ticket_reporter (ticket_id, channel, external_id, name, phone, account, reported_at,
                                   description, geom)
      VALUES (v_dup, p_channel, p_ext, p_reporter_name, p_reporter_phone, p_merge_account, p_created_at,
              nullif(p_description, ''), pt)
      RETURNING id INTO v_rid;
      INSERT INTO ticket_event (ticket_id, at, kind, actor, actor_role, data)
      VALUES (v_dup, p_updated_at, 'duplicate_report', p_actor, p_role,
              p_merge_data || jsonb_build_object('reporter_id', v_rid));
      outcome := 'merged';
      SELECT * INTO tk FROM ticket WHERE id = v_dup;
      RETURN;
    END IF;
  END IF;
  -- 5. a new ticket, its first event and its first reporter row
  INSERT INTO ticket (channel, external_id, category_id, department_id, grid_id, community_id, street_id, geom,
                      address, description, photo_urls, status, priority, reporter_name, reporter_phone,
                      reporter_account, created_at, updated_at, accept_due_at, resolve_due_at, attrs, created_by)
  VALUES (p_channel, p_ext, p_cat_id, p_department_id, v_grid, v_comm, v_street, pt,
          p_address, p_description, p_photo_urls, 'reported', p_priority, p_reporter_name, p_reporter_phone,
          p_reporter_account, p_created_at, p_updated_at, p_accept_due, p_resolve_due, p_attrs, p_actor)
  ON CONFLICT ON CONSTRAINT uq_ticket_channel_external DO NOTHING
  RETURNING * INTO tk;
  IF tk.id IS NULL THEN  -- a concurrent intake with the same external id won the race
    outcome := 'existing';
    SELECT * INTO tk FROM ticket WHERE channel = p_channel AND external_id = p_ext;
    RETURN;
  END IF;
  INSERT INTO ticket_event (ticket_id, at, kind, to_status, actor, actor_role, data)
  VALUES (tk.id, p_updated_at, 'reported', 'reported', p_actor, p_role,
          jsonb_build_object('channel', p_channel, 'external_id', p_ext, 'grid_id', v_grid));
  INSERT INTO ticket_reporter (ticket_id, channel, external_id, name, phone, account, reported_at, description,
                               geom)
  VALUES (tk.id, p_channel, p_ext, p_reporter_name, p_reporter_phone, coalesce(p_reporter_account, p_actor),
          p_created_at, nullif(p_description, ''), pt);
  outcome := 'created';
END
$fn$
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS onemap_intake(bigint, text, int, int[], int, boolean, double precision, "
               "double precision, text, text, timestamptz, double precision, double precision, bigint, int, text, "
               "text, text[], text, text, text, timestamptz, timestamptz, timestamptz, timestamptz, jsonb, text, "
               "text, text, jsonb)")
