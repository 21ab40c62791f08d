"""Grid generator: square or hexagonal cells of a given size over the district.

Cells are laid on a fixed lattice in a metric CRS (:func:`metric_srid`),
anchored at the south-west corner of the district's bounding box in that CRS,
so generating again for the same district gives the same cells and codes.
Each cell is cut by the communities (or by the district when there are no
communities): every piece becomes a grid of the unit it lies in, coded
``<unit code>-<col>-<row>``; a piece smaller than ``min_part`` of a whole
cell is merged into the neighbouring grid of the same unit it shares the
longest border with (kept on its own when it has none). Cutting happens in
EPSG:4326 on the stored boundaries, so every grid lies in its parent.

Square: cell ``(col, row)`` is ``[x0 + col*s, x0 + (col+1)*s] x [y0 + row*s, ...]``.
Hexagon (pointy top): ``s`` is the width across flats (the distance between
neighbouring centres), centre ``(x0 + col*s + (row % 2)*s/2, y0 + row*1.5*R)``
with circumradius ``R = s/sqrt(3)``; cell area ``sqrt(3)/2 * s**2``. Vertices
are computed on one lattice, so neighbouring cells share them exactly (no
gaps or overlaps, also after reprojecting).

:func:`generate_grids` writes them in the caller's transaction and re-locates
every located row (tickets' grid/community/street, assets, cameras, sensors,
alerts, camera detections) with the one rule of :mod:`spatial.locate`.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from pyproj import CRS, Transformer
from sqlalchemy.orm import Session

from spatial.errors import ImportDataError, ValidationError
from spatial.geometry import keep_family
from spatial.locate import COMMUNITY, DISTRICT, GRID, locate_sql
from spatial.profile import district_profile, utm_srid
from spatial.settings import get_settings

SHAPES = ("square", "hex")
#: tables whose rows store the grid of their point (ticket also community and street)
LOCATED_TABLES = ("asset", "camera", "sensor", "alert", "camera_detection")


def parse_size(text: str) -> float:
    """``"250m"``, ``"0.5km"`` or ``"250"`` -> metres."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(m|km)?\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValidationError(f"Grid size {text!r} is not a positive length such as 250m or 0.5km.")
    return float(m.group(1)) * (1000.0 if m.group(2) == "km" else 1.0)


def metric_srid(lon: float, lat: float, session: Session | None = None) -> int:
    """The projected CRS (EPSG code, metres) for metric work at (lon, lat) in degrees.

    The stored district profile's metric CRS (``spatial.profile``) when ``session`` is given and a
    profile is stored; else ``Settings.metric_srid`` when set explicitly (ONEMAP_METRIC_SRID);
    otherwise the WGS 84 UTM zone of the point.
    """
    if session is not None:
        prof = district_profile(session)
        if prof.stored:
            return prof.metric_srid
    settings = get_settings()
    if "metric_srid" in settings.model_fields_set:
        return settings.metric_srid
    return utm_srid(lon, lat)


def lattice(bounds: tuple[float, float, float, float], shape: str,
            size: float) -> list[tuple[int, int, shapely.Polygon]]:
    """Cells ``(col, row, polygon)`` covering ``bounds`` (minx, miny, maxx, maxy; metres), anchored at (minx, miny)."""
    x0, y0, x1, y1 = bounds
    out = []
    if shape == "square":
        for row in range(max(1, math.ceil((y1 - y0) / size))):
            for col in range(max(1, math.ceil((x1 - x0) / size))):
                out.append((col, row, shapely.box(x0 + col * size, y0 + row * size,
                                                  x0 + (col + 1) * size, y0 + (row + 1) * size)))
        return out
    if shape != "hex":
        raise ValidationError(f"Grid shape must be one of {', '.join(SHAPES)}, not {shape!r}.")
    # vertices on the lattice x0 + i*s/2, y0 + j*R/2 (integers i, j): neighbours share them bit for bit
    hx, hy = size / 2, size / math.sqrt(3) / 2
    ring = [(1, 1), (0, 2), (-1, 1), (-1, -1), (0, -2), (1, -1)]  # pointy top, counter-clockwise
    for row in range(math.ceil((y1 - y0) / (3 * hy)) + 2):
        for col in range(math.ceil((x1 - x0) / size) + 2):
            i, j = 2 * col + row % 2, 3 * row
            out.append((col, row, shapely.Polygon([(x0 + (i + di) * hx, y0 + (j + dj) * hy) for di, dj in ring])))
    return out


