"""3D buildings: extruded footprints (EPSG:4326 GeoJsonLayer)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np

from layers._common import MAX_POLYGONS, check_size, to_wgs84
from layers.errors import LayerError


def buildings_3d(
    gdf: gpd.GeoDataFrame,
    *,
    height: str = "height_m",
    default_height_m: float = 12.0,
    max_features: int = MAX_POLYGONS,
    layer_id: str = "buildings",
    color: tuple[int, int, int] = (200, 200, 215),
) -> dict:
    """Building footprints extruded to their height.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Polygons with a CRS; column ``height`` in metres (missing/NaN ->
        ``default_height_m``).
    max_features : int
        Refuse larger inputs (load buildings for the visible area only).

    Returns
    -------
    dict
        deck.gl ``GeoJsonLayer`` with ``properties.h`` (metres).
    """
    what = f"building layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    gdf = to_wgs84(gdf, what=what)
    if len(gdf) and not gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise LayerError(f"{what}: expected polygon geometries")
    h = gdf[height].to_numpy(dtype="float64") if height in gdf.columns else np.full(len(gdf), np.nan)
    h = np.where(np.isfinite(h) & (h > 0), h, default_height_m)
    out = gpd.GeoDataFrame({"h": np.round(h, 1)}, geometry=gdf.geometry.to_numpy(), crs=gdf.crs)
    return {
        "@@type": "GeoJsonLayer",
        "id": layer_id,
        "data": json.loads(out.to_json(drop_id=True)),
        "extruded": True,
        "filled": True,
        "wireframe": False,
        "getElevation": "@@=properties.h",
        "getFillColor": [*color, 230],
        "material": True,
        "pickable": False,
    }
