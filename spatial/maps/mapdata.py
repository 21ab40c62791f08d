"""Read-side queries for the one-map app: aggregates in PostGIS, small results out.

Everything the browser draws is either aggregated here (per grid, per
street, hex/square bins computed arithmetically in SQL, daily trends) or
limited to the visible area and a row cap, so the app stays responsive with
millions of tickets (``research/postgis.md`` section c: arithmetic bins,
stored ``grid_id``; the partial indexes of migration 0005 serve the open
ticket counts and the dispatch queue).

All geometries come back in EPSG:4326; times are tz-aware UTC. Functions
take a :class:`~sqlalchemy.orm.Session` and only read.

Privacy (``spatial.privacy``): functions that return ticket locations
(points, bins, the queue, the popup brief) or sensors take the ``viewer``
(a :class:`~spatial.auth.Principal`, None = anonymous, the default). Without a
staff viewer they leave out tickets of sensitive categories and private
sensors; aggregates per grid, street or department count every ticket.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial import privacy
from spatial.auth import Principal
from spatial.bounds import DAY_RANGE_MESSAGE, day_in_range
from spatial.clock import cut_off, utc_now
from spatial.db.profile import app_profile
from spatial.errors import ValidationError
from spatial.profile import district_profile
from spatial.tickets.lifecycle import FINAL_STATES, QUEUE_STATES, UNFINISHED_STATES, sql_list

#: Ticket state sets (owned by ``spatial.tickets.lifecycle``): backlog, dispatch queue, final.
OPEN_STATES = UNFINISHED_STATES
DONE_STATES = FINAL_STATES

#: Metres per degree of latitude (spherical, good to 0.5 % for binning).
M_PER_DEG = 111_320.0

_OPEN_SQL = sql_list(OPEN_STATES)
_QUEUE_SQL = sql_list(QUEUE_STATES)


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[since, until)`` in UTC plus the reference ``now``."""

    since: datetime
    until: datetime
    now: datetime

    @classmethod
    def last(cls, days: float, *, now: datetime | None = None) -> Window:
        """The last ``days`` days up to ``now`` (default: the current time)."""
        if days <= 0 or days > 3660:
            raise ValidationError(f"window must be 1-3660 days, got {days}")
        now = utc_now(now)
        return cls(since=now - timedelta(days=days), until=now, now=now)

    @classmethod
    def between(cls, since: date, until: date, *, tz: str | None = None, now: datetime | None = None) -> Window:
        """Local calendar days ``since`` to ``until``, both included, in the district time zone ``tz``.

        ``now`` (default: the current time) stays the reference of the "now"
        figures (open, overdue), so a past range shows what happened in it.
        """
        if not (day_in_range(since) and day_in_range(until)):
            raise ValidationError(f"the range's days {DAY_RANGE_MESSAGE}")
        if until < since:
            raise ValidationError(f"the range ends ({until}) before it starts ({since})")
        if (until - since).days >= 3660:
            raise ValidationError("the range may span at most 3660 days")
        zone = tz or app_profile().timezone
        start = cut_off(since - timedelta(days=1), zone)  # midnight starting ``since``
        return cls(since=start.astimezone(UTC), until=cut_off(until, zone).astimezone(UTC), now=utc_now(now))


def _params(window: Window, categories: Sequence[str] | None) -> tuple[dict, str]:
    """Bind parameters and the category filter clause (on alias ``t``)."""
    p: dict = {"since": window.since, "until": window.until, "now": window.now}
    clause = ""
    if categories:
        p["cats"] = list(categories)
        clause = " AND t.category_id IN (SELECT id FROM category WHERE code = ANY(:cats))"
    return p, clause


def _located(viewer: Principal | None) -> str:
    """SQL filter on ticket ``t`` for data that shows where a ticket is: sensitive tickets for staff only."""
    return "" if privacy.sees_sensitive(viewer) else f" AND {privacy.public_ticket_sql('t')}"


def _overdue_sql(alias: str = "t") -> str:
    return (f"({alias}.status IN {_OPEN_SQL} AND ({alias}.resolve_due_at < :now OR "
            f"({alias}.status = 'reported' AND {alias}.accept_due_at < :now)))")


