"""Admin polygons: grid choropleth (optionally extruded) and boundary outlines.

Input polygons may be in any CRS (reprojected to EPSG:4326); output is a
deck.gl ``GeoJsonLayer`` dict with the GeoJSON inline (a district has a few
hundred grids, well below the size where a URL/tile source would pay off).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import geopandas as gpd
import numpy as np

from layers._common import MAX_POLYGONS, check_size, ramp_colors, require_columns, to_wgs84
from layers.errors import LayerError


def _feature_collection(gdf: gpd.GeoDataFrame, columns: Sequence[str]) -> dict:
    keep = [c for c in columns if c in gdf.columns]
    return json.loads(gdf[[*keep, gdf.geometry.name]].to_json(drop_id=True))


def grid_choropleth(
    gdf: gpd.GeoDataFrame,
    *,
    value: str,
    extruded: bool = False,
    max_features: int = MAX_POLYGONS,
    ramp: str = "YlOrRd",
    vmin: float | None = None,
    vmax: float | None = None,
    reverse: bool = False,
    max_height_m: float = 1500.0,
    opacity: float = 0.75,
    layer_id: str = "grids",
    label_columns: Sequence[str] = ("id", "code", "name"),
) -> dict:
    """Grid polygons coloured (and optionally extruded) by a numeric column.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Polygons with a CRS and a numeric column ``value``.
    value : str
        Column to map (e.g. ``open``, ``overdue``, ``score``); NaN is grey.
    extruded : bool
        Extrude each polygon to ``value / vmax * max_height_m`` metres.
    max_features : int
        Refuse larger inputs (:class:`~layers.errors.LayerError`).
    ramp, vmin, vmax, reverse
        Colour mapping, see :func:`layers._common.ramp_colors`.
    max_height_m : float
        Extrusion height of the largest value, metres.
    opacity : float
        Layer opacity 0-1.
    layer_id : str
        deck.gl layer id (``click_state['layer']``).
    label_columns : sequence of str
        Extra columns kept in feature properties (for tooltips and clicks).

    Returns
    -------
    dict
        deck.gl ``GeoJsonLayer`` spec; properties carry ``value``, ``fill``
        ([r, g, b, a]) and ``elev`` (metres).
    """
    what = f"grid layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    require_columns(gdf, [value], what=what)
    gdf = to_wgs84(gdf, what=what)
    if len(gdf) and not gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise LayerError(f"{what}: expected polygon geometries")
    vals = gdf[value].to_numpy(dtype="float64")
    rgb = ramp_colors(vals, ramp=ramp, vmin=vmin, vmax=vmax, reverse=reverse)
    top = vmax if vmax is not None else (np.nanmax(vals) if np.isfinite(vals).any() else 0.0)
    elev = np.where(np.isfinite(vals), np.clip(vals, 0, None) / top * max_height_m if top > 0 else 0.0, 0.0)
    out = gdf.copy()
    out["value"] = np.where(np.isfinite(vals), np.round(vals, 3), None)
    out["fill"] = [[int(r), int(g), int(b), 255] for r, g, b in rgb]
    out["elev"] = np.round(elev, 1)
    fc = _feature_collection(out, [*label_columns, "value", "fill", "elev"])
    return {
        "@@type": "GeoJsonLayer",
        "id": layer_id,
        "data": fc,
        "filled": True,
        "stroked": True,
        "extruded": bool(extruded),
        "wireframe": bool(extruded),
        "opacity": float(opacity),
        "getFillColor": "@@=properties.fill",
        "getLineColor": [60, 60, 60, 200],
        "getElevation": "@@=properties.elev",
        "lineWidthMinPixels": 1,
        "pickable": True,
        "autoHighlight": True,
    }


def boundaries(
    gdf: gpd.GeoDataFrame,
    *,
    layer_id: str = "streets",
    color: Sequence[int] = (30, 30, 30, 230),
    width_px: float = 2.0,
    max_features: int = MAX_POLYGONS,
    pickable: bool = False,
    label_columns: Sequence[str] = ("id", "code", "name"),
) -> dict:
    """Outlines of street/community polygons (no fill), in EPSG:4326.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Polygons with a CRS.
    color : sequence of int
        RGBA 0-255 line colour.
    width_px : float
        Minimum line width, pixels.

    Returns
    -------
    dict
        deck.gl ``GeoJsonLayer`` spec.
    """
    what = f"boundary layer {layer_id!r}"
    check_size(len(gdf), max_features, what=what)
    gdf = to_wgs84(gdf, what=what)
    return {
        "@@type": "GeoJsonLayer",
        "id": layer_id,
        "data": _feature_collection(gdf, label_columns),
        "filled": pickable,  # a transparent fill makes the whole area clickable
        "getFillColor": [0, 0, 0, 0],
        "stroked": True,
        "getLineColor": [int(c) for c in color],
        "lineWidthMinPixels": float(width_px),
        "pickable": pickable,
    }


def tooltip(value_label: str = "value") -> dict:
    """Per-layer tooltip template for :func:`grid_choropleth`."""
    return {"html": f"<b>{{properties.name}}</b><br/>{value_label}: {{properties.value}}"}
