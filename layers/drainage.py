"""The drainage pipe network: conduits as lines (width by size) and manholes/outfalls as points."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd

from layers._common import MAX_POLYGONS, check_size, require_columns, to_wgs84

PIPE_COLOR = (121, 85, 72, 210)
NODE_COLORS = {"junction": (93, 64, 55, 230), "outfall": (0, 131, 143, 255)}


def pipe_network(conduits: gpd.GeoDataFrame, nodes: gpd.GeoDataFrame | None = None, *,
                 layer_id: str = "drainage", max_features: int = MAX_POLYGONS) -> dict:
    """deck.gl ``GeoJsonLayer`` of the pipes (``name``, ``size_m``; 1 px per 0.5 m, at least 1 px) and
    the nodes (``name``, ``kind`` junction|outfall; outfalls larger and teal). Any CRS in, EPSG:4326 out."""
    what = f"drainage layer {layer_id!r}"
    check_size(len(conduits) + (len(nodes) if nodes is not None else 0), max_features, what=what)
    require_columns(conduits, ["name", "size_m"], what=what)
    pipes = to_wgs84(conduits, what=what)
    size = pipes["size_m"].astype(float).to_numpy()
    parts = [gpd.GeoDataFrame({"name": pipes["name"].astype(str).to_numpy(), "kind": "conduit",
                               "size": np.round(size, 2), "width": np.maximum(1.0, size * 2.0),
                               "color": [list(PIPE_COLOR)] * len(pipes)}, geometry=pipes.geometry.to_numpy(),
                              crs="EPSG:4326")]
    if nodes is not None and len(nodes):
        require_columns(nodes, ["name", "kind"], what=what)
        pts = to_wgs84(nodes, what=what)
        parts.append(gpd.GeoDataFrame({"name": pts["name"].astype(str).to_numpy(),
                                       "kind": pts["kind"].astype(str).to_numpy(), "size": np.nan,
                                       "width": np.where(pts["kind"] == "outfall", 5.0, 2.0),
                                       "color": [list(NODE_COLORS.get(k, (90, 90, 90, 220))) for k in pts["kind"]]},
                                      geometry=pts.geometry.to_numpy(), crs="EPSG:4326"))
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    return {
        "@@type": "GeoJsonLayer",
        "id": layer_id,
        "data": json.loads(out.to_json(drop_id=True, na="null")),
        "stroked": True,
        "filled": True,
        "getLineColor": "@@=properties.color",
        "getFillColor": "@@=properties.color",
        "getLineWidth": "@@=properties.width",
        "lineWidthUnits": "pixels",
        "getPointRadius": "@@=properties.width",
        "pointRadiusUnits": "pixels",
        "pickable": True,
    }


def tooltip() -> dict:
    """Tooltip of :func:`pipe_network` (name, kind, size)."""
    return {"html": "<b>{properties.name}</b> ({properties.kind})<br/>size {properties.size} m"}
