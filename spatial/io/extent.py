"""A district boundary from the extent of data files (``onemap district extent``).

For districts whose official boundary is not at hand (the shared data has
none for Shanghai Bund–Lujiazui or central Los Angeles), the level-1 unit is
the bounding box (or convex hull) of every geometry in one or more files,
widened by a margin in metres. The box is built in the UTM zone of the data's
centroid (metres), stored in EPSG:4326, and written through the one
admin-unit import path (:func:`spatial.io.files.load_frame`), so the same
checks, area and parent rules apply as to an imported boundary file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from sqlalchemy.orm import Session

from spatial.errors import ImportDataError
from spatial.io.files import load_frame
from spatial.io.read import prepare_frame, read_source
from spatial.io.spec import ImportOptions

SHAPES = ("bbox", "hull")


def data_geometries(paths: Sequence[str | Path], *, lon: str | None = None, lat: str | None = None,
                    src_crs: str | None = None) -> gpd.GeoSeries:
    """Every non-empty geometry of ``paths`` (GeoJSON/GeoPackage/Shapefile/CSV with lon/lat), EPSG:4326.

    Rows without coordinates are ignored (they have no extent); a file with no
    geometry at all, or without a CRS and no ``src_crs``, is refused.
    """
    parts = []
    for path in paths:
        gdf = read_source(path, table="ticket", lon=lon, lat=lat, src_crs=src_crs)
        if gdf.crs is None:
            raise ImportDataError(f"{Path(path).name} declares no CRS: name it with --crs (e.g. EPSG:4326).")
        geoms = gdf.geometry[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        if geoms.empty:
            raise ImportDataError(f"{Path(path).name} has no geometry: nothing to take an extent from.")
        parts.append(geoms.to_crs(4326))
    return gpd.GeoSeries(pd.concat(parts, ignore_index=True), crs=4326)


def extent_polygon(geoms: gpd.GeoSeries, *, margin_m: float = 200.0, shape: str = "bbox") -> shapely.Polygon:
    """The bounding box (``bbox``) or convex hull (``hull``) of ``geoms`` plus ``margin_m`` metres, EPSG:4326.

    The box is axis-aligned in the UTM zone of the centroid, so its sides are
    straight lines in metres; it is densified before going back to degrees.
    """
    if shape not in SHAPES:
        raise ImportDataError(f"Unknown extent shape {shape!r}; use one of {', '.join(SHAPES)}.")
    if not np.isfinite(margin_m) or margin_m < 0 or margin_m > 50_000:
        raise ImportDataError(f"--margin must be between 0 and 50000 metres, not {margin_m}.")
    from spatial.profile import utm_srid

    b = geoms.total_bounds
    srid = utm_srid((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    metric = geoms.to_crs(CRS.from_epsg(srid))
    if shape == "bbox":
        poly = shapely.box(*metric.total_bounds)
        poly = poly.buffer(margin_m, join_style="mitre") if margin_m else poly
    else:
        poly = shapely.convex_hull(shapely.union_all(metric.to_numpy()))
        poly = poly.buffer(max(margin_m, 1.0))  # a hull of points on a line still gets an area
    if poly.area < 1.0:
        raise ImportDataError("The data's extent has no area (a single point?): give --margin in metres.")
    poly = shapely.segmentize(poly, 100.0)
    return gpd.GeoSeries([poly], crs=srid).to_crs(4326).iloc[0]


def district_from_extent(session: Session, paths: Sequence[str | Path], *, code: str, name: str,
                         margin_m: float = 200.0, shape: str = "bbox", lon: str | None = None,
                         lat: str | None = None, src_crs: str | None = None) -> dict:
    """Write (or replace, by ``code``) the level-1 unit covering the data of ``paths``; flushes only.

    Returns ``code``, ``area_km2``, ``bounds`` (W, S, E, N degrees) and ``features`` (geometries seen).
    """
    geoms = data_geometries(paths, lon=lon, lat=lat, src_crs=src_crs)
    poly = extent_polygon(geoms, margin_m=margin_m, shape=shape)
    gdf = gpd.GeoDataFrame({"code": [code], "name": [name], "level": ["district"]}, geometry=[poly], crs=4326)
    frame = prepare_frame(gdf, "admin_unit", options=ImportOptions())
    load_frame(session, frame, "admin_unit", mode="upsert", source="extent")
    area = gpd.GeoSeries([poly], crs=4326).to_crs(gpd.GeoSeries([poly], crs=4326).estimate_utm_crs()).area.iat[0]
    return {"code": code, "area_km2": round(float(area) / 1e6, 3),
            "bounds": [round(float(v), 6) for v in poly.bounds], "features": len(geoms)}
