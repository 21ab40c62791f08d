"""Sensor rules: thresholds with hysteresis and minimum duration, rate of rise, offline, inactivity.

Per-type defaults live in :data:`SENSOR_TYPES`; a sensor's ``thresholds``
JSON overrides any of them (shape agreed with the demo generator)::

    {"yellow": 0.15, "orange": 0.30, "red": 0.50, "direction": "above",
     "hysteresis": 0.05, "min_duration_s": 120, "rate_of_rise_per_h": 0.3,
     "offline_after_s": 1800, "valid_min": -1, "valid_max": 20,
     "category": "waterlogging", "ticket_level": "orange"}

Rules (one :class:`~spatial.models.RuleState` row each per sensor):

``level``
    Enter level *k* when the value reaches its threshold (``direction``
    "below": falls to it) and stays there for ``min_duration_s``; stay at
    *k* until the value falls below ``threshold - hysteresis``. Clearing and
    lowering are immediate.
``rate_of_rise``
    Water level rising faster than ``rate_of_rise_per_h`` (unit per hour,
    measured over ``rate_window_s``, at least a third of the window spanned)
    raises ``rate_level`` (default orange); clears below half that rate.
``offline``
    No reading for ``offline_after_s`` (checked by :func:`check_offline`).
``inactivity``
    Binary door sensors of elderly people living alone: no opening (value 1)
    for ``inactivity_after_s`` raises orange; the next opening clears it.

Readings are evaluated in time order; a reading older than the last one
evaluated for the sensor (late data) is stored but not evaluated.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from spatial.clock import utc_now
from spatial.errors import ValidationError
from spatial.models import SEVERITIES, Alert, Category, Sensor, SensorReading
from spatial.sensors import alerts

_BASE = {"direction": "above", "hysteresis": 0.0, "min_duration_s": 0.0, "rate_of_rise_per_h": None,
         "rate_window_s": 1800.0, "rate_level": "orange", "offline_after_s": 3600.0,
         "inactivity_after_s": None, "valid_min": -math.inf, "valid_max": math.inf, "category": None,
         "ticket_level": "orange"}

#: Per sensor type: canonical unit, labels and default rule parameters.
SENSOR_TYPES: dict[str, dict] = {
    "water_level": {"unit": "m", "label": "water level", "label_zh": "积水水位",
                    "yellow": 0.15, "orange": 0.30, "red": 0.50, "hysteresis": 0.05, "min_duration_s": 120,
                    "rate_of_rise_per_h": 0.30, "offline_after_s": 1800, "valid_min": -1.0, "valid_max": 20.0,
                    "category": "waterlogging"},
    "rain_gauge": {"unit": "mm/h", "label": "rainfall intensity", "label_zh": "雨强",
                   "yellow": 20.0, "orange": 50.0, "red": 80.0, "hysteresis": 5.0, "min_duration_s": 300,
                   "offline_after_s": 1800, "valid_min": 0.0, "valid_max": 400.0},
    "air_quality": {"unit": "ug/m3", "label": "PM2.5", "label_zh": "PM2.5",
                    "yellow": 75.0, "orange": 150.0, "red": 250.0, "hysteresis": 10.0, "min_duration_s": 900,
                    "offline_after_s": 3600, "valid_min": 0.0, "valid_max": 2000.0},
    "noise": {"unit": "dB", "label": "noise", "label_zh": "噪声",
              "yellow": 70.0, "orange": 80.0, "red": 90.0, "hysteresis": 3.0, "min_duration_s": 300,
              "offline_after_s": 3600, "valid_min": 20.0, "valid_max": 150.0, "category": "noise"},
    "water_quality": {"unit": "NTU", "label": "turbidity", "label_zh": "浊度",
                      "yellow": 10.0, "orange": 50.0, "red": 100.0, "hysteresis": 2.0, "min_duration_s": 600,
                      "offline_after_s": 3600, "valid_min": 0.0, "valid_max": 4000.0},
    "smoke": {"unit": "0/1", "label": "smoke", "label_zh": "烟感",
              "red": 0.5, "offline_after_s": 86400, "valid_min": 0.0, "valid_max": 1.0, "ticket_level": "red"},
    "door": {"unit": "0/1", "label": "door", "label_zh": "门磁",
             "offline_after_s": 86400, "inactivity_after_s": 12 * 3600.0, "valid_min": 0.0, "valid_max": 1.0},
}

#: unit -> (dimension, factor to the dimension's base unit).
UNITS: dict[str, tuple[str, float]] = {
    "m": ("length", 1.0), "cm": ("length", 0.01), "mm": ("length", 0.001),
    "mm/h": ("rain_rate", 1.0), "mm/min": ("rain_rate", 60.0), "cm/h": ("rain_rate", 10.0),
    "ug/m3": ("mass_conc", 1.0), "µg/m3": ("mass_conc", 1.0), "μg/m3": ("mass_conc", 1.0),
    "mg/m3": ("mass_conc", 1000.0),
    "dB": ("sound", 1.0), "dBA": ("sound", 1.0), "dB(A)": ("sound", 1.0),
    "mg/L": ("aq_conc", 1.0), "mg/l": ("aq_conc", 1.0), "ug/L": ("aq_conc", 0.001),
    "NTU": ("turbidity", 1.0), "pH": ("ph", 1.0),
    "0/1": ("binary", 1.0), "bool": ("binary", 1.0),
}


def convert(value: float, from_unit: str | None, to_unit: str) -> float:
    """Convert ``value`` from ``from_unit`` to ``to_unit`` (None/"" means already in ``to_unit``).

    Raises
    ------
    ValidationError
        When the units are unknown or measure different things (e.g. mm/h into m).
    """
    if not from_unit or from_unit == to_unit:
        return value
    a, b = UNITS.get(from_unit), UNITS.get(to_unit)
    if a is None:
        raise ValidationError(f"Unknown unit {from_unit!r}; known units: {', '.join(sorted(UNITS))}.")
    if b is None or a[0] != b[0]:
        raise ValidationError(f"Unit {from_unit!r} cannot be converted to the sensor's unit {to_unit!r}.")
    return value * a[1] / b[1]


@dataclass(frozen=True)
class RuleConfig:
    """Effective rule parameters of one sensor (type defaults overridden by ``sensor.thresholds``)."""

    sensor_type: str
    levels: dict[str, float]
    direction: str = "above"
    hysteresis: float = 0.0
    min_duration_s: float = 0.0
    rate_of_rise_per_h: float | None = None
    rate_window_s: float = 1800.0
    rate_level: str = "orange"
    offline_after_s: float = 3600.0
    inactivity_after_s: float | None = None
    valid_min: float = -math.inf
    valid_max: float = math.inf
    category: str | None = None
    ticket_level: str = "orange"
    label: str = "value"
    label_zh: str = "监测值"
    extra: dict = field(default_factory=dict)


def config(sensor_type: str, thresholds: dict | None) -> RuleConfig:
    """Merge type defaults with a sensor's ``thresholds`` JSON into a :class:`RuleConfig`."""
    th = dict(thresholds or {})
    merged = {**_BASE, **SENSOR_TYPES.get(sensor_type, {}), **{k: v for k, v in th.items() if v is not None}}
    if "rate_of_rise_per_h" in th and th["rate_of_rise_per_h"] is None:
        merged["rate_of_rise_per_h"] = None
    levels = {lv: float(merged[lv]) for lv in SEVERITIES if merged.get(lv) is not None}
    direction = merged["direction"]
    if direction not in ("above", "below"):
        raise ValidationError(f"threshold direction must be 'above' or 'below', not {direction!r}.")
    return RuleConfig(
        sensor_type=sensor_type, levels=levels, direction=direction,
        hysteresis=float(merged["hysteresis"]), min_duration_s=float(merged["min_duration_s"]),
        rate_of_rise_per_h=None if merged["rate_of_rise_per_h"] is None else float(merged["rate_of_rise_per_h"]),
        rate_window_s=float(merged["rate_window_s"]), rate_level=merged["rate_level"],
        offline_after_s=float(merged["offline_after_s"]),
        inactivity_after_s=None if merged["inactivity_after_s"] is None else float(merged["inactivity_after_s"]),
        valid_min=float(merged["valid_min"]), valid_max=float(merged["valid_max"]),
        category=merged["category"], ticket_level=merged["ticket_level"],
        label=merged.get("label", sensor_type), label_zh=merged.get("label_zh", sensor_type),
    )


