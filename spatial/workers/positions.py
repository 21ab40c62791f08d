"""Worker GPS positions: batch ingest with plausibility flags, and retention.

A fix is ``(worker_id, fixed_at, lon, lat, accuracy_m)`` with lon/lat in
EPSG:4326 degrees, ``fixed_at`` a timezone-aware time and ``accuracy_m`` the
device's horizontal accuracy in metres (optional). Every fix is kept in
``worker_position`` (history, personal data, pruned after
``Settings.position_retention_days``); ``worker.geom``/``position_at`` hold the
latest *trusted* fix only, and dispatch reads nothing else.

Flags (a flagged fix is stored but never moves the latest position):

``future``
    ``fixed_at`` more than :data:`FUTURE_TOLERANCE_S` ahead of the server clock.
``outside_district``
    Not covered by any level-1 admin unit (checked only when a district is loaded).
``out_of_order``
    Not newer than the worker's latest trusted fix (late delivery from a phone queue).
``stale``
    Older than ``Settings.position_max_age_s`` on arrival: history only.
``too_fast``
    Reaching it from the previous trusted fix needs more than ``max_speed_kmh``,
    after allowing both fixes' accuracy radii.

Exact re-sends (same worker and ``fixed_at``) are counted as duplicates and ignored
(``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.bounds import INT4_MAX, int_in
from spatial.clock import as_utc, utc_now
from spatial.errors import NotFound, ValidationError
from spatial.locate import inside_sql
from spatial.settings import get_settings

#: Mean Earth radius in metres (IUGG; PostGIS uses the same sphere for geography ``<->``).
EARTH_RADIUS_M = 6_371_008.8
#: Default plausibility limit for movement between two trusted fixes.
MAX_SPEED_KMH = 120.0
#: Fixes further ahead of the server clock than this are flagged ``future``.
FUTURE_TOLERANCE_S = 60.0
#: Largest batch accepted in one call.
MAX_BATCH = 50_000
#: Accuracy assumed when the device sends none, in metres.
DEFAULT_ACCURACY_M = 20.0

FLAGS = ("future", "outside_district", "out_of_order", "stale", "too_fast")


def haversine_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Great-circle distance in metres between EPSG:4326 points (scalars or arrays)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if np.ndim(d) == 0 else d


def _hav(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Scalar :func:`haversine_m` (math module: ~20x faster per call than numpy)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def _as_utc(value: Any, row: int) -> datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime | str):
        raise ValidationError(f"fix {row}: fixed_at must be a time, got {type(value).__name__}")
    return as_utc(value, what=f"fix {row}: fixed_at")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime) -> int:
    """Microseconds since the Unix epoch (exact, for a tz-aware datetime)."""
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _frame_arrays(df: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """Vectorised validation of a DataFrame with a tz-aware datetime column; None = use the slow path."""
    missing = [c for c in ("worker_id", "fixed_at", "lon", "lat") if c not in df.columns]
    if missing:
        raise ValidationError(f"fixes lack column(s) {missing}")
    ts = df["fixed_at"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        return None
    try:
        w = df["worker_id"].to_numpy(dtype=np.int64)
        x = df["lon"].to_numpy(dtype=float)
        y = df["lat"].to_numpy(dtype=float)
        a = (df["accuracy_m"].to_numpy(dtype=float, na_value=np.nan) if "accuracy_m" in df.columns
             else np.full(len(df), np.nan))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError("worker_id, lon, lat and accuracy_m must be numbers") from exc
    if len(w) and (w.min() < 1 or w.max() > INT4_MAX):
        raise ValidationError(f"worker_id must be 1-{INT4_MAX}")
    if ts.isna().any():
        raise ValidationError("fixed_at must not be empty")
    t = ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("us").to_numpy().astype(np.int64)
    return {"w": w, "t": t, "x": x, "y": y, "a": a}


def _record_arrays(records: list[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    wid, ts, xs, ys, acc = [], [], [], [], []
    for i, r in enumerate(records):
        try:
            w = int(r["worker_id"])
            x, y = float(r["lon"]), float(r["lat"])
            t = r["fixed_at"]
        except KeyError as exc:
            raise ValidationError(f"fix {i}: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"fix {i}: worker_id, lon and lat must be numbers") from exc
        a = r.get("accuracy_m")
        try:
            a = math.nan if a is None else float(a)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"fix {i}: accuracy_m must be a number of metres") from exc
        if not int_in(w, 1, INT4_MAX):
            raise ValidationError(f"fix {i}: worker_id must be 1-{INT4_MAX}")
        wid.append(w)
        ts.append(_us(_as_utc(t, i)))
        xs.append(x)
        ys.append(y)
        acc.append(a)
    return {"w": np.asarray(wid, dtype=np.int64), "t": np.asarray(ts, dtype=np.int64),
            "x": np.asarray(xs, dtype=float), "y": np.asarray(ys, dtype=float), "a": np.asarray(acc, dtype=float)}


def _normalise(fixes: Iterable[Mapping[str, Any]] | pd.DataFrame) -> dict[str, np.ndarray]:
    """Validate fixes into arrays sorted by (worker_id, fixed_at); ``t`` in epoch microseconds."""
    arr = _frame_arrays(fixes) if isinstance(fixes, pd.DataFrame) else None
    if arr is None:
        records = fixes.to_dict("records") if isinstance(fixes, pd.DataFrame) else list(fixes)
        if len(records) > MAX_BATCH:
            raise ValidationError(f"at most {MAX_BATCH} fixes per batch, got {len(records)}")
        arr = _record_arrays(records)
    n = len(arr["w"])
    if n > MAX_BATCH:
        raise ValidationError(f"at most {MAX_BATCH} fixes per batch, got {n}")
    x, y, a = arr["x"], arr["y"], arr["a"]
    bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"fix {i}: lon/lat ({x[i]}, {y[i]}) is not a valid EPSG:4326 position")
    bad = ~np.isnan(a) & ~(np.isfinite(a) & (a >= 0))
    if bad.any():
        raise ValidationError(f"fix {int(np.flatnonzero(bad)[0])}: accuracy_m must be a non-negative number "
                              "of metres")
    order = np.lexsort((arr["t"], arr["w"]))
    return {k: v[order] for k, v in arr.items()}


def _lit(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of numbers (NaN/None -> NULL): one parameter instead of n."""
    return "{" + ",".join("NULL" if v is None or v != v else repr(v) for v in values) + "}"


