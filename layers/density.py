"""Ticket density: client-side hexagons/heatmap for small sets, server-side bins for large ones.

For more than ~100k tickets aggregate in PostGIS (``spatial.maps.mapdata``) and
draw the bins with :func:`bin_columns`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from layers._common import MAX_POINTS, add_rgb, check_size, point_frame, ramp_colors, require_columns, to_wgs84
from layers.errors import LayerError


def hexagon_density(
    gdf: gpd.GeoDataFrame,
    *,
    radius_m: float = 250.0,
    extruded: bool = True,
    elevation_scale: float = 20.0,
    max_features: int = MAX_POINTS,
    layer_id: str = "density",
) -> dict:
    """deck.gl ``HexagonLayer`` aggregating points in the browser.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points with a CRS (reprojected to EPSG:4326).
    radius_m : float
        Hexagon radius, metres.
    elevation_scale : float
        Metres of height per point in a bin.
    """
    what = f"density layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    if radius_m <= 0:
        raise LayerError(f"{what}: radius_m must be positive")
    gdf = to_wgs84(gdf, what=what)
    return {
        "@@type": "HexagonLayer",
        "id": layer_id,
        "data": point_frame(gdf, layer_id=layer_id),
        "getPosition": "@@=[lon, lat]",
        "radius": float(radius_m),
        "extruded": bool(extruded),
        "elevationScale": float(elevation_scale),
        "coverage": 0.9,
        "pickable": True,
        "colorRange": [[255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60], [240, 59, 32],
                       [189, 0, 38]],
    }


def heatmap(
    gdf: gpd.GeoDataFrame,
    *,
    weight: str | None = None,
    radius_px: float = 30.0,
    max_features: int = MAX_POINTS,
    layer_id: str = "heatmap",
) -> dict:
    """deck.gl ``HeatmapLayer`` of points (optional ``weight`` column)."""
    what = f"heatmap layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    if weight is not None:
        require_columns(gdf, [weight], what=what)
        df["w"] = gdf[weight].to_numpy(dtype="float32")
    else:
        df["w"] = np.ones(len(df), dtype="float32")
    return {
        "@@type": "HeatmapLayer",
        "id": layer_id,
        "data": df,
        "getPosition": "@@=[lon, lat]",
        "getWeight": "@@=w",
        "radiusPixels": float(radius_px),
        "aggregation": "SUM",
    }


def bin_columns(
    gdf: gpd.GeoDataFrame,
    *,
    value: str = "n",
    cell_m: float,
    hexagon: bool = True,
    extruded: bool = True,
    max_height_m: float = 1500.0,
    max_features: int = MAX_POINTS,
    ramp: str = "YlOrRd",
    layer_id: str = "bins",
) -> dict:
    """Pre-aggregated bins (from PostGIS) as a 3D ``ColumnLayer``.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        One point per bin centre with a CRS and a count column ``value``.
    cell_m : float
        Bin size, metres (hexagon: centre-to-centre spacing; square: side).
    hexagon : bool
        Draw hexagonal (6-sided) or square (4-sided) columns.
    max_height_m : float
        Height of the fullest bin, metres.

    Returns
    -------
    dict
        deck.gl ``ColumnLayer`` spec; data columns ``lon, lat, n, h, r, g, b``.
    """
    what = f"bin layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, [value], what=what)
    if cell_m <= 0:
        raise LayerError(f"{what}: cell_m must be positive")
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    n = gdf[value].to_numpy(dtype="float64")
    df["n"] = n
    top = float(n.max()) if len(n) else 0.0
    df["h"] = (n / top * max_height_m if top > 0 else np.zeros(len(n))).astype("float32")
    add_rgb(df, ramp_colors(n, ramp=ramp, vmin=0, vmax=top or 1))
    # hexagon radius (centre to vertex) for centre spacing cell_m is cell_m / sqrt(3)
    radius = cell_m / np.sqrt(3) if hexagon else cell_m / np.sqrt(2)
    return {
        "@@type": "ColumnLayer",
        "id": layer_id,
        "data": df,
        "diskResolution": 6 if hexagon else 4,
        "angle": 0 if hexagon else 45,
        "radius": float(radius),
        "coverage": 0.92,
        "extruded": bool(extruded),
        "getPosition": "@@=[lon, lat]",
        "getFillColor": "@@=[r, g, b]",
        "getElevation": "@@=h",
        "pickable": True,
        "autoHighlight": True,
    }


def tooltip() -> dict:
    return {"html": "{n} tickets"}
