"""Operational flood runs: every forecast run with its inputs, outputs and publication (provenance)

One row per run of the flood watch (``spatial.flood.ops``): the rainfall
forecast it took (kind, files with SHA-256, label), the run it was hot-started
from, its outputs (summary, stored state and snapshot overlays) and what
happened to its warnings (published, waiting for a person above the cap,
confirmed, rejected, superseded). ``forecast_key`` (SHA-256 of the inputs) is
unique: the same forecast arriving twice runs once.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flood_run",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("forecast_key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("hot_start_from", sa.String(80), sa.ForeignKey("flood_run.id", ondelete="SET NULL")),
        sa.Column("inputs", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("outputs", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("warnings", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("publication", sa.String(24), server_default="none", nullable=False),
        sa.Column("publish_result", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("decided_by", sa.Text()),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text()),
        sa.Column("extent", Geometry("POLYGON", srid=4326, spatial_index=False)),
        sa.CheckConstraint("source IN ('folder','api','planner','cli')", name="ck_flood_run_source"),
        sa.CheckConstraint("status IN ('queued','running','done','failed')", name="ck_flood_run_status"),
        sa.CheckConstraint("publication IN ('none','published','awaiting_confirmation','confirmed','rejected',"
                           "'superseded')", name="ck_flood_run_publication"),
        sa.UniqueConstraint("forecast_key", name="uq_flood_run_forecast_key"),
    )
    op.create_index("ix_flood_run_status_issued", "flood_run", ["status", "issued_at"])


def downgrade() -> None:
    op.drop_index("ix_flood_run_status_issued", table_name="flood_run")
    op.drop_table("flood_run")
