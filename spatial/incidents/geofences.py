"""Geofences: polygons with enter / leave / dwell rules on camera detections and worker positions.

A fence (``geofence``, MULTIPOLYGON EPSG:4326) has ``rules``:

* ``subjects``: ``["worker", "detection"]`` (default both);
* ``on``: any of ``enter``, ``leave``, ``dwell`` (default ``["enter"]``);
* ``classes``: detection classes that count (default: every class), e.g. ``["person"]``;
* ``dwell_s``: seconds inside before a dwell alert (default 600);
* ``hours``: ``"HH:MM-HH:MM"`` in the district's local time when the rules apply
  (may wrap midnight, e.g. ``"20:00-06:00"`` for "at night"; default always);
* ``clear_after_s``: a detection subject (a camera's class) counts as gone when
  not seen inside for this long (default 600 s).

Presence (``geofence_presence``) is kept per fence and subject: a worker
(``worker_id``) or a camera's detection class (``CAMERA:class``). Crossing
into the fence raises one alert (``source_kind='geofence'``, rule
``geofence_enter``, key fence:subject; at most one active per key, so more
fixes inside raise nothing new); leaving clears it (and the dwell alert), and
raises ``geofence_leave`` when that rule is on (cleared at the next entry).
:func:`on_worker_fixes` runs inside ``spatial.workers.positions.ingest_fixes``,
:func:`on_detection` inside ``spatial.sensors.cameras.ingest_detection`` (hooks registered by
``spatial.incidents``), and
:func:`sweep` (the server's incident job) ends stale detection presences and
raises dwell alerts of subjects that stopped reporting.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.errors import NotFound, ValidationError
from spatial.profile import district_profile
from spatial.sensors import alerts

SUBJECTS = ("worker", "detection")
RULES = ("enter", "leave", "dwell")
DEFAULT_DWELL_S = 600.0
DEFAULT_CLEAR_AFTER_S = 600.0
LEVELS = ("yellow", "orange", "red")


def validate_rules(rules: dict | None) -> dict:
    """Rules with defaults filled in; :class:`ValidationError` on anything unknown."""
    rules = dict(rules or {})
    unknown = set(rules) - {"subjects", "on", "classes", "dwell_s", "hours", "clear_after_s"}
    if unknown:
        raise ValidationError(f"unknown geofence rule key(s): {', '.join(sorted(unknown))}")
    subjects = rules.get("subjects") or list(SUBJECTS)
    on = rules.get("on") or ["enter"]
    if not isinstance(subjects, list) or not set(subjects) <= set(SUBJECTS):
        raise ValidationError(f"subjects must be a list of {', '.join(SUBJECTS)}")
    if not isinstance(on, list) or not set(on) <= set(RULES):
        raise ValidationError(f"on must be a list of {', '.join(RULES)}")
    classes = rules.get("classes")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
        raise ValidationError("classes must be a list of detection class names")
    out: dict[str, Any] = {"subjects": subjects, "on": on, "classes": classes}
    for key, default in (("dwell_s", DEFAULT_DWELL_S), ("clear_after_s", DEFAULT_CLEAR_AFTER_S)):
        v = rules.get(key, default)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v <= 7 * 86400:
            raise ValidationError(f"{key} must be seconds in (0, 604800]")
        out[key] = float(v)
    hours = rules.get("hours")
    if hours is not None:
        _window(hours)
    out["hours"] = hours
    return out


def _window(hours: str) -> tuple[time, time]:
    try:
        a, b = hours.split("-")
        return time.fromisoformat(a.strip()), time.fromisoformat(b.strip())
    except (AttributeError, ValueError) as exc:
        raise ValidationError(f"hours must look like 20:00-06:00 (local time), got {hours!r}") from exc


def _in_hours(hours: str | None, at: datetime, zone) -> bool:
    if not hours:
        return True
    start, end = _window(hours)
    t = at.astimezone(zone).time()
    return start <= t < end if start <= end else (t >= start or t < end)


def save_geofence(session: Session, code: str, *, name: str, geometry: Any, rules: dict | None = None,
                  level: str = "orange", active: bool = True) -> dict:
    """Create or replace a fence by code from a GeoJSON (Multi)Polygon in EPSG:4326."""
    if not code or len(code) > 64:
        raise ValidationError("code must be 1 to 64 characters")
    if level not in LEVELS:
        raise ValidationError(f"level must be one of {', '.join(LEVELS)}")
    rules = validate_rules(rules)
    text = geometry if isinstance(geometry, str) else json.dumps(geometry)
    try:
        with session.begin_nested():
            ewkt, valid, gtype = session.execute(sa.text(
                "SELECT ST_AsEWKT(ST_Multi(g)), ST_IsValid(g), GeometryType(g) "
                "FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326) g) q"), {"g": text}).one()
    except sa.exc.DBAPIError as exc:
        raise ValidationError("geometry must be a GeoJSON Polygon or MultiPolygon (EPSG:4326)") from exc
    if gtype not in ("POLYGON", "MULTIPOLYGON"):
        raise ValidationError(f"a geofence is a polygon, got {gtype}")
    if not valid:
        raise ValidationError("the fence polygon is invalid (self-intersecting?)")
    row = session.execute(sa.text(
        "INSERT INTO geofence (code, name, geom, rules, level, active) "
        "VALUES (:c, :n, ST_GeomFromEWKT(:g), CAST(:r AS jsonb), :lv, :a) "
        "ON CONFLICT (code) DO UPDATE SET name = excluded.name, geom = excluded.geom, rules = excluded.rules, "
        "level = excluded.level, active = excluded.active RETURNING id"),
        {"c": code, "n": name, "g": ewkt, "r": json.dumps(rules), "lv": level, "a": active}).scalar_one()
    return {"id": row, "code": code, "name": name, "rules": rules, "level": level, "active": active}


def list_geofences(session: Session) -> list[dict]:
    rows = session.execute(sa.text(
        "SELECT id, code, name, rules, level, active, ST_AsGeoJSON(geom, 7), "
        "(SELECT count(*) FROM geofence_presence p WHERE p.geofence_id = g.id AND p.inside) "
        "FROM geofence g ORDER BY code")).all()
    return [{"id": r[0], "code": r[1], "name": r[2], "rules": r[3], "level": r[4], "active": r[5],
             "geometry": json.loads(r[6]), "inside_now": r[7]} for r in rows]


def delete_geofence(session: Session, code: str) -> None:
    n = session.execute(sa.text("UPDATE geofence SET active = false WHERE code = :c"), {"c": code}).rowcount
    if not n:
        raise NotFound(f"geofence {code!r} does not exist")


_FENCES = """
SELECT g.id, g.code, g.name, g.rules, g.level, ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))
FROM geofence g WHERE g.active AND g.rules -> 'subjects' ? :kind
"""


def _key(fence_id: int, kind: str, subject: str) -> str:
    return f"{fence_id}:{kind}:{subject}"


def evaluate(session: Session, kind: str, subject: str, lon: float, lat: float, at: datetime, *,
             cls: str | None = None, label: str | None = None) -> list[str]:
    """Apply every active fence's rules to one observation of a subject; the alert changes made."""
    fences = session.execute(sa.text(_FENCES), {"x": lon, "y": lat, "kind": kind}).all()
    if not fences:
        return []
    zone = district_profile(session).zone
    changes: list[str] = []
    for fid, code, name, rules, level, inside in fences:
        if kind == "detection" and rules.get("classes") and cls not in rules["classes"]:
            continue
        changes += _step(session, fid, code, name, rules, level, kind, subject, bool(inside), at,
                         lon=lon, lat=lat, zone=zone, label=label or subject)
    return changes


