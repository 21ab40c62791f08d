"""Ticket intake: validate, locate, apply the catalog, merge duplicates, record.

Every channel (12345 hotline, grid worker app, citizen app, sensor, video AI,
API, Open311) goes through :func:`intake`:

1. validate the report (:class:`TicketCreate`: known category, location in
   EPSG:4326 inside the district, text lengths, http(s) photo URLs);
2. idempotency: a repeated ``(channel, external_id)`` returns the ticket it
   created or was merged into (outcome ``existing``); an advisory lock on the
   external id, a unique constraint and ``INSERT ... ON CONFLICT DO NOTHING``
   make this hold under concurrency;
3. duplicates (``spatial.tickets.duplicates``): an open ticket of the same category
   within the category's radius and window absorbs the report (outcome
   ``merged``: the report becomes a ``duplicate_report`` event and a
   ``ticket_reporter`` row), unless ``dedupe=False``;
4. otherwise a new ticket (outcome ``created``) with grid/community/street
   from point-in-polygon, the catalog's department and deadlines
   (``spatial.tickets.deadlines.due_at`` in the district time zone), a first
   ``reported`` event and a ``ticket_reporter`` row (every report behind a
   ticket has one, the first included); auto-dispatch categories are accepted by the system
   and handed to ``spatial.tickets.dispatch.auto_dispatch``.

Bulk imports (hotline back-office exports) use
:func:`spatial.tickets.bulk.bulk_intake` (vectorised validation and
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
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.util import identity_key

from spatial.bounds import AwareTime, JsonObject
from spatial.clock import utc_now
from spatial.db.copy import driver_connection
from spatial.errors import NotFound, OutsideDistrict, ValidationError
from spatial.locate import locate_sql
from spatial.models import CHANNELS, Category, Ticket
from spatial.profile import Profile, district_profile
from spatial.tickets import dispatch, duplicates, lifecycle
from spatial.tickets.deadlines import due_at

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
    reporter_phone: str | None = Field(
        default=None, max_length=40, pattern=r"^\+?[0-9(][0-9 ()\-./]{2,38}$",
        description="digits with spaces, dashes, dots, brackets; e.g. +44 (0)20 7946 0000")
    reporter_account: str | None = Field(default=None, max_length=128)
    priority: int | None = Field(default=None, ge=1, le=5, description="1 = most urgent")
    reported_at: AwareTime | None = Field(default=None, description="timezone-aware; default: now")
    attrs: JsonObject = Field(default_factory=dict)
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
    SELECT l.inside, l.grid_id, l.community_id, l.street_id,
      (SELECT t.id FROM ticket t WHERE t.channel = :channel AND t.external_id = :ext) AS existing_id,
      (SELECT r.ticket_id FROM ticket_reporter r WHERE r.channel = :channel AND r.external_id = :ext
        ORDER BY r.id LIMIT 1) AS existing_merged_id,
      {dup} AS duplicate_id
    FROM pt, """ + locate_sql("pt.g") + """ l
"""
_LOCATE_SQL = sa.text(_LOCATE.format(dup="NULL::bigint"))


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
    return Location(bool(row.inside), row.grid_id, row.community_id, row.street_id)


def category_by_code(session: Session, code: str, *, active_only: bool = True) -> Category:
    """The catalog entry for ``code``; raises NotFound (with the known codes) when absent."""
    cat = session.execute(sa.select(Category).where(Category.code == code)).scalar_one_or_none()
    if cat is None or (active_only and not cat.active):
        known = session.scalars(sa.select(Category.code).where(Category.active).order_by(Category.code)).all()
        raise NotFound(f"unknown category {code!r}", details={"known": list(known)[:200]})
    return cat


