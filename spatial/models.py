"""Core PostGIS tables (SQLAlchemy 2 + GeoAlchemy2).

Every geometry is stored in EPSG:4326 (lon/lat degrees). Metric work (buffers,
distances, areas) transforms to
the district profile's metric CRS (:mod:`spatial.profile`) or uses geography.
All timestamps are ``timestamptz`` in UTC.

Every table of the platform is declared here, on one :class:`Base`: the
admin hierarchy, catalog, assets, cameras, sensors, workers, tickets and
their history, API tokens, and the perception loop (alerts, rule state,
published messages, camera detections). The Alembic migrations in
``spatial/db/migrations/versions`` are the source of truth for the schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SRID = 4326

#: Admin hierarchy levels (admin_unit.level).
LEVELS: dict[int, str] = {1: "district", 2: "street", 3: "community", 4: "grid"}
LEVEL_OF: dict[str, int] = {v: k for k, v in LEVELS.items()}

#: Ticket source channels.
CHANNELS = ("hotline", "grid_worker", "citizen_app", "sensor", "video_ai", "api", "open311")

#: Ticket states; the transition table lives in ``spatial.tickets.lifecycle``.
TICKET_STATES = (
    "reported", "accepted", "dispatched", "in_progress", "resolved", "verified", "closed",
    "rejected", "merged", "reopened",
)

#: Deadline units in the category catalog.
DEADLINE_UNITS = ("hours", "working_days", "calendar_days")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict] = {dict: JSONB}


def _now() -> sa.TextClause:
    return sa.text("now()")


class AdminUnit(Base):
    """A polygon of the district > street > community > grid hierarchy."""

    __tablename__ = "admin_unit"
    __table_args__ = (
        sa.CheckConstraint("level BETWEEN 1 AND 4", name="ck_admin_unit_level"),
        sa.Index("ix_admin_unit_geom", "geom", postgresql_using="gist"),
        sa.Index("ix_admin_unit_level_parent", "level", "parent_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="RESTRICT"))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    area_m2: Mapped[float | None] = mapped_column(sa.Float)
    population: Mapped[int | None] = mapped_column(sa.Integer)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))

    parent: Mapped[AdminUnit | None] = relationship(remote_side="AdminUnit.id")

    @property
    def level_name(self) -> str:
        return LEVELS[self.level]


class Department(Base):
    """A responsible department (e.g. urban management, water authority)."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class Category(Base):
    """A minor category of the catalog with its routing and deadlines.

    ``code`` doubles as the Open311 ``service_code``. Deadlines are
    ``accept_limit``/``resolve_limit`` counted in ``*_unit`` (hours,
    working_days or calendar_days).
    """

    __tablename__ = "category"
    __table_args__ = (
        sa.CheckConstraint("accept_unit IN ('hours','working_days','calendar_days')", name="ck_cat_accept_unit"),
        sa.CheckConstraint("resolve_unit IN ('hours','working_days','calendar_days')", name="ck_cat_resolve_unit"),
        sa.CheckConstraint("accept_limit > 0 AND resolve_limit > 0", name="ck_cat_limits_positive"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    major_code: Mapped[str] = mapped_column(sa.String(64), index=True)
    major_name: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id", ondelete="RESTRICT"))
    accept_limit: Mapped[float] = mapped_column(sa.Float, server_default="24")
    accept_unit: Mapped[str] = mapped_column(sa.String(16), server_default="hours")
    resolve_limit: Mapped[float] = mapped_column(sa.Float, server_default="5")
    resolve_unit: Mapped[str] = mapped_column(sa.String(16), server_default="working_days")
    closing_standard: Mapped[str] = mapped_column(sa.Text, server_default="")
    skill: Mapped[str | None] = mapped_column(sa.String(64))
    on_the_spot: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    auto_dispatch: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    duplicate_radius_m: Mapped[float] = mapped_column(sa.Float, server_default="100")
    duplicate_window_h: Mapped[float] = mapped_column(sa.Float, server_default="24")
    priority: Mapped[int] = mapped_column(sa.SmallInteger, server_default="3")
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    keywords: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), server_default=sa.text("'{}'"))
    #: Tickets of this category concern a person (elderly help, personal safety): never public
    #: (``spatial.privacy``; migration 0008).
    sensitive: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())

    department: Mapped[Department] = relationship()


