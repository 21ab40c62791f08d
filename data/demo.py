"""The demo district: a deterministic, realistic city district generated from a seed and loaded by COPY.

This module only generates (no database): :func:`generate` returns the rows
as data frames and the DEM; :mod:`data.load` writes them (``onemap load-demo``,
``python -m data.load --is-loaded``). The district
sits near Guangzhou Huangpu (113.45 E, 23.10 N); geometry is generated in
EPSG:32649 metres and stored in EPSG:4326. Contents (defaults): 4 streets,
20 communities, ~220 grids, ~280 named roads, ~3,000 buildings with heights,
9 departments, 28 categories, 1,000 assets, 100 cameras, 50 sensors with
3 days of 10-minute readings, 300 workers (60 % on duty with fresh fixes and
a 30-minute GPS trail) and 20,000 tickets over the last 90 days with their
reporters and full event history; plus a 10 m DEM (written by :func:`data.load.dem_path`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from data import _entities, _geometry, _tickets
from data._dem import Dem, make_dem
from data._ticket_rows import ticket_frames
from data.catalog import CATEGORIES, DEPARTMENTS, MAJORS

#: every table the demo writes, in load order
DEMO_TABLES = ("admin_unit", "department", "category", "road", "building", "asset", "camera", "sensor",
               "sensor_reading", "worker", "worker_position", "ticket", "ticket_reporter", "ticket_event")
DEMO_DISTRICT_CODE = "D440112"


@dataclass
class DemoData:
    """Generated rows per table (EPSG:4326 shapely geometries in column ``geom``) plus the DEM."""

    frames: dict[str, pd.DataFrame]
    dem: Dem
    layout: _geometry.Layout
    now: datetime
    info: dict = field(default_factory=dict)


def _to4326():
    tr = Transformer.from_crs(_geometry.METRIC_EPSG, 4326, always_xy=True)

    def f(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return f


def _geo(geoms, fn) -> np.ndarray:
    return shapely.transform(np.asarray(geoms, dtype=object), fn)


def _pts(xy: np.ndarray, fn) -> np.ndarray:
    return shapely.points(fn(np.asarray(xy, dtype=float).reshape(-1, 2)))


def _multi(g: shapely.Geometry) -> shapely.Geometry:
    if isinstance(g, shapely.Polygon):
        return shapely.MultiPolygon([g])
    if isinstance(g, shapely.LineString):
        return shapely.MultiLineString([g])
    return g


class _GridIndex:
    """Point-in-grid lookup on the EPSG:4326 grid polygons (exactly what the database stores)."""

    def __init__(self, geoms: np.ndarray, ids: np.ndarray):
        self.geoms, self.ids = geoms, ids
        self.tree = shapely.STRtree(geoms)

    def locate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid id per point; points on no grid (slivers) are moved onto the nearest grid."""
        pairs = self.tree.query(points, predicate="within")
        out = np.full(len(points), -1, dtype=np.int64)
        out[pairs[0][::-1]] = pairs[1][::-1]  # first match wins
        missing = np.flatnonzero(out < 0)
        points = points.copy()
        if len(missing):
            near = self.tree.query_nearest(points[missing], return_distance=False)
            for pi, gi in zip(near[0], near[1], strict=True):
                points[missing[pi]] = shapely.point_on_surface(self.geoms[gi])
                out[missing[pi]] = gi
        return self.ids[out], points