def target_level(cfg: RuleConfig, value: float, current: str | None) -> str | None:
    """Level the value calls for, given the current level (hysteresis applies to levels held)."""
    sign = 1.0 if cfg.direction == "above" else -1.0
    v = sign * value
    best = None
    for lv in SEVERITIES:
        thr = cfg.levels.get(lv)
        if thr is None:
            continue
        t = sign * thr
        if current is not None and alerts.rank(lv) <= alerts.rank(current):
            t -= cfg.hysteresis
        if v >= t:
            best = lv
    return best


@dataclass
class State:
    """In-memory copy of one ``rule_state`` row (written back in bulk by :func:`save_states`)."""

    sensor_id: int
    rule: str
    level: str | None = None
    pending_level: str | None = None
    pending_since: datetime | None = None
    last_at: datetime | None = None
    last_event_at: datetime | None = None
    updated_at: datetime | None = None


def step_level(cfg: RuleConfig, st: State, t: datetime, value: float) -> str | None:
    """Advance the ``level`` rule by one reading; returns "up", "down", "clear" or None (no change)."""
    target = target_level(cfg, value, st.level)
    if alerts.rank(target) > alerts.rank(st.level):
        if st.pending_since is None:
            st.pending_since = t
        st.pending_level = target
        if (t - st.pending_since).total_seconds() >= cfg.min_duration_s:
            st.level, st.pending_since, st.pending_level = target, None, None
            return "up"
        return None
    st.pending_since, st.pending_level = None, None
    if target == st.level:
        return None
    st.level = target
    return "clear" if target is None else "down"