class Asset(Base):
    """A city component (manhole cover, street light, hydrant, bin...)."""

    __tablename__ = "asset"
    __table_args__ = (
        sa.Index("ix_asset_geom", "geom", postgresql_using="gist"),
        sa.Index("ix_asset_type", "asset_type"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    asset_type: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="SET NULL"))
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(sa.String(32), server_default="ok")
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class Camera(Base):
    """A video point: location, heading/field of view in degrees, stream URL."""

    __tablename__ = "camera"
    __table_args__ = (
        sa.Index("ix_camera_geom", "geom", postgresql_using="gist"),
        sa.CheckConstraint("heading_deg IS NULL OR (heading_deg >= 0 AND heading_deg < 360)", name="ck_cam_heading"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    heading_deg: Mapped[float | None] = mapped_column(sa.Float)
    fov_deg: Mapped[float | None] = mapped_column(sa.Float, server_default="60")
    range_m: Mapped[float | None] = mapped_column(sa.Float, server_default="80")
    stream_url: Mapped[str | None] = mapped_column(sa.Text)
    snapshot_url: Mapped[str | None] = mapped_column(sa.Text)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(sa.String(32), server_default="online")
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class Sensor(Base):
    """An IoT sensor. ``thresholds`` is per-type rule config (see spatial.sensors.rules)."""

    __tablename__ = "sensor"
    __table_args__ = (sa.Index("ix_sensor_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    sensor_type: Mapped[str] = mapped_column(sa.String(64), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(32))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"), index=True)
    thresholds: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(sa.String(32), server_default="online")
    last_value: Mapped[float | None] = mapped_column(sa.Float)
    last_reading_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    #: A sensor at a person's home (door sensors of elderly people living alone): it, its readings
    #: and its alerts are staff-only (``spatial.privacy``; migration 0008).
    private: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())


class SensorReading(Base):
    """One observation; (sensor_id, observed_at) is unique so re-sent readings are no-ops.

    Partitioned by month of ``observed_at`` (migration 0015, :mod:`spatial.db.partitions`).
    """

    __tablename__ = "sensor_reading"
    __table_args__ = (sa.Index("ix_sensor_reading_observed_brin", "observed_at", postgresql_using="brin"),
                      {"postgresql_partition_by": "RANGE (observed_at)"})

    sensor_id: Mapped[int] = mapped_column(sa.ForeignKey("sensor.id", ondelete="CASCADE"), primary_key=True)
    observed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True)
    value: Mapped[float] = mapped_column(sa.Float)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    quality: Mapped[str] = mapped_column(sa.String(16), server_default="ok")


class Worker(Base):
    """A grid worker or field handler with the latest trusted position.

    ``geom``/``position_at`` hold the latest *trusted* GPS fix (EPSG:4326);
    the history is in :class:`WorkerPosition`.
    """

    __tablename__ = "worker"
    __table_args__ = (
        # Migration 0003 adds ``geog`` (geography generated from geom) and the partial
        # GiST ``ix_worker_avail_geog`` (on duty and under the workload cap) used by dispatch KNN.
        sa.Index("ix_worker_department", "department_id"),
        sa.CheckConstraint("max_workload >= 0", name="ck_worker_max_workload"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id", ondelete="RESTRICT"))
    home_grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"))
    skills: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), server_default=sa.text("'{}'"))
    on_duty: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    workload: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    max_workload: Mapped[int] = mapped_column(sa.Integer, server_default="5")
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)
    position_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    position_accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))

    department: Mapped[Department] = relationship()