def generate(*, seed: int = 42, tickets: int = 20_000, now: datetime | None = None, grids: int = 220,
             communities: int = 20, workers: int = 300, assets: int = 1000, cameras: int = 100, sensors: int = 50,
             buildings: int = 3500, days: int = 90) -> DemoData:
    """Generate the demo district (no database access). Same seed and ``now`` -> same rows.

    Parameters
    ----------
    seed : int
        Seed of the numpy Generator that draws everything.
    tickets : int
        Number of tickets over the ``days`` before ``now``.
    now : datetime, optional
        End of the simulated period (timezone-aware; default: the current time, UTC).
    grids, communities, workers, assets, cameras, sensors, buildings : int
        Sizes; the defaults are the documented demo (4 streets always).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = np.random.default_rng(seed)
    lay = _geometry.layout(rng, grids=grids, communities=communities, n_buildings=buildings)
    dem = make_dem(np.random.default_rng([seed, 1]), lay)
    f = _to4326()
    frames: dict[str, pd.DataFrame] = {}

    # ---- admin units
    units = lay.units
    ids = {u.code: i + 1 for i, u in enumerate(units)}
    # stored parents are the union of their children in EPSG:4326, so nesting holds exactly in the database
    geo4326 = {u.code: _multi(g) for u, g in zip(units, _geo([u.geom for u in units], f), strict=True)}
    for level in (3, 2, 1):
        for u in units:
            if u.level == level:
                kids = [geo4326[c.code] for c in units if c.parent == u.code]
                geo4326[u.code] = _multi(shapely.union_all(kids))
    frames["admin_unit"] = pd.DataFrame({
        "id": [ids[u.code] for u in units], "code": [u.code for u in units], "name": [u.name for u in units],
        "level": [u.level for u in units], "parent_id": pd.array([ids.get(u.parent) for u in units], "Int64"),
        "geom": [geo4326[u.code] for u in units],
        "area_m2": [round(u.geom.area, 1) for u in units],
        "population": [u.population for u in units],
        "attrs": [{"demo": True, "seed": seed} if u.level == 1 else {} for u in units],
    })
    grid_units = [u for u in units if u.level == 4]
    grid_ids = np.array([ids[u.code] for u in grid_units])
    parent_of = {ids[u.code]: ids.get(u.parent) for u in units}
    gidx = _GridIndex(frames["admin_unit"]["geom"].to_numpy()[[ids[u.code] - 1 for u in grid_units]], grid_ids)
    places = _tickets.Places(
        district=lay.outline, grid_geoms=[u.geom for u in grid_units],
        grid_pop=np.array([u.population for u in grid_units], dtype=float),
        road_lines=[max(shapely.get_parts(r["geom"]), key=lambda g: g.length) for r in lay.roads],
        road_class=np.array([r["road_class"] for r in lay.roads]), basins=lay.basins,
        underpasses=lay.underpasses, centres=lay.centres)

    # ---- departments, categories
    dept_id = {d[0]: i + 1 for i, d in enumerate(DEPARTMENTS)}
    frames["department"] = pd.DataFrame({"id": list(dept_id.values()), "code": [d[0] for d in DEPARTMENTS],
                                         "name": [d[1] for d in DEPARTMENTS], "phone": [d[2] for d in DEPARTMENTS],
                                         "attrs": [{} for _ in DEPARTMENTS]})
    cat_id = {c.code: i + 1 for i, c in enumerate(CATEGORIES)}
    frames["category"] = pd.DataFrame([{
        "id": cat_id[c.code], "code": c.code, "major_code": c.major, "major_name": MAJORS[c.major],
        "name": c.name, "description": f"{c.name}: report with a photo and the exact place.",
        "department_id": dept_id[c.department], "accept_limit": c.accept[0], "accept_unit": c.accept[1],
        "resolve_limit": c.resolve[0], "resolve_unit": c.resolve[1], "closing_standard": c.closing,
        "skill": c.skill, "on_the_spot": c.on_the_spot, "auto_dispatch": c.auto_dispatch,
        "duplicate_radius_m": c.radius_m, "duplicate_window_h": c.window_h, "priority": c.priority,
        "active": True, "keywords": list(c.keywords), "sensitive": c.sensitive} for c in CATEGORIES])

    # ---- roads, buildings
    frames["road"] = pd.DataFrame({
        "id": np.arange(1, len(lay.roads) + 1), "code": [r["code"] for r in lay.roads],
        "name": [r["name"] for r in lay.roads], "road_class": [r["road_class"] for r in lay.roads],
        "geom": _geo([r["geom"] for r in lay.roads], f), "attrs": [r["attrs"] for r in lay.roads]})
    frames["building"] = pd.DataFrame({
        "id": np.arange(1, len(lay.buildings) + 1), "code": [b["code"] for b in lay.buildings],
        "height_m": [b["height_m"] for b in lay.buildings],
        "geom": _geo([_multi(b["geom"]) for b in lay.buildings], f),
        "attrs": [b["attrs"] for b in lay.buildings]})

    # ---- assets, cameras, sensors
    ea = np.random.default_rng([seed, 2])
    alist = _entities.assets(ea, places, n=assets)
    pts = _pts(np.array([a["xy"] for a in alist]), f)
    gid, pts = gidx.locate(pts)
    frames["asset"] = pd.DataFrame({
        "id": np.arange(1, len(alist) + 1), "code": [a["code"] for a in alist],
        "asset_type": [a["asset_type"] for a in alist], "name": [a["name"] for a in alist],
        "department_id": [dept_id[a["department"]] for a in alist], "grid_id": gid,
        "status": [a["status"] for a in alist], "geom": pts, "attrs": [a["attrs"] for a in alist]})
    clist = _entities.cameras(ea, places, [r["name"] for r in lay.roads], n=cameras)
    pts = _pts(np.array([c["xy"] for c in clist]), f)
    gid, pts = gidx.locate(pts)
    cam = pd.DataFrame([{k: v for k, v in c.items() if k != "xy"} for c in clist])
    cam.insert(0, "id", np.arange(1, len(clist) + 1))
    cam["geom"], cam["grid_id"] = pts, gid
    frames["camera"] = cam
    slist, readings = _entities.sensors(ea, places, n=sensors, now=now)
    pts = _pts(np.array([s["xy"] for s in slist]), f)
    gid, pts = gidx.locate(pts)
    sen = pd.DataFrame([{k: v for k, v in s.items() if k not in ("xy", "sink")} for s in slist])
    sen.insert(0, "id", np.arange(1, len(slist) + 1))
    sen["geom"], sen["grid_id"] = pts, gid
    frames["sensor"] = sen
    frames["sensor_reading"] = pd.DataFrame({
        "sensor_id": [r[0] + 1 for r in readings], "observed_at": [r[1] for r in readings],
        "value": [r[2] for r in readings], "received_at": [r[1] for r in readings], "quality": "ok"})

    # ---- workers and their GPS trails
    ew = np.random.default_rng([seed, 3])
    grid_codes = [u.code for u in grid_units]
    wlist = _entities.workers(ew, places, grid_codes, n=workers, now=now)
    has = np.array([w["xy"] is not None for w in wlist])
    wgeom = np.full(len(wlist), None, dtype=object)
    wgeom[has] = gidx.locate(_pts(np.array([w["xy"] for w in wlist if w["xy"] is not None]), f))[1]
    frames["worker"] = pd.DataFrame({
        "id": np.arange(1, len(wlist) + 1), "code": [w["code"] for w in wlist], "name": [w["name"] for w in wlist],
        "phone": [w["phone"] for w in wlist], "department_id": [dept_id[w["department"]] for w in wlist],
        "home_grid_id": [ids[w["home_grid"]] for w in wlist], "skills": [w["skills"] for w in wlist],
        "on_duty": [w["on_duty"] for w in wlist], "workload": 0,
        "max_workload": [w["max_workload"] for w in wlist], "geom": wgeom,
        "position_at": [w["position_at"] for w in wlist], "position_accuracy_m": [w["accuracy_m"] for w in wlist],
        "attrs": [w["attrs"] for w in wlist]})
    trail_rows = []
    for i, w in enumerate(wlist):
        if w["on_duty"]:
            for at, x, y in _entities.trail(ew, w["xy"], w["position_at"]):
                trail_rows.append((i + 1, at, x, y, w["accuracy_m"]))
    txy = np.array([(r[2], r[3]) for r in trail_rows])
    frames["worker_position"] = pd.DataFrame({
        "worker_id": [r[0] for r in trail_rows], "fixed_at": [r[1] for r in trail_rows],
        "received_at": [r[1] for r in trail_rows], "geom": _pts(txy, f), "accuracy_m": [r[4] for r in trail_rows]})

    # ---- tickets
    frames.update(ticket_frames(
        np.random.default_rng([seed, 4]), n=tickets, now=now, days=days, places=places, gidx=gidx, to4326=f,
        parent_of=parent_of, cat_id=cat_id, dept_id=dept_id, workers=wlist, frames=frames, roads=lay.roads,
        units={ids[u.code]: u for u in units}))
    open_load = frames["ticket"].loc[frames["ticket"]["status"].isin(["dispatched", "in_progress"]),
                                     "assigned_worker_id"].value_counts()
    frames["worker"]["workload"] = frames["worker"]["id"].map(open_load).fillna(0).astype(int)
    return DemoData(frames=frames, dem=dem, layout=lay, now=now, info={"seed": seed})