# ---------------------------------------------------------------------------------------------
# evaluation against the database


@dataclass
class SensorRow:
    """The sensor columns rules need (a plain copy of the locked row)."""

    id: int
    code: str
    name: str
    sensor_type: str
    unit: str
    grid_id: int | None
    status: str
    last_value: float | None
    last_reading_at: datetime | None
    thresholds: dict
    private: bool = False  # staff-only sensor (spatial.privacy): its messages go to staff channels


@dataclass
class SensorInfo:
    """A locked sensor row plus its location (EPSG:4326 degrees) and rule config."""

    sensor: SensorRow
    lon: float
    lat: float
    cfg: RuleConfig


@dataclass
class Outcome:
    """Counts of what rule evaluation did."""

    raised: int = 0
    escalated: int = 0
    cleared: int = 0
    tickets: int = 0
    evaluated: int = 0
    alert_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"alerts_raised": self.raised, "alerts_escalated": self.escalated,
                "alerts_cleared": self.cleared, "tickets": self.tickets}


_STATE_COLS = ("sensor_id", "rule", "level", "pending_level", "pending_since", "last_at", "last_event_at",
               "updated_at")


def _states(session: Session, sensor_ids: Sequence[int]) -> dict[tuple[int, str], State]:
    rows = session.execute(sa.text(f"SELECT {', '.join(_STATE_COLS)} FROM rule_state "
                                   "WHERE sensor_id = ANY(:ids)"), {"ids": list(sensor_ids)}).mappings()
    return {(r["sensor_id"], r["rule"]): State(**r) for r in rows}


def _state(states: dict, session: Session, sensor_id: int, rule: str) -> State:
    st = states.get((sensor_id, rule))
    if st is None:
        st = states[(sensor_id, rule)] = State(sensor_id=sensor_id, rule=rule)
    return st