def _step(session: Session, fid: int, code: str, name: str, rules: dict, level: str, kind: str, subject: str,
          inside: bool, at: datetime, *, lon: float | None, lat: float | None, zone, label: str) -> list[str]:
    pres = session.execute(sa.text(
        "SELECT inside, entered_at, last_seen_at, dwell_alerted FROM geofence_presence "
        "WHERE geofence_id = :f AND subject_kind = :k AND subject_key = :s FOR UPDATE"),
        {"f": fid, "k": kind, "s": subject}).one_or_none()
    if pres is not None and at < pres[2]:
        return []  # an older observation than the one already applied
    was_inside = bool(pres and pres[0])
    key = _key(fid, kind, subject)
    on = rules.get("on") or ["enter"]
    active = _in_hours(rules.get("hours"), at, zone)
    geom = None if lon is None else f"SRID=4326;POINT({lon} {lat})"
    changes: list[str] = []
    what = "worker" if kind == "worker" else "detection"
    if inside and not was_inside:
        session.execute(sa.text(
            "INSERT INTO geofence_presence (geofence_id, subject_kind, subject_key, inside, entered_at, last_seen_at, "
            "left_at, dwell_alerted) VALUES (:f, :k, :s, true, :t, :t, NULL, false) "
            "ON CONFLICT (geofence_id, subject_kind, subject_key) DO UPDATE SET inside = true, entered_at = :t, "
            "last_seen_at = :t, left_at = NULL, dwell_alerted = false"), {"f": fid, "k": kind, "s": subject, "t": at})
        changes += _clear(session, key, "geofence_leave", at, "entered again")
        if "enter" in on and active:
            alerts.raise_alert(session, source_kind="geofence", source_id=key, rule="geofence_enter", level=level,
                               at=at, geom_ewkt=geom, message=f"{what} {label} entered geofence {name} ({code})",
                               data={"geofence": code, "subject_kind": kind, "subject": subject})
            changes.append("enter")
    elif inside:
        session.execute(sa.text(
            "UPDATE geofence_presence SET last_seen_at = :t WHERE geofence_id = :f AND subject_kind = :k "
            "AND subject_key = :s"), {"f": fid, "k": kind, "s": subject, "t": at})
        changes += _dwell(session, fid, code, name, rules, level, kind, subject, at, geom, label, pres[1], pres[3],
                          active)
    elif was_inside:
        changes += _leave(session, fid, code, name, rules, level, kind, subject, at, geom, label, active)
    elif pres is None or pres[2] < at:
        session.execute(sa.text(
            "INSERT INTO geofence_presence (geofence_id, subject_kind, subject_key, inside, last_seen_at) "
            "VALUES (:f, :k, :s, false, :t) ON CONFLICT (geofence_id, subject_kind, subject_key) "
            "DO UPDATE SET last_seen_at = :t"), {"f": fid, "k": kind, "s": subject, "t": at})
    return changes


