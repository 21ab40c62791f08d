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
   (``spatial.deadlines.due_at`` in the district time zone) and a first
   ``reported`` event; auto-dispatch categories are accepted by the system
   and handed to ``spatial.dispatch.auto_dispatch``.

Bulk imports (hotline back-office exports) use :func:`bulk_intake`: COPY
into a temporary staging table, then set-based point-in-polygon and INSERT.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from spatial import duplicates, lifecycle
from spatial.deadlines import due_at
from spatial.errors import NotFound, OutsideDistrict, ValidationError
from spatial.models import CHANNELS, Category, Ticket, TicketEvent, TicketReporter
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


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValidationError("now must be timezone-aware")
    return now.astimezone(UTC)


def deadlines(cat: Category, start: datetime) -> tuple[datetime, datetime]:
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
    cat = category_by_code(session, data.category)
    if data.dedupe:
        duplicates.lock_area(session, cat.id, data.lon, data.lat, cat.duplicate_radius_m)
    if data.dedupe:
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
    if row.duplicate_id is not None and cat.duplicate_radius_m > 0 and cat.duplicate_window_h > 0:
        return IntakeResult(_merge_report(session, row.duplicate_id, data, actor=actor, role=role, at=at,
                                          reported=reported), "merged")
    accept_due, resolve_due = deadlines(cat, reported)
    geom = sa.func.ST_SetSRID(sa.func.ST_MakePoint(data.lon, data.lat), 4326)
    values = dict(
        channel=data.channel, external_id=data.external_id, category_id=cat.id,
        department_id=cat.department_id, grid_id=loc.grid_id, community_id=loc.community_id,
        street_id=loc.street_id, geom=geom, address=data.address, description=data.description,
        photo_urls=list(data.photo_urls), status="reported", priority=data.priority or cat.priority,
        reporter_name=data.reporter_name, reporter_phone=data.reporter_phone,
        reporter_account=data.reporter_account, created_at=reported, updated_at=at,
        accept_due_at=accept_due, resolve_due_at=resolve_due, attrs=dict(data.attrs), created_by=actor,
    )
    stmt = pg_insert(Ticket).values(**values)
    if data.external_id is not None:
        stmt = stmt.on_conflict_do_nothing(constraint="uq_ticket_channel_external")
    ticket = session.scalars(stmt.returning(Ticket), execution_options={"populate_existing": True}).first()
    if ticket is None:  # a concurrent request with the same external id won the race
        other = session.execute(sa.select(Ticket.id).where(Ticket.channel == data.channel,
                                                           Ticket.external_id == data.external_id)).scalar_one()
        return IntakeResult(_get(session, other), "existing")
    session.execute(sa.insert(TicketEvent), [dict(
        ticket_id=ticket.id, at=at, kind="reported", to_status="reported", actor=actor, actor_role=role,
        data={"channel": data.channel, "external_id": data.external_id, "grid_id": loc.grid_id},
    )])
    if cat.auto_dispatch:
        _auto_dispatch(session, ticket, now=at)
    return IntakeResult(ticket, "created")