_SAVE_STATES = sa.text(
    """
    INSERT INTO rule_state (sensor_id, rule, level, pending_level, pending_since, last_at, last_event_at,
                            updated_at)
    SELECT * FROM unnest(CAST(:sensor_id AS integer[]), CAST(:rule AS varchar[]), CAST(:level AS varchar[]),
                         CAST(:pending_level AS varchar[]), CAST(:pending_since AS timestamptz[]),
                         CAST(:last_at AS timestamptz[]), CAST(:last_event_at AS timestamptz[]),
                         CAST(:updated_at AS timestamptz[]))
    ON CONFLICT (sensor_id, rule) DO UPDATE SET
        level = EXCLUDED.level, pending_level = EXCLUDED.pending_level,
        pending_since = EXCLUDED.pending_since, last_at = EXCLUDED.last_at,
        last_event_at = EXCLUDED.last_event_at, updated_at = EXCLUDED.updated_at
    """
)


def save_states(session: Session, states: Iterable[State], *, now: datetime) -> None:
    """Upsert rule states in one statement (the sensors are locked by the caller)."""
    rows = list(states)
    if not rows:
        return
    params: dict[str, list] = {c: [] for c in _STATE_COLS}
    for st in rows:
        st.updated_at = st.updated_at or now
        for c in _STATE_COLS:
            params[c].append(getattr(st, c))
    session.execute(_SAVE_STATES, params)


class _Catalog:
    """Caches which catalog codes exist (tickets only for categories in the catalog)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[str, bool] = {}

    def has(self, code: str | None) -> bool:
        if not code:
            return False
        if code not in self.known:
            self.known[code] = self.session.scalar(
                sa.select(sa.func.count()).select_from(Category).where(Category.code == code,
                                                                       Category.active)) > 0
        return self.known[code]


def _fmt(v: float | None, unit: str) -> str:
    return "" if v is None else f"{v:.2f} {unit}".strip()


def _channels(s: SensorRow) -> tuple[str, ...]:
    """Notification channels of a sensor's messages: staff only for private sensors (``spatial.privacy``)."""
    return alerts.STAFF_CHANNELS if s.private else alerts.DEFAULT_CHANNELS


def _sensor_alert(session: Session, info: SensorInfo, rule: str, level: str, t: datetime, value: float | None,
                  out: Outcome, catalog: _Catalog, *, what_zh: str, what_en: str) -> None:
    s = info.sensor
    zh = f"{s.name} {what_zh}{alerts.LEVEL_ZH[level]}预警 {_fmt(value, s.unit)}".rstrip()
    en = f"{s.name} {what_en} {level} warning {_fmt(value, s.unit)}".rstrip()
    text = f"{zh} / {en}"
    alert, change = alerts.raise_alert(
        session, source_kind="sensor", source_id=s.code, rule=rule, level=level, at=t, value=value,
        geom_ewkt=f"SRID=4326;POINT({info.lon} {info.lat})", grid_id=s.grid_id, message=text,
        data={"sensor_id": s.id, "sensor_type": s.sensor_type, "unit": s.unit})
    if change == "created":
        out.raised += 1
    elif change == "escalated":
        out.escalated += 1
    if change in ("created", "escalated"):
        out.alert_ids.append(alert.id)
        alerts.publish(session, alert, text, level=level, at=t, channels=_channels(s),
                       audience={"sensor": s.code, "grid_id": s.grid_id})
        cat = info.cfg.category
        wants_ticket = (alert.ticket_id is None and level != "offline" and catalog.has(cat)
                        and alerts.rank(level) >= alerts.rank(info.cfg.ticket_level))
        if wants_ticket and alerts.issue_ticket(
                session, alert, category=cat, lon=info.lon, lat=info.lat, channel="sensor", description=text,
                attrs={"sensor_code": s.code, "rule": rule}, now=t) is not None:
            out.tickets += 1


