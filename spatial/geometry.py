"""Geometry families (point, line, polygon): the part of a geometry of one family, and its multi form.

Used by import (``make_valid`` results, clipping to the district) and the
grid generator; coordinates are untouched (any CRS).
"""

from __future__ import annotations

import shapely

#: family -> the geometry types it accepts
FAMILY = {"point": ("Point", "MultiPoint"), "line": ("LineString", "MultiLineString"),
          "polygon": ("Polygon", "MultiPolygon")}


def multi_of(g: shapely.Geometry, family: str) -> shapely.Geometry:
    """``g`` as a MultiLineString/MultiPolygon (``family`` line/polygon); already multi ones unchanged."""
    if family == "line" and g.geom_type == "LineString":
        return shapely.multilinestrings([g])
    if family == "polygon" and g.geom_type == "Polygon":
        return shapely.multipolygons([g])
    return g


def keep_family(g: shapely.Geometry, family: str) -> shapely.Geometry | None:
    """The ``family`` (point/line/polygon) part of ``g`` (e.g. of a GeometryCollection), or None."""
    want = FAMILY[family]
    parts = [p for p in shapely.get_parts(g) if p.geom_type in want and not p.is_empty]
    if g.geom_type == "GeometryCollection" or len(parts) != shapely.get_num_geometries(g):
        parts = [q for p in shapely.get_parts(g) for q in shapely.get_parts(p) if q.geom_type in want]
    if not parts:
        return None
    if family == "polygon":
        return shapely.multipolygons([q for p in parts for q in shapely.get_parts(p)])
    if family == "line":
        return shapely.multilinestrings([q for p in parts for q in shapely.get_parts(p)])
    return parts[0]