def _inside_district(session: Session, xs: str, ys: str, n: int) -> list[bool]:
    """Whether each point is covered by a level-1 admin unit (all True when none is loaded)."""
    rows = session.execute(sa.text(
        f"SELECT u.i, {inside_sql('ST_SetSRID(ST_MakePoint(u.x, u.y), 4326)')} "
        "FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS u(x, y, i) "
        "WHERE EXISTS (SELECT 1 FROM admin_unit WHERE level = 1)"
    ), {"xs": xs, "ys": ys}).all()
    out = [True] * n
    for i, inside in rows:
        out[i - 1] = bool(inside)
    return out


_WRITE_SQL = sa.text(
    "WITH u AS (SELECT * FROM unnest(CAST(:w AS int[]), CAST(:t AS bigint[]), CAST(:x AS float8[]), "
    "  CAST(:y AS float8[]), CAST(:a AS float8[]), CAST(:f AS text[])) AS u(w, t, x, y, a, f)), "
    "ins AS (INSERT INTO worker_position (worker_id, fixed_at, geom, accuracy_m, flag, received_at) "
    "  SELECT u.w, TIMESTAMPTZ 'epoch' + u.t * INTERVAL '1 microsecond', "
    "  ST_SetSRID(ST_MakePoint(u.x, u.y), 4326), u.a, u.f, :now FROM u "
    "  ON CONFLICT (worker_id, fixed_at) DO NOTHING "
    "  RETURNING worker_id, fixed_at, geom, accuracy_m, flag), "
    "latest AS (SELECT DISTINCT ON (worker_id) worker_id, fixed_at, geom, accuracy_m FROM ins "
    "  WHERE flag IS NULL ORDER BY worker_id, fixed_at DESC), "
    "upd AS (UPDATE worker w SET geom = l.geom, position_at = l.fixed_at, position_accuracy_m = l.accuracy_m "
    "  FROM latest l WHERE w.id = l.worker_id AND (w.position_at IS NULL OR w.position_at < l.fixed_at) "
    "  RETURNING 1) "
    "SELECT COALESCE(flag, ''), count(*), (SELECT count(*) FROM upd) FROM ins GROUP BY flag"
)