def _sensor_clear(session: Session, info: SensorInfo, rule: str, t: datetime, value: float | None,
                  out: Outcome, *, what_zh: str, what_en: str) -> None:
    s = info.sensor
    alert = alerts.find_active(session, source_kind="sensor", source_id=s.code, rule=rule, lock=True)
    if alert is None:
        return
    alerts.clear_alert(session, alert, at=t, value=value)
    out.cleared += 1
    alerts.publish(session, alert, f"{s.name} {what_zh}预警解除 / {s.name} {what_en} warning cleared",
                   level=alert.level, at=t, channels=_channels(s), audience={"sensor": s.code, "grid_id": s.grid_id})


_TOUCH = sa.text(
    """
    UPDATE alert SET last_value = :last, peak_value = GREATEST(peak_value, :peak),
                     updated_at = GREATEST(updated_at, :t)
    WHERE source_kind = 'sensor' AND source_id = :sid AND rule = :rule AND state = 'active'
    """
)


def _touch(session: Session, code: str, rule: str, run: list[tuple[datetime, float]]) -> None:
    """Store the latest and peak value of readings that kept an active alert at its level."""
    if not run:
        return
    session.flush()
    session.execute(_TOUCH, {"last": run[-1][1], "peak": max(v for _, v in run), "t": run[-1][0],
                             "sid": code, "rule": rule})
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Alert) and obj.source_id == code and obj.rule == rule and obj.state == "active":
            session.expire(obj, ["last_value", "peak_value", "updated_at"])


def _rate_history(session: Session, infos: Sequence[SensorInfo], t_min: datetime,
                  t_max: datetime) -> dict[int, tuple[list[datetime], list[float]]]:
    ids = [i.sensor.id for i in infos]
    if not ids:
        return {}
    window = max(i.cfg.rate_window_s for i in infos)
    rows = session.execute(
        sa.select(SensorReading.sensor_id, SensorReading.observed_at, SensorReading.value)
        .where(SensorReading.sensor_id.in_(ids), SensorReading.quality == "ok",
               SensorReading.observed_at >= t_min - timedelta(seconds=window),
               SensorReading.observed_at <= t_max)
        .order_by(SensorReading.sensor_id, SensorReading.observed_at))
    hist: dict[int, tuple[list[datetime], list[float]]] = {}
    for sid, t, v in rows:
        ts, vs = hist.setdefault(sid, ([], []))
        ts.append(t)
        vs.append(v)
    return hist


def rate_of_rise(ts: list[datetime], vs: list[float], t: datetime, value: float, window_s: float) -> float | None:
    """Rise per hour between the earliest reading in ``(t - window_s, t)`` and ``(t, value)``.

    Returns None when the readings in the window span less than a third of it.
    """
    i = bisect.bisect_left(ts, t - timedelta(seconds=window_s))
    if i >= len(ts) or ts[i] >= t:
        return None
    dt = (t - ts[i]).total_seconds()
    if dt < window_s / 3:
        return None
    return (value - vs[i]) / dt * 3600.0


