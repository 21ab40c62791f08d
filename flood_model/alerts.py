"""Warnings table: roads and grid cells where the forecast floods enough of the feature.

A single deep cell is not a warning: one-cell DEM pits (and one-cell
rasterization artefacts) would otherwise flag most roads and grids of a
district. A feature is at level L (default yellow >= 0.15 m, orange >= 0.30 m,
red >= 0.50 m) when enough of it is at least L's depth deep:

* **roads** (lines): at least ``min_length_m`` (default 20 m) of the road's
  length lies in cells whose maximum depth is >= the threshold, spread over at
  least ``min_cells`` (default 2) distinct cells. Lengths are measured by
  sampling the line every ``min(dx, dy) / 4`` (length-weighted samples, so a
  road that only clips a cell corner gets only the clipped length);
* **grids** (polygons): at least ``min_area_m2`` (default 400 m2) of the grid,
  and at least ``min_cells`` cells, is at least the threshold deep (cells
  whose centre lies inside the polygon, each counting ``dx * dy``; a polygon
  smaller than a cell uses the cells it touches, sharing its area). With
  ``min_area_fraction`` the area must also be that fraction of the grid's
  area inside the DEM (``min_area_m2=None`` -> the fraction alone).

Depths are the per-cell maximum over the run, exceedance times the per-cell
first time that maximum reached a threshold (both from :func:`run_forecast`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import shapely
from rasterio.features import geometry_mask
from rasterio.windows import Window, from_bounds
from rasterio.windows import transform as window_transform

from flood_model.errors import InputError

__all__ = ["DEFAULT_LEVELS", "DEFAULT_MIN_AREA_M2", "DEFAULT_MIN_CELLS", "DEFAULT_MIN_LENGTH_M",
           "WARNING_COLUMNS", "build_warnings", "level_for"]

DEFAULT_LEVELS: dict[str, float] = {"yellow": 0.15, "orange": 0.30, "red": 0.50}
DEFAULT_MIN_LENGTH_M = 20.0
DEFAULT_MIN_AREA_M2 = 400.0
DEFAULT_MIN_CELLS = 2
WARNING_COLUMNS = ["kind", "feature_id", "name", "max_depth_m", "first_exceed_s", "level", "level_time_s",
                   "geometry"]
#: Extra columns after the core ones (before ``geometry``); see :func:`build_warnings`.
DETAIL_COLUMNS = ["sustained_depth_m", "depth_p90_m", "flooded_length_m", "flooded_area_m2", "flooded_cells",
                  "feature_length_m", "feature_area_m2"]
_ID_COLUMNS = ("id", "feature_id", "grid_id", "road_id", "osm_id", "code")
_NAME_COLUMNS = ("name", "grid_name", "road_name", "name_zh", "label")


def level_for(depth_m: float, levels: Mapping[str, float] = DEFAULT_LEVELS) -> str | None:
    """Highest warning level reached by a depth [m], or None."""
    best, best_thr = None, -math.inf
    for name, thr in levels.items():
        if depth_m >= thr and thr > best_thr:
            best, best_thr = name, thr
    return best


def _pick(gdf, candidates) -> str | None:
    for c in candidates:
        if c in gdf.columns:
            return c
    return None


def _window(geom, grid) -> Window | None:
    ny, nx = grid.shape
    b = geom.bounds
    pad = max(grid.dx, grid.dy)
    win = from_bounds(b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad, transform=grid.transform)
    c0, r0 = max(math.floor(win.col_off), 0), max(math.floor(win.row_off), 0)
    c1 = min(math.ceil(win.col_off + win.width), nx)
    r1 = min(math.ceil(win.row_off + win.height), ny)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def _line_samples(geom, grid) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Flat cell indices and length weights [m] of samples along a (multi)line inside the grid."""
    step = min(grid.dx, grid.dy) / 4.0
    parts = [p for p in shapely.get_parts(geom) if p.length > 0]
    if not parts:
        return None
    pts, wts = [], []
    for part in parts:
        n = max(1, math.ceil(part.length / step))
        d = (np.arange(n) + 0.5) * (part.length / n)
        pts.append(shapely.get_coordinates(shapely.line_interpolate_point(part, d)))
        wts.append(np.full(n, part.length / n))
    xy, w = np.concatenate(pts), np.concatenate(wts)
    inv = ~grid.transform
    col = inv.a * xy[:, 0] + inv.b * xy[:, 1] + inv.c
    row = inv.d * xy[:, 0] + inv.e * xy[:, 1] + inv.f
    col, row = np.floor(col).astype(np.int64), np.floor(row).astype(np.int64)
    ny, nx = grid.shape
    ok = (row >= 0) & (row < ny) & (col >= 0) & (col < nx)
    if not ok.any():
        return None
    return row[ok] * nx + col[ok], w[ok], float(sum(p.length for p in parts))