class WorkerPosition(Base):
    """GPS fix history; (worker_id, fixed_at) unique; implausible fixes kept but flagged."""

    __tablename__ = "worker_position"
    __table_args__ = (
        sa.UniqueConstraint("worker_id", "fixed_at", name="uq_worker_position_fix"),
        sa.Index("ix_worker_position_fixed_brin", "fixed_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    worker_id: Mapped[int] = mapped_column(sa.ForeignKey("worker.id", ondelete="CASCADE"))
    fixed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    flag: Mapped[str | None] = mapped_column(sa.String(32))


class Ticket(Base):
    """A standardized city event ticket.

    ``grid_id``/``community_id``/``street_id`` are located at intake by
    point-in-polygon and stored. Deadlines are absolute UTC times computed
    from the catalog at intake (``accept_due_at``, ``resolve_due_at``).
    """

    __tablename__ = "ticket"
    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id", name="uq_ticket_channel_external"),
        sa.Index("ix_ticket_geom", "geom", postgresql_using="gist"),
        sa.Index("ix_ticket_category_created", "category_id", "created_at"),
        sa.Index("ix_ticket_grid_created", "grid_id", "created_at"),
        sa.Index("ix_ticket_status", "status"),
        sa.Index("ix_ticket_created_brin", "created_at", postgresql_using="brin"),
        sa.Index("ix_ticket_worker_open", "assigned_worker_id",
                 postgresql_where=sa.text("status IN ('dispatched','in_progress')")),
        sa.CheckConstraint(
            "status IN ('reported','accepted','dispatched','in_progress','resolved','verified','closed',"
            "'rejected','merged','reopened')", name="ck_ticket_status"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="ck_ticket_rating"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    external_id: Mapped[str | None] = mapped_column(sa.String(128))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("category.id", ondelete="RESTRICT"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="SET NULL"),
                                                      index=True)
    grid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"))
    community_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"))
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"),
                                                  index=True)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    address: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text, server_default="")
    photo_urls: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), server_default=sa.text("'{}'"))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="reported")
    priority: Mapped[int] = mapped_column(sa.SmallInteger, server_default="3")
    reporter_name: Mapped[str | None] = mapped_column(sa.String(200))
    reporter_phone: Mapped[str | None] = mapped_column(sa.String(40))
    reporter_account: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    accepted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    accept_due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolve_due_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    accept_overdue: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    resolve_overdue: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    escalation_level: Mapped[int] = mapped_column(sa.SmallInteger, server_default="0")
    assigned_worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("worker.id", ondelete="SET NULL"))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="SET NULL"))
    rating: Mapped[int | None] = mapped_column(sa.SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(sa.Text)
    version: Mapped[int] = mapped_column(sa.Integer, server_default="1")
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    created_by: Mapped[str | None] = mapped_column(sa.String(128))  # actor of the intake (migration 0002)

    category: Mapped[Category] = relationship()


class TicketReporter(Base):
    """Every report behind a ticket (the first one and those merged in as duplicates)."""

    __tablename__ = "ticket_reporter"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    external_id: Mapped[str | None] = mapped_column(sa.String(128))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    account: Mapped[str | None] = mapped_column(sa.String(128))
    reported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    description: Mapped[str | None] = mapped_column(sa.Text)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)


