"""Shared plumbing for layer builders: size limits, reprojection, colours, specs.

Every builder returns a plain deck.gl JSON layer dict that Panel's
``DeckGL`` pane accepts inside a dict spec. Rules learnt the hard way
(``research/frontend.md``):

* tabular data goes as a numeric ``DataFrame`` (sent as binary columns);
* each layer's DataFrame gets a unique column set (a constant ``_<id>``
  column) so Panel never swaps data sources between layers;
* accessor strings must start with ``@@=``; literal strings that deck.gl
  must not evaluate (image URLs) are plain values in a dict spec;
* the whole deck uses ``"mapStyle": None`` (no base map, works offline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.errors import LayerError

WGS84 = "EPSG:4326"

#: Default per-layer row limits (the browser turns every row into a JS object).
MAX_POINTS = 100_000
MAX_POLYGONS = 20_000

#: Colour ramps as control points (RGB 0-255), light to dark.
RAMPS: dict[str, np.ndarray] = {
    "YlOrRd": np.array([[255, 255, 204], [254, 217, 118], [253, 141, 60], [227, 26, 28], [128, 0, 38]]),
    "Blues": np.array([[222, 235, 247], [158, 202, 225], [66, 146, 198], [8, 81, 156], [8, 48, 107]]),
    "Greens": np.array([[229, 245, 224], [161, 217, 155], [65, 171, 93], [0, 109, 44], [0, 68, 27]]),
    "Viridis": np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]),
    # green (good) -> red (bad), for scores where high is good use reverse=True
    "RdYlGn": np.array([[215, 48, 39], [252, 141, 89], [254, 224, 139], [145, 207, 96], [26, 152, 80]]),
}


def check_size(n: int, max_features: int, *, what: str) -> None:
    """Refuse more than ``max_features`` rows with a message a user can act on."""
    if max_features <= 0:
        raise LayerError(f"max_features must be positive, got {max_features}")
    if n > max_features:
        raise LayerError(
            f"{what}: {n:,} features is more than this layer draws ({max_features:,}); "
            "aggregate on the server (per grid or hex bins) or zoom in / narrow the time window."
        )


def to_wgs84(gdf: gpd.GeoDataFrame, *, what: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 (lon/lat degrees); refuse a frame without a CRS."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise LayerError(f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise LayerError(f"{what}: the GeoDataFrame has no CRS; set it (e.g. gdf.set_crs('EPSG:4326')) first")
    if gdf.crs.to_epsg() == 4326:
        return gdf
    return gdf.to_crs(WGS84)


def require_columns(df: pd.DataFrame, columns: Sequence[str], *, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LayerError(f"{what}: missing column(s) {', '.join(missing)}")


def ramp_colors(values, *, ramp: str = "YlOrRd", vmin: float | None = None, vmax: float | None = None,
                reverse: bool = False) -> np.ndarray:
    """Map values linearly onto a colour ramp.

    Parameters
    ----------
    values : array-like of float
        Values; NaN maps to grey (200, 200, 200).
    ramp : str
        A key of :data:`RAMPS`.
    vmin, vmax : float, optional
        Range mapped onto the ramp ends (default: data min/max). Values
        outside are clipped.
    reverse : bool
        Flip the ramp.

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` uint8 RGB.
    """
    if ramp not in RAMPS:
        raise LayerError(f"unknown colour ramp {ramp!r}; choose one of {', '.join(RAMPS)}")
    v = np.asarray(values, dtype="float64")
    stops = RAMPS[ramp][::-1] if reverse else RAMPS[ramp]
    out = np.full((v.size, 3), 200, dtype="uint8")
    ok = np.isfinite(v)
    if not ok.any():
        return out
    lo = float(np.nanmin(v[ok])) if vmin is None else float(vmin)
    hi = float(np.nanmax(v[ok])) if vmax is None else float(vmax)
    span = hi - lo
    t = np.zeros(v.size) if span <= 0 else np.clip((np.where(ok, v, lo) - lo) / span, 0.0, 1.0)
    pos = t * (len(stops) - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, len(stops) - 2)
    f = (pos - i0)[:, None]
    rgb = stops[i0] * (1 - f) + stops[i0 + 1] * f
    out[ok] = np.round(rgb[ok]).astype("uint8")
    return out


def categorical_colors(codes: Sequence[str] | pd.Series, palette: dict[str, tuple[int, int, int]],
                       *, default: tuple[int, int, int] = (128, 128, 128)) -> np.ndarray:
    """``(n, 3)`` uint8 colours looked up per category (unknown -> ``default``)."""
    return np.array([palette.get(c, default) for c in codes], dtype="uint8").reshape(-1, 3)


def point_frame(gdf: gpd.GeoDataFrame, *, layer_id: str) -> pd.DataFrame:
    """lon/lat float64 columns from point geometries plus the unique ``_<id>`` column."""
    geom = gdf.geometry
    if len(geom) and not (geom.geom_type == "Point").all():
        raise LayerError(f"{layer_id}: expected point geometries")
    df = pd.DataFrame({"lon": geom.x.to_numpy(dtype="float64") if len(geom) else np.empty(0),
                       "lat": geom.y.to_numpy(dtype="float64") if len(geom) else np.empty(0)})
    df[f"_{layer_id}"] = np.zeros(len(df), dtype="uint8")
    return df


def add_rgb(df: pd.DataFrame, rgb: np.ndarray) -> pd.DataFrame:
    df["r"] = rgb[:, 0] if len(rgb) else np.empty(0, "uint8")
    df["g"] = rgb[:, 1] if len(rgb) else np.empty(0, "uint8")
    df["b"] = rgb[:, 2] if len(rgb) else np.empty(0, "uint8")
    return df


def point_layer(layer_id: str, df: pd.DataFrame, *, radius: float | str, line_color: list[int] | str,
                **extra) -> dict:
    """A pickable deck.gl ScatterplotLayer of ``df`` (lon/lat and r/g/b columns), radius in pixels.

    ``radius`` and ``line_color`` may be deck.gl expressions (``"@@=..."``);
    ``extra`` adds or overrides layer properties (``None`` removes one).
    """
    spec = {
        "@@type": "ScatterplotLayer",
        "id": layer_id,
        "data": df,
        "getPosition": "@@=[lon, lat]",
        "getFillColor": "@@=[r, g, b]",
        "getRadius": radius,
        "radiusUnits": "pixels",
        "stroked": True,
        "getLineColor": line_color,
        "lineWidthMinPixels": 1,
        "pickable": True,
    }
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


def view_for_bounds(bounds: Sequence[float], *, width_px: int = 1000, height_px: int = 700,
                    pitch: float = 0.0, padding: float = 0.05) -> dict:
    """A deck.gl ``initialViewState`` that fits lon/lat ``bounds`` (W, S, E, N, degrees)."""
    w, s, e, n = (float(b) for b in bounds)
    if not (math.isfinite(w) and math.isfinite(s) and math.isfinite(e) and math.isfinite(n)):
        raise LayerError("bounds must be finite (W, S, E, N) degrees")
    lon, lat = (w + e) / 2, (s + n) / 2
    dx = max(e - w, 1e-6) * (1 + 2 * padding)
    # deck.gl Web Mercator: the world is 512 px wide at zoom 0; y spans are stretched by 1/cos(lat)
    dy = max(n - s, 1e-6) * (1 + 2 * padding) / max(math.cos(math.radians(lat)), 0.01)
    zoom = min(math.log2(width_px * 360 / (512 * dx)), math.log2(height_px * 360 / (512 * dy)))
    return {"longitude": lon, "latitude": lat, "zoom": round(max(0.0, min(zoom, 20.0)), 2),
            "pitch": pitch, "bearing": 0}


def deck_spec(layers: list[dict], *, view: dict, controller: bool = True) -> dict:
    """A complete offline dict spec for ``pn.pane.DeckGL`` (no base map)."""
    return {
        "initialViewState": dict(view),
        "views": [{"@@type": "MapView", "controller": controller}],
        "mapStyle": None,
        "layers": list(layers),
    }
