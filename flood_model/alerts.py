"""Warnings table: roads and grid cells whose forecast depth exceeds the warning levels.

Levels (configurable): yellow >= 0.15 m, orange >= 0.30 m, red >= 0.50 m of
maximum depth over the cells a feature touches (lines: every cell the line
passes through; polygons: every cell touched).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from rasterio.features import geometry_mask
from rasterio.windows import Window, from_bounds
from rasterio.windows import transform as window_transform

from flood_model.errors import InputError

__all__ = ["DEFAULT_LEVELS", "WARNING_COLUMNS", "build_warnings", "level_for"]

DEFAULT_LEVELS: dict[str, float] = {"yellow": 0.15, "orange": 0.30, "red": 0.50}
WARNING_COLUMNS = ["kind", "feature_id", "name", "max_depth_m", "first_exceed_s", "level", "level_time_s",
                   "geometry"]
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


def _feature_cells(geom, grid) -> tuple[Window, np.ndarray] | None:
    ny, nx = grid.shape
    b = geom.bounds
    pad = max(grid.dx, grid.dy)
    win = from_bounds(b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad, transform=grid.transform)
    c0, r0 = max(math.floor(win.col_off), 0), max(math.floor(win.row_off), 0)
    c1 = min(math.ceil(win.col_off + win.width), nx)
    r1 = min(math.ceil(win.row_off + win.height), ny)
    if c1 <= c0 or r1 <= r0:
        return None
    win = Window(c0, r0, c1 - c0, r1 - r0)
    mask = geometry_mask([geom], out_shape=(int(win.height), int(win.width)),
                         transform=window_transform(win, grid.transform), all_touched=True, invert=True)
    return win, mask


def build_warnings(grid: Any, max_depth: np.ndarray, time_to_threshold: Mapping[float, np.ndarray], *,
                   roads: Any = None, grids: Any = None,
                   levels: Mapping[str, float] = DEFAULT_LEVELS) -> Any:
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

    Returns
    -------
    GeoDataFrame
        Columns ``kind`` ('road'|'grid'), ``feature_id``, ``name``, ``max_depth_m``,
        ``first_exceed_s`` (first time any of its cells reached the lowest level),
        ``level``, ``level_time_s`` (first time it reached its level), ``geometry``
        (in the forecast CRS); sorted red first, then by time. Only warned features.
    """
    import geopandas as gpd

    missing = [t for t in levels.values() if t not in time_to_threshold]
    if missing:
        raise InputError(f"no exceedance times tracked for level thresholds {missing}")
    lowest = min(levels.values())
    rank = {name: i for i, (name, _) in enumerate(sorted(levels.items(), key=lambda kv: -kv[1]))}
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
            cells = _feature_cells(geom, grid)
            if cells is None:
                continue
            win, mask = cells
            sl = win.toslices()
            d = max_depth[sl][mask]
            if d.size == 0 or not np.isfinite(d).any():
                continue
            dmax = float(np.nanmax(d))
            lvl = level_for(dmax, levels)
            if lvl is None:
                continue
            t_first = time_to_threshold[lowest][sl][mask]
            t_lvl = time_to_threshold[levels[lvl]][sl][mask]
            rows.append({
                "kind": kind,
                "feature_id": row[id_col] if id_col else idx,
                "name": row[name_col] if name_col else None,
                "max_depth_m": round(dmax, 4),
                "first_exceed_s": float(np.nanmin(t_first)) if np.isfinite(t_first).any() else float("nan"),
                "level": lvl,
                "level_time_s": float(np.nanmin(t_lvl)) if np.isfinite(t_lvl).any() else float("nan"),
                "geometry": geom,
                "_rank": rank[lvl],
            })
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in WARNING_COLUMNS}, geometry="geometry", crs=grid.crs)
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    out = out.sort_values(["_rank", "first_exceed_s"]).drop(columns="_rank").reset_index(drop=True)
    return out[WARNING_COLUMNS]