class TicketEvent(Base):
    """Append-only ticket history (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "ticket_event"
    __table_args__ = (sa.Index("ix_ticket_event_ticket_at", "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    kind: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str | None] = mapped_column(sa.String(16))
    actor: Mapped[str | None] = mapped_column(sa.String(128))
    actor_role: Mapped[str | None] = mapped_column(sa.String(32))
    note: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class Road(Base):
    """A road centreline (for warnings, video 'frequent location' and routing)."""

    __tablename__ = "road"
    __table_args__ = (sa.Index("ix_road_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    road_class: Mapped[str | None] = mapped_column(sa.String(32))
    geom = mapped_column(Geometry("MULTILINESTRING", srid=SRID, spatial_index=False), nullable=False)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    #: The OSM import that wrote the row (``spatial.io.osm``; a re-import replaces its source); migration 0010.
    source: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    oneway: Mapped[bool | None] = mapped_column(sa.Boolean)


class Building(Base):
    """A building footprint with a height in metres (3D layer, flood obstacles)."""

    __tablename__ = "building"
    __table_args__ = (sa.Index("ix_building_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    height_m: Mapped[float | None] = mapped_column(sa.Float)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    #: The OSM import that wrote the row (``spatial.io.osm``); migration 0010.
    source: Mapped[str | None] = mapped_column(sa.String(64), index=True)


class Water(Base):
    """Water of the basemap: areas (MULTIPOLYGON) and rivers/canals (MULTILINESTRING), EPSG:4326."""

    __tablename__ = "water"
    __table_args__ = (sa.Index("ix_water_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64), index=True)
    osm_id: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False), nullable=False)


class Landuse(Base):
    """Land use / land cover areas of the basemap (park, residential, grass...), EPSG:4326."""

    __tablename__ = "landuse"
    __table_args__ = (sa.Index("ix_landuse_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64), index=True)
    osm_id: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)


class Poi(Base):
    """A point of interest (school, hospital, shelter, police...) with its ``kind``, EPSG:4326."""

    __tablename__ = "poi"
    __table_args__ = (sa.Index("ix_poi_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64), index=True)
    osm_id: Mapped[str | None] = mapped_column(sa.String(32))
    kind: Mapped[str] = mapped_column(sa.String(32), index=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class Address(Base):
    """An address point (street + house number), EPSG:4326."""

    __tablename__ = "address"
    __table_args__ = (sa.Index("ix_address_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64), index=True)
    osm_id: Mapped[str | None] = mapped_column(sa.String(32))
    street: Mapped[str | None] = mapped_column(sa.String(200))
    housenumber: Mapped[str | None] = mapped_column(sa.String(32))
    name: Mapped[str | None] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)


class BasemapState(Base):
    """One row: ``generation`` changes with any write to a basemap table (triggers of migration 0010)."""

    __tablename__ = "basemap_state"

    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    generation: Mapped[int] = mapped_column(sa.BigInteger)
    changed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())


class ApiToken(Base):
    """A bearer token: hashed secret, role and optional department/worker scope."""

    __tablename__ = "api_token"
    __table_args__ = (sa.UniqueConstraint("token_hash", name="uq_api_token_hash"),)

    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[str] = mapped_column(sa.String(32))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="SET NULL"))
    worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("worker.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    #: Router tags the token may call (``tickets``, ``sensors`` ...); None = all its role allows.
    scopes: Mapped[list[str] | None] = mapped_column(ARRAY(sa.String(32)))
    admin_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"))


# --- people: accounts, sign-in sessions, audit trail (migration 0013)


class UserAccount(Base):
    """A person who signs in: roles, data scope (department, street), argon2 hash or SSO identity."""

    __tablename__ = "user_account"
    __table_args__ = (
        sa.CheckConstraint("cardinality(roles) >= 1", name="ck_user_account_roles"),
        sa.CheckConstraint("username ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'", name="ck_user_account_username"),
        sa.CheckConstraint("failed_logins >= 0", name="ck_user_account_failed"),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_user_account_oidc"),
        sa.Index("uq_user_account_username", "username", unique=True),
    )

    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    display_name: Mapped[str] = mapped_column(sa.String(128), server_default="")
    email: Mapped[str | None] = mapped_column(sa.String(254))
    roles: Mapped[list[str]] = mapped_column(ARRAY(sa.String(32)))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="SET NULL"))
    #: The street (admin unit, level 2) a street's staff work in; None = the whole district.
    admin_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("admin_unit.id", ondelete="SET NULL"))
    worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("worker.id", ondelete="SET NULL"))
    password_hash: Mapped[str | None] = mapped_column(sa.Text)
    password_changed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    must_change_password: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    oidc_issuer: Mapped[str | None] = mapped_column(sa.String(512))
    oidc_subject: Mapped[str | None] = mapped_column(sa.String(255))
    failed_logins: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))


class UserSession(Base):
    """A signed-in browser: the SHA-256 of the cookie value, the CSRF secret, expiry, IP."""

    __tablename__ = "user_session"
    __table_args__ = (
        sa.UniqueConstraint("token_hash", name="uq_user_session_token"),
        sa.CheckConstraint("via IN ('password', 'oidc')", name="ck_user_session_via"),
        sa.Index("ix_user_session_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(sa.String(64))
    via: Mapped[str] = mapped_column(sa.String(16), server_default="password")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(sa.String(256))


class AuditLog(Base):
    """Append-only audit trail: who (actor, user or token), when, from where, what, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_at", "at"),
        sa.Index("ix_audit_log_target", "table_name", "row_id"),
        sa.Index("ix_audit_log_actor", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"))
    actor: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[int | None] = mapped_column(sa.Integer)
    token_id: Mapped[int | None] = mapped_column(sa.Integer)
    ip: Mapped[str | None] = mapped_column(INET)
    request: Mapped[str | None] = mapped_column(sa.String(300))
    action: Mapped[str] = mapped_column(sa.String(32))
    table_name: Mapped[str | None] = mapped_column(sa.String(64))
    row_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)


# --- perception loop: alerts, rule state, published messages, camera detections (migration 0004)

#: Where an alert comes from.
SOURCE_KINDS = ("sensor", "camera", "flood", "system", "geofence")
#: Alert levels, in increasing severity; ``offline`` is a separate kind of trouble.
SEVERITIES = ("yellow", "orange", "red")
ALERT_LEVELS = (*SEVERITIES, "offline")
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
        sa.CheckConstraint("source_kind IN ('sensor','camera','flood','system','geofence')",
                           name="ck_alert_source_kind"),
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


