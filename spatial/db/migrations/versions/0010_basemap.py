"""Basemap themes and the tile generation counter (issue 12, items 4 and 6)

* ``water``, ``landuse``, ``poi``, ``address``: OSM-derived themes of the
  offline basemap (``spatial.io.osm``), EPSG:4326, each row tagged with the
  ``source`` it was imported from so a re-import replaces exactly that source.
* ``road.source``, ``road.oneway``, ``building.source``: the same for the
  existing road and building tables (NULL for rows from ``onemap import``).
* ``basemap_state``: one row whose ``generation`` changes in the same
  transaction as any write to a table drawn in the basemap tiles (statement
  triggers, including TRUNCATE). The tile server keys its in-process cache and
  ETags by it (``spatial.maps.tiles``). Values come from a sequence, so they
  never repeat, even after the row is truncated or a transaction rolls back.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: Tables drawn in the basemap tiles: any write to them bumps the generation.
TILE_TABLES = ("road", "building", "water", "landuse", "poi", "address", "admin_unit")


def _theme(name: str, geom_type: str, *extra: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("osm_id", sa.String(32)),
        *extra,
        sa.Column("geom", Geometry(geom_type, srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index(f"ix_{name}_geom", name, ["geom"], postgresql_using="gist")
    op.create_index(f"ix_{name}_source", name, ["source"])


def upgrade() -> None:
    _theme("water", "GEOMETRY", sa.Column("kind", sa.String(32), nullable=False),
           sa.Column("name", sa.String(200)))
    op.create_check_constraint("ck_water_geom_type", "water",
                               "GeometryType(geom) IN ('MULTIPOLYGON', 'MULTILINESTRING')")
    _theme("landuse", "MULTIPOLYGON", sa.Column("kind", sa.String(32), nullable=False),
           sa.Column("name", sa.String(200)))
    _theme("poi", "POINT", sa.Column("kind", sa.String(32), nullable=False), sa.Column("name", sa.String(200)),
           sa.Column("attrs", sa.dialects.postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"),
                     nullable=False))
    op.create_index("ix_poi_kind", "poi", ["kind"])
    _theme("address", "POINT", sa.Column("street", sa.String(200)), sa.Column("housenumber", sa.String(32)),
           sa.Column("name", sa.String(200)))
    for table in ("road", "building"):
        op.add_column(table, sa.Column("source", sa.String(64)))
        op.create_index(f"ix_{table}_source", table, ["source"])
    op.add_column("road", sa.Column("oneway", sa.Boolean()))

    op.execute("CREATE SEQUENCE basemap_generation_seq")
    op.create_table(
        "basemap_state",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_basemap_state_one_row"),
    )
    op.execute("INSERT INTO basemap_state (id, generation) VALUES (1, nextval('basemap_generation_seq'))")
    op.execute("""
        CREATE FUNCTION basemap_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO basemap_state (id, generation, changed_at)
          VALUES (1, nextval('basemap_generation_seq'), now())
          ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, changed_at = excluded.changed_at;
          RETURN NULL;
        END $$""")
    for table in TILE_TABLES:
        op.execute(f"CREATE TRIGGER trg_{table}_basemap AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION basemap_bump()")


def downgrade() -> None:
    for table in TILE_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_basemap ON {table}")
    op.execute("DROP FUNCTION IF EXISTS basemap_bump()")
    op.drop_table("basemap_state")
    op.execute("DROP SEQUENCE IF EXISTS basemap_generation_seq")
    op.drop_column("road", "oneway")
    for table in ("building", "road"):
        op.drop_index(f"ix_{table}_source", table_name=table)
        op.drop_column(table, "source")
    for table in ("address", "poi", "landuse", "water"):
        op.drop_table(table)