def _dwell(session, fid, code, name, rules, level, kind, subject, at, geom, label, entered_at, alerted,
           active) -> list[str]:
    on = rules.get("on") or ["enter"]
    if "dwell" not in on or alerted or entered_at is None or not active:
        return []
    dwell_s = float(rules.get("dwell_s", DEFAULT_DWELL_S))
    if (at - entered_at).total_seconds() < dwell_s:
        return []
    alerts.raise_alert(session, source_kind="geofence", source_id=_key(fid, kind, subject), rule="geofence_dwell",
                       level=level, at=at, geom_ewkt=geom, value=(at - entered_at).total_seconds(),
                       message=f"{label} inside geofence {name} ({code}) for over {dwell_s / 60:g} min",
                       data={"geofence": code, "subject_kind": kind, "subject": subject})
    session.execute(sa.text("UPDATE geofence_presence SET dwell_alerted = true WHERE geofence_id = :f "
                            "AND subject_kind = :k AND subject_key = :s"), {"f": fid, "k": kind, "s": subject})
    return ["dwell"]


def _leave(session, fid, code, name, rules, level, kind, subject, at, geom, label, active) -> list[str]:
    key = _key(fid, kind, subject)
    session.execute(sa.text(
        "UPDATE geofence_presence SET inside = false, left_at = :t, last_seen_at = greatest(last_seen_at, :t), "
        "dwell_alerted = false WHERE geofence_id = :f AND subject_kind = :k AND subject_key = :s"),
        {"f": fid, "k": kind, "s": subject, "t": at})
    changes = _clear(session, key, "geofence_enter", at, "left the fence")
    changes += _clear(session, key, "geofence_dwell", at, "left the fence")
    if "leave" in (rules.get("on") or []) and active:
        alerts.raise_alert(session, source_kind="geofence", source_id=key, rule="geofence_leave", level=level,
                           at=at, geom_ewkt=geom, message=f"{label} left geofence {name} ({code})",
                           data={"geofence": code, "subject_kind": kind, "subject": subject})
        changes.append("leave")
    return changes