def evaluate(session: Session, infos: Sequence[SensorInfo],
             readings: dict[int, list[tuple[datetime, float]]], *, now: datetime | None = None) -> Outcome:
    """Run the level, rate-of-rise and inactivity rules over new 'ok' readings of locked sensors.

    ``readings`` maps sensor id to (observed_at, value in the sensor's unit)
    pairs; they are sorted here and readings not newer than the last evaluated
    one are skipped (late data). Alerts, messages and tickets are written in
    the caller's transaction.
    """
    out = Outcome()
    catalog = _Catalog(session)
    by_id = {i.sensor.id: i for i in infos}
    active = [sid for sid, rs in readings.items() if rs and sid in by_id]
    if not active:
        return out
    states = _states(session, active)
    rate_infos = [by_id[s] for s in active if by_id[s].cfg.rate_of_rise_per_h]
    hist: dict = {}
    if rate_infos:
        all_t = [t for s in rate_infos for t, _ in readings[s.sensor.id]]
        hist = _rate_history(session, rate_infos, min(all_t), max(all_t))
    stamp = utc_now(now)
    for sid in active:
        info = by_id[sid]
        cfg = info.cfg
        rs = sorted(readings[sid])
        lvl = _state(states, session, sid, "level")
        if lvl.last_at is not None:
            rs = [r for r in rs if r[0] > lvl.last_at]
        if not rs:
            continue
        out.evaluated += len(rs)
        what = {"what_zh": cfg.label_zh, "what_en": cfg.label}
        rate_st = _state(states, session, sid, "rate_of_rise") if cfg.rate_of_rise_per_h else None
        inact_st = _state(states, session, sid, "inactivity") if cfg.inactivity_after_s else None
        run: list[tuple[datetime, float]] = []  # readings while the level alert is active, not yet stored on it
        for t, v in rs:
            if cfg.levels:
                held = lvl.level
                change = step_level(cfg, lvl, t, v)
                if change in ("up", "down"):
                    _touch(session, info.sensor.code, "level", run)
                    _sensor_alert(session, info, "level", lvl.level, t, v, out, catalog, **what)
                    run = []
                elif change == "clear":
                    _touch(session, info.sensor.code, "level", run)
                    run = []
                    _sensor_clear(session, info, "level", t, v, out, **what)
                elif held is not None:
                    run.append((t, v))
            if rate_st is not None:
                ts, vs = hist.get(sid, ([], []))
                rate = rate_of_rise(ts, vs, t, v, cfg.rate_window_s)
                thr = cfg.rate_of_rise_per_h
                if rate is not None and rate >= thr and rate_st.level is None:
                    rate_st.level = cfg.rate_level
                    _sensor_alert(session, info, "rate_of_rise", cfg.rate_level, t, rate, out, catalog,
                                  what_zh=f"{cfg.label_zh}快速上涨", what_en=f"{cfg.label} rapid rise")
                elif rate is not None and rate < thr / 2 and rate_st.level is not None:
                    rate_st.level = None
                    _sensor_clear(session, info, "rate_of_rise", t, rate, out,
                                  what_zh=f"{cfg.label_zh}快速上涨", what_en=f"{cfg.label} rapid rise")
                rate_st.last_at, rate_st.updated_at = t, stamp
            if inact_st is not None and v >= 0.5:
                inact_st.last_event_at = t
                if inact_st.level is not None:
                    inact_st.level = None
                    _sensor_clear(session, info, "inactivity", t, v, out,
                                  what_zh="长时间无活动", what_en="no activity")
            lvl.last_at = t
        if run and lvl.level is not None:
            _touch(session, info.sensor.code, "level", run)
        if inact_st is not None:
            inact_st.last_at = lvl.last_at
            inact_st.updated_at = stamp
        lvl.updated_at = stamp
    save_states(session, states.values(), now=stamp)
    session.flush()
    return out


def back_online(session: Session, info: SensorInfo, t: datetime, out: Outcome) -> None:
    """A reading arrived from an offline sensor: clear its offline alert and mark it online."""
    if info.sensor.status == "offline":
        set_status(session, info, "online")
    _sensor_clear(session, info, "offline", t, None, out, what_zh="设备离线", what_en="sensor offline")


def expire_sensors(session: Session, ids: Iterable[int]) -> None:
    """Expire ORM copies of sensors updated with SQL, so the session reads the new values."""
    for sid in ids:
        obj = session.identity_map.get(identity_key(Sensor, sid))
        if obj is not None:
            session.expire(obj)


def set_status(session: Session, info: SensorInfo, status: str) -> None:
    """Set a locked sensor's status (online/offline)."""
    info.sensor.status = status
    session.execute(sa.text("UPDATE sensor SET status = :st WHERE id = :id"), {"st": status, "id": info.sensor.id})
    expire_sensors(session, [info.sensor.id])


_LOCK = """
    SELECT id, code, name, sensor_type, unit, grid_id, status, last_value, last_reading_at, thresholds, private,
           ST_X(geom) AS lon, ST_Y(geom) AS lat
    FROM sensor WHERE id = ANY(:ids) ORDER BY id FOR UPDATE{skip}
"""


