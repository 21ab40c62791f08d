"""Tables of the perception loop: alerts, rule state, published messages, camera detections.

All geometries are EPSG:4326; all timestamps ``timestamptz`` (UTC). The
migration ``0004_sensors_alerts`` is the source of truth for the schema; these
ORM classes mirror it on :class:`spatial.models.Base`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import SRID, Base

#: Where an alert comes from.
SOURCE_KINDS = ("sensor", "camera", "flood", "system")
#: Alert levels, in increasing severity; ``offline`` is a separate kind of trouble.
LEVELS = ("yellow", "orange", "red")
ALERT_LEVELS = (*LEVELS, "offline")
ALERT_STATES = ("active", "cleared")


class Alert(Base):
    """A warning raised by a rule; at most one *active* alert per (source_kind, source_id, rule).

    ``level`` changes in place while the condition lasts (escalation and
    de-escalation are kept in ``data["history"]``); the alert is cleared, not
    deleted, when the condition ends. ``last_value``/``peak_value`` are in the
    sensor's unit (metres of depth for flood alerts).
    """

    __tablename__ = "alert"
    __table_args__ = (
        sa.CheckConstraint("source_kind IN ('sensor','camera','flood','system')", name="ck_alert_source_kind"),
        sa.CheckConstraint("level IN ('yellow','orange','red','offline')", name="ck_alert_level"),
        sa.CheckConstraint("state IN ('active','cleared')", name="ck_alert_state"),
        sa.Index("uq_alert_active_source_rule", "source_kind", "source_id", "rule", unique=True,
                 postgresql_where=sa.text("state = 'active'")),
        sa.Index("ix_alert_state_started", "state", "started_at"),
        sa.Index("ix_alert_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    source_kind: Mapped[str] = mapped_column(sa.String(16))
    source_id: Mapped[str] = mapped_column(sa.String(128))
    rule: Mapped[str] = mapped_column(sa.String(64))
    level: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    cleared_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_value: Mapped[float | None] = mapped_column(sa.Float)
    peak_value: Mapped[float | None] = mapped_column(sa.Float)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="SET NULL"))
    geom = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False), nullable=True)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(sa.Text, server_default="")
    data: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class RuleState(Base):
    """Evaluation state of one rule of one sensor (pending condition, current level, last evaluated time)."""

    __tablename__ = "rule_state"

    sensor_id: Mapped[int] = mapped_column(sa.ForeignKey("sensor.id", ondelete="CASCADE"), primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    level: Mapped[str | None] = mapped_column(sa.String(16))
    pending_level: Mapped[str | None] = mapped_column(sa.String(16))
    pending_since: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_event_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))


class PublishedMessage(Base):
    """A warning text stored for notification channels (app push, SMS gateway, screens, broadcast)."""

    __tablename__ = "published_message"
    __table_args__ = (sa.Index("ix_published_message_created", "created_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    level: Mapped[str | None] = mapped_column(sa.String(16))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    audience: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class DetectionClass(Base):
    """Per-class configuration of camera AI detections (overrides ``spatial.cameras.DEFAULT_CLASSES``)."""

    __tablename__ = "detection_class"
    __table_args__ = (
        sa.CheckConstraint("min_confidence >= 0 AND min_confidence <= 1", name="ck_detection_class_conf"),
    )

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), server_default="")
    category_code: Mapped[str | None] = mapped_column(sa.String(64))
    min_confidence: Mapped[float] = mapped_column(sa.Float, server_default="0.6")
    dedup_window_s: Mapped[float] = mapped_column(sa.Float, server_default="1800")
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())


class CameraDetection(Base):
    """One camera-AI detection, kept whether or not it became a ticket (``status`` says why)."""

    __tablename__ = "camera_detection"
    __table_args__ = (
        sa.UniqueConstraint("external_id", name="uq_camera_detection_external"),
        sa.Index("ix_camera_detection_cam_class_at", "camera_id", "class", "detected_at"),
        sa.Index("ix_camera_detection_class_at", "class", "detected_at"),
        sa.Index("ix_camera_detection_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    camera_id: Mapped[int] = mapped_column(sa.ForeignKey("camera.id", ondelete="CASCADE"))
    detected_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    cls: Mapped[str] = mapped_column("class", sa.String(64))
    confidence: Mapped[float] = mapped_column(sa.Float)
    snapshot_url: Mapped[str | None] = mapped_column(sa.Text)
    external_id: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(32))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="SET NULL"))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"))
    road_id: Mapped[int | None] = mapped_column(sa.ForeignKey("road.id", ondelete="SET NULL"))
    data: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
