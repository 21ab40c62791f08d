"""Sensors, cameras, alerts and published messages (issue 7)

Revision ID: 0004
Revises: 0003
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    jsonb_default = sa.text("'{}'::jsonb")
    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), server_default="active", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("peak_value", sa.Float(), nullable=True),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("ticket.id", ondelete="SET NULL"), nullable=True),
        sa.Column("geom", geoalchemy2.types.Geometry(geometry_type="GEOMETRY", srid=4326, spatial_index=False,
                                                     from_text="ST_GeomFromEWKT", name="geometry"),
                  nullable=True),
        sa.Column("grid_id", sa.Integer(), sa.ForeignKey("admin_unit.id", ondelete="SET NULL"), nullable=True),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default=jsonb_default, nullable=False),
        sa.CheckConstraint("source_kind IN ('sensor','camera','flood','system')", name="ck_alert_source_kind"),
        sa.CheckConstraint("level IN ('yellow','orange','red','offline')", name="ck_alert_level"),
        sa.CheckConstraint("state IN ('active','cleared')", name="ck_alert_state"),
    )
    op.create_index("uq_alert_active_source_rule", "alert", ["source_kind", "source_id", "rule"], unique=True,
                    postgresql_where=sa.text("state = 'active'"))
    op.create_index("ix_alert_state_started", "alert", ["state", "started_at"])
    op.create_index("ix_alert_geom", "alert", ["geom"], postgresql_using="gist")

    op.create_table(
        "rule_state",
        sa.Column("sensor_id", sa.Integer(), sa.ForeignKey("sensor.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("rule", sa.String(32), primary_key=True),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("pending_level", sa.String(16), nullable=True),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )

    op.create_table(
        "published_message",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("alert_id", sa.BigInteger(), sa.ForeignKey("alert.id", ondelete="CASCADE"), nullable=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audience", postgresql.JSONB(astext_type=sa.Text()), server_default=jsonb_default,
                  nullable=False),
    )
    op.create_index("ix_published_message_alert_id", "published_message", ["alert_id"])
    op.create_index("ix_published_message_created", "published_message", ["created_at"])

    op.create_table(
        "detection_class",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), server_default="", nullable=False),
        sa.Column("category_code", sa.String(64), nullable=True),
        sa.Column("min_confidence", sa.Float(), server_default="0.6", nullable=False),
        sa.Column("dedup_window_s", sa.Float(), server_default="1800", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.CheckConstraint("min_confidence >= 0 AND min_confidence <= 1", name="ck_detection_class_conf"),
    )

    op.create_table(
        "camera_detection",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("camera_id", sa.Integer(), sa.ForeignKey("camera.id", ondelete="CASCADE"), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("class", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("snapshot_url", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), sa.ForeignKey("ticket.id", ondelete="SET NULL"), nullable=True),
        sa.Column("geom", geoalchemy2.types.Geometry(geometry_type="POINT", srid=4326, spatial_index=False,
                                                     from_text="ST_GeomFromEWKT", name="geometry"),
                  nullable=True),
        sa.Column("grid_id", sa.Integer(), sa.ForeignKey("admin_unit.id", ondelete="SET NULL"), nullable=True),
        sa.Column("road_id", sa.Integer(), sa.ForeignKey("road.id", ondelete="SET NULL"), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default=jsonb_default, nullable=False),
        sa.UniqueConstraint("external_id", name="uq_camera_detection_external"),
    )
    op.create_index("ix_camera_detection_cam_class_at", "camera_detection", ["camera_id", "class", "detected_at"])
    op.create_index("ix_camera_detection_class_at", "camera_detection", ["class", "detected_at"])
    op.create_index("ix_camera_detection_geom", "camera_detection", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("camera_detection")
    op.drop_table("detection_class")
    op.drop_table("published_message")
    op.drop_table("rule_state")
    op.drop_table("alert")
