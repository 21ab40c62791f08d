"""One owner in SQL for point-in-grid and the duplicate search: onemap_locate() and friends

Migration 0006 wrote the point-in-polygon and duplicate-search statements
into ``onemap_intake()`` a second time, next to ``spatial.locate`` and
``spatial.tickets.duplicates``. This migration makes the rules SQL functions
that every path calls: ``spatial.locate`` emits ``onemap_unit_at`` /
``onemap_in_district`` / ``onemap_locate``, ``spatial.tickets.duplicates``
calls ``onemap_duplicate_of``, and ``onemap_intake()`` is redefined over them
(same signature, same outcomes).

Rules (EPSG:4326 points):

* ``onemap_unit_at(pt, level)``: id of the level-``level`` admin unit whose
  polygon intersects ``pt`` (boundary included); lowest id on a shared edge.
* ``onemap_in_district(pt)``: a level-1 unit intersects ``pt``.
* ``onemap_locate(pt)``: inside, grid, and community/street following the
  grid's parents (direct lookups where the point is in no grid).
* ``onemap_duplicate_of(category, pt, since, deg, radius_m)``: the nearest
  open ticket of the category created since ``since`` within ``radius_m``
  metres (geodesic), ``deg`` being a degree box that covers the radius.

Revision ID: 0007
Revises: 0006
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The open states exactly as the predicate of ix_ticket_geom_open (migration 0002).
OPEN = "('reported', 'accepted', 'dispatched', 'in_progress', 'reopened')"

# plpgsql, not LANGUAGE sql: a non-inlinable SQL function is parsed and planned again on every
# statement that calls it (PostgreSQL < 18), which doubled intake's database time; plpgsql keeps
# its plans for the session.
RULES = """
CREATE FUNCTION onemap_unit_at(pt geometry, lvl int) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (SELECT a.id FROM admin_unit a WHERE a.level = lvl AND ST_Intersects(a.geom, pt)
          ORDER BY a.id + 0 LIMIT 1);
END
$$;

CREATE FUNCTION onemap_in_district(pt geometry) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM admin_unit a WHERE a.level = 1 AND ST_Intersects(a.geom, pt));
END
$$;

CREATE FUNCTION onemap_locate(pt geometry, OUT inside boolean, OUT grid_id bigint, OUT community_id bigint,
                              OUT street_id bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  v_level_c int; v_level_s int;
BEGIN
  inside := onemap_in_district(pt);
  grid_id := onemap_unit_at(pt, 4);
  IF grid_id IS NULL THEN
    community_id := onemap_unit_at(pt, 3);
    street_id := onemap_unit_at(pt, 2);
    RETURN;
  END IF;
  SELECT c.id, c.level, s.id, s.level INTO community_id, v_level_c, street_id, v_level_s
    FROM admin_unit g LEFT JOIN admin_unit c ON c.id = g.parent_id LEFT JOIN admin_unit s ON s.id = c.parent_id
   WHERE g.id = grid_id;
  IF v_level_c IS DISTINCT FROM 3 THEN community_id := NULL; END IF;
  IF v_level_s IS DISTINCT FROM 2 THEN street_id := NULL; END IF;
END
$$;

CREATE FUNCTION onemap_duplicate_of(p_cat bigint, pt geometry, p_since timestamptz, p_deg double precision,
                                    p_radius double precision) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (
  SELECT t.id
    FROM ticket t
   WHERE t.category_id + 0 = p_cat  -- "+ 0": a generic plan must not take the (category, created_at) btree
     AND t.status IN """ + OPEN + """
     AND t.created_at >= p_since
     AND t.geom && ST_Expand(pt, p_deg)
     AND ST_DWithin(t.geom::geography, pt::geography, p_radius)
   ORDER BY t.geom <-> pt, t.created_at DESC
   LIMIT 1);
END
$$;
"""

INTAKE = """
CREATE OR REPLACE FUNCTION onemap_intake(
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
  -- 3. the one point-in-grid rule (onemap_locate)
  SELECT l.inside, l.grid_id, l.community_id, l.street_id INTO v_inside, v_grid, v_comm, v_street
    FROM onemap_locate(pt) l;
  IF NOT v_inside THEN
    outcome := 'outside';
    RETURN;
  END IF;
  -- 4. the one duplicate rule (onemap_duplicate_of)
  IF p_dedupe THEN
    v_dup := onemap_duplicate_of(p_cat_id, pt, p_since, p_deg, p_radius);
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


def _migration_0006():
    path = Path(__file__).with_name("0006_intake_function.py")
    spec = importlib.util.spec_from_file_location("onemap_migration_0006", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute(RULES)
    op.execute(INTAKE)


def downgrade() -> None:
    op.execute(_migration_0006().FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute("DROP FUNCTION onemap_duplicate_of(bigint, geometry, timestamptz, double precision, "
               "double precision)")
    op.execute("DROP FUNCTION onemap_locate(geometry)")
    op.execute("DROP FUNCTION onemap_in_district(geometry)")
    op.execute("DROP FUNCTION onemap_unit_at(geometry, int)")