def _gdf(session: Session, sql: str, params: dict, *, geom: str = "wkb") -> gpd.GeoDataFrame:
    """Run ``sql`` (with a WKB column ``geom``) into a GeoDataFrame in EPSG:4326."""
    res = session.execute(sa.text(sql), params)
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    wkb = df.pop(geom) if geom in df.columns else pd.Series([], dtype=object)
    geoms = shapely.from_wkb([bytes(w) for w in wkb]) if len(wkb) else []
    return gpd.GeoDataFrame(df, geometry=list(geoms), crs="EPSG:4326")


# --------------------------------------------------------------------------- admin units and context layers

def admin_units(session: Session, *, level: int, parent_id: int | None = None,
                simplify_deg: float = 0.00002) -> gpd.GeoDataFrame:
    """Admin polygons of one level (2 street, 3 community, 4 grid), optionally children of ``parent_id``.

    ``street_id`` is the level-2 ancestor (for drill-down). Geometries are
    simplified by ``simplify_deg`` degrees (~2 m) to keep the payload small.
    """
    sql = """
        WITH RECURSIVE up AS (
            SELECT id, id AS unit_id, parent_id, level FROM admin_unit WHERE level = :level
            UNION ALL
            SELECT a.id, up.unit_id, a.parent_id, a.level FROM admin_unit a JOIN up ON a.id = up.parent_id
            WHERE up.level > 2
        )
        SELECT u.id, u.code, u.name, u.level, u.parent_id,
               (SELECT up.id FROM up WHERE up.unit_id = u.id AND up.level = 2 LIMIT 1) AS street_id,
               ST_AsBinary(ST_SimplifyPreserveTopology(u.geom, :tol)) AS wkb
        FROM admin_unit u WHERE u.level = :level AND (CAST(:parent AS int) IS NULL OR u.parent_id = :parent)
        ORDER BY u.id"""
    return _gdf(session, sql, {"level": level, "parent": parent_id, "tol": simplify_deg})


#: Map box (W, S, E, N degrees) shown before any admin unit is loaded.
WORLD_BOUNDS = (-180.0, -60.0, 180.0, 75.0)


def district_bounds(session: Session) -> tuple[float, float, float, float]:
    """(W, S, E, N) degrees of the district (level 1, else all units); the whole world when none is loaded."""
    row = session.execute(sa.text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
        "SELECT ST_Extent(geom) AS e FROM admin_unit "
        "WHERE level = (SELECT min(level) FROM admin_unit)) s")).one()
    if row[0] is None:
        return WORLD_BOUNDS
    return tuple(float(v) for v in row)  # type: ignore[return-value]


def workers(session: Session, *, on_duty_only: bool = True, ids: Sequence[int] | None = None) -> gpd.GeoDataFrame:
    """Workers with a position: id, code, name, department, workload, position_at (EPSG:4326).

    ``ids``: only these workers (a live update's changed rows).
    """
    only = "AND w.id = ANY(:ids)" if ids is not None else ""
    sql = f"""
        SELECT w.id, w.code, w.name, d.code AS department, w.workload, w.max_workload, w.on_duty,
               w.position_at, ST_AsBinary(w.geom) AS wkb
        FROM worker w JOIN department d ON d.id = w.department_id
        WHERE w.geom IS NOT NULL {"AND w.on_duty" if on_duty_only else ""} {only} ORDER BY w.id"""
    return _gdf(session, sql, {"ids": [int(i) for i in ids or ()]})


def cameras(session: Session) -> gpd.GeoDataFrame:
    """Cameras: id, code, name, heading_deg, fov_deg, range_m, status, stream_url, snapshot_url."""
    sql = """SELECT id, code, name, heading_deg, fov_deg, range_m, status, stream_url, snapshot_url,
                    ST_AsBinary(geom) AS wkb FROM camera ORDER BY id"""
    return _gdf(session, sql, {})