class FloodRun(Base):
    """One operational flood forecast run with its provenance (migration 0018, ``spatial.flood.ops``).

    ``inputs``: the rainfall forecast (kind, files with SHA-256, label, interval edges [s]), DEM path
    and SHA-256, model settings, hot-start lead [s]; ``outputs``: summary (max depth [m], wet area
    [ha], balance error), the stored state and snapshot overlays; ``warnings``: the warnings table;
    ``publication``: none, published, awaiting_confirmation (above the cap), confirmed, rejected or
    superseded; ``publish_result``: the alert changes (or, while waiting, their preview).
    """

    __tablename__ = "flood_run"
    __table_args__ = (
        sa.CheckConstraint("source IN ('folder','api','planner','cli')", name="ck_flood_run_source"),
        sa.CheckConstraint("status IN ('queued','running','done','failed')", name="ck_flood_run_status"),
        sa.CheckConstraint("publication IN ('none','published','awaiting_confirmation','confirmed','rejected',"
                           "'superseded')", name="ck_flood_run_publication"),
        sa.UniqueConstraint("forecast_key", name="uq_flood_run_forecast_key"),
        sa.Index("ix_flood_run_status_issued", "status", "issued_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    forecast_key: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="queued")
    issued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    hot_start_from: Mapped[str | None] = mapped_column(sa.ForeignKey("flood_run.id", ondelete="SET NULL"))
    inputs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    outputs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    warnings: Mapped[list] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    publication: Mapped[str] = mapped_column(sa.String(24), server_default="none")
    publish_result: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    decided_by: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(sa.Text)
    extent = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False), nullable=True)


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
    """Per-class configuration of camera AI detections (overrides ``spatial.sensors.cameras.DEFAULT_CLASSES``)."""

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



class DistrictProfile(Base):
    """The district's profile (one current row, ``id = 1``): see :mod:`spatial.profile`.

    ``doc`` holds the profile file as validated JSON; ``metric_srid`` is the
    resolved metric CRS (the file's, else the UTM zone of the boundary's
    centroid) and ``timezone`` the IANA zone, both copied out of ``doc``.
    """

    __tablename__ = "district_profile"
    __table_args__ = (sa.CheckConstraint("id = 1", name="ck_district_profile_one_row"),)

    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, server_default=sa.text("1"))
    name: Mapped[str] = mapped_column(sa.Text)
    metric_srid: Mapped[int] = mapped_column(sa.Integer)
    timezone: Mapped[str] = mapped_column(sa.Text)
    doc: Mapped[dict] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))


class DrainageNode(Base):
    """A manhole (``kind`` junction: invert and rim [m]) or an outfall (invert, ``stage_m``: NULL = free).

    ``name`` is the SWMM element name; ``source`` the import it came from (migration 0017).
    """

    __tablename__ = "drainage_node"
    __table_args__ = (
        sa.Index("ix_drainage_node_geom", "geom", postgresql_using="gist"),
        sa.CheckConstraint("kind IN ('junction', 'outfall')", name="ck_drainage_node_kind"),
        sa.CheckConstraint("kind <> 'junction' OR rim_m > invert_m", name="ck_drainage_node_rim"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    invert_m: Mapped[float] = mapped_column(sa.Float)
    rim_m: Mapped[float | None] = mapped_column(sa.Float)
    stage_m: Mapped[float | None] = mapped_column(sa.Float)
    source: Mapped[str] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)


class DrainageConduit(Base):
    """A pipe between two drainage nodes: SWMM closed ``shape``, sizes [m], Manning n, length [m]."""

    __tablename__ = "drainage_conduit"
    __table_args__ = (
        sa.Index("ix_drainage_conduit_geom", "geom", postgresql_using="gist"),
        sa.CheckConstraint("geom1_m > 0 AND geom2_m >= 0 AND length_m > 0 AND roughness > 0 AND roughness < 1",
                           name="ck_drainage_conduit_sizes"),
        sa.CheckConstraint("from_node_id <> to_node_id", name="ck_drainage_conduit_ends"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    from_node_id: Mapped[int] = mapped_column(sa.ForeignKey("drainage_node.id", ondelete="CASCADE"), index=True)
    to_node_id: Mapped[int] = mapped_column(sa.ForeignKey("drainage_node.id", ondelete="CASCADE"), index=True)
    shape: Mapped[str] = mapped_column(sa.String(32))
    geom1_m: Mapped[float] = mapped_column(sa.Float)
    geom2_m: Mapped[float] = mapped_column(sa.Float, server_default="0")
    roughness: Mapped[float] = mapped_column(sa.Float)
    length_m: Mapped[float] = mapped_column(sa.Float)
    in_offset_m: Mapped[float] = mapped_column(sa.Float, server_default="0")
    out_offset_m: Mapped[float] = mapped_column(sa.Float, server_default="0")
    source: Mapped[str] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=False), nullable=False)
class Media(Base):
    """An uploaded photo (``spatial.media``); files on disk by content hash, this row says who may see what.

    ``gps`` (EPSG:4326) and ``taken_at`` come from the original's EXIF and are private evidence.
    """

    __tablename__ = "media"
    __table_args__ = (
        sa.CheckConstraint("width > 0 AND height > 0 AND bytes > 0", name="ck_media_size"),
        sa.Index("ix_media_ticket", "ticket_id"),
        sa.Index("ix_media_sha256", "sha256"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.CHAR(64))
    public_sha256: Mapped[str] = mapped_column(sa.CHAR(64))
    thumb_sha256: Mapped[str] = mapped_column(sa.CHAR(64))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    original_type: Mapped[str] = mapped_column(sa.String(32))
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    bytes: Mapped[int] = mapped_column(sa.Integer)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="SET NULL"))
    uploaded_by: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    taken_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    gps = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=True)


