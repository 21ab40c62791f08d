"""Sensor readings ingest: one path for the API, the CSV import and the MQTT subscriber.

A reading is a mapping with the sensor (``sensor`` or ``sensor_code`` = code,
or ``sensor_id``), the observation time (``t``/``time``/``observed_at``: ISO
8601 or datetime; naive times are in the district profile's time zone), the value
(``v``/``value``) and optionally its ``unit`` (converted to the sensor's unit
when convertible, e.g. cm -> m, refused otherwise).

:func:`ingest_readings` locks the batch's sensor rows (ordered by id), stores
readings with one ``INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING``
(re-sent readings are no-ops), flags values outside ``valid_min``/``valid_max``
as ``quality='out_of_range'`` (stored, ignored by rules), keeps
``sensor.last_value`` from moving backwards for out-of-order readings, and
evaluates the rules of :mod:`spatial.sensors.rules` in time order in the same
transaction. The caller commits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial import privacy
from spatial.auth import Principal
from spatial.clock import as_utc, utc_now
from spatial.db.profile import app_profile
from spatial.errors import ValidationError
from spatial.models import Sensor
from spatial.profile import district_profile
from spatial.sensors import rules

#: Readings further than this in the future (device clock skew) are refused.
MAX_FUTURE_S = 300.0

_INSERT = sa.text(
    """
    INSERT INTO sensor_reading (sensor_id, observed_at, value, quality)
    SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:ts AS timestamptz[]),
                         CAST(:vs AS double precision[]), CAST(:qs AS varchar[]))
    ON CONFLICT (sensor_id, observed_at) DO NOTHING
    RETURNING sensor_id, observed_at, value, quality
    """
)


_UPDATE_SENSORS = sa.text(
    """
    UPDATE sensor s SET last_value = u.v, last_reading_at = u.t
    FROM unnest(CAST(:id AS integer[]), CAST(:v AS double precision[]), CAST(:t AS timestamptz[])) AS u(id, v, t)
    WHERE s.id = u.id
    """
)


def parse_time(value: Any, zone: ZoneInfo | None = None) -> datetime:
    """A tz-aware UTC datetime from an ISO 8601 string, epoch seconds or datetime.

    Naive values are taken in ``zone``, by default the district profile's time zone.
    """
    return as_utc(value, naive_zone=zone or app_profile().zone)


def _first(row: Mapping, *keys: str) -> Any:
    for k in keys:
        if k in row and row[k] is not None and not (isinstance(row[k], float) and math.isnan(row[k])):
            return row[k]
    return None


def _records(readings: Any) -> list[Mapping]:
    if hasattr(readings, "to_dict") and hasattr(readings, "columns"):
        return readings.to_dict("records")
    if isinstance(readings, Mapping):
        return [readings]
    return list(readings)


def ingest_readings(
    session: Session,
    readings: Iterable[Mapping] | Any,
    *,
    strict: bool = True,
    now: datetime | None = None,
) -> dict:
    """Store a batch of readings and evaluate the sensors' rules.

    Parameters
    ----------
    session
        Caller-owned session (only flushed).
    readings
        Iterable of mappings (or a DataFrame) as described in the module docstring.
    strict
        True: any invalid reading (unknown sensor, bad unit or time, value not
        a finite number, time more than 5 min in the future) raises
        :class:`~spatial.errors.ValidationError` and nothing is written.
        False: invalid readings are skipped and listed under ``rejected``.
    now
        Reference time for the future check (tz-aware, default now).

    Returns
    -------
    dict
        received, inserted, duplicates, out_of_range, late (not evaluated),
        rejected (list of {index, error}), sensors, alerts_raised,
        alerts_escalated, alerts_cleared, tickets.
    """
    now = utc_now(now)
    rows = _records(readings)
    rejected: list[dict] = []

    def bad(i: int, msg: str) -> None:
        if strict:
            raise ValidationError(f"Reading #{i}: {msg}", details={"index": i})
        rejected.append({"index": i, "error": msg})

    parsed: list[tuple[int, Any, datetime, float, str | None]] = []
    codes: set[str] = set()
    ids: set[int] = set()
    zone = district_profile(session).zone
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            bad(i, "a reading must be an object with sensor, t, v (and unit).")
            continue
        key = _first(r, "sensor", "sensor_code", "code")
        sid = _first(r, "sensor_id")
        if key is None and sid is None:
            bad(i, "missing sensor (code) or sensor_id.")
            continue
        try:
            t = parse_time(_first(r, "t", "time", "observed_at", "timestamp"), zone)
            raw = _first(r, "v", "value")
            if raw is None or isinstance(raw, bool):
                raise ValidationError("missing value.")
            try:
                v = float(raw)
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"value {raw!r} is not a number.") from exc
            if not math.isfinite(v):
                raise ValidationError("value must be a finite number.")
        except ValidationError as exc:
            bad(i, exc.message)
            continue
        if (t - now).total_seconds() > MAX_FUTURE_S:
            bad(i, f"time {t.isoformat()} is in the future (device clock?).")
            continue
        unit = _first(r, "unit")
        if key is not None:
            codes.add(str(key))
            parsed.append((i, ("code", str(key)), t, v, unit))
        else:
            try:
                ids.add(int(sid))
            except (TypeError, ValueError):
                bad(i, f"sensor_id {sid!r} is not an integer.")
                continue
            parsed.append((i, ("id", int(sid)), t, v, unit))

    infos: list[rules.SensorInfo] = []
    if codes or ids:
        stmt_ids = set(ids)
        if codes:
            stmt_ids |= set(session.scalars(sa.select(Sensor.id).where(Sensor.code.in_(sorted(codes)))).all())
        infos = rules.lock_sensors(session, ids=sorted(stmt_ids))
    by_code = {i.sensor.code: i for i in infos}
    by_id = {i.sensor.id: i for i in infos}

    batch: dict[tuple[int, datetime], tuple[float, str]] = {}
    for i, (kind, key), t, v, unit in parsed:
        info = by_code.get(key) if kind == "code" else by_id.get(key)
        if info is None:
            bad(i, f"unknown sensor {key!r}.")
            continue
        try:
            v = rules.convert(v, unit, info.sensor.unit)
        except ValidationError as exc:
            bad(i, f"sensor {info.sensor.code}: {exc.message}")
            continue
        quality = "ok" if info.cfg.valid_min <= v <= info.cfg.valid_max else "out_of_range"
        batch.setdefault((info.sensor.id, t), (v, quality))

    result = {"received": len(rows), "inserted": 0, "duplicates": 0, "out_of_range": 0, "late": 0,
              "rejected": rejected, "sensors": 0}
    if not batch:
        result.update(rules.Outcome().as_dict())
        return result
    keys = list(batch)
    inserted = session.execute(_INSERT, {
        "ids": [k[0] for k in keys], "ts": [k[1] for k in keys],
        "vs": [batch[k][0] for k in keys], "qs": [batch[k][1] for k in keys],
    }).all()
    result["inserted"] = len(inserted)
    result["duplicates"] = len(rows) - len(rejected) - len(inserted)

    newest_any: dict[int, datetime] = {}
    newest_ok: dict[int, tuple[datetime, float]] = {}
    ok: dict[int, list[tuple[datetime, float]]] = {}
    for sid, t, v, q in inserted:
        if q != "ok":
            result["out_of_range"] += 1
        if sid not in newest_any or t > newest_any[sid]:
            newest_any[sid] = t
        if q == "ok":
            ok.setdefault(sid, []).append((t, v))
            if sid not in newest_ok or t > newest_ok[sid][0]:
                newest_ok[sid] = (t, v)
    result["sensors"] = len(newest_any)

    out = rules.Outcome()
    upd: dict[str, list] = {"id": [], "v": [], "t": []}
    for sid, t_new in newest_any.items():
        s = by_id[sid].sensor
        prev = s.last_reading_at
        changed = False
        if sid in newest_ok and (prev is None or newest_ok[sid][0] >= prev):
            s.last_value, changed = newest_ok[sid][1], True
        if prev is None or t_new > prev:
            s.last_reading_at, changed = t_new, True
        if changed:
            upd["id"].append(sid)
            upd["v"].append(s.last_value)
            upd["t"].append(s.last_reading_at)
        if s.status == "offline" and (now - t_new) < timedelta(seconds=by_id[sid].cfg.offline_after_s):
            rules.back_online(session, by_id[sid], t_new, out)
    if upd["id"]:
        session.execute(_UPDATE_SENSORS, upd)
        rules.expire_sensors(session, upd["id"])

    late_before = sum(len(v) for v in ok.values())
    out2 = rules.evaluate(session, infos, ok, now=now)
    result["late"] = late_before - out2.evaluated
    for k in ("raised", "escalated", "cleared", "tickets"):
        setattr(out, k, getattr(out, k) + getattr(out2, k))
    result.update(out.as_dict())
    return result


_STATUS = sa.text(
    """
    SELECT s.id, s.code, s.sensor_type, s.name, s.unit, ST_X(s.geom) AS lon, ST_Y(s.geom) AS lat, s.grid_id,
           s.status, s.last_value, s.last_reading_at, a.level AS alert_level, a.rules AS alert_rules
    FROM sensor s
    LEFT JOIN LATERAL (
        SELECT (array_agg(al.level ORDER BY CASE al.level WHEN 'red' THEN 3 WHEN 'orange' THEN 2
                                                          WHEN 'yellow' THEN 1 ELSE 0 END DESC))[1] AS level,
               array_agg(al.rule ORDER BY al.rule) AS rules
        FROM alert al
        WHERE al.source_kind = 'sensor' AND al.source_id = s.code AND al.state = 'active'
    ) a ON true
    WHERE (CAST(:stype AS text) IS NULL OR s.sensor_type = :stype) AND (:private OR NOT s.private)
    ORDER BY s.code
    """
)


def sensor_status(session: Session, *, sensor_type: str | None = None,
                  viewer: Principal | None = None) -> list[dict]:
    """Every sensor with its latest value and alarm state (the map layer's data); private sensors
    (``sensor.private``) only for a staff ``viewer`` (``spatial.privacy``).

    Rows: id, code, sensor_type, name, unit, lon, lat (EPSG:4326), grid_id,
    status (online/offline), last_value (sensor unit), last_reading_at,
    alert_level (highest active level or None), alert_rules (active rules) and
    alarm (alert_level, else "offline" or "ok": the ``alarm`` column of
    ``layers.sensors.sensor_points``).
    """
    rows = session.execute(_STATUS, {"stype": sensor_type,
                                     "private": privacy.sees_private_sensors(viewer)}).mappings()
    out = []
    for r in rows:
        alarm = r["alert_level"] or ("offline" if r["status"] == "offline" else "ok")
        out.append({**dict(r), "alert_rules": list(r["alert_rules"] or []), "alarm": alarm})
    return out