def sensors(session: Session, *, viewer: Principal | None = None) -> gpd.GeoDataFrame:
    """Sensors with the latest reading and the worst active alert level (``alarm``); private sensors
    only for a staff ``viewer``."""
    where = "" if privacy.sees_private_sensors(viewer) else f"WHERE {privacy.public_sensor_sql('s')}"
    sql = f"""
        SELECT s.id, s.code, s.name, s.sensor_type, s.unit, s.last_value, s.last_reading_at, s.status,
               CASE WHEN s.status = 'offline' THEN 'offline' ELSE (
                 SELECT a.level FROM alert a WHERE a.source_kind = 'sensor' AND a.source_id = s.code
                   AND a.state = 'active' AND a.level <> 'offline'
                 ORDER BY CASE a.level WHEN 'red' THEN 3 WHEN 'orange' THEN 2 ELSE 1 END DESC LIMIT 1)
               END AS alarm,
               ST_AsBinary(s.geom) AS wkb
        FROM sensor s {where} ORDER BY s.id"""
    return _gdf(session, sql, {})


def roads(session: Session) -> gpd.GeoDataFrame:
    """Road centrelines: id, code, name, road_class (EPSG:4326 multilines)."""
    return _gdf(session, "SELECT id, code, name, road_class, ST_AsBinary(geom) AS wkb FROM road ORDER BY id", {})


def buildings(session: Session, *, bbox: Sequence[float], limit: int = 20_000) -> gpd.GeoDataFrame:
    """Building footprints intersecting ``bbox`` (W, S, E, N degrees), at most ``limit``."""
    sql = """SELECT id, height_m, ST_AsBinary(geom) AS wkb FROM building
             WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326) LIMIT :lim"""
    w, s, e, n = bbox
    return _gdf(session, sql, {"w": w, "s": s, "e": e, "n": n, "lim": limit})


# --------------------------------------------------------------------------- aggregates

def grid_stats(session: Session, window: Window, *, categories: Sequence[str] | None = None,
               street_id: int | None = None) -> gpd.GeoDataFrame:
    """Per grid: tickets ``received`` and ``closed`` in the window, current ``open`` and ``overdue``,
    ``on_time_pct`` (closed in the window within the resolve deadline, %) and ``satisfaction`` (mean 1-5).

    Grids without tickets are included with zeros. Geometry EPSG:4326.
    """
    p, cat = _params(window, categories)
    p["street"] = street_id
    sql = f"""
        WITH recv AS (
            SELECT t.grid_id, count(*) AS received FROM ticket t
            WHERE t.created_at >= :since AND t.created_at < :until {cat} GROUP BY t.grid_id),
        done AS (
            SELECT t.grid_id, count(*) AS closed,
                   count(*) FILTER (WHERE t.resolved_at <= t.resolve_due_at) AS on_time,
                   avg(t.rating) AS satisfaction
            FROM ticket t WHERE t.closed_at >= :since AND t.closed_at < :until {cat} GROUP BY t.grid_id),
        backlog AS (
            SELECT t.grid_id, count(*) AS open, count(*) FILTER (WHERE {_overdue_sql()}) AS overdue
            FROM ticket t WHERE t.status IN {_OPEN_SQL} {cat} GROUP BY t.grid_id)
        SELECT g.id, g.code, g.name, s.id AS street_id, s.name AS street,
               coalesce(r.received, 0) AS received, coalesce(d.closed, 0) AS closed,
               coalesce(b.open, 0) AS open, coalesce(b.overdue, 0) AS overdue,
               CASE WHEN d.closed > 0 THEN round(100.0 * d.on_time / d.closed, 1) END AS on_time_pct,
               round(d.satisfaction::numeric, 2)::float AS satisfaction,
               ST_AsBinary(ST_SimplifyPreserveTopology(g.geom, 0.00002)) AS wkb
        FROM admin_unit g
        LEFT JOIN admin_unit c ON c.id = g.parent_id
        LEFT JOIN admin_unit s ON s.id = CASE WHEN c.level = 2 THEN c.id ELSE c.parent_id END
        LEFT JOIN recv r ON r.grid_id = g.id
        LEFT JOIN done d ON d.grid_id = g.id
        LEFT JOIN backlog b ON b.grid_id = g.id
        WHERE g.level = 4 AND (CAST(:street AS int) IS NULL OR s.id = :street)
        ORDER BY g.id"""
    gdf = _gdf(session, sql, p)
    for c in ("received", "closed", "open", "overdue"):
        gdf[c] = gdf[c].astype("int64")
    gdf["on_time_pct"] = pd.to_numeric(gdf["on_time_pct"], errors="coerce").astype("float64")
    gdf["satisfaction"] = pd.to_numeric(gdf["satisfaction"], errors="coerce").astype("float64")
    return gdf


