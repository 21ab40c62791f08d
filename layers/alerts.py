"""Active alerts (sensor alarms, flood warnings, camera events) as points by level (EPSG:4326)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from layers._common import add_rgb, categorical_colors, check_size, point_frame, point_layer, require_columns, to_wgs84

#: Colour per alert level.
LEVEL_COLORS = {"yellow": (255, 214, 10), "orange": (255, 140, 0), "red": (255, 40, 60), "offline": (140, 140, 140)}
#: Radius (pixels) per level: red alerts stand out on a wall across the room.
LEVEL_RADIUS = {"yellow": 7.0, "orange": 9.0, "red": 14.0, "offline": 5.0}


def alert_points(gdf: gpd.GeoDataFrame, *, max_features: int = 10_000, layer_id: str = "alerts",
                 scale: float = 1.0) -> dict:
    """Alerts coloured and sized by level; ``scale`` multiplies the radii (large displays).

    ``gdf``: points with a CRS and columns ``id``, ``level``, ``source`` (text), ``message``.
    Returns a deck.gl ``ScatterplotLayer``; data columns ``lon, lat, id, level, source, message, rad, r, g, b``.
    """
    what = f"alert layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["id", "level"], what=what)
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    df["id"] = gdf["id"].to_numpy(dtype="int64")
    level = gdf["level"].astype(str).to_numpy()
    df["level"] = level
    df["source"] = gdf["source"].astype(str).to_numpy() if "source" in gdf.columns else ""
    df["message"] = gdf["message"].astype(str).str.slice(0, 120).to_numpy() if "message" in gdf.columns else ""
    df["rad"] = np.array([LEVEL_RADIUS.get(v, 6.0) * scale for v in level], dtype="float64")
    add_rgb(df, categorical_colors(list(level), LEVEL_COLORS))
    # drawn over everything (no depth test): an alert inside an extruded grid or behind a building stays visible
    return point_layer(layer_id, df, radius="@@=rad", line_color=[255, 255, 255], lineWidthMinPixels=2,
                       parameters={"depthCompare": "always"})


def tooltip() -> dict:
    return {"html": "<b>{level}</b> {source}<br/>{message}"}
