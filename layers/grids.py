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
import pandas as pd
import shapely

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


def outlines(
    parts: Sequence[tuple[gpd.GeoDataFrame, Sequence[int], float]],
    *,
    layer_id: str = "boundaries",
    decimals: int = 6,
    max_features: int = MAX_POLYGONS,
) -> dict:
    """Outlines of several polygon sets in ONE light, non-pickable ``LineLayer`` (drawn in the order given).

    Much cheaper to draw than one :func:`boundaries` layer per set under
    software WebGL (SwiftShader), where every redraw pays per vertex: the
    outlines become straight segments (LineLayer: one quad each, no path
    joints), edges shared by neighbouring polygons are drawn once, and all
    sets share one draw call. Coordinates are rounded to ``decimals``
    (6 = ~0.1 m); the data is numeric columns (binary transfer in Panel).

    Parameters
    ----------
    parts : sequence of (GeoDataFrame, RGBA colour, width in pixels)
        Polygons with a CRS, each set with its line colour and width.

    Returns
    -------
    dict
        deck.gl ``LineLayer`` spec; data columns ``x0, y0, x1, y1, r, g, b, a, w``.
    """
    frames = []
    for i, (gdf, color, width_px) in enumerate(parts):
        what = f"outline set {i} of {layer_id!r}"
        check_size(len(gdf), max_features, what=what)
        gdf = to_wgs84(gdf, what=what)
        rings = [shapely.transform(g, lambda xy: np.round(xy, decimals))
                 for g in gdf.geometry.boundary if g is not None and not g.is_empty]
        if not rings:
            continue
        net = shapely.line_merge(shapely.unary_union(rings))  # shared edges once
        xy0, xy1 = [], []
        for line in shapely.get_parts(net):
            c = shapely.get_coordinates(line)
            xy0.append(c[:-1])
            xy1.append(c[1:])
        a, b = np.concatenate(xy0), np.concatenate(xy1)
        df = pd.DataFrame({"x0": a[:, 0], "y0": a[:, 1], "x1": b[:, 0], "y1": b[:, 1]})
        r, g, bl, al = ([int(c) for c in color] + [255])[:4]
        df["r"], df["g"], df["b"], df["a"] = (np.full(len(df), v, dtype="uint8") for v in (r, g, bl, al))
        df["w"] = np.full(len(df), float(width_px), dtype="float32")
        frames.append(df)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c: np.empty(0) for c in ("x0", "y0", "x1", "y1", "r", "g", "b", "a", "w")})
    df[f"_{layer_id}"] = np.zeros(len(df), dtype="uint8")  # unique column set: Panel matches sources by columns
    return {
        "@@type": "LineLayer",
        "id": layer_id,
        "data": df,
        "getSourcePosition": "@@=[x0, y0]",
        "getTargetPosition": "@@=[x1, y1]",
        "getColor": "@@=[r, g, b, a]",
        "getWidth": "@@=w",
        "widthUnits": "pixels",
        "pickable": False,
    }


def tooltip(value_label: str = "value") -> dict:
    """Per-layer tooltip template for :func:`grid_choropleth`."""
    return {"html": f"<b>{{properties.name}}</b><br/>{value_label}: {{properties.value}}"}