def _scope(params: dict, *, street_id: int | None, grid_id: int | None) -> str:
    """SQL filter on ticket ``t`` for a drill-down to a street and/or grid; adds the bind values."""
    scope = ""
    if street_id is not None:
        scope += " AND t.street_id = :street"
        params["street"] = street_id
    if grid_id is not None:
        scope += " AND t.grid_id = :grid"
        params["grid"] = grid_id
    return scope


def kpis(session: Session, window: Window, *, categories: Sequence[str] | None = None,
         street_id: int | None = None, grid_id: int | None = None) -> dict:
    """Headline numbers for the window.

    Returns
    -------
    dict
        ``received``, ``closed`` (in the window), ``on_time_rate`` (0-1,
        closed within the resolve deadline; None when nothing closed),
        ``open`` and ``overdue`` (now), ``satisfaction`` (mean rating 1-5 of
        tickets closed in the window, None when unrated).
    """
    p, cat = _params(window, categories)
    scope = _scope(p, street_id=street_id, grid_id=grid_id)
    row = session.execute(sa.text(f"""
        SELECT
          (SELECT count(*) FROM ticket t WHERE t.created_at >= :since AND t.created_at < :until {cat}{scope}),
          d.closed, d.on_time, d.sat,
          (SELECT count(*) FROM ticket t WHERE t.status IN {_OPEN_SQL} {cat}{scope}),
          (SELECT count(*) FROM ticket t WHERE {_overdue_sql()} {cat}{scope})
        FROM (SELECT count(*) AS closed, count(*) FILTER (WHERE t.resolved_at <= t.resolve_due_at) AS on_time,
                     avg(t.rating) AS sat
              FROM ticket t WHERE t.closed_at >= :since AND t.closed_at < :until {cat}{scope}) d"""), p).one()
    received, closed, on_time, sat, open_, overdue = row
    return {
        "received": int(received), "closed": int(closed),
        "on_time_rate": (round(on_time / closed, 4) if closed else None),
        "open": int(open_), "overdue": int(overdue),
        "satisfaction": (round(float(sat), 2) if sat is not None else None),
        "since": window.since.isoformat(), "until": window.until.isoformat(),
    }


