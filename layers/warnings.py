"""Flood warnings (roads and grids at risk) coloured by level (EPSG:4326 GeoJsonLayer)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np

from layers._common import MAX_POLYGONS, check_size, require_columns, to_wgs84

LEVEL_COLORS = {"yellow": (241, 196, 15), "orange": (230, 126, 34), "red": (192, 57, 43)}


def warning_features(
    gdf: gpd.GeoDataFrame,
    *,
    max_features: int = MAX_POLYGONS,
    layer_id: str = "warnings",
    line_width_px: float = 4.0,
) -> dict:
    """Warned roads (lines) and grids (polygon outlines) coloured by warning level.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        As produced by ``flood_model`` (columns ``kind``, ``name``,
        ``max_depth_m``, ``level``; any CRS).

    Returns
    -------
    dict
        deck.gl ``GeoJsonLayer`` (properties ``name``, ``kind``, ``level``,
        ``depth`` metres, ``color`` RGBA).
    """
    what = f"warning layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["kind", "level"], what=what)
    gdf = to_wgs84(gdf, what=what)
    out = gpd.GeoDataFrame({
        "name": gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else np.full(len(gdf), ""),
        "kind": gdf["kind"].astype(str).to_numpy(),
        "level": gdf["level"].astype(str).to_numpy(),
        "depth": (gdf["max_depth_m"].astype(float).round(2).to_numpy() if "max_depth_m" in gdf.columns
                  else np.full(len(gdf), np.nan)),
        "color": [[*LEVEL_COLORS.get(lv, (128, 128, 128)), 230] for lv in gdf["level"]],
    }, geometry=gdf.geometry.to_numpy(), crs="EPSG:4326")
    return {
        "@@type": "GeoJsonLayer",
        "id": layer_id,
        "data": json.loads(out.to_json(drop_id=True, na="null")),
        "filled": False,
        "stroked": True,
        "getLineColor": "@@=properties.color",
        "lineWidthMinPixels": float(line_width_px),
        "pickable": True,
    }


def tooltip() -> dict:
    return {"html": "<b>{properties.name}</b> ({properties.kind})<br/>"
                    "{properties.level} warning, max {properties.depth} m"}