def _units(session: Session, level: int) -> pd.DataFrame:
    rows = session.execute(sa.text("SELECT id, code, ST_AsBinary(geom) FROM admin_unit WHERE level = :lv ORDER BY id"),
                           {"lv": level}).all()
    return pd.DataFrame({"id": [r[0] for r in rows], "code": [r[1] for r in rows],
                         "geom": [shapely.from_wkb(bytes(r[2])) for r in rows]})


def grid_cells(district: shapely.Geometry, parents: pd.DataFrame, *, shape: str, size: float,
               min_part: float = 0.1, srid: int | None = None) -> pd.DataFrame:
    """The grids of ``district`` cut by ``parents`` (columns id, code, geom; EPSG:4326), no database.

    Returns one row per grid: ``code``, ``parent_id``, ``col``, ``row``, ``geom``
    (MultiPolygon, EPSG:4326) and ``area_m2`` (planar in the metric CRS ``srid``,
    default :func:`metric_srid` at the district's centroid; the database stores
    the geodesic area, as imports do).
    """
    c = district.centroid
    srid = srid or metric_srid(c.x, c.y)
    fwd = Transformer.from_crs(4326, srid, always_xy=True)
    back = Transformer.from_crs(srid, 4326, always_xy=True)
    if not CRS.from_epsg(srid).is_projected:
        raise ImportDataError(f"EPSG:{srid} is not a projected (metric) CRS.")
    district_m = shapely.transform(district, lambda xy: np.c_[fwd.transform(xy[:, 0], xy[:, 1])])
    cells = lattice(district_m.bounds, shape, size)
    cell_area = cells[0][2].area
    to_deg = np.array([shapely.transform(p, lambda xy: np.c_[back.transform(xy[:, 0], xy[:, 1])])
                       for _, _, p in cells], dtype=object)
    pgeoms = parents["geom"].to_numpy()
    tree = shapely.STRtree(pgeoms)
    cell_idx, par_idx = tree.query(to_deg, predicate="intersects")
    pieces = []
    for ci, pi in zip(cell_idx, par_idx, strict=True):
        part = keep_family(shapely.intersection(to_deg[ci], pgeoms[pi]), "polygon")
        if part is None:
            continue
        area = shapely.transform(part, lambda xy: np.c_[fwd.transform(xy[:, 0], xy[:, 1])]).area
        if area <= 1e-6:
            continue
        col, row, _ = cells[ci]
        pieces.append({"parent": int(pi), "col": col, "row": row, "geom": part, "area_m2": area})
    if not pieces:
        raise ImportDataError("No grid cell intersects the district (or its communities).")
    df = pd.DataFrame(pieces)
    # small pieces, smallest first, merge into the neighbour of the same unit with the longest shared border
    geoms = df["geom"].to_numpy().copy()
    areas = df["area_m2"].to_numpy().copy()
    parent = df["parent"].to_numpy()
    merged_into = np.arange(len(df))

    def find(i: int) -> int:
        while merged_into[i] != i:
            i = merged_into[i]
        return i

    tree = shapely.STRtree(geoms.copy())
    for i in np.argsort(areas, kind="stable"):
        if merged_into[i] != i or areas[i] >= min_part * cell_area:
            continue
        near = {find(int(j)) for j in tree.query(shapely.buffer(geoms[i], 1e-7), predicate="intersects")}
        near = [j for j in near if j != i and parent[j] == parent[i]]
        if not near:
            continue
        edge = shapely.boundary(geoms[i])
        shared = [shapely.length(shapely.intersection(edge, shapely.buffer(geoms[j], 1e-7))) for j in near]
        if max(shared) <= 0:
            continue
        j = near[int(np.argmax(shared))]
        geoms[j] = keep_family(shapely.union(geoms[j], geoms[i]), "polygon")
        areas[j] += areas[i]
        merged_into[i] = j
    keep = merged_into == np.arange(len(df))
    out = pd.DataFrame({
        "code": [f"{parents['code'].iat[p]}-{c}-{r}" for p, c, r in zip(df["parent"], df["col"], df["row"],
                                                                        strict=True)],
        "parent_id": [int(parents["id"].iat[p]) for p in df["parent"]],
        "col": df["col"], "row": df["row"],
        "geom": [shapely.multipolygons(shapely.get_parts(g)) for g in geoms],
        "area_m2": areas})
    return out[keep].reset_index(drop=True)


