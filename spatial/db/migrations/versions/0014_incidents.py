"""Emergency command: incidents, joint tasks, geofences, district events, the pgRouting road network

* ``CREATE EXTENSION pgrouting`` (Debian ``postgresql-15-pgrouting``); the network tables
  ``road_vertex`` and ``road_edge`` (one edge per road segment, cost in seconds, ``reverse_cost = -1``
  on one-way roads) are rebuilt from ``road`` by ``spatial.workers.network`` when a statement trigger
  on ``road`` has moved ``road_network_state.road_generation`` past ``built_generation``.
* ``incident_type``: the catalog of templates (zone as a buffer of ``radius_m`` or a road-network
  isochrone of ``band_s`` seconds, level, the departments' tasks), seeded with
  ``spatial.incidents.catalog.DEFAULT_TYPES`` (waterlogging, fire, gas leak, collapse, crowd).
* ``district_event`` (typhoon, rainstorm ... with a time window) and ``event_ticket`` (its tags).
* ``incident``, ``incident_task`` (one per department, lead, deadline, closing standard,
  escalation level) and ``incident_event`` (the append-only timeline).
* ``geofence`` (polygon + rules) and ``geofence_presence`` (who is inside since when).
* ``alert.source_kind`` also takes ``geofence``.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

from spatial.incidents.catalog import DEFAULT_TYPES

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")

    op.create_table(
        "road_network_state",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("road_generation", sa.BigInteger(), nullable=False),
        sa.Column("built_generation", sa.BigInteger()),
        sa.Column("built_at", _TS),
        sa.Column("vertices", sa.Integer(), server_default="0", nullable=False),
        sa.Column("edges", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1", name="ck_road_network_state_one_row"),
    )
    op.execute("CREATE SEQUENCE road_generation_seq")
    op.execute("INSERT INTO road_network_state (id, road_generation) VALUES (1, nextval('road_generation_seq'))")
    op.execute("""
        CREATE FUNCTION road_network_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO road_network_state (id, road_generation) VALUES (1, nextval('road_generation_seq'))
          ON CONFLICT (id) DO UPDATE SET road_generation = excluded.road_generation;
          RETURN NULL;
        END $$""")
    op.execute("CREATE TRIGGER trg_road_network AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON road "
               "FOR EACH STATEMENT EXECUTE FUNCTION road_network_bump()")
    op.create_table(
        "road_vertex",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_road_vertex_geom", "road_vertex", ["geom"], postgresql_using="gist")
    op.create_table(
        "road_edge",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("road_id", sa.Integer(), sa.ForeignKey("road.id", ondelete="CASCADE"), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("reverse_cost", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_road_edge_geom", "road_edge", ["geom"], postgresql_using="gist")
    op.create_index("ix_road_edge_road", "road_edge", ["road_id"])

    op.create_table(
        "incident_type",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("zone_kind", sa.String(16), nullable=False),
        sa.Column("radius_m", sa.Float()),
        sa.Column("band_s", sa.Float()),
        sa.Column("level", sa.SmallInteger(), server_default="2", nullable=False),
        sa.Column("tasks", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.CheckConstraint("zone_kind IN ('buffer','isochrone')", name="ck_incident_type_zone_kind"),
        sa.CheckConstraint("radius_m IS NULL OR (radius_m > 0 AND radius_m <= 10000)", name="ck_incident_type_radius"),
        sa.CheckConstraint("band_s IS NULL OR (band_s > 0 AND band_s <= 7200)", name="ck_incident_type_band"),
        sa.CheckConstraint("zone_kind <> 'isochrone' OR band_s IS NOT NULL", name="ck_incident_type_band_set"),
        sa.CheckConstraint("zone_kind <> 'buffer' OR radius_m IS NOT NULL", name="ck_incident_type_radius_set"),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name="ck_incident_type_level"),
    )
    types = sa.table("incident_type", sa.column("code"), sa.column("name"), sa.column("zone_kind"),
                     sa.column("radius_m"), sa.column("band_s"), sa.column("level"), sa.column("tasks", JSONB))
    op.bulk_insert(types, [t.row() for t in DEFAULT_TYPES])

    op.create_table(
        "district_event",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("starts_at", _TS, nullable=False),
        sa.Column("ends_at", _TS),
        sa.Column("declared_by", sa.String(128)),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("attrs", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ck_district_event_window"),
    )
    op.create_table(
        "event_ticket",
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("district_event.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_event_ticket_ticket", "event_ticket", ["ticket_id"])

    op.create_table(
        "incident",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("type_code", sa.String(64), sa.ForeignKey("incident_type.code", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_id", sa.BigInteger()),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("ticket.id", ondelete="SET NULL")),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("district_event.id", ondelete="SET NULL")),
        sa.Column("zone_kind", sa.String(16), nullable=False),
        sa.Column("radius_m", sa.Float()),
        sa.Column("band_s", sa.Float()),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False), nullable=False),
        sa.Column("zone", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
        sa.Column("declared_at", _TS, nullable=False),
        sa.Column("declared_by", sa.String(128)),
        sa.Column("closed_at", _TS),
        sa.Column("impact", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("attrs", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.CheckConstraint("status IN ('open','closed')", name="ck_incident_status"),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name="ck_incident_level"),
        sa.CheckConstraint("source_kind IN ('ticket','alert','detection','drawn')", name="ck_incident_source"),
        sa.CheckConstraint("zone_kind IN ('buffer','isochrone')", name="ck_incident_zone_kind"),
    )
    op.create_index("ix_incident_geom", "incident", ["geom"], postgresql_using="gist")
    op.create_index("ix_incident_zone", "incident", ["zone"], postgresql_using="gist")
    op.create_index("ix_incident_status", "incident", ["status", "declared_at"])
    op.create_index("ix_incident_event", "incident", ["event_id"])
    # one open incident per source (a ticket, alert or detection declared twice is the same incident)
    op.create_index("uq_incident_open_source", "incident", ["source_kind", "source_id"], unique=True,
                    postgresql_where=sa.text("status = 'open' AND source_id IS NOT NULL"))

    op.create_table(
        "incident_task",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("incident_id", sa.BigInteger(), sa.ForeignKey("incident.id", ondelete="CASCADE"), nullable=False),
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("department.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("lead_worker_id", sa.Integer(), sa.ForeignKey("worker.id", ondelete="SET NULL")),
        sa.Column("lead_name", sa.String(200)),
        sa.Column("deadline_at", _TS, nullable=False),
        sa.Column("closing_standard", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("escalation_level", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", _TS),
        sa.Column("closed_by", sa.String(128)),
        sa.Column("closing_note", sa.Text()),
        sa.CheckConstraint("status IN ('open','in_progress','done','cancelled')", name="ck_incident_task_status"),
        sa.UniqueConstraint("incident_id", "department_id", "title", name="uq_incident_task_dept_title"),
    )
    op.create_index("ix_incident_task_open_deadline", "incident_task", ["deadline_at"],
                    postgresql_where=sa.text("status IN ('open','in_progress')"))

    op.create_table(
        "incident_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("incident_id", sa.BigInteger(), sa.ForeignKey("incident.id", ondelete="RESTRICT"),
                  nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("task_id", sa.BigInteger(), sa.ForeignKey("incident_task.id", ondelete="RESTRICT")),
        sa.Column("note", sa.Text()),
        sa.Column("data", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
    )
    op.create_index("ix_incident_event_incident", "incident_event", ["incident_id", "at"])
    op.execute("CREATE TRIGGER trg_incident_event_append_only BEFORE UPDATE OR DELETE ON incident_event "
               "FOR EACH ROW EXECUTE FUNCTION onemap_append_only()")

    op.create_table(
        "geofence",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False),
        sa.Column("rules", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("level", sa.String(16), server_default="orange", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("level IN ('yellow','orange','red')", name="ck_geofence_level"),
    )
    op.create_index("ix_geofence_geom", "geofence", ["geom"], postgresql_using="gist")
    op.create_table(
        "geofence_presence",
        sa.Column("geofence_id", sa.Integer(), sa.ForeignKey("geofence.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("subject_kind", sa.String(16), primary_key=True),
        sa.Column("subject_key", sa.String(128), primary_key=True),
        sa.Column("inside", sa.Boolean(), nullable=False),
        sa.Column("entered_at", _TS),
        sa.Column("last_seen_at", _TS, nullable=False),
        sa.Column("left_at", _TS),
        sa.Column("dwell_alerted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("subject_kind IN ('worker','detection')", name="ck_geofence_presence_kind"),
    )

    op.drop_constraint("ck_alert_source_kind", "alert", type_="check")
    op.create_check_constraint("ck_alert_source_kind", "alert",
                               "source_kind IN ('sensor','camera','flood','system','geofence')")


def downgrade() -> None:
    op.execute("DELETE FROM alert WHERE source_kind = 'geofence'")
    op.drop_constraint("ck_alert_source_kind", "alert", type_="check")
    op.create_check_constraint("ck_alert_source_kind", "alert", "source_kind IN ('sensor','camera','flood','system')")
    for table in ("geofence_presence", "geofence"):
        op.drop_table(table)
    op.execute("DROP TRIGGER IF EXISTS trg_incident_event_append_only ON incident_event")
    for table in ("incident_event", "incident_task", "incident", "event_ticket", "district_event", "incident_type",
                  "road_edge", "road_vertex", "road_network_state"):
        op.drop_table(table)
    op.execute("DROP TRIGGER IF EXISTS trg_road_network ON road")
    op.execute("DROP FUNCTION IF EXISTS road_network_bump()")
    op.execute("DROP SEQUENCE IF EXISTS road_generation_seq")
    op.execute("DROP EXTENSION IF EXISTS pgrouting")
