"""The drainage network (issue 17): manholes/outfalls and conduits, for the 1D-2D flood coupling

* ``drainage_node``: a junction (manhole: ``invert_m``, ``rim_m``) or an outfall (``invert_m``,
  ``stage_m`` NULL = free outfall), EPSG:4326 point; ``name`` unique (the SWMM element name).
* ``drainage_conduit``: a pipe between two nodes (``shape`` a SWMM closed shape, ``geom1_m`` diameter
  or height, ``geom2_m`` width, ``roughness`` Manning n, ``length_m``, offsets), EPSG:4326 line.

Every row carries the ``source`` it was imported from (a file name or ``demo``); an import replaces
the whole network in one transaction (``spatial.drainage.store_network``). Sizes, lengths and
roughness are checked by constraints as well as by the importer.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drainage_node",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("invert_m", sa.Float(), nullable=False),
        sa.Column("rim_m", sa.Float()),
        sa.Column("stage_m", sa.Float()),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("kind IN ('junction', 'outfall')", name="ck_drainage_node_kind"),
        sa.CheckConstraint("kind <> 'junction' OR rim_m > invert_m", name="ck_drainage_node_rim"),
    )
    op.create_index("ix_drainage_node_geom", "drainage_node", ["geom"], postgresql_using="gist")
    op.create_table(
        "drainage_conduit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("from_node_id", sa.Integer(), sa.ForeignKey("drainage_node.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("to_node_id", sa.Integer(), sa.ForeignKey("drainage_node.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("shape", sa.String(32), nullable=False),
        sa.Column("geom1_m", sa.Float(), nullable=False),
        sa.Column("geom2_m", sa.Float(), nullable=False, server_default="0"),
        sa.Column("roughness", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("in_offset_m", sa.Float(), nullable=False, server_default="0"),
        sa.Column("out_offset_m", sa.Float(), nullable=False, server_default="0"),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("geom", Geometry("LINESTRING", srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint("geom1_m > 0 AND geom2_m >= 0 AND length_m > 0 AND roughness > 0 AND roughness < 1",
                           name="ck_drainage_conduit_sizes"),
        sa.CheckConstraint("from_node_id <> to_node_id", name="ck_drainage_conduit_ends"),
    )
    op.create_index("ix_drainage_conduit_geom", "drainage_conduit", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("drainage_conduit")
    op.drop_table("drainage_node")