class CitizenReport(Base):
    """A report from the citizen page: hashed tracking token, reporter account, optional e-mail."""

    __tablename__ = "citizen_report"
    __table_args__ = (
        sa.UniqueConstraint("token_hash", name="uq_citizen_report_token"),
        sa.Index("ix_citizen_report_ticket", "ticket_id"),
        sa.Index("ix_citizen_report_idem", "idem_hash"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.CHAR(64))
    idem_hash: Mapped[str | None] = mapped_column(sa.CHAR(64))
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    account: Mapped[str] = mapped_column(sa.String(128))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    lang: Mapped[str] = mapped_column(sa.String(8), server_default="zh")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))


#: Notification channels of subscriptions; the outbox holds the external ones.
NOTIFY_CHANNELS = ("webhook", "email", "inapp")
OUTBOX_STATES = ("pending", "sending", "sent", "dead")


class NotificationSubscription(Base):
    """Who hears about which ticket events (``spatial.notify``): topics, department, category (NULL = any)."""

    __tablename__ = "notification_subscription"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('webhook', 'email', 'inapp')", name="ck_subscription_channel"),
        sa.CheckConstraint("channel <> 'webhook' OR secret IS NOT NULL", name="ck_subscription_secret"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    channel: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str] = mapped_column(sa.Text)
    secret: Mapped[str | None] = mapped_column(sa.Text)
    topics: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), server_default=sa.text("'{}'"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id", ondelete="CASCADE"))
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))


