"""Alert lifecycle: raise (or escalate), clear, publish messages, issue the ticket.

An alert is keyed by ``(source_kind, source_id, rule)``; a partial unique
index guarantees at most one *active* alert per key, so concurrent rule
evaluations cannot duplicate it: :func:`raise_alert` inserts with
``ON CONFLICT DO NOTHING`` and then locks the surviving row. While the
condition lasts the same row changes level (history in ``data["history"]``);
:func:`clear_alert` ends it. Every raise, escalation and clearance stores a
bilingual :class:`~spatial.models.PublishedMessage` for notification
channels. Services only ``flush()``; the caller owns the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial import privacy
from spatial.auth import Principal
from spatial.errors import NotFound, OutsideDistrict, ValidationError
from spatial.models import ALERT_LEVELS, SOURCE_KINDS, Alert, PublishedMessage, Sensor
from spatial.tickets.intake import TicketCreate, intake

#: Severity order; ``offline`` ranks with yellow (it needs attention, not evacuation).
RANK: dict[str | None, int] = {None: 0, "yellow": 1, "offline": 1, "orange": 2, "red": 3}
LEVEL_ZH = {"yellow": "黄色", "orange": "橙色", "red": "红色", "offline": "离线"}
DEFAULT_CHANNELS: tuple[str, ...] = ("public",)
#: Where messages about private sensors (``sensor.private``) go: staff screens only, never public.
STAFF_CHANNELS: tuple[str, ...] = ("staff",)

Change = Literal["created", "escalated", "deescalated", "updated"]

_INSERT = sa.text(
    """
    INSERT INTO alert (source_kind, source_id, rule, level, state, started_at, updated_at,
                       last_value, peak_value, geom, grid_id, message, data)
    VALUES (:kind, :sid, :rule, :level, 'active', :at, :at, :value, :value,
            ST_GeomFromEWKT(:geom), :grid_id, :message, CAST(:data AS jsonb))
    ON CONFLICT (source_kind, source_id, rule) WHERE state = 'active' DO NOTHING
    RETURNING id
    """
)


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise ValidationError("Timestamps must carry a time zone.")
    return at


def rank(level: str | None) -> int:
    """Severity rank of a level (0 = none, 3 = red)."""
    return RANK.get(level, 0)


def raise_alert(
    session: Session,
    *,
    source_kind: str,
    source_id: str,
    rule: str,
    level: str,
    at: datetime | None = None,
    value: float | None = None,
    geom_ewkt: str | None = None,
    grid_id: int | None = None,
    message: str = "",
    data: dict | None = None,
) -> tuple[Alert, Change]:
    """Create the active alert for a key, or move the existing one to ``level``.

    Parameters
    ----------
    session
        Caller-owned session (only flushed).
    source_kind, source_id, rule
        Alert key; ``source_kind`` is one of sensor, camera, flood, system.
    level
        yellow, orange, red or offline.
    at
        Time of the observation that raised it (tz-aware, default now).
    value
        Observed value in the source's unit (``peak_value`` keeps the maximum).
    geom_ewkt
        Location as EWKT in EPSG:4326 (e.g. ``"SRID=4326;POINT(113.4 23.1)"``).
    data
        Extra JSON merged into ``alert.data``.

    Returns
    -------
    (Alert, change)
        ``change`` is created, escalated, deescalated or updated (same level).
    """
    if source_kind not in SOURCE_KINDS:
        raise ValidationError(f"Unknown alert source kind {source_kind!r}; expected one of {SOURCE_KINDS}.")
    if level not in ALERT_LEVELS:
        raise ValidationError(f"Unknown alert level {level!r}; expected one of {ALERT_LEVELS}.")
    at = _utc(at)
    hist = [{"level": level, "at": at.isoformat(), "value": value}]
    new_id = session.execute(_INSERT, {
        "kind": source_kind, "sid": str(source_id), "rule": rule, "level": level, "at": at, "value": value,
        "geom": geom_ewkt, "grid_id": grid_id, "message": message,
        "data": json.dumps({**(data or {}), "history": hist}, default=str),
    }).scalar()
    stmt = sa.select(Alert).where(
        Alert.source_kind == source_kind, Alert.source_id == str(source_id), Alert.rule == rule,
        Alert.state == "active").with_for_update().execution_options(populate_existing=True)
    alert = session.execute(stmt).scalar_one()
    if new_id is not None:
        return alert, "created"
    change: Change = "updated"
    if level != alert.level:
        change = "escalated" if rank(level) > rank(alert.level) else "deescalated"
        alert.level = level
        history = [*alert.data.get("history", []), {"level": level, "at": at.isoformat(), "value": value}]
        alert.data = {**alert.data, **(data or {}), "history": history}
        if message:
            alert.message = message
    elif data:
        alert.data = {**alert.data, **data}
    alert.updated_at = max(alert.updated_at, at)
    if value is not None:
        alert.last_value = value
        alert.peak_value = value if alert.peak_value is None else max(alert.peak_value, value)
    session.flush()
    return alert, change


def find_active(session: Session, *, source_kind: str, source_id: str, rule: str,
                lock: bool = False) -> Alert | None:
    """The active alert for a key, or None (``lock`` takes a row lock)."""
    stmt = sa.select(Alert).where(Alert.source_kind == source_kind, Alert.source_id == str(source_id),
                                  Alert.rule == rule, Alert.state == "active")
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def clear_alert(session: Session, alert: Alert, *, at: datetime | None = None,
                value: float | None = None, reason: str = "condition ended") -> Alert:
    """Mark an active alert cleared at ``at`` (tz-aware); idempotent on a cleared alert."""
    if alert.state != "active":
        return alert
    at = _utc(at)
    alert.state = "cleared"
    alert.cleared_at = max(at, alert.started_at)
    alert.updated_at = alert.cleared_at
    if value is not None:
        alert.last_value = value
    history = [*alert.data.get("history", []), {"level": None, "at": at.isoformat(), "value": value,
                                                 "reason": reason}]
    alert.data = {**alert.data, "history": history}
    session.flush()
    return alert


def publish(
    session: Session,
    alert: Alert | None,
    text: str,
    *,
    level: str | None = None,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    audience: dict | None = None,
    at: datetime | None = None,
) -> list[PublishedMessage]:
    """Store ``text`` once per notification channel (delivery is the channel adapters' job)."""
    at = _utc(at)
    rows = [PublishedMessage(alert_id=alert.id if alert is not None else None, channel=ch,
                             level=level or (alert.level if alert is not None else None), text=text,
                             created_at=at, audience=audience or {}) for ch in channels]
    session.add_all(rows)
    session.flush()
    return rows


def issue_ticket(
    session: Session,
    alert: Alert,
    *,
    category: str,
    lon: float,
    lat: float,
    channel: str = "sensor",
    description: str = "",
    address: str | None = None,
    photo_urls: Iterable[str] = (),
    attrs: dict | None = None,
    now: datetime | None = None,
) -> int | None:
    """Open (at most) one ticket for ``alert`` through ``spatial.tickets.intake.intake``.

    The ticket's ``external_id`` is ``alert:{id}``, so a repeated call returns
    the same ticket; a nearby open ticket of the same category may absorb it
    (merged). Returns the ticket id stored in ``alert.ticket_id``.
    """
    if alert.ticket_id is not None:
        return alert.ticket_id
    data = TicketCreate(category=category, lon=lon, lat=lat, channel=channel, description=description,
                        external_id=f"alert:{alert.id}", address=address, photo_urls=list(photo_urls),
                        reported_at=now, attrs={"alert_id": alert.id, **(attrs or {})})
    try:
        with session.begin_nested():
            result = intake(session, data, actor="system:sensors", role="system", now=now)
    except (OutsideDistrict, NotFound) as exc:  # the alert stands; say why no ticket was opened
        alert.data = {**alert.data, "ticket_error": exc.message}
        session.flush()
        return None
    alert.ticket_id = result.ticket.id
    alert.data = {**alert.data, "ticket_outcome": result.outcome}
    session.flush()
    return alert.ticket_id


def _of_private_sensor() -> sa.ColumnElement[bool]:
    """SQL: the alert comes from a private sensor."""
    return sa.and_(Alert.source_kind == "sensor",
                   Alert.source_id.in_(sa.select(Sensor.code).where(Sensor.private)))


def list_alerts(session: Session, *, state: str | None = "active", source_kind: str | None = None,
                limit: int = 500, viewer: Principal | None = None) -> list[dict]:
    """Alerts newest first as plain dicts with lon/lat of the alert's representative point (EPSG:4326).

    Alerts of private sensors only for a staff ``viewer`` (``spatial.privacy``).
    """
    if state is not None and state not in ("active", "cleared"):
        raise ValidationError("state must be 'active' or 'cleared'.")
    if source_kind is not None and source_kind not in SOURCE_KINDS:
        raise ValidationError(f"source_kind must be one of {SOURCE_KINDS}.")
    pt = sa.func.ST_PointOnSurface(Alert.geom)
    stmt = sa.select(Alert, sa.func.ST_X(pt).label("lon"), sa.func.ST_Y(pt).label("lat")).order_by(
        Alert.started_at.desc(), Alert.id.desc()).limit(max(1, min(limit, 10_000)))
    if state:
        stmt = stmt.where(Alert.state == state)
    if source_kind:
        stmt = stmt.where(Alert.source_kind == source_kind)
    if not privacy.sees_private_sensors(viewer):
        stmt = stmt.where(sa.not_(_of_private_sensor()))
    out = []
    for a, lon, lat in session.execute(stmt):
        out.append({
            "id": a.id, "source_kind": a.source_kind, "source_id": a.source_id, "rule": a.rule,
            "level": a.level, "state": a.state, "started_at": a.started_at, "updated_at": a.updated_at,
            "cleared_at": a.cleared_at, "last_value": a.last_value, "peak_value": a.peak_value,
            "ticket_id": a.ticket_id, "grid_id": a.grid_id, "message": a.message, "lon": lon, "lat": lat,
        })
    return out


def list_messages(session: Session, *, since: datetime | None = None, channel: str | None = None,
                  limit: int = 200, viewer: Principal | None = None) -> list[dict]:
    """Published messages newest first (``since`` is tz-aware); those about private sensors only for a
    staff ``viewer``."""
    stmt = sa.select(PublishedMessage).order_by(PublishedMessage.created_at.desc(),
                                                PublishedMessage.id.desc()).limit(max(1, min(limit, 10_000)))
    if since is not None:
        stmt = stmt.where(PublishedMessage.created_at >= _utc(since))
    if channel:
        stmt = stmt.where(PublishedMessage.channel == channel)
    if not privacy.sees_private_sensors(viewer):
        stmt = stmt.where(sa.or_(PublishedMessage.alert_id.is_(None), sa.not_(
            PublishedMessage.alert_id.in_(sa.select(Alert.id).where(_of_private_sensor())))))
    return [{"id": m.id, "alert_id": m.alert_id, "channel": m.channel, "level": m.level, "text": m.text,
             "created_at": m.created_at, "delivered_at": m.delivered_at, "audience": m.audience}
            for m in session.scalars(stmt)]
