"""Ticket intake: validate, locate, apply the catalog, merge duplicates, record.

Every channel (12345 hotline, grid worker app, citizen app, sensor, video AI,
API, Open311) goes through :func:`intake`:

1. validate the report (:class:`TicketCreate`: known category, location in
   EPSG:4326 inside the district, text lengths, http(s) photo URLs);
2. idempotency: a repeated ``(channel, external_id)`` returns the ticket it
   created or was merged into (outcome ``existing``); a unique constraint and
   ``INSERT ... ON CONFLICT DO NOTHING`` make this hold under concurrency;
3. duplicates (``spatial.duplicates``): an open ticket of the same category
   within the category's radius and window absorbs the report (outcome
   ``merged``: the report becomes a ``duplicate_report`` event and a
   ``ticket_reporter`` row), unless ``dedupe=False``;
4. otherwise a new ticket (outcome ``created``) with grid/community/street
   from point-in-polygon, the catalog's department and deadlines
   (``spatial.deadlines.due_at`` in the district time zone), a first
   ``reported`` event and a ``ticket_reporter`` row (every report behind a
   ticket has one, the first included); auto-dispatch categories are accepted by the system
   and handed to ``spatial.dispatch.auto_dispatch``.

Bulk imports (hotline back-office exports) use
:func:`spatial.ticket_import.bulk_intake` (vectorised validation and
point-in-polygon, then COPY).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlparse

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from spatial import duplicates, lifecycle
from spatial.deadlines import due_at
from spatial.errors import NotFound, OutsideDistrict, ValidationError
from spatial.models import CHANNELS, Category, Ticket
from spatial.settings import get_settings

MAX_DESCRIPTION = 4000
MAX_PHOTOS = 10
MAX_ATTRS_BYTES = 8192
#: Oldest accepted ``reported_at`` (back-office imports may lag).
MAX_BACKDATE = timedelta(days=366)


class TicketCreate(BaseModel):
    """One report from any channel. Coordinates are EPSG:4326 degrees."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=64, description="catalog code (= Open311 service_code)")
    lon: float = Field(ge=-180, le=180, description="longitude, EPSG:4326 degrees")
    lat: float = Field(ge=-90, le=90, description="latitude, EPSG:4326 degrees")
    channel: str = Field(description="one of " + ", ".join(CHANNELS))
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    external_id: str | None = Field(default=None, min_length=1, max_length=128,
                                    description="the channel's own id; repeats are idempotent")
    address: str | None = Field(default=None, max_length=500)
    photo_urls: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)
    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9][0-9 \-]{2,38}$")
    reporter_account: str | None = Field(default=None, max_length=128)
    priority: int | None = Field(default=None, ge=1, le=5, description="1 = most urgent")
    reported_at: datetime | None = Field(default=None, description="timezone-aware; default: now")
    attrs: dict[str, Any] = Field(default_factory=dict)
    dedupe: bool = Field(default=True, description="False overrides the duplicate merge")

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v not in CHANNELS:
            raise ValueError(f"unknown channel {v!r}; one of {', '.join(CHANNELS)}")
        return v

    @field_validator("lon", "lat")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("coordinates must be finite numbers")
        return v

    @field_validator("photo_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for u in urls:
            p = urlparse(u)
            if p.scheme not in ("http", "https") or not p.netloc or len(u) > 2000 or any(c.isspace() for c in u):
                raise ValueError(f"photo URL {u[:80]!r} is not an http(s) URL")
        return urls

    @field_validator("reported_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("reported_at must carry a time zone (e.g. 2026-10-01T08:00:00+08:00)")
        return v

    @field_validator("attrs")
    @classmethod
    def _small(cls, v: dict) -> dict:
        import json

        try:
            if len(json.dumps(v, default=str)) > MAX_ATTRS_BYTES:
                raise ValueError(f"attrs must be at most {MAX_ATTRS_BYTES} bytes of JSON")
        except TypeError as exc:
            raise ValueError(f"attrs must be JSON: {exc}") from exc
        return v

    @classmethod
    def parse(cls, data: dict) -> TicketCreate:
        """Validate a dict, raising :class:`spatial.errors.ValidationError` with the field errors."""
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise ValidationError(validation_message(exc), details={"errors": _errors(exc)}) from exc


def _errors(exc: PydanticValidationError) -> list[dict]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]


def validation_message(exc: PydanticValidationError) -> str:
    """One readable line from a pydantic error: 'lon: Input should be ...; category: ...'."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in _errors(exc))


@dataclass
class IntakeResult:
    """What intake did: ``created`` a ticket, ``merged`` the report into one, or found it ``existing``."""

    ticket: Ticket
    outcome: Literal["created", "merged", "existing"]


_LOCATE = """
    WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
    SELECT
      EXISTS (SELECT 1 FROM admin_unit a, pt WHERE a.level = 1 AND ST_Intersects(a.geom, pt.g)) AS inside,
      g.id AS grid_id,
      CASE WHEN c.level = 3 THEN c.id END AS community_id,
      CASE WHEN s.level = 2 THEN s.id END AS street_id,
      CASE WHEN g.id IS NULL THEN (SELECT a.id FROM admin_unit a, pt WHERE a.level = 3
                                   AND ST_Intersects(a.geom, pt.g) ORDER BY a.id + 0 LIMIT 1) END AS community_pip,
      CASE WHEN g.id IS NULL THEN (SELECT a.id FROM admin_unit a, pt WHERE a.level = 2
                                   AND ST_Intersects(a.geom, pt.g) ORDER BY a.id + 0 LIMIT 1) END AS street_pip,
      (SELECT t.id FROM ticket t WHERE t.channel = :channel AND t.external_id = :ext) AS existing_id,
      (SELECT r.ticket_id FROM ticket_reporter r WHERE r.channel = :channel AND r.external_id = :ext
        ORDER BY r.id LIMIT 1) AS existing_merged_id,
      {dup} AS duplicate_id
    FROM pt
    LEFT JOIN LATERAL (SELECT a.id, a.parent_id FROM admin_unit a WHERE a.level = 4
                       AND ST_Intersects(a.geom, pt.g) ORDER BY a.id + 0 LIMIT 1) g ON true
    LEFT JOIN admin_unit c ON c.id = g.parent_id
    LEFT JOIN admin_unit s ON s.id = c.parent_id
"""
_LOCATE_SQL = sa.text(_LOCATE.format(dup="NULL::bigint"))
#: Locate + idempotency + duplicate search in one round trip (run after the advisory lock).
_INTAKE_SQL = sa.text(_LOCATE.format(dup="(" + duplicates.DUPLICATE_SUBQUERY + ")"))


@dataclass(frozen=True)
class Location:
    """Admin units containing a point (ids; None where the hierarchy has a gap)."""

    inside: bool
    grid_id: int | None
    community_id: int | None
    street_id: int | None


def locate(session: Session, lon: float, lat: float) -> Location:
    """Grid, community and street of a point (EPSG:4326) by point-in-polygon on the GiST index.

    The community and street follow the grid's parent chain so the three
    always agree; where the point is in no grid, they are looked up directly.
    """
    row = session.execute(_LOCATE_SQL, {"lon": lon, "lat": lat, "channel": "", "ext": None}).one()
    return _location(row)


def _location(row: sa.Row) -> Location:
    return Location(bool(row.inside), row.grid_id, row.community_id or row.community_pip,
                    row.street_id or row.street_pip)


def category_by_code(session: Session, code: str, *, active_only: bool = True) -> Category:
    """The catalog entry for ``code``; raises NotFound (with the known codes) when absent."""
    cat = session.execute(sa.select(Category).where(Category.code == code)).scalar_one_or_none()
    if cat is None or (active_only and not cat.active):
        known = session.scalars(sa.select(Category.code).where(Category.active).order_by(Category.code)).all()
        raise NotFound(f"unknown category {code!r}", details={"known": list(known)[:200]})
    return cat


#: The catalog row, taking the duplicate-check advisory locks (:keys, possibly none) in the same round trip.
_CATEGORY_STMT = sa.text(
    "SELECT id, department_id, priority, active, auto_dispatch, accept_limit, accept_unit, resolve_limit, "
    "resolve_unit, duplicate_radius_m, duplicate_window_h, " + duplicates.LOCK_EXPR + " AS locked "
    "FROM category WHERE code = :code"
)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValidationError("now must be timezone-aware")
    return now.astimezone(UTC)


def deadlines(cat: Category | sa.Row, start: datetime) -> tuple[datetime, datetime]:
    """(accept_due_at, resolve_due_at) in UTC for a ticket of ``cat`` reported at ``start``.

    Both count from the report time, in the catalog's units, working days in
    the district's time zone (``Settings.timezone``).
    """
    tz = get_settings().timezone
    return (due_at(start, cat.accept_limit, cat.accept_unit, tz=tz),
            due_at(start, cat.resolve_limit, cat.resolve_unit, tz=tz))


def intake(
    session: Session,
    data: TicketCreate,
    *,
    actor: str,
    role: str,
    now: datetime | None = None,
) -> IntakeResult:
    """Turn one report into a ticket (or merge it into an open duplicate).

    Parameters
    ----------
    session : Session
        Caller-owned transaction; this only flushes.
    data : TicketCreate
        The validated report (EPSG:4326 location).
    actor, role : str
        Who submits it; ``actor`` becomes ``ticket.created_by`` and the event actor.
    now : datetime, optional
        Timezone-aware intake time (default: current time); ``data.reported_at``
        (not later than ``now``, at most a year earlier) dates the ticket instead.

    Returns
    -------
    IntakeResult

    Raises
    ------
    NotFound
        Unknown or inactive category.
    OutsideDistrict
        The point is not inside the district boundary.
    ValidationError
        ``reported_at`` in the future or too old.
    """
    at = _now(now)
    reported = at
    if data.reported_at is not None:
        reported = data.reported_at.astimezone(UTC)
        if reported > at + timedelta(minutes=5):
            raise ValidationError("reported_at is in the future")
        if reported < at - MAX_BACKDATE:
            raise ValidationError("reported_at is more than a year ago")
        reported = min(reported, at)
    keys = duplicates.lock_keys(data.category, data.lon, data.lat) if data.dedupe else []
    cat = session.execute(_CATEGORY_STMT, {"code": data.category, "ns": duplicates.LOCK_NAMESPACE,
                                           "keys": keys}).one_or_none()
    if cat is None or not cat.active:
        category_by_code(session, data.category)  # raises NotFound with the known codes
    dedupe = data.dedupe and cat.duplicate_radius_m > 0 and cat.duplicate_window_h > 0  # 0 = no merging
    if dedupe:
        if cat.duplicate_radius_m > duplicates.LOCK_RADIUS_M:
            duplicates.lock_category(session, data.category)
        params = duplicates.search_params(category_id=cat.id, lon=data.lon, lat=data.lat, at=reported,
                                          radius_m=cat.duplicate_radius_m, window_h=cat.duplicate_window_h)
        row = session.execute(_INTAKE_SQL, {**params, "channel": data.channel, "ext": data.external_id}).one()
    else:
        row = session.execute(_LOCATE_SQL, {"lon": data.lon, "lat": data.lat, "channel": data.channel,
                                            "ext": data.external_id}).one()
    existing = row.existing_id or row.existing_merged_id
    if data.external_id is not None and existing is not None:
        return IntakeResult(_get(session, existing), "existing")
    loc = _location(row)
    if not loc.inside:
        raise OutsideDistrict(f"the point ({data.lon:.6f}, {data.lat:.6f}) is outside the district")
    if dedupe and row.duplicate_id is not None:
        return IntakeResult(_merge_report(session, row.duplicate_id, data, actor=actor, role=role, at=at,
                                          reported=reported), "merged")
    accept_due, resolve_due = deadlines(cat, reported)
    params = dict(
        channel=data.channel, external_id=data.external_id, category_id=cat.id,
        department_id=cat.department_id, grid_id=loc.grid_id, community_id=loc.community_id,
        street_id=loc.street_id, lon=data.lon, lat=data.lat, address=data.address, description=data.description,
        photo_urls=list(data.photo_urls), priority=data.priority or cat.priority,
        reporter_name=data.reporter_name, reporter_phone=data.reporter_phone,
        reporter_account=data.reporter_account, created_at=reported, updated_at=at,
        accept_due_at=accept_due, resolve_due_at=resolve_due, attrs=json.dumps(data.attrs, default=str),
        created_by=actor, actor_role=role,
        event_data=json.dumps({"channel": data.channel, "external_id": data.external_id, "grid_id": loc.grid_id}),
    )
    ticket = session.execute(_INSERT_STMT, params, execution_options={"populate_existing": True}).scalars().first()
    if ticket is None:  # a concurrent request with the same external id won the race
        other = session.execute(sa.select(Ticket.id).where(Ticket.channel == data.channel,
                                                           Ticket.external_id == data.external_id)).scalar_one()
        return IntakeResult(_get(session, other), "existing")
    if cat.auto_dispatch:
        _auto_dispatch(session, ticket, now=at)
    return IntakeResult(ticket, "created")


#: The ticket, its first event and its first reporter row in one round trip; the ORM maps the
#: RETURNING row to a Ticket.
_INSERT_SQL = """
WITH t AS (
  INSERT INTO ticket (channel, external_id, category_id, department_id, grid_id, community_id, street_id, geom,
                      address, description, photo_urls, status, priority, reporter_name, reporter_phone,
                      reporter_account, created_at, updated_at, accept_due_at, resolve_due_at, attrs, created_by)
  VALUES (:channel, :external_id, :category_id, :department_id, :grid_id, :community_id, :street_id,
          ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :address, :description, CAST(:photo_urls AS text[]),
          'reported', :priority, :reporter_name, :reporter_phone, :reporter_account, :created_at, :updated_at,
          :accept_due_at, :resolve_due_at, CAST(:attrs AS jsonb), :created_by)
  ON CONFLICT ON CONSTRAINT uq_ticket_channel_external DO NOTHING
  RETURNING {cols}
), e AS (
  INSERT INTO ticket_event (ticket_id, at, kind, to_status, actor, actor_role, data)
  SELECT id, :updated_at, 'reported', 'reported', :created_by, :actor_role, CAST(:event_data AS jsonb) FROM t
), r AS (
  INSERT INTO ticket_reporter (ticket_id, channel, external_id, name, phone, account, reported_at, description,
                               geom)
  SELECT id, channel, external_id, reporter_name, reporter_phone, coalesce(reporter_account, created_by),
         created_at, nullif(description, ''), geom FROM t
)
SELECT {cols} FROM t
"""
_TICKET_COLS = ", ".join(c.name for c in Ticket.__table__.c)


def _ticket_stmt(sql: str) -> sa.Select:
    """An ORM select of Ticket from raw SQL returning the ticket columns in table order (positional mapping)."""
    return sa.select(Ticket).from_statement(sa.text(sql.format(cols=_TICKET_COLS)).columns(*Ticket.__table__.c))


_INSERT_STMT = _ticket_stmt(_INSERT_SQL)


def _get(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


_MERGE_SQL = """
WITH r AS (
  INSERT INTO ticket_reporter (ticket_id, channel, external_id, name, phone, account, reported_at, description, geom)
  VALUES (:tid, :channel, :external_id, :name, :phone, :account, :reported_at, :description,
          ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
  RETURNING id
), e AS (
  INSERT INTO ticket_event (ticket_id, at, kind, actor, actor_role, data)
  SELECT :tid, :at, 'duplicate_report', :actor, :role, CAST(:data AS jsonb) || jsonb_build_object('reporter_id', r.id)
  FROM r
)
SELECT {cols} FROM ticket WHERE id = :tid
"""
_MERGE_STMT = _ticket_stmt(_MERGE_SQL)


def _merge_report(session: Session, ticket_id: int, data: TicketCreate, *, actor: str, role: str,
                  at: datetime, reported: datetime) -> Ticket:
    """Keep a duplicate report on ``ticket_id``: a reporter row and a ``duplicate_report`` event (one statement)."""
    event = {"channel": data.channel, "external_id": data.external_id, "lon": data.lon, "lat": data.lat,
             "description": data.description, "photo_urls": list(data.photo_urls),
             "reported_at": reported.isoformat()}
    return session.execute(_MERGE_STMT, {
        "tid": ticket_id, "channel": data.channel, "external_id": data.external_id, "name": data.reporter_name,
        "phone": data.reporter_phone, "account": data.reporter_account or actor, "reported_at": reported,
        "description": data.description or None, "lon": data.lon, "lat": data.lat, "at": at, "actor": actor,
        "role": role, "data": json.dumps(event, ensure_ascii=False),
    }, execution_options={"populate_existing": True}).scalars().one()


def _auto_dispatch(session: Session, ticket: Ticket, *, now: datetime) -> None:
    """Accept as the system and hand the ticket to the dispatcher service (if installed)."""
    actor = "system:auto-dispatch"
    lifecycle.transition(session, ticket.id, "accepted", actor=actor, role="system", now=now,
                         note="auto-dispatch category")
    try:
        from spatial import dispatch
    except ModuleNotFoundError as exc:  # dispatch not installed: the ticket waits, accepted
        if exc.name != "spatial.dispatch":
            raise
        return
    dispatch.auto_dispatch(session, ticket.id, actor=actor, now=now)


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ticket or NotFound."""
    return _get(session, ticket_id)