def street_stats(session: Session, window: Window, *, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Per street: received, closed, on_time_pct, open, overdue, satisfaction (sorted by overdue desc)."""
    g = grid_stats(session, window, categories=categories)
    if g.empty:
        return pd.DataFrame(columns=["street_id", "street", "received", "closed", "open", "overdue",
                                     "on_time_pct", "satisfaction"])
    g = pd.DataFrame(g.drop(columns="geometry"))
    g["on_time"] = g["on_time_pct"].fillna(0) * g["closed"] / 100
    g["sat_sum"] = g["satisfaction"].fillna(0) * g["closed"]
    agg = g.groupby(["street_id", "street"], dropna=False).agg(
        received=("received", "sum"), closed=("closed", "sum"), open=("open", "sum"),
        overdue=("overdue", "sum"), on_time=("on_time", "sum"), sat_sum=("sat_sum", "sum")).reset_index()
    agg["on_time_pct"] = np.where(agg["closed"] > 0, (100 * agg["on_time"] / agg["closed"].clip(lower=1)).round(1),
                                  np.nan)
    agg["satisfaction"] = np.where(agg["closed"] > 0, (agg["sat_sum"] / agg["closed"].clip(lower=1)).round(2),
                                   np.nan)
    return agg.drop(columns=["on_time", "sat_sum"]).sort_values(["overdue", "received"], ascending=False,
                                                                 ignore_index=True)


def trend(session: Session, window: Window, *, categories: Sequence[str] | None = None,
          street_id: int | None = None, grid_id: int | None = None, tz: str | None = None) -> pd.DataFrame:
    """Daily ``received`` and ``closed`` counts over the window (local days in ``tz``, default the profile's)."""
    p, cat = _params(window, categories)
    p["tz"] = tz or district_profile(session).timezone
    scope = _scope(p, street_id=street_id, grid_id=grid_id)
    sql = f"""
        WITH days AS (
            SELECT generate_series(date_trunc('day', :since AT TIME ZONE :tz),
                                   date_trunc('day', :until AT TIME ZONE :tz), interval '1 day')::date AS day),
        r AS (SELECT (t.created_at AT TIME ZONE :tz)::date AS day, count(*) AS n FROM ticket t
              WHERE t.created_at >= :since AND t.created_at < :until {cat}{scope} GROUP BY 1),
        c AS (SELECT (t.closed_at AT TIME ZONE :tz)::date AS day, count(*) AS n FROM ticket t
              WHERE t.closed_at >= :since AND t.closed_at < :until {cat}{scope} GROUP BY 1)
        SELECT days.day, coalesce(r.n, 0) AS received, coalesce(c.n, 0) AS closed
        FROM days LEFT JOIN r USING (day) LEFT JOIN c USING (day) ORDER BY days.day"""
    res = session.execute(sa.text(sql), p)
    df = pd.DataFrame(res.fetchall(), columns=["day", "received", "closed"])
    df["day"] = pd.to_datetime(df["day"])
    return df.astype({"received": "int64", "closed": "int64"})


def hotspots(session: Session, window: Window, *, categories: Sequence[str] | None = None,
             limit: int = 10) -> pd.DataFrame:
    """The grids with the most tickets received in the window: grid_id, code, name, street, received,
    overdue (now), top_category, lon, lat (grid centroid, degrees)."""
    p, cat = _params(window, categories)
    p["lim"] = int(limit)
    sql = f"""
        WITH r AS (SELECT t.grid_id, count(*) AS received,
                          mode() WITHIN GROUP (ORDER BY t.category_id) AS top_cat
                   FROM ticket t WHERE t.created_at >= :since AND t.created_at < :until
                   AND t.grid_id IS NOT NULL {cat}
                   GROUP BY t.grid_id ORDER BY received DESC LIMIT :lim)
        SELECT g.id AS grid_id, g.code, g.name, s.name AS street, r.received,
               (SELECT count(*) FROM ticket t WHERE t.grid_id = g.id AND {_overdue_sql()} {cat}) AS overdue,
               k.name AS top_category, ST_X(ST_PointOnSurface(g.geom)) AS lon,
               ST_Y(ST_PointOnSurface(g.geom)) AS lat
        FROM r JOIN admin_unit g ON g.id = r.grid_id
        LEFT JOIN admin_unit c ON c.id = g.parent_id
        LEFT JOIN admin_unit s ON s.id = CASE WHEN c.level = 2 THEN c.id ELSE c.parent_id END
        LEFT JOIN category k ON k.id = r.top_cat
        ORDER BY r.received DESC, g.id"""
    res = session.execute(sa.text(sql), p)
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def department_stats(session: Session, window: Window, *, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Per department: received, closed, on_time_pct, overdue (now), satisfaction, ranked by on-time rate.

    A quick live ranking for the map; the official monthly score is
    ``spatial.tickets.scoring.monthly_scores``.
    """
    p, cat = _params(window, categories)
    sql = f"""
        WITH recv AS (
            SELECT t.department_id, count(*) AS received FROM ticket t
            WHERE t.created_at >= :since AND t.created_at < :until {cat} GROUP BY 1),
        done AS (
            SELECT t.department_id, count(*) AS closed,
                   count(*) FILTER (WHERE t.resolved_at <= t.resolve_due_at) AS on_time, avg(t.rating) AS sat
            FROM ticket t WHERE t.closed_at >= :since AND t.closed_at < :until {cat} GROUP BY 1),
        late AS (
            SELECT t.department_id, count(*) AS overdue FROM ticket t
            WHERE t.status IN {_OPEN_SQL} AND {_overdue_sql()} {cat} GROUP BY 1)
        SELECT d.code, d.name, coalesce(r.received, 0) AS received, coalesce(x.closed, 0) AS closed,
               coalesce(x.on_time, 0) AS on_time, x.sat, coalesce(l.overdue, 0) AS overdue
        FROM department d LEFT JOIN recv r ON r.department_id = d.id
        LEFT JOIN done x ON x.department_id = d.id LEFT JOIN late l ON l.department_id = d.id"""
    res = session.execute(sa.text(sql), p)
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    if df.empty:
        return df
    df["on_time_pct"] = np.where(df["closed"] > 0, (100.0 * df["on_time"] / df["closed"].clip(lower=1)).round(1),
                                 np.nan)
    df["satisfaction"] = pd.to_numeric(df["sat"], errors="coerce").round(2)
    df = df.drop(columns=["on_time", "sat"])
    df = df.sort_values(["on_time_pct", "overdue"], ascending=[False, True], na_position="last",
                        ignore_index=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def density_bins(session: Session, window: Window, *, cell_m: float = 500.0, hexagon: bool = True,
                 categories: Sequence[str] | None = None, bbox: Sequence[float] | None = None,
                 open_only: bool = False, limit: int = 50_000,
                 viewer: Principal | None = None) -> gpd.GeoDataFrame:
    """Tickets received in the window counted in hexagonal or square bins, computed arithmetically.

    Points are mapped to local metres (equirectangular at the district's
    centre latitude), binned by integer arithmetic (hexagons: the nearer of
    two offset rectangular lattices, d3-hexbin style) and the bin centres
    mapped back to degrees. No polygon join, so it scales with the rows in
    the window only (``research/postgis.md`` section c).

    Parameters
    ----------
    cell_m : float
        Bin size in metres: hexagon centre spacing, or square side.
    bbox : (W, S, E, N) degrees, optional
        Only tickets inside (uses the GiST index).
    viewer : Principal, optional
        Sensitive tickets are binned only for staff (``spatial.privacy``).

    Returns
    -------
    geopandas.GeoDataFrame
        One point per non-empty bin (EPSG:4326) with ``n`` (tickets).
    """
    if not (10 <= cell_m <= 50_000):
        raise ValidationError(f"bin size must be 10-50000 m, got {cell_m}")
    p, cat = _params(window, categories)
    w, s, e, n = bbox if bbox is not None else district_bounds(session)
    lat0 = (s + n) / 2
    kx, ky = M_PER_DEG * math.cos(math.radians(lat0)), M_PER_DEG
    p.update({"lon0": w, "lat0": s, "kx": kx, "ky": ky, "lim": int(limit)})
    where = f"t.created_at >= :since AND t.created_at < :until {cat}{_located(viewer)}"
    if open_only:
        where += f" AND t.status IN {_OPEN_SQL}"
    if bbox is not None:
        where += " AND t.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
        p.update({"w": w, "s": s, "e": e, "n": n})
    if hexagon:
        dx, dy = cell_m, cell_m * math.sqrt(3)
        p.update({"dx": dx, "dy": dy})
        sql = f"""
            WITH xy AS (SELECT (ST_X(t.geom) - :lon0) * :kx AS x, (ST_Y(t.geom) - :lat0) * :ky AS y
                        FROM ticket t WHERE {where}),
            c AS (SELECT x, y, round(x / :dx) AS i1, round(y / :dy) AS j1,
                         floor(x / :dx) AS i2, floor(y / :dy) AS j2 FROM xy),
            k AS (SELECT CASE WHEN (x - i1 * :dx) ^ 2 + (y - j1 * :dy) ^ 2
                                   <= (x - (i2 + 0.5) * :dx) ^ 2 + (y - (j2 + 0.5) * :dy) ^ 2
                              THEN 2 * i1 ELSE 2 * i2 + 1 END AS ki,
                         CASE WHEN (x - i1 * :dx) ^ 2 + (y - j1 * :dy) ^ 2
                                   <= (x - (i2 + 0.5) * :dx) ^ 2 + (y - (j2 + 0.5) * :dy) ^ 2
                              THEN 2 * j1 ELSE 2 * j2 + 1 END AS kj FROM c)
            SELECT ki, kj, count(*) AS n FROM k GROUP BY ki, kj ORDER BY n DESC LIMIT :lim"""
        res = session.execute(sa.text(sql), p)
        df = pd.DataFrame(res.fetchall(), columns=["ki", "kj", "n"])
        cx = df["ki"].astype("float64") * dx / 2
        cy = df["kj"].astype("float64") * dy / 2
    else:
        p["s_"] = cell_m
        sql = f"""
            SELECT floor((ST_X(t.geom) - :lon0) * :kx / :s_) AS i, floor((ST_Y(t.geom) - :lat0) * :ky / :s_) AS j,
                   count(*) AS n
            FROM ticket t WHERE {where} GROUP BY 1, 2 ORDER BY n DESC LIMIT :lim"""
        res = session.execute(sa.text(sql), p)
        df = pd.DataFrame(res.fetchall(), columns=["i", "j", "n"])
        cx = (df["i"].astype("float64") + 0.5) * cell_m
        cy = (df["j"].astype("float64") + 0.5) * cell_m
    lon = w + cx / kx
    lat = s + cy / ky
    return gpd.GeoDataFrame({"n": df["n"].astype("int64")},
                            geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


# --------------------------------------------------------------------------- points and queues

def tickets_in_view(session: Session, window: Window, *, bbox: Sequence[float], limit: int = 20_000,
                    categories: Sequence[str] | None = None, open_only: bool = False,
                    statuses: Sequence[str] | None = None,
                    viewer: Principal | None = None) -> tuple[gpd.GeoDataFrame, bool]:
    """Ticket points inside ``bbox`` (W, S, E, N degrees) created in the window, newest first.

    Returns ``(gdf, truncated)``: at most ``limit`` rows; ``truncated`` is True
    when more matched (the app then shows bins instead, or asks to zoom in).
    Columns: id, status, category, priority, overdue, created_at. Sensitive
    tickets only for a staff ``viewer``.
    """
    if limit <= 0 or limit > 200_000:
        raise ValidationError("limit must be 1-200000")
    w, s, e, n = (float(v) for v in bbox)
    if not (w < e and s < n):
        raise ValidationError("bbox must be (W, S, E, N) with W < E and S < N")
    p, cat = _params(window, categories)
    p.update({"w": w, "s": s, "e": e, "n": n, "lim": int(limit) + 1})
    extra = _located(viewer)
    if open_only:
        extra += f" AND t.status IN {_OPEN_SQL}"
    if statuses:
        p["sts"] = list(statuses)
        extra += " AND t.status = ANY(:sts)"
    sql = f"""
        SELECT t.id, t.status, k.code AS category, t.priority, {_overdue_sql()} AS overdue, t.created_at,
               ST_AsBinary(t.geom) AS wkb
        FROM ticket t JOIN category k ON k.id = t.category_id
        WHERE t.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
          AND t.created_at >= :since AND t.created_at < :until {cat}{extra}
        ORDER BY t.created_at DESC LIMIT :lim"""
    gdf = _gdf(session, sql, p)
    truncated = len(gdf) > limit
    return gdf.iloc[:limit].reset_index(drop=True), truncated


def dispatch_queue(session: Session, *, now: datetime | None = None, limit: int = 200,
                   department_id: int | None = None, categories: Sequence[str] | None = None,
                   viewer: Principal | None = None, ids: Sequence[int] | None = None,
                   street_id: int | None = None) -> gpd.GeoDataFrame:
    """Tickets waiting for dispatch (reported/accepted/reopened), most urgent deadline first.

    ``ids``: only these tickets (a live update's changed rows; those no longer waiting are absent).

    ``due_at`` is the acceptance deadline for ``reported`` tickets and the
    resolve deadline otherwise; ``due_in_min`` is minutes left (negative =
    overdue). Geometry EPSG:4326 points. Sensitive tickets only for a staff ``viewer``.
    ``street_id``/``department_id`` limit the queue to a street's or a department's tickets (data scope).
    """
    now = utc_now(now)
    p: dict = {"now": now, "lim": int(limit), "dept": department_id, "street": street_id}
    cat = _located(viewer)
    if categories:
        p["cats"] = list(categories)
        cat += " AND t.category_id IN (SELECT id FROM category WHERE code = ANY(:cats))"
    if ids is not None:
        p["ids"] = [int(i) for i in ids]
        cat += " AND t.id = ANY(:ids)"
    sql = f"""
        SELECT t.id, t.status, k.code AS category, k.name AS category_name, t.priority, t.created_at,
               CASE WHEN t.status = 'reported' THEN t.accept_due_at ELSE t.resolve_due_at END AS due_at,
               g.name AS grid, t.address, t.description, ST_AsBinary(t.geom) AS wkb
        FROM ticket t JOIN category k ON k.id = t.category_id
        LEFT JOIN admin_unit g ON g.id = t.grid_id
        WHERE t.status IN {_QUEUE_SQL} AND (CAST(:dept AS int) IS NULL OR t.department_id = :dept)
          AND (CAST(:street AS int) IS NULL OR t.street_id = :street) {cat}
        ORDER BY CASE WHEN t.status = 'reported' THEN t.accept_due_at ELSE t.resolve_due_at END NULLS LAST,
                 t.priority, t.id
        LIMIT :lim"""
    gdf = _gdf(session, sql, p)
    due = pd.to_datetime(gdf["due_at"], utc=True)
    gdf["due_in_min"] = ((due - pd.Timestamp(now)).dt.total_seconds() / 60).round(0)
    gdf["overdue"] = gdf["due_in_min"] < 0
    return gdf


def ticket_brief(session: Session, ticket_id: int, *, viewer: Principal | None = None) -> dict | None:
    """A few fields of one ticket for the side panel (None when it does not exist, or when it is
    sensitive and ``viewer`` is not staff)."""
    row = session.execute(sa.text(f"""
        SELECT t.id, t.status, k.code AS category, k.name AS category_name, t.priority, t.created_at,
               t.accept_due_at, t.resolve_due_at, t.assigned_worker_id, w.code AS worker, t.address,
               t.description, g.name AS grid, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, t.version
        FROM ticket t JOIN category k ON k.id = t.category_id
        LEFT JOIN worker w ON w.id = t.assigned_worker_id
        LEFT JOIN admin_unit g ON g.id = t.grid_id WHERE t.id = :id{_located(viewer)}"""),
        {"id": ticket_id}).mappings().first()
    return dict(row) if row else None


def categories(session: Session) -> pd.DataFrame:
    """Active catalog categories: code, name, major_name, department."""
    res = session.execute(sa.text(
        "SELECT k.code, k.name, k.major_name, d.code AS department FROM category k "
        "JOIN department d ON d.id = k.department_id WHERE k.active ORDER BY k.major_code, k.code"))
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def newest_tickets(session: Session, *, limit: int = 10, viewer: Principal | None = None) -> pd.DataFrame:
    """The newest tickets for a ticker: id, created_at, status, category (name), grid (name), channel.

    No description, address or reporter (a wall is seen by visitors); sensitive
    categories only for a staff ``viewer`` (``spatial.privacy``).
    """
    sql = f"""
        SELECT t.id, t.created_at, t.status, k.name AS category, g.name AS grid, t.channel
        FROM ticket t JOIN category k ON k.id = t.category_id LEFT JOIN admin_unit g ON g.id = t.grid_id
        WHERE true {_located(viewer)}
        ORDER BY t.created_at DESC, t.id DESC LIMIT :lim"""
    res = session.execute(sa.text(sql), {"lim": max(1, min(int(limit), 100))})
    return pd.DataFrame(res.fetchall(), columns=list(res.keys()))