def _get(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def _merge_report(session: Session, ticket_id: int, data: TicketCreate, *, actor: str, role: str,
                  at: datetime, reported: datetime) -> Ticket:
    """Keep a duplicate report on ``ticket_id``: a reporter row and a ``duplicate_report`` event."""
    ticket = _get(session, ticket_id)
    reporter = TicketReporter(
        ticket_id=ticket_id, channel=data.channel, external_id=data.external_id, name=data.reporter_name,
        phone=data.reporter_phone, account=data.reporter_account or actor, reported_at=reported,
        description=data.description or None,
        geom=sa.func.ST_SetSRID(sa.func.ST_MakePoint(data.lon, data.lat), 4326),
    )
    session.add(reporter)
    session.flush()
    lifecycle.add_event(session, ticket, "duplicate_report", actor=actor, role=role, at=at, data={
        "reporter_id": reporter.id, "channel": data.channel, "external_id": data.external_id,
        "lon": data.lon, "lat": data.lat, "description": data.description, "photo_urls": list(data.photo_urls),
        "reported_at": reported.isoformat(),
    })
    session.flush()
    return ticket


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


# ---------------------------------------------------------------------------------------------------------
# Bulk intake (hotline back-office imports): COPY -> staging table -> set-based PIP + INSERT

BULK_COLUMNS = ("category", "lon", "lat", "external_id", "channel", "description", "address", "reporter_name",
                "reporter_phone", "reporter_account", "priority", "reported_at")
_STAGE_COLS = ("idx", "category_id", "department_id", "lon", "lat", "external_id", "channel", "description",
               "address", "reporter_name", "reporter_phone", "reporter_account", "priority", "created_at",
               "accept_due", "resolve_due")

_BULK_SQL = """
WITH ins AS (
  INSERT INTO ticket (channel, external_id, category_id, department_id, grid_id, community_id, street_id, geom,
                      address, description, status, priority, reporter_name, reporter_phone, reporter_account,
                      created_at, updated_at, accept_due_at, resolve_due_at, created_by)
  SELECT s.channel, s.external_id, s.category_id, s.department_id, g.id,
         CASE WHEN c.level = 3 THEN c.id END, CASE WHEN st.level = 2 THEN st.id END,
         ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), s.address, coalesce(s.description, ''), 'reported',
         s.priority, s.reporter_name, s.reporter_phone, s.reporter_account, s.created_at, :now,
         s.accept_due, s.resolve_due, CAST(:actor AS text)
  FROM onemap_ticket_stage s
  LEFT JOIN LATERAL (SELECT a.id, a.parent_id FROM admin_unit a WHERE a.level = 4
                     AND ST_Intersects(a.geom, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326))
                     ORDER BY a.id LIMIT 1) g ON true
  LEFT JOIN admin_unit c ON c.id = g.parent_id
  LEFT JOIN admin_unit st ON st.id = c.parent_id
  WHERE s.inside
  ORDER BY s.idx
  ON CONFLICT ON CONSTRAINT uq_ticket_channel_external DO NOTHING
  RETURNING id, channel, external_id, grid_id
)
INSERT INTO ticket_event (ticket_id, at, kind, to_status, actor, actor_role, data)
SELECT id, :now, 'reported', 'reported', CAST(:actor AS text), CAST(:role AS text),
       jsonb_build_object('channel', channel, 'external_id', external_id, 'grid_id', grid_id, 'bulk', true)
FROM ins
"""


def _vector_due(start: pd.Series, amount: pd.Series, unit: pd.Series, tz: str) -> pd.Series:
    """Vectorised :func:`spatial.deadlines.due_at` (no holidays) for a column of UTC start times."""
    out = pd.Series(pd.NaT, index=start.index, dtype="datetime64[us, UTC]")
    hours = unit == "hours"
    cal = unit == "calendar_days"
    work = unit == "working_days"
    out[hours] = start[hours] + pd.to_timedelta(amount[hours], unit="h")
    out[cal] = start[cal] + pd.to_timedelta(amount[cal], unit="D")
    if work.any():
        local = start[work].dt.tz_convert(tz)
        day = local.dt.tz_localize(None).dt.normalize()
        tod = local.dt.tz_localize(None) - day
        d = day.to_numpy().astype("datetime64[D]")
        busy = np.is_busday(d)
        tod = tod.where(busy, pd.Timedelta(hours=9))
        d0 = np.busday_offset(d, 0, roll="forward")
        whole = np.floor(amount[work].to_numpy()).astype(int)
        frac = amount[work].to_numpy() - whole
        due_day = np.busday_offset(d0, whole, roll="forward")
        due_local = (pd.Series(due_day.astype("datetime64[us]"), index=local.index) + tod
                     + pd.to_timedelta(24 * frac, unit="h"))
        out[work] = due_local.dt.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").dt.tz_convert(UTC)
    return out


def bulk_intake(
    session: Session,
    rows: pd.DataFrame | list[dict],
    *,
    actor: str,
    role: str,
    channel: str = "hotline",
    now: datetime | None = None,
    skip_invalid: bool = False,
) -> dict:
    """Import many reports at once (no duplicate merge; idempotent on ``(channel, external_id)``).

    Rows are validated in pandas, deadlines computed vectorised, then COPYed
    into a temporary staging table and inserted set-based with the grid (and
    its community and street) found by point-in-polygon in the database, each
    with its ``reported`` event.

    Parameters
    ----------
    rows : DataFrame or list of dict
        Columns :data:`BULK_COLUMNS`; ``category``, ``lon``, ``lat`` (EPSG:4326
        degrees) required. ``reported_at`` without a zone is read in the
        district's time zone. ``channel`` defaults to the argument.
    skip_invalid : bool
        False (default): any invalid row raises ValidationError and nothing is
        written. True: invalid rows are skipped and listed in ``rejected``.

    Returns
    -------
    dict
        ``rows``, ``created``, ``existing`` (external id seen before),
        ``rejected`` (list of ``{"row", "reason"}``, at most 100).
    """
    at = _now(now)
    df = pd.DataFrame(rows).copy() if not isinstance(rows, pd.DataFrame) else rows.copy()
    missing = {"category", "lon", "lat"} - set(df.columns)
    if missing:
        raise ValidationError(f"bulk import needs columns {', '.join(sorted(missing))}")
    if channel not in CHANNELS:
        raise ValidationError(f"unknown channel {channel!r}")
    n = len(df)
    for col in BULK_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df = df.reset_index(drop=True)
    df["idx"] = np.arange(n)
    reasons = pd.Series("", index=df.index, dtype=object)

    def reject(mask: pd.Series, why: str) -> None:
        reasons[mask & (reasons == "")] = why

    def text(col: str, limit: int) -> pd.Series:
        s = df[col].astype(object).where(df[col].notna(), None)
        s = s.map(lambda v: None if v is None or (isinstance(v, str) and not v.strip()) else str(v).strip())
        reject(s.map(lambda v: v is not None and len(v) > limit), f"{col} longer than {limit} characters")
        return s

    df["lon"] = pd.to_numeric(df["lon"], errors="coerce")
    df["lat"] = pd.to_numeric(df["lat"], errors="coerce")
    reject(~np.isfinite(df["lon"]) | ~np.isfinite(df["lat"]), "lon/lat missing or not numbers")
    reject((df["lon"].abs() > 180) | (df["lat"].abs() > 90), "lon/lat out of range")
    cats = {c.code: c for c in session.scalars(sa.select(Category).where(Category.active)).all()}
    df["category"] = df["category"].astype(str).str.strip()
    reject(~df["category"].isin(list(cats)), "unknown category")
    df["channel"] = text("channel", 32).fillna(channel)
    reject(~df["channel"].isin(list(CHANNELS)), "unknown channel")
    df["external_id"] = text("external_id", 128)
    dup_ext = df["external_id"].notna() & df.duplicated(["channel", "external_id"], keep="first")
    reject(dup_ext, "external_id repeated in the file")
    for col, limit in (("description", MAX_DESCRIPTION), ("address", 500), ("reporter_name", 200),
                       ("reporter_phone", 40), ("reporter_account", 128)):
        df[col] = text(col, limit)
    prio = pd.to_numeric(df["priority"], errors="coerce")
    reject(prio.notna() & ~prio.between(1, 5), "priority must be 1-5")
    default_prio = df["category"].map(lambda c: cats[c].priority if c in cats else 3)
    df["priority"] = prio.fillna(default_prio).clip(1, 5).astype(int)
    tz = get_settings().timezone
    rep = pd.to_datetime(df["reported_at"], errors="coerce", utc=False, format="mixed")
    if rep.dt.tz is None:
        rep = rep.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    rep = rep.dt.tz_convert(UTC)
    reject(df["reported_at"].notna() & rep.isna(), "reported_at is not a time")
    reject(rep > at + timedelta(minutes=5), "reported_at is in the future")
    reject(rep < at - MAX_BACKDATE, "reported_at is more than a year ago")
    df["created_at"] = rep.fillna(at).clip(upper=at)

    # district containment (one prepared polygon test per row, in the database)
    ok = reasons == ""
    df["inside"] = False
    if ok.any():
        pts = df.loc[ok, ["idx", "lon", "lat"]]
        inside = session.execute(sa.text(
            "SELECT p.i FROM unnest(CAST(:i AS int[]), CAST(:x AS float8[]), CAST(:y AS float8[])) AS p(i, x, y) "
            "WHERE EXISTS (SELECT 1 FROM admin_unit a WHERE a.level = 1 "
            "AND ST_Intersects(a.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)))"),
            {"i": pts["idx"].tolist(), "x": pts["lon"].tolist(), "y": pts["lat"].tolist()}).scalars().all()
        df.loc[df["idx"].isin(inside), "inside"] = True
        reject(ok & ~df["inside"], "outside the district")
    bad = reasons != ""
    rejected = [{"row": int(i), "reason": reasons[i]} for i in df.index[bad][:100]]
    if bad.any() and not skip_invalid:
        raise ValidationError(f"{int(bad.sum())} of {n} rows are invalid; nothing imported "
                              f"(first: row {rejected[0]['row']}: {rejected[0]['reason']})",
                              details={"rejected": rejected})
    good = df[~bad].copy()
    if good.empty:
        return {"rows": n, "created": 0, "existing": 0, "rejected": rejected}
    cat_rows = good["category"].map(cats)
    good["category_id"] = cat_rows.map(lambda c: c.id)
    good["department_id"] = cat_rows.map(lambda c: c.department_id)
    good["accept_due"] = _vector_due(good["created_at"], cat_rows.map(lambda c: float(c.accept_limit)),
                                     cat_rows.map(lambda c: c.accept_unit), tz)
    good["resolve_due"] = _vector_due(good["created_at"], cat_rows.map(lambda c: float(c.resolve_limit)),
                                      cat_rows.map(lambda c: c.resolve_unit), tz)
    session.execute(sa.text(
        "CREATE TEMP TABLE IF NOT EXISTS onemap_ticket_stage (idx int, category_id int, department_id int, "
        "lon float8, lat float8, external_id text, channel text, description text, address text, "
        "reporter_name text, reporter_phone text, reporter_account text, priority int2, created_at timestamptz, "
        "accept_due timestamptz, resolve_due timestamptz, inside bool DEFAULT true) ON COMMIT DROP"))
    session.execute(sa.text("TRUNCATE onemap_ticket_stage"))
    buf = io.StringIO()
    out = good[list(_STAGE_COLS)].copy()
    for col in ("created_at", "accept_due", "resolve_due"):
        out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    out.to_csv(buf, index=False, header=False, na_rep="\\N")
    cur = session.connection().connection.driver_connection.cursor()
    with cur.copy(f"COPY onemap_ticket_stage ({', '.join(_STAGE_COLS)}) FROM STDIN "
                  "WITH (FORMAT csv, NULL '\\N')") as copy:
        copy.write(buf.getvalue())
    created = session.execute(sa.text(_BULK_SQL), {"now": at, "actor": actor, "role": role}).rowcount
    session.execute(sa.text("TRUNCATE onemap_ticket_stage"))
    return {"rows": n, "created": int(created), "existing": int(len(good) - created), "rejected": rejected}
