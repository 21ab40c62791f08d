"""Incidents on the map: impact zones coloured by level, and the resources mobilised (EPSG:4326)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd

from layers._common import MAX_POLYGONS, add_rgb, check_size, point_frame, point_layer, require_columns, to_wgs84

#: Fill colour of an incident zone by level 1..4 (RGB).
LEVEL_COLORS = {1: (241, 196, 15), 2: (230, 126, 34), 3: (214, 39, 40), 4: (128, 0, 38)}
#: Resource marker colours (RGB) by kind.
RESOURCE_COLORS = {"worker": (31, 119, 180), "equipment": (44, 160, 44), "shelter": (148, 103, 189)}


def incident_zones(gdf: gpd.GeoDataFrame, *, layer_id: str = "incidents", max_features: int = MAX_POLYGONS,
                   selected_id: int | None = None) -> dict:
    """Impact zones (polygons) filled by ``level`` (1-4), the ``selected_id`` one outlined thick.

    ``gdf`` needs ``id``, ``level``, ``title`` and optional ``progress`` (0..1) and ``status`` columns
    (any CRS). Properties for the tooltip: ``title``, ``level``, ``progress`` (percent), ``status``.
    """
    what = f"incident layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["id", "level", "title"], what=what)
    gdf = to_wgs84(gdf, what=what)
    levels = gdf["level"].astype(int).clip(1, 4).to_numpy() if len(gdf) else np.empty(0, int)
    progress = (gdf["progress"].astype(float).to_numpy() if "progress" in gdf.columns
                else np.zeros(len(gdf)))
    out = gpd.GeoDataFrame({
        "id": gdf["id"].astype(int).to_numpy(),
        "title": gdf["title"].astype(str).to_numpy(),
        "level": levels,
        "status": gdf["status"].astype(str).to_numpy() if "status" in gdf.columns else np.full(len(gdf), "open"),
        "progress": np.round(progress * 100).astype(int),
        "fill": [[*LEVEL_COLORS[int(lv)], 70] for lv in levels],
        "line": [[*LEVEL_COLORS[int(lv)], 230] for lv in levels],
        "width": [4 if selected_id is not None and int(i) == selected_id else 2 for i in gdf["id"]],
    }, geometry=gdf.geometry.to_numpy(), crs="EPSG:4326")
    return {
        "@@type": "GeoJsonLayer",
        "id": layer_id,
        "data": json.loads(out.to_json(drop_id=True, na="null")),
        "filled": True,
        "stroked": True,
        "getFillColor": "@@=properties.fill",
        "getLineColor": "@@=properties.line",
        "getLineWidth": "@@=properties.width",
        "lineWidthUnits": "pixels",
        "pickable": True,
    }


def resource_points(gdf: gpd.GeoDataFrame, *, layer_id: str = "resources", max_features: int = 5_000) -> dict:
    """Resources near an incident: ``kind`` worker / equipment / shelter, with a ``label`` for the tooltip."""
    what = f"resource layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, ["kind", "label"], what=what)
    gdf = to_wgs84(gdf, what=what)
    df = point_frame(gdf, layer_id=layer_id)
    df["kind"] = gdf["kind"].astype(str).to_numpy()
    df["label"] = gdf["label"].astype(str).to_numpy()
    rgb = np.array([RESOURCE_COLORS.get(k, (90, 90, 90)) for k in df["kind"]], dtype="uint8").reshape(-1, 3)
    return point_layer(layer_id, add_rgb(df, rgb), radius=7, line_color=[255, 255, 255])


def tooltip() -> dict:
    return {"html": "<b>{title}</b><br/>level {level}, tasks {progress}% closed ({status})"}


def resource_tooltip() -> dict:
    return {"html": "<b>{kind}</b><br/>{label}"}


def frame(records: list[dict]) -> gpd.GeoDataFrame:
    """A GeoDataFrame (EPSG:4326) of incident records with GeoJSON ``zone`` (else ``geometry``) dicts."""
    from shapely.geometry import shape

    if not records:
        return gpd.GeoDataFrame({"id": [], "level": [], "title": [], "progress": [], "status": []}, geometry=[],
                                crs="EPSG:4326")
    df = pd.DataFrame([{k: r.get(k) for k in ("id", "level", "title", "progress", "status")} for r in records])
    return gpd.GeoDataFrame(df, geometry=[shape(r.get("zone") or r["geometry"]) for r in records], crs="EPSG:4326")