class NotificationOutbox(Base):
    """One delivery to make (webhook or e-mail), written in the transaction of its ticket event."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('webhook', 'email')", name="ck_outbox_channel"),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'dead')", name="ck_outbox_state"),
        sa.Index("ix_outbox_due", "next_attempt_at", postgresql_where=sa.text("state IN ('pending', 'sending')")),
        sa.Index("ix_outbox_event", "event_id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket_event.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    subscription_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("notification_subscription.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str] = mapped_column(sa.Text)
    topic: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    state: Mapped[str] = mapped_column(sa.String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class InappMessage(Base):
    """An in-app message for exactly one of: a worker, a reporter account, a role (optionally one department)."""

    __tablename__ = "inapp_message"
    __table_args__ = (
        sa.CheckConstraint("num_nonnulls(worker_id, reporter_account, role) = 1", name="ck_inapp_recipient"),
        sa.Index("ix_inapp_worker", "worker_id", "created_at", postgresql_where=sa.text("worker_id IS NOT NULL")),
        sa.Index("ix_inapp_reporter", "reporter_account", "created_at",
                 postgresql_where=sa.text("reporter_account IS NOT NULL")),
        sa.Index("ix_inapp_role", "role", "created_at", postgresql_where=sa.text("role IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket_event.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(sa.String(32))
    worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("worker.id", ondelete="CASCADE"))
    reporter_account: Mapped[str | None] = mapped_column(sa.String(128))
    role: Mapped[str | None] = mapped_column(sa.String(32))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id", ondelete="CASCADE"))
    data: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("now()"))
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
# --- emergency command: road network, incidents, joint tasks, geofences, district events (migration 0014)

class RoadNetworkState(Base):
    """One row: ``road_generation`` moves on any write to ``road`` (trigger); the network is current
    when ``built_generation`` equals it (``spatial.workers.network``)."""

    __tablename__ = "road_network_state"
    __table_args__ = (sa.CheckConstraint("id = 1", name="ck_road_network_state_one_row"),)

    id: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    road_generation: Mapped[int] = mapped_column(sa.BigInteger)
    built_generation: Mapped[int | None] = mapped_column(sa.BigInteger)
    built_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    vertices: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    edges: Mapped[int] = mapped_column(sa.Integer, server_default="0")


class RoadVertex(Base):
    """A node of the routable network (a road vertex, EPSG:4326), built by ``spatial.workers.network``."""

    __tablename__ = "road_vertex"
    __table_args__ = (sa.Index("ix_road_vertex_geom", "geom", postgresql_using="gist"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)


class RoadEdge(Base):
    """A road segment for pgRouting: ``cost``/``reverse_cost`` in seconds (-1: one-way), ``length_m`` metres."""

    __tablename__ = "road_edge"
    __table_args__ = (
        sa.Index("ix_road_edge_geom", "geom", postgresql_using="gist"),
        sa.Index("ix_road_edge_road", "road_id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    road_id: Mapped[int] = mapped_column(sa.ForeignKey("road.id", ondelete="CASCADE"))
    source: Mapped[int] = mapped_column(sa.BigInteger)
    target: Mapped[int] = mapped_column(sa.BigInteger)
    cost: Mapped[float] = mapped_column(sa.Float)
    reverse_cost: Mapped[float] = mapped_column(sa.Float)
    length_m: Mapped[float] = mapped_column(sa.Float)
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=False), nullable=False)


class IncidentType(Base):
    """An incident template: impact zone (buffer ``radius_m`` metres or isochrone ``band_s`` seconds), level, tasks.

    ``tasks`` is a list of ``{department (code), title, deadline_h, closing_standard, skill}``.
    """

    __tablename__ = "incident_type"
    __table_args__ = (
        sa.CheckConstraint("zone_kind IN ('buffer','isochrone')", name="ck_incident_type_zone_kind"),
        sa.CheckConstraint("radius_m IS NULL OR (radius_m > 0 AND radius_m <= 10000)", name="ck_incident_type_radius"),
        sa.CheckConstraint("band_s IS NULL OR (band_s > 0 AND band_s <= 7200)", name="ck_incident_type_band"),
        sa.CheckConstraint("zone_kind <> 'isochrone' OR band_s IS NOT NULL", name="ck_incident_type_band_set"),
        sa.CheckConstraint("zone_kind <> 'buffer' OR radius_m IS NOT NULL", name="ck_incident_type_radius_set"),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name="ck_incident_type_level"),
    )

    code: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    zone_kind: Mapped[str] = mapped_column(sa.String(16))
    radius_m: Mapped[float | None] = mapped_column(sa.Float)
    band_s: Mapped[float | None] = mapped_column(sa.Float)
    level: Mapped[int] = mapped_column(sa.SmallInteger, server_default="2")
    tasks: Mapped[list] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())


class DistrictEvent(Base):
    """A district-wide event (typhoon, rainstorm...): tickets and incidents in its window are tagged to it."""

    __tablename__ = "district_event"
    __table_args__ = (sa.CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ck_district_event_window"),)

    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    starts_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    declared_by: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class EventTicket(Base):
    """A ticket tagged to a district event."""

    __tablename__ = "event_ticket"
    __table_args__ = (sa.Index("ix_event_ticket_ticket", "ticket_id"),)

    event_id: Mapped[int] = mapped_column(sa.ForeignKey("district_event.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)


class Incident(Base):
    """An emergency incident: where (``geom``, any geometry family), its impact ``zone`` and joint tasks.

    ``impact`` keeps the last impact analysis (counts); the zone is a MULTIPOLYGON in EPSG:4326.
    """

    __tablename__ = "incident"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open','closed')", name="ck_incident_status"),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name="ck_incident_level"),
        sa.CheckConstraint("source_kind IN ('ticket','alert','detection','drawn')", name="ck_incident_source"),
        sa.CheckConstraint("zone_kind IN ('buffer','isochrone')", name="ck_incident_zone_kind"),
        sa.Index("ix_incident_geom", "geom", postgresql_using="gist"),
        sa.Index("ix_incident_zone", "zone", postgresql_using="gist"),
        sa.Index("ix_incident_status", "status", "declared_at"),
        sa.Index("ix_incident_event", "event_id"),
        sa.Index("uq_incident_open_source", "source_kind", "source_id", unique=True,
                 postgresql_where=sa.text("status = 'open' AND source_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    type_code: Mapped[str] = mapped_column(sa.ForeignKey("incident_type.code", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="open")
    level: Mapped[int] = mapped_column(sa.SmallInteger)
    source_kind: Mapped[str] = mapped_column(sa.String(16))
    source_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("district_event.id", ondelete="SET NULL"))
    zone_kind: Mapped[str] = mapped_column(sa.String(16))
    radius_m: Mapped[float | None] = mapped_column(sa.Float)
    band_s: Mapped[float | None] = mapped_column(sa.Float)
    geom = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=False), nullable=False)
    zone = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=True)
    declared_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    declared_by: Mapped[str | None] = mapped_column(sa.String(128))
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    impact: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    attrs: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class IncidentTask(Base):
    """One department's task of an incident: lead, deadline, closing standard, escalation level."""

    __tablename__ = "incident_task"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open','in_progress','done','cancelled')", name="ck_incident_task_status"),
        sa.UniqueConstraint("incident_id", "department_id", "title", name="uq_incident_task_dept_title"),
        sa.Index("ix_incident_task_open_deadline", "deadline_at",
                 postgresql_where=sa.text("status IN ('open','in_progress')")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incident.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(sa.String(200))
    lead_worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("worker.id", ondelete="SET NULL"))
    lead_name: Mapped[str | None] = mapped_column(sa.String(200))
    deadline_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    closing_standard: Mapped[str] = mapped_column(sa.Text, server_default="")
    status: Mapped[str] = mapped_column(sa.String(16), server_default="open")
    escalation_level: Mapped[int] = mapped_column(sa.SmallInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    closed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(sa.String(128))
    closing_note: Mapped[str | None] = mapped_column(sa.Text)


class IncidentEvent(Base):
    """The append-only timeline of an incident (declared, dispatched, escalated, task closed, closed...)."""

    __tablename__ = "incident_event"
    __table_args__ = (sa.Index("ix_incident_event_incident", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incident.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str | None] = mapped_column(sa.String(128))
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incident_task.id", ondelete="RESTRICT"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))


class Geofence(Base):
    """An electronic fence (MULTIPOLYGON, EPSG:4326) with rules on detections and worker positions.

    ``rules``: ``{"subjects": ["detection", "worker"], "on": ["enter", "leave", "dwell"], "dwell_s": 600,
    "classes": [...], "hours": "20:00-06:00" (local), "clear_after_s": 600}``; see ``spatial.incidents.geofences``.
    """

    __tablename__ = "geofence"
    __table_args__ = (
        sa.CheckConstraint("level IN ('yellow','orange','red')", name="ck_geofence_level"),
        sa.Index("ix_geofence_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, sa.Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    rules: Mapped[dict] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    level: Mapped[str] = mapped_column(sa.String(16), server_default="orange")
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())


class GeofencePresence(Base):
    """Whether a subject (a worker, or a camera's detection class) is inside a fence, and since when."""

    __tablename__ = "geofence_presence"
    __table_args__ = (sa.CheckConstraint("subject_kind IN ('worker','detection')", name="ck_geofence_presence_kind"),)

    geofence_id: Mapped[int] = mapped_column(sa.ForeignKey("geofence.id", ondelete="CASCADE"), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    subject_key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    inside: Mapped[bool] = mapped_column(sa.Boolean)
    entered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    dwell_alerted: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())


def build_lookup_indexes(*selectables: sa.FromClause) -> None:
    """Build SQLAlchemy's lazy column lookup index of each table or alias now, in the calling thread.

    SQLAlchemy fills a column collection's "proxy index" (what ``corresponding_column`` and every
    adaptation to an alias consult) on first use, one column at a time and without a lock. Threads
    that share a module-level table or alias and use it for the first time together (the first
    requests after a server start) can see a half-built index: an aliased column is then left
    unadapted, the statement gets a cartesian product and ``ticket_row`` answered 500
    (``MultipleResultsFound``). Indexes built once at import are complete before any thread starts.
    """
    probe = sa.column("_onemap_index_probe")  # belongs to no table: the lookup must build the index
    for selectable in selectables:
        selectable.corresponding_column(probe)


sa.orm.configure_mappers()
build_lookup_indexes(*Base.metadata.tables.values())


class LiveChange(Base):
    """One committed statement on a live table (migration 0019 triggers): what the open maps update from.

    ``ids`` are the changed primary keys, NULL when more than 1,000 rows changed or on TRUNCATE
    ("reload that kind"). The same trigger sends ``NOTIFY onemap_live`` (``spatial.maps.live``).
    """

    __tablename__ = "live_change"
    __table_args__ = (sa.Index("ix_live_change_at", "at", postgresql_using="brin"),)

    seq: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    op: Mapped[str] = mapped_column(sa.String(16))
    n: Mapped[int | None] = mapped_column(sa.Integer)
    ids: Mapped[list[int] | None] = mapped_column(ARRAY(sa.BigInteger))