#: The catalog row as intake caches it: ``xmin`` and ``ctid`` identify the row version (an update in the
#: same transaction keeps ``xmin`` but moves ``ctid``), so ``onemap_intake()`` can tell a caller that its copy
#: is stale (tests and admins change the catalog at run time).
_CATEGORY_SQL = (
    "SELECT xmin::text || '/' || ctid::text AS xmin, id, department_id, priority, active, auto_dispatch, "
    "accept_limit, accept_unit, resolve_limit, resolve_unit, duplicate_radius_m, duplicate_window_h "
    "FROM category WHERE code = %s"
)
_CATEGORY_CACHE: dict[tuple, Any] = {}
_CATEGORY_CACHE_MAX = 4096



def deadlines(cat: Category | sa.Row, start: datetime, profile: Profile) -> tuple[datetime, datetime]:
    """(accept_due_at, resolve_due_at) in UTC for a ticket of ``cat`` reported at ``start``.

    Both count from the report time, in the catalog's units, working days of
    the district profile's calendar in its time zone.
    """
    tz, cal = profile.timezone, profile.calendar
    return (due_at(start, cat.accept_limit, cat.accept_unit, tz=tz, calendar=cal),
            due_at(start, cat.resolve_limit, cat.resolve_unit, tz=tz, calendar=cal))


def _raw(session: Session):
    """The psycopg connection of the session's transaction (pending ORM changes flushed first)."""
    if session.autoflush:
        session.flush()
    return driver_connection(session)


def _category(session: Session, raw, code: str, *, fresh: bool = False):
    """The catalog row of ``code`` from the per-process cache (re-read when ``fresh`` or inactive/unknown)."""
    info = raw.info
    key = (info.host, info.port, info.dbname, code)
    cat = None if fresh else _CATEGORY_CACHE.get(key)
    if cat is None or not cat.active:
        with raw.cursor(row_factory=namedtuple_row) as cur:
            cat = cur.execute(_CATEGORY_SQL, (code,), prepare=True).fetchone()
        if cat is None or not cat.active:
            _CATEGORY_CACHE.pop(key, None)
            category_by_code(session, code)  # raises NotFound with the known codes
        if len(_CATEGORY_CACHE) >= _CATEGORY_CACHE_MAX:
            _CATEGORY_CACHE.clear()
        _CATEGORY_CACHE[key] = cat
    return cat


_TICKET_ATTRS = [c.key for c in Ticket.__mapper__.column_attrs]
_TICKET_EXPRS = [f"ST_AsEWKB((r.tk).{c.name})" if c.name == "geom" else f"(r.tk).{c.name}"
                 for c in (Ticket.__mapper__.column_attrs[k].columns[0] for k in _TICKET_ATTRS)]
#: One round trip: ``onemap_intake()`` (migration 0006) checks the cached catalog row, takes the advisory
#: locks, locates, checks idempotency and duplicates and writes the ticket (or the merge); the ticket row
#: comes back with the outcome.
_INTAKE_ARG_TYPES = ("bigint", "text", "int", "int[]", "int", "boolean", "float8", "float8", "text", "text",
                     "timestamptz", "float8", "float8", "bigint", "int", "text", "text", "text[]", "text", "text",
                     "text", "timestamptz", "timestamptz", "timestamptz", "timestamptz", "jsonb", "text", "text",
                     "text", "jsonb")
_INTAKE_SQL = ("SELECT r.outcome, " + ", ".join(_TICKET_EXPRS) + " FROM onemap_intake("
               + ", ".join(f"%s::{t}" for t in _INTAKE_ARG_TYPES) + ") AS r")
_PROCESSORS: dict[str, list] = {}