def lock_sensors(session: Session, *, ids: Sequence[int], skip_locked: bool = False) -> list[SensorInfo]:
    """Lock sensor rows (ordered by id, so concurrent batches cannot deadlock) and load their config."""
    session.flush()
    rows = session.execute(sa.text(_LOCK.format(skip=" SKIP LOCKED" if skip_locked else "")),
                           {"ids": list(ids)}).mappings()
    out = []
    for r in rows:
        d = dict(r)
        lon, lat = d.pop("lon"), d.pop("lat")
        d["thresholds"] = d["thresholds"] or {}
        out.append(SensorInfo(SensorRow(**d), lon, lat, config(d["sensor_type"], d["thresholds"])))
    return out


def _candidates_sql() -> sa.TextClause:
    """Sensors due for an offline alert (not yet offline) or carrying an inactivity rule."""
    offline = " ".join(f"WHEN '{t}' THEN {float(d.get('offline_after_s', _BASE['offline_after_s']))}"
                       for t, d in SENSOR_TYPES.items())
    inactive = ", ".join(f"'{t}'" for t, d in SENSOR_TYPES.items() if d.get("inactivity_after_s"))
    return sa.text(f"""
        SELECT id FROM sensor
        WHERE last_reading_at IS NOT NULL AND (
            (status <> 'offline' AND last_reading_at < CAST(:now AS timestamptz) - make_interval(secs =>
                COALESCE((thresholds->>'offline_after_s')::float8,
                         CASE sensor_type {offline} ELSE {float(_BASE['offline_after_s'])} END)))
            OR thresholds ? 'inactivity_after_s' OR sensor_type IN ({inactive or "''"}))
        ORDER BY id""")


def check_offline(session: Session, *, now: datetime | None = None) -> dict:
    """Raise ``offline`` alerts for silent sensors and ``inactivity`` alerts for idle door sensors.

    A sensor is offline when its last reading is older than ``offline_after_s``
    (sensors that never reported are left alone). Sensors locked by a running
    ingest are skipped (they are evidently reporting). Returns counts.
    """
    now = utc_now(now)
    if now.tzinfo is None:
        raise ValidationError("now must carry a time zone.")
    out = Outcome()
    catalog = _Catalog(session)
    stale_ids = session.scalars(_candidates_sql(), {"now": now}).all()
    infos = lock_sensors(session, ids=stale_ids, skip_locked=True) if stale_ids else []
    offline = 0
    for info in infos:
        s, cfg = info.sensor, info.cfg
        age = (now - s.last_reading_at).total_seconds()
        if age >= cfg.offline_after_s:
            before = out.raised
            _sensor_alert(session, info, "offline", "offline", now, None, out, catalog,
                          what_zh="设备离线", what_en="sensor offline")
            offline += out.raised - before
            if s.status != "offline":
                set_status(session, info, "offline")
    door_ids = [i.sensor.id for i in infos if i.cfg.inactivity_after_s]
    states = _states(session, door_ids) if door_ids else {}
    idle = 0
    for info in infos:
        cfg = info.cfg
        if not cfg.inactivity_after_s:
            continue
        st = states.get((info.sensor.id, "inactivity"))
        if st is None or st.last_event_at is None or st.level is not None:
            continue
        idle_s = (now - st.last_event_at).total_seconds()
        if idle_s >= cfg.inactivity_after_s:
            st.level = "orange"
            st.updated_at = now
            save_states(session, [st], now=now)
            hours = f"{idle_s / 3600:.0f}"
            _sensor_alert(session, info, "inactivity", "orange", now, None, out, catalog,
                          what_zh=f"{hours}小时无开门", what_en=f"no door opening for {hours} h")
            idle += 1
    session.flush()
    return {"checked": len(infos), "offline_raised": offline, "inactivity_raised": idle,
            "tickets": out.tickets}
