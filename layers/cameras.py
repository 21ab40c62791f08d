"""Video points: cameras with heading and field-of-view cones (EPSG:4326)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np

from layers._common import add_rgb, categorical_colors, check_size, point_frame, point_layer, require_columns, to_wgs84

CAMERA_COLORS = {"online": (123, 44, 191), "offline": (160, 160, 160), "fault": (230, 57, 70)}
M_PER_DEG_LAT = 111_320.0


def camera_points(
    gdf: gpd.GeoDataFrame,
    *,
    max_features: int = 20_000,
    layer_id: str = "cameras",
    radius_px: float = 6.0,
) -> dict:
    """Cameras as points; a click maps ``index`` back to the row for name, heading and stream link.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Points with a CRS and columns ``id``, ``name``; optional
        ``heading_deg`` (degrees clockwise from north), ``status``,
        ``stream_url``, ``snapshot_url``.

    Returns
    -------
    dict
        deck.gl ``ScatterplotLayer`` spec with data columns ``lon, lat, id,
        name, heading, status, r, g, b``.
    """
    what = f"camera layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["id", "name"], what=what)
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    df["id"] = gdf["id"].to_numpy(dtype="int64")
    df["name"] = gdf["name"].astype(str).to_numpy()
    heading = gdf["heading_deg"] if "heading_deg" in gdf.columns else np.full(len(gdf), np.nan)
    df["heading"] = np.asarray(heading, dtype="float64")
    status = gdf["status"].astype(str) if "status" in gdf.columns else ["online"] * len(gdf)
    df["status"] = np.asarray(status, dtype=object)
    add_rgb(df, categorical_colors(list(status), CAMERA_COLORS))
    return point_layer(layer_id, df, radius=float(radius_px), line_color=[255, 255, 255])


def view_cones(
    gdf: gpd.GeoDataFrame,
    *,
    max_features: int = 20_000,
    layer_id: str = "camera_cones",
    steps: int = 8,
) -> dict:
    """Field-of-view wedges from ``heading_deg``, ``fov_deg`` (degrees) and ``range_m`` (metres).

    Cameras without a heading are skipped. The wedge is computed on a local
    equirectangular approximation (error < 0.1 % over 100 m).
    """
    what = f"camera cone layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["heading_deg"], what=what)
    gdf = to_wgs84(gdf, what=what)
    polys = []
    for _, row in gdf.iterrows():
        h = row["heading_deg"]
        if h is None or not np.isfinite(h):
            continue
        fov = float(row.get("fov_deg") or 60.0)
        rng = float(row.get("range_m") or 80.0)
        x0, y0 = row.geometry.x, row.geometry.y
        k = M_PER_DEG_LAT * math.cos(math.radians(y0))
        ring = [[x0, y0]]
        for a in np.linspace(h - fov / 2, h + fov / 2, steps + 1):
            t = math.radians(a)
            ring.append([x0 + rng * math.sin(t) / k, y0 + rng * math.cos(t) / M_PER_DEG_LAT])
        ring.append([x0, y0])
        polys.append({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    # inline GeoJSON, not a list of records: Panel would turn equal-length rings into a 3-D array column
    return {
        "@@type": "GeoJsonLayer",
        "id": layer_id,
        "data": {"type": "FeatureCollection", "features": polys},
        "filled": True,
        "stroked": True,
        "getFillColor": [123, 44, 191, 60],
        "getLineColor": [123, 44, 191, 160],
        "lineWidthMinPixels": 1,
        "pickable": False,
    }


def tooltip() -> dict:
    return {"html": "<b>{name}</b><br/>heading {heading}&deg; ({status})"}