def _ticket_from_row(session: Session, values: tuple) -> Ticket:
    """The persistent Ticket of a full ticket row (table column order), without an ORM query.

    Like ``populate_existing``: an instance already in the session's identity map gets the new values.
    """
    dialect = session.get_bind().dialect
    procs = _PROCESSORS.get(dialect.name)
    if procs is None:
        procs = _PROCESSORS[dialect.name] = [
            Ticket.__mapper__.column_attrs[k].columns[0].type._cached_result_processor(dialect, None)
            for k in _TICKET_ATTRS]
    values = {k: v if p is None or v is None else p(v) for k, p, v in zip(_TICKET_ATTRS, procs, values, strict=True)}
    obj = session.identity_map.get(identity_key(Ticket, values["id"]))
    if obj is not None:
        state = instance_state(obj)
        state.dict.update(values)
        state._commit_all(state.dict)  # what a populate_existing load does
        return obj
    obj = Ticket.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)  # as the ORM loader fills an instance; committed below
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


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
    at = utc_now(now)
    reported = at
    if data.reported_at is not None:
        reported = data.reported_at.astimezone(UTC)
        if reported > at + timedelta(minutes=5):
            raise ValidationError("reported_at is in the future")
        if reported < at - MAX_BACKDATE:
            raise ValidationError("reported_at is more than a year ago")
        reported = min(reported, at)
    raw = _raw(session)
    profile = district_profile(session)
    keys = duplicates.lock_keys(data.category, data.lon, data.lat) if data.dedupe else []
    if data.external_id is not None:  # one decision per external id, merged reports included
        keys = sorted({*keys, duplicates.external_id_lock_key(data.channel, data.external_id)})
    event = {"channel": data.channel, "external_id": data.external_id, "lon": data.lon, "lat": data.lat,
             "description": data.description, "photo_urls": list(data.photo_urls),
             "reported_at": reported.isoformat()}
    fresh = False
    for _ in range(5):
        cat = _category(session, raw, data.category, fresh=fresh)
        dedupe = data.dedupe and cat.duplicate_radius_m > 0 and cat.duplicate_window_h > 0  # 0 = no merging
        cat_lock = (duplicates.category_lock_key(data.category)
                    if dedupe and cat.duplicate_radius_m > duplicates.LOCK_RADIUS_M else None)
        since = reported - timedelta(hours=cat.duplicate_window_h) if dedupe else None
        accept_due, resolve_due = deadlines(cat, reported, profile)
        params = (
            cat.id, cat.xmin, duplicates.LOCK_NAMESPACE, keys or None, cat_lock,
            dedupe, data.lon, data.lat, data.channel, data.external_id,
            since, duplicates.deg_margin(cat.duplicate_radius_m, data.lat) if dedupe else None,
            cat.duplicate_radius_m if dedupe else None,
            cat.department_id, data.priority or cat.priority, data.address, data.description,
            list(data.photo_urls), data.reporter_name, data.reporter_phone, data.reporter_account,
            reported, at, accept_due, resolve_due, Jsonb(data.attrs, dumps=_dumps), actor, role,
            data.reporter_account or actor, Jsonb(event, dumps=_dumps_unicode),
        )
        with raw.cursor() as cur:
            row = cur.execute(_INTAKE_SQL, params, prepare=True).fetchone()
        outcome = row[0]
        if outcome != "stale_category":
            break
        fresh = True
    else:  # pragma: no cover - the catalog row changing five times during one intake
        raise RuntimeError(f"category {data.category!r} keeps changing during intake")
    if outcome == "outside":
        raise OutsideDistrict(f"the point ({data.lon:.6f}, {data.lat:.6f}) is outside the district")
    ticket = _ticket_from_row(session, row[1:])
    if outcome == "created" and cat.auto_dispatch:
        _auto_dispatch(session, ticket, now=at)
    return IntakeResult(ticket, outcome)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)


def _dumps_unicode(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _get(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def _auto_dispatch(session: Session, ticket: Ticket, *, now: datetime) -> None:
    """Accept as the system and hand the ticket to the dispatcher service."""
    actor = "system:auto-dispatch"
    lifecycle.transition(session, ticket.id, "accepted", actor=actor, role="system", now=now,
                         note="auto-dispatch category")
    dispatch.auto_dispatch(session, ticket.id, actor=actor, now=now)


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ticket or NotFound."""
    return _get(session, ticket_id)

