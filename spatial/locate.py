"""The one point-in-grid / inside-district rule, in SQL and for batches.

Rule: a point (EPSG:4326) belongs to the admin unit of the wanted level whose
polygon *intersects* it (boundary included); on a shared edge the lowest id
wins. A point is inside the district when a level-1 unit intersects it.
Community and street follow the grid's parents.

The rule lives once, in SQL functions (migration 0007: ``onemap_unit_at``,
``onemap_in_district``, ``onemap_locate``) that ``onemap_intake()`` calls too;
:func:`locate_points` is its batch form in Python for bulk imports, held to
the same answers by ``tests/test_one_owner.py``.

* :func:`grid_sql` / :func:`inside_sql` / :func:`locate_sql`: SQL over any
  point expression, for statements that locate rows (intake, cameras, flood
  warnings, GPS fixes);
* :func:`grid_at` and :func:`inside_district`: one point;
* :func:`locate_points`: many points at once in Python (shapely STRtree),
  for bulk imports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

#: Admin levels (admin_unit.level).
DISTRICT, STREET, COMMUNITY, GRID = 1, 2, 3, 4


def unit_sql(point: str, level: int) -> str:
    """SQL: id of the level-``level`` unit containing ``point`` (an SQL geometry, EPSG:4326), or NULL."""
    return f"onemap_unit_at({point}, {int(level)})"


def grid_sql(point: str) -> str:
    """SQL: the grid id of ``point`` (NULL outside every grid)."""
    return unit_sql(point, GRID)


def inside_sql(point: str) -> str:
    """Boolean SQL: ``point`` lies in the district (a level-1 unit)."""
    return f"onemap_in_district({point})"


def locate_sql(point: str) -> str:
    """SQL row source ``(inside, grid_id, community_id, street_id)`` of ``point``; use in FROM."""
    return f"onemap_locate({point})"


_POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
_GRID_AT = sa.text(f"SELECT {grid_sql(_POINT)}")
_INSIDE = sa.text(f"SELECT {inside_sql(_POINT)}")


def grid_at(session: Session, lon: float, lat: float) -> int | None:
    """The grid id at (lon, lat) in EPSG:4326 degrees, or None."""
    return session.scalar(_GRID_AT, {"lon": lon, "lat": lat})


def inside_district(session: Session, lon: float, lat: float) -> bool:
    """Whether (lon, lat) in EPSG:4326 degrees lies in the district."""
    return bool(session.scalar(_INSIDE, {"lon": lon, "lat": lat}))


def _first_hit(tree_ids: np.ndarray, tree: shapely.STRtree, pts: np.ndarray) -> np.ndarray:
    """Per point, the smallest admin-unit id whose polygon intersects it (-1 if none)."""
    out = np.full(len(pts), -1, dtype=np.int64)
    if len(tree_ids) == 0 or len(pts) == 0:
        return out
    p_idx, g_idx = tree.query(pts, predicate="intersects")
    if p_idx.size == 0:
        return out
    ids = tree_ids[g_idx]
    order = np.lexsort((ids, p_idx))
    p_sorted, ids_sorted = p_idx[order], ids[order]
    first = np.r_[True, p_sorted[1:] != p_sorted[:-1]]
    out[p_sorted[first]] = ids_sorted[first]
    return out


def locate_points(session: Session, lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Vectorised locate: ``inside``, ``grid_id``, ``community_id``, ``street_id`` per point (EPSG:4326).

    The batch form of :data:`GRID_AT` / :data:`INSIDE_DISTRICT` (same rule: a
    point on a shared edge goes to the lowest id); community and street follow
    the grid's parents (a skipped level is None, as ``onemap_locate``), with
    direct lookups where the point is in no grid.
    """
    rows = session.execute(sa.text(
        "SELECT id, level, parent_id, ST_AsBinary(geom) AS wkb FROM admin_unit ORDER BY id")).all()
    units = pd.DataFrame(rows, columns=["id", "level", "parent_id", "wkb"])
    pts = shapely.points(np.c_[lon, lat])
    hits = {}
    for level in (1, 2, 3, 4):
        sub = units[units["level"] == level]
        geoms = shapely.from_wkb([bytes(w) for w in sub["wkb"]])
        shapely.prepare(geoms)
        hits[level] = _first_hit(sub["id"].to_numpy(np.int64), shapely.STRtree(geoms), pts)
    parent = pd.Series(units["parent_id"].to_numpy(), index=units["id"].to_numpy())
    level_of = pd.Series(units["level"].to_numpy(), index=units["id"].to_numpy())

    def parent_of(child: np.ndarray) -> np.ndarray:
        return pd.Series(child).map(parent).fillna(-1).to_numpy(np.int64)

    def at_level(unit: np.ndarray, want: int) -> np.ndarray:
        return np.where((pd.Series(unit).map(level_of) == want).to_numpy(), unit, -1)

    # as onemap_locate: in a grid, community = the grid's parent and street = its parent's parent, each only
    # when of that level (a skipped level stays NULL); in no grid, direct lookups
    in_grid = hits[4] >= 0
    grid_parent = parent_of(hits[4])
    community = np.where(in_grid, at_level(grid_parent, 3), hits[3])
    street = np.where(in_grid, at_level(parent_of(grid_parent), 2), hits[2])
    out = pd.DataFrame({"inside": hits[1] >= 0, "grid_id": hits[4], "community_id": community, "street_id": street})
    for col in ("grid_id", "community_id", "street_id"):
        out[col] = out[col].astype("Int64").where(out[col] >= 0)
    return out


def district_geometry(session: Session) -> shapely.Geometry | None:
    """The district (union of the level-1 units) as a shapely geometry in EPSG:4326, or None when none is loaded."""
    wkb = session.scalar(sa.text(f"SELECT ST_AsBinary(ST_Union(geom)) FROM admin_unit WHERE level = {DISTRICT}"))
    return None if wkb is None else shapely.from_wkb(bytes(wkb))