#: Called as ``hook(session, worker_ids)`` after a batch moved these workers' trusted positions (same
#: transaction); returns a number of alert changes. ``spatial.incidents`` registers its geofence check.
AFTER_TRUSTED_FIXES: list[Callable[[Session, list[int]], int]] = []


def ingest_fixes(
    session: Session,
    fixes: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    now: datetime | None = None,
    max_speed_kmh: float = MAX_SPEED_KMH,
    max_age_s: float | None = None,
) -> dict:
    """Store a batch of GPS fixes and move each worker's latest trusted position.

    Parameters
    ----------
    session
        Open session; this function only flushes (the caller commits).
    fixes
        Records or a DataFrame with ``worker_id``, ``fixed_at`` (tz-aware),
        ``lon``, ``lat`` (EPSG:4326 degrees) and optional ``accuracy_m`` (metres).
    now
        Server time used for the ``future``/``stale`` checks (default: now, UTC).
    max_speed_kmh
        Fastest plausible movement between trusted fixes (km/h).
    max_age_s
        A fix older than this on arrival is ``stale`` (default
        ``Settings.position_max_age_s``).

    Returns
    -------
    dict
        ``received``, ``stored`` (new history rows), ``duplicates`` (re-sent fixes),
        ``trusted``, ``workers_moved`` and ``flagged`` (count per flag).

    Raises
    ------
    ValidationError
        Malformed fix or unknown worker id; nothing is written then.
    """
    now = utc_now(now)
    max_age = get_settings().position_max_age_s if max_age_s is None else max_age_s
    if max_speed_kmh <= 0:
        raise ValidationError("max_speed_kmh must be positive")
    arr = _normalise(fixes)
    n = len(arr["w"])
    counts: dict = {"received": n, "stored": 0, "duplicates": 0, "trusted": 0, "workers_moved": 0,
                    "flagged": dict.fromkeys(FLAGS, 0)}
    if n == 0:
        return counts
    keep = np.ones(n, dtype=bool)
    keep[1:] = (arr["w"][1:] != arr["w"][:-1]) | (arr["t"][1:] != arr["t"][:-1])
    if not keep.all():
        arr = {k: v[keep] for k, v in arr.items()}
    counts["duplicates"] = n - int(keep.sum())
    ws, ts, xs, ys, acc = (arr[k].tolist() for k in ("w", "t", "x", "y", "a"))

    ids = sorted(set(ws))
    # Lock the workers in id order (no deadlock between concurrent batches), read their latest fix.
    state = {r[0]: (r[1], r[2], None if r[3] is None else _us(r[3]), r[4]) for r in session.execute(sa.text(
        "SELECT id, ST_X(geom), ST_Y(geom), position_at, position_accuracy_m FROM worker "
        "WHERE id = ANY(CAST(:ids AS int[])) ORDER BY id FOR NO KEY UPDATE"
    ), {"ids": ids}).all()}
    unknown = [w for w in ids if w not in state]
    if unknown:
        raise ValidationError(f"unknown worker id(s): {unknown[:10]}", details={"unknown": unknown[:100]})

    x_lit, y_lit = _lit(xs), _lit(ys)
    inside = _inside_district(session, x_lit, y_lit, len(xs))
    speed = max_speed_kmh / 3.6 / 1e6  # metres per microsecond
    future_limit = _us(now) + int(FUTURE_TOLERANCE_S * 1e6)
    stale_limit = _us(now) - int(max_age * 1e6)
    flags: list[str | None] = []
    last: dict[int, tuple] = {}
    for i, (w, t, x, y, a) in enumerate(zip(ws, ts, xs, ys, acc, strict=True)):
        px, py, pt, pa = last.get(w) or state[w]
        a = DEFAULT_ACCURACY_M if a != a else a
        flag = None
        if t > future_limit:
            flag = "future"
        elif not inside[i]:
            flag = "outside_district"
        elif pt is not None and t <= pt:
            flag = "out_of_order"
        elif t < stale_limit:
            flag = "stale"
        elif pt is not None and px is not None:
            allowed = speed * (t - pt) + a + (DEFAULT_ACCURACY_M if pa is None else pa)
            if _hav(px, py, x, y) > allowed:
                flag = "too_fast"
        if flag is None:
            last[w] = (x, y, t, a)
        flags.append(flag)

    rows = session.execute(_WRITE_SQL, {
        "w": _lit(ws), "t": _lit(ts), "x": x_lit, "y": y_lit, "a": _lit(acc),
        "f": "{" + ",".join("NULL" if f is None else f for f in flags) + "}", "now": now}).all()
    for flag, k, moved in rows:
        counts["stored"] += k
        counts["workers_moved"] = moved
        if flag:
            counts["flagged"][flag] = k
        else:
            counts["trusted"] = k
    counts["duplicates"] += len(ws) - counts["stored"]
    session.flush()
    if counts["trusted"] and AFTER_TRUSTED_FIXES:
        moved = sorted({w for w, f in zip(ws, flags, strict=True) if f is None})
        counts["alert_changes"] = sum(int(hook(session, moved) or 0) for hook in AFTER_TRUSTED_FIXES)
    return counts