def _clear(session: Session, key: str, rule: str, at: datetime, reason: str) -> list[str]:
    alert = alerts.find_active(session, source_kind="geofence", source_id=key, rule=rule, lock=True)
    if alert is None:
        return []
    alerts.clear_alert(session, alert, at=at, reason=reason)
    return [f"cleared:{rule}"]


def _any_fence(session: Session, kind: str) -> bool:
    return bool(session.execute(sa.text(
        "SELECT EXISTS (SELECT 1 FROM geofence WHERE active AND rules -> 'subjects' ? :k)"), {"k": kind}).scalar())


def on_worker_fixes(session: Session, worker_ids: list[int]) -> int:
    """Apply the fences to the latest trusted position of these workers; number of alert changes."""
    if not worker_ids or not _any_fence(session, "worker"):
        return 0
    rows = session.execute(sa.text(
        "SELECT id, code, ST_X(geom), ST_Y(geom), position_at FROM worker "
        "WHERE id = ANY(CAST(:ids AS int[])) AND geom IS NOT NULL AND position_at IS NOT NULL ORDER BY id"),
        {"ids": sorted(set(worker_ids))}).all()
    n = 0
    for wid, code, x, y, at in rows:
        n += len(evaluate(session, "worker", str(wid), x, y, at, label=code))
    return n


def on_detection(session: Session, detection_id: int) -> int:
    """Apply the fences to one stored camera detection (at its view location); number of alert changes."""
    if not _any_fence(session, "detection"):
        return 0
    row = session.execute(sa.text(
        "SELECT c.code, d.class, ST_X(d.geom), ST_Y(d.geom), d.detected_at FROM camera_detection d "
        "JOIN camera c ON c.id = d.camera_id WHERE d.id = :d AND d.geom IS NOT NULL"),
        {"d": detection_id}).one_or_none()
    if row is None:
        return 0
    code, cls, x, y, at = row
    return len(evaluate(session, "detection", f"{code}:{cls}", x, y, at, cls=cls, label=f"{cls} at camera {code}"))


def sweep(session: Session, *, now: datetime | None = None) -> dict:
    """End detection presences not seen for ``clear_after_s``; raise dwell alerts of silent subjects inside."""
    now = utc_now(now)
    zone = district_profile(session).zone
    rows = session.execute(sa.text(
        "SELECT p.geofence_id, g.code, g.name, g.rules, g.level, p.subject_kind, p.subject_key, p.entered_at, "
        "p.last_seen_at, p.dwell_alerted FROM geofence_presence p JOIN geofence g ON g.id = p.geofence_id "
        "WHERE p.inside ORDER BY p.geofence_id, p.subject_kind, p.subject_key FOR UPDATE OF p")).all()
    left = dwelled = 0
    for fid, code, name, rules, level, kind, subject, entered, seen, alerted in rows:
        clear_after = float(rules.get("clear_after_s", DEFAULT_CLEAR_AFTER_S))
        if kind == "detection" and now - seen >= timedelta(seconds=clear_after):
            at = seen + timedelta(seconds=clear_after)
            _leave(session, fid, code, name, rules, level, kind, subject, at, None, subject,
                   _in_hours(rules.get("hours"), at, zone))
            left += 1
        elif _dwell(session, fid, code, name, rules, level, kind, subject, now, None, subject, entered, alerted,
                    _in_hours(rules.get("hours"), now, zone)):
            dwelled += 1
    return {"left": left, "dwell_alerts": dwelled}