def _polygon_cells(geom, grid) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Flat cell indices and area weights [m2] of the cells of a polygon inside the grid."""
    win = _window(geom, grid)
    if win is None:
        return None
    shape = (int(win.height), int(win.width))
    wtr = window_transform(win, grid.transform)
    mask = geometry_mask([geom], out_shape=shape, transform=wtr, all_touched=False, invert=True)
    weight = grid.dx * grid.dy
    if not mask.any():  # smaller than a cell: the touched cells share the polygon's area
        mask = geometry_mask([geom], out_shape=shape, transform=wtr, all_touched=True, invert=True)
        if not mask.any():
            return None
        weight = geom.area / int(mask.sum())
    rr, cc = np.nonzero(mask)
    flat = (rr + int(win.row_off)) * grid.shape[1] + (cc + int(win.col_off))
    return flat, np.full(flat.size, weight), float(geom.area)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cw = np.cumsum(weights[order])
    k = int(np.searchsorted(cw, q * cw[-1], side="left"))
    return float(values[order][min(k, len(order) - 1)])


def _first_time(times: np.ndarray, weights: np.ndarray, cells: np.ndarray, need: float,
                min_cells: int) -> float:
    """Earliest time at which the samples with ``times <= t`` weigh ``need`` over ``min_cells`` cells."""
    ok = np.isfinite(times)
    if not ok.any():
        return float("nan")
    t, w, c = times[ok], weights[ok], cells[ok]
    order = np.argsort(t, kind="stable")
    t, w, c = t[order], w[order], c[order]
    cw = np.cumsum(w)
    _, first = np.unique(c, return_index=True)
    ncell = np.cumsum(np.isin(np.arange(len(c)), first))
    hit = np.nonzero((cw >= need * (1 - 1e-9)) & (ncell >= min_cells))[0]
    return float(t[hit[0]]) if len(hit) else float("nan")


def build_warnings(grid: Any, max_depth: np.ndarray, time_to_threshold: Mapping[float, np.ndarray], *,
                   roads: Any = None, grids: Any = None,
                   levels: Mapping[str, float] = DEFAULT_LEVELS,
                   min_length_m: float = DEFAULT_MIN_LENGTH_M,
                   min_area_m2: float | None = DEFAULT_MIN_AREA_M2,
                   min_area_fraction: float | None = None,
                   min_cells: int = DEFAULT_MIN_CELLS) -> Any:
    """Aggregate the forecast per road and per grid cell into a warnings GeoDataFrame.

    Parameters
    ----------
    grid : DemGrid
        Grid of the forecast (CRS of the outputs).
    max_depth : ndarray
        Maximum depth [m] per cell (NaN outside the domain).
    time_to_threshold : mapping
        Threshold [m] -> first exceedance time [s] per cell (NaN = never); must
        hold every level threshold.
    roads, grids : GeoDataFrame, optional
        Lines / polygons with a CRS; ids from ``id``/``osm_id``/``grid_id``... or the index,
        names from ``name``... if present.
    levels : mapping
        Level name -> depth threshold [m].
    min_length_m : float
        Roads: length [m] that must be at least a level's depth deep (default 20 m).
    min_area_m2 : float or None
        Grids: area [m2] that must be at least a level's depth deep (default 400 m2).
    min_area_fraction : float, optional
        Grids: additionally require this fraction [0-1] of the grid's area inside the
        DEM (default: none). With ``min_area_m2=None`` the fraction alone decides.
    min_cells : int
        Distinct DEM cells the flooded length / area must span (default 2), so a
        single-cell pit never warns whatever the cell size.

    Returns
    -------
    GeoDataFrame
        Only warned features, sorted red first, then by ``first_exceed_s``. Columns:

        * ``kind`` ('road'|'grid'), ``feature_id``, ``name``;
        * ``max_depth_m``: maximum depth [m] over the feature's cells (road: cells its
          line passes through; grid: cells inside) - informative, may be a pit;
        * ``first_exceed_s``: time [s] the lowest level's criterion was first met
          (length / area / cells counted from the per-cell first exceedance times);
        * ``level``: highest level whose criterion is met; ``level_time_s``: time [s]
          that level's criterion was first met;
        * ``sustained_depth_m``: largest depth [m] reached over the required length /
          area and cells (the level is the highest threshold <= it);
        * ``depth_p90_m``: 90th percentile of depth [m] along the road (length-weighted)
          or over the grid (area-weighted) - the depth exceeded on 10 % of the feature;
        * ``flooded_length_m`` (roads) / ``flooded_area_m2`` (grids): length [m] / area
          [m2] at least the ``level`` depth deep (NaN for the other kind);
        * ``flooded_cells``: distinct cells of that length / area;
        * ``feature_length_m`` / ``feature_area_m2``: size of the feature in the forecast CRS;
        * ``geometry`` (forecast CRS).
    """
    import geopandas as gpd

    missing = [t for t in levels.values() if t not in time_to_threshold]
    if missing:
        raise InputError(f"no exceedance times tracked for level thresholds {missing}")
    if min_area_m2 is None and min_area_fraction is None:
        raise InputError("grids need min_area_m2 or min_area_fraction")
    if min_cells < 1:
        raise InputError("min_cells must be >= 1")
    lowest_name = min(levels, key=lambda k: levels[k])
    by_thr = sorted(levels.items(), key=lambda kv: kv[1])  # ascending
    rank = {name: i for i, (name, _) in enumerate(reversed(by_thr))}
    depth_flat = np.asarray(max_depth).ravel()
    times_flat = {thr: np.asarray(arr).ravel() for thr, arr in time_to_threshold.items()}
    cols = WARNING_COLUMNS[:-1] + DETAIL_COLUMNS + ["geometry"]
    rows: list[dict[str, Any]] = []
    for kind, gdf in (("road", roads), ("grid", grids)):
        if gdf is None or len(gdf) == 0:
            continue
        if gdf.crs is None:
            raise InputError(f"{kind} layer has no CRS")
        g2 = gdf.to_crs(grid.crs)
        id_col, name_col = _pick(g2, _ID_COLUMNS), _pick(g2, _NAME_COLUMNS)
        for idx, row in g2.iterrows():
            geom = row.geometry
            if geom is None or geom.is_empty:
                continue
            samp = _line_samples(geom, grid) if kind == "road" else _polygon_cells(geom, grid)
            if samp is None:
                continue
            cells, w, size = samp
            d = depth_flat[cells]
            fin = np.isfinite(d)
            if not fin.any():
                continue
            cells, w, d = cells[fin], w[fin], d[fin]
            if kind == "road":
                need = float(min_length_m)
            else:
                inside = float(w.sum())
                need = 0.0 if min_area_m2 is None else float(min_area_m2)
                if min_area_fraction is not None:
                    need = max(need, float(min_area_fraction) * inside)
            # sustained depth: the largest depth d with weight(depth >= d) >= need over >= min_cells cells
            order = np.argsort(-d, kind="stable")
            ds, ws, cs = d[order], w[order], cells[order]
            _, first = np.unique(cs, return_index=True)
            ncell = np.cumsum(np.isin(np.arange(len(cs)), first))
            ok = np.nonzero((np.cumsum(ws) >= need * (1 - 1e-9)) & (ncell >= min_cells))[0]
            if not len(ok):
                continue
            sustained = float(ds[ok[0]])
            lvl = level_for(sustained, levels)
            if lvl is None:
                continue
            thr = levels[lvl]
            wet = d >= thr
            t_lvl = _first_time(times_flat[thr][cells], w, cells, need, min_cells)
            t_low = _first_time(times_flat[levels[lowest_name]][cells], w, cells, need, min_cells)
            flooded = float(w[wet].sum())
            rows.append({
                "kind": kind,
                "feature_id": row[id_col] if id_col else idx,
                "name": row[name_col] if name_col else None,
                "max_depth_m": round(float(d.max()), 4),
                "first_exceed_s": t_low,
                "level": lvl,
                "level_time_s": t_lvl,
                "sustained_depth_m": round(sustained, 4),
                "depth_p90_m": round(_weighted_quantile(d, w, 0.9), 4),
                "flooded_length_m": round(flooded, 1) if kind == "road" else float("nan"),
                "flooded_area_m2": round(flooded, 1) if kind == "grid" else float("nan"),
                "flooded_cells": int(np.unique(cells[wet]).size),
                "feature_length_m": round(size, 1) if kind == "road" else float("nan"),
                "feature_area_m2": round(size, 1) if kind == "grid" else float("nan"),
                "geometry": geom,
                "_rank": rank[lvl],
            })
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry="geometry", crs=grid.crs)
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    out = out.sort_values(["_rank", "first_exceed_s"]).drop(columns="_rank").reset_index(drop=True)
    return out[cols]