def prune_positions(session: Session, *, older_than_days: float | None = None,
                    now: datetime | None = None) -> int:
    """Delete GPS history older than the retention period; returns rows deleted.

    ``older_than_days`` defaults to ``Settings.position_retention_days``. The
    latest position on ``worker`` is kept whatever its age (it is needed for the
    map); only history rows go.
    """
    days = get_settings().position_retention_days if older_than_days is None else older_than_days
    if days < 0:
        raise ValidationError("retention must be zero or more days")
    cutoff = (utc_now(now)) - timedelta(days=days)
    res = session.execute(sa.text("DELETE FROM worker_position WHERE fixed_at < :cutoff"), {"cutoff": cutoff})
    session.flush()
    return res.rowcount


def set_duty(session: Session, worker_id: int, *, on_duty: bool) -> dict:
    """Put a worker on or off duty; returns ``{"worker_id", "on_duty"}``.

    Raises
    ------
    NotFound
        No such worker.
    """
    row = session.execute(sa.text("UPDATE worker SET on_duty = :d WHERE id = :w RETURNING id, on_duty"),
                          {"d": bool(on_duty), "w": worker_id}).first()
    if row is None:
        raise NotFound(f"worker {worker_id} does not exist")
    session.flush()
    return {"worker_id": row[0], "on_duty": row[1]}


def latest_positions(
    session: Session,
    *,
    department_id: int | None = None,
    on_duty: bool | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    now: datetime | None = None,
) -> list[dict]:
    """Workers with their latest trusted position, for the map.

    ``bbox`` is ``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326; with it,
    workers without a position are left out.

    Each dict has ``id``, ``code``, ``name``, ``department_id``, ``department``,
    ``on_duty``, ``lon``/``lat`` (EPSG:4326, None without a fix), ``fix_age_s``
    (seconds, None without a fix), ``accuracy_m``, ``workload`` and
    ``max_workload``; ordered by code.
    """
    now = utc_now(now)
    rows = session.execute(sa.text(
        "SELECT w.id, w.code, w.name, w.department_id, d.code AS department, w.on_duty, "
        "ST_X(w.geom) AS lon, ST_Y(w.geom) AS lat, "
        "EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - w.position_at)) AS fix_age_s, "
        "w.position_accuracy_m AS accuracy_m, w.workload, w.max_workload "
        "FROM worker w JOIN department d ON d.id = w.department_id "
        "WHERE (CAST(:dept AS int) IS NULL OR w.department_id = :dept) "
        "AND (CAST(:duty AS boolean) IS NULL OR w.on_duty = :duty) "
        "AND (CAST(:x0 AS float8) IS NULL OR w.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)) "
        "ORDER BY w.code"
    ), {"now": now, "dept": department_id, "duty": on_duty,
        **dict(zip(("x0", "y0", "x1", "y1"), bbox or (None,) * 4, strict=True))}).mappings().all()
    out = []
    for r in rows:
        d = dict(r)
        if d["fix_age_s"] is not None:
            d["fix_age_s"] = round(float(d["fix_age_s"]), 1)
        out.append(d)
    return out


def worker_department(session: Session, worker_id: int) -> int | None:
    """The department id of a worker (None when the worker does not exist)."""
    return session.execute(sa.text("SELECT department_id FROM worker WHERE id = :w"), {"w": worker_id}).scalar()