def generate_grids(session: Session, *, shape: str = "square", size: float = 250.0, replace: bool = False,
                   min_part: float = 0.1) -> dict:
    """Generate the grids (level 4) of the loaded district in ``session``'s transaction (flushes only).

    Refuses when grids exist unless ``replace`` (they are deleted; rows that
    referenced them are re-located). Returns a summary: ``grids``, ``parents``
    (units cut by), ``srid``, ``cell_area_m2``, ``uncovered_m2`` (district area
    in no grid), ``relocated`` rows per table and ``home_grids_cleared`` (workers
    whose home grid was replaced: set it again, e.g. by importing workers).
    """
    if shape not in SHAPES:
        raise ValidationError(f"Grid shape must be one of {', '.join(SHAPES)}, not {shape!r}.")
    districts = _units(session, DISTRICT)
    if districts.empty:
        raise ImportDataError("No district boundary is loaded (admin_unit level 1): import the admin units first.")
    district = shapely.union_all(districts["geom"].to_numpy())
    communities = _units(session, COMMUNITY)
    parents = communities if not communities.empty else districts
    existing = session.scalar(sa.text(f"SELECT count(*) FROM admin_unit WHERE level = {GRID}"))
    if existing and not replace:
        raise ImportDataError(f"{existing} grids exist already; use --replace (replace=True) to replace them.")
    c = district.centroid
    srid = metric_srid(c.x, c.y, session)
    cells = grid_cells(district, parents, shape=shape, size=size, min_part=min_part, srid=srid)
    homes = 0
    if existing:
        homes = session.scalar(sa.text("SELECT count(*) FROM worker WHERE home_grid_id IS NOT NULL"))
        session.execute(sa.text(f"DELETE FROM admin_unit WHERE level = {GRID}"))
    session.execute(sa.text(
        "INSERT INTO admin_unit (code, name, level, parent_id, geom, area_m2, attrs) "
        "SELECT :code, :code, 4, :parent_id, g, ST_Area(g::geography), CAST(:attrs AS jsonb) "
        "FROM ST_Multi(ST_GeomFromWKB(:wkb, 4326)) g"),
        [{"code": r.code, "parent_id": r.parent_id, "wkb": shapely.to_wkb(r.geom),
          "attrs": f'{{"generated": "{shape} {size:g} m", "col": {r.col}, "row": {r.row}}}'}
         for r in cells.itertuples()])
    relocated = relocate(session)
    covered = shapely.union_all(cells["geom"].to_numpy())
    fwd = Transformer.from_crs(4326, srid, always_xy=True)
    rest = shapely.difference(district, covered)
    uncovered = shapely.transform(rest, lambda xy: np.c_[fwd.transform(xy[:, 0], xy[:, 1])]).area
    session.flush()
    return {"grids": len(cells), "parents": "community" if parents is communities else "district",
            "srid": srid, "cell_area_m2": round(lattice((0, 0, size, size), shape, size)[0][2].area, 1),
            "replaced": int(existing or 0), "home_grids_cleared": int(homes),
            "uncovered_m2": round(float(uncovered), 1), "relocated": relocated}


def relocate(session: Session) -> dict[str, int]:
    """Re-locate every located row to the current grids (tickets: grid, community, street); rows per table."""
    out = {}
    n = session.execute(sa.text(
        f"UPDATE ticket t SET grid_id = l.grid_id, community_id = l.community_id, street_id = l.street_id "
        f"FROM ticket t2 CROSS JOIN LATERAL {locate_sql('t2.geom')} l WHERE t2.id = t.id AND t.geom IS NOT NULL "
        "AND (t.grid_id, t.community_id, t.street_id) IS DISTINCT FROM (l.grid_id, l.community_id, l.street_id)"))
    out["ticket"] = n.rowcount
    for table in LOCATED_TABLES:
        n = session.execute(sa.text(
            f"UPDATE {table} x SET grid_id = l.grid_id FROM {table} x2 CROSS JOIN LATERAL {locate_sql('x2.geom')} l "
            "WHERE x2.id = x.id AND x.geom IS NOT NULL AND x.grid_id IS DISTINCT FROM l.grid_id"))
        out[table] = n.rowcount
    return out
