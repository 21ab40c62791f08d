"""Rows outside the district on import: leave them out (``skip``) or cut them to the boundary (``clip``).

Rule (EPSG:4326; shares are taken in degrees, which is exact enough for a
ratio inside one district): a point belongs to the district when it lies in
it (boundary included, as :mod:`spatial.locate`); a polygon or line when more
than half of it (area, length) lies inside. ``clip`` cuts polygons that
belong to the boundary (the slivers of neighbouring units that only touch it
are left out) and keeps the inside part of every line that has one.
"""

from __future__ import annotations

import numpy as np
import shapely

from spatial.geometry import keep_family, multi_of

#: share of a polygon/line that must lie inside the district for it to belong to it
MIN_INSIDE = 0.5


def inside_share(geoms: np.ndarray, district: shapely.Geometry) -> np.ndarray:
    """Per geometry (EPSG:4326; None gives NaN): the share of it inside ``district`` (0-1; points 0 or 1)."""
    out = np.full(len(geoms), np.nan)
    has = np.array([g is not None for g in geoms], dtype=bool)
    if not has.any():
        return out
    g = geoms[has]
    shapely.prepare(district)
    hit = shapely.intersects(district, g)
    share = np.zeros(len(g))
    kinds = shapely.get_dimensions(g)
    whole = hit & shapely.contains_properly(district, g)
    share[whole] = 1.0
    part = hit & ~whole
    for i in np.flatnonzero(part):
        if kinds[i] == 0:
            share[i] = 1.0
        elif kinds[i] == 1:
            share[i] = shapely.length(shapely.intersection(g[i], district)) / max(shapely.length(g[i]), 1e-300)
        else:
            share[i] = shapely.area(shapely.intersection(g[i], district)) / max(shapely.area(g[i]), 1e-300)
    out[has] = share
    return out


def outside_rows(geoms: np.ndarray, district: shapely.Geometry, family: str, *,
                 clip: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows to leave out and the geometries to load.

    Returns ``(reasons, geoms)``: a reason per row left out (None otherwise)
    and the geometries, cut to ``district`` when ``clip`` (MultiLineString /
    MultiPolygon for lines / polygons).
    """
    share = inside_share(geoms, district)
    geoms = geoms.copy()
    reasons = np.full(len(geoms), None, dtype=object)
    has = ~np.isnan(share)
    belongs = has & ((share > MIN_INSIDE) | ((share > 0) & clip & (family == "line")))
    for i in np.flatnonzero(has & ~belongs):
        reasons[i] = (f"outside the district ({share[i]:.0%} inside)" if family != "point"
                      else "outside the district")
    if clip and family in ("line", "polygon"):
        for i in np.flatnonzero(belongs & (share < 1.0)):
            cut = keep_family(shapely.intersection(geoms[i], district), family)
            if cut is None:
                reasons[i] = "outside the district (nothing left after clipping)"
            else:
                geoms[i] = multi_of(cut, family)
    return reasons, geoms
