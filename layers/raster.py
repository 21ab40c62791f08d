"""Rasters (flood depth) as a deck.gl ``BitmapLayer`` over the flat map.

The raster is coloured into an RGBA PNG (transparent where dry) and placed
by its four corners transformed to EPSG:4326, so a projected raster (e.g.
EPSG:32649 UTM) lands in the right place without resampling (over a few km
the UTM->lon/lat mapping is affine to well under a pixel). The PNG is
served by URL (``/api/map/flood/{run_id}.png``), never inlined: Panel
re-sends the whole layer list on every change.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image
from pyproj import CRS, Transformer

from layers._common import RAMPS, ramp_colors
from layers.errors import LayerError

#: Largest raster side drawn as one bitmap (pixels); coarsen beyond it.
MAX_SIDE = 4096

#: Depth classes (metres) and colours used for flood maps and their legend.
DEPTH_CLASSES: list[tuple[float, tuple[int, int, int]]] = [
    (0.05, (189, 215, 238)), (0.15, (107, 174, 214)), (0.30, (33, 113, 181)),
    (0.50, (8, 69, 148)), (1.00, (84, 39, 143)),
]


def depth_rgba(depth: np.ndarray, *, min_depth_m: float = 0.01, classes=DEPTH_CLASSES) -> np.ndarray:
    """Colour a depth grid (metres) into ``(h, w, 4)`` uint8 RGBA by depth class.

    Cells below ``min_depth_m`` or NaN are transparent. A cell gets the
    colour of the highest class whose lower bound it reaches (the first
    class also covers ``min_depth_m`` up to its bound).
    """
    d = np.asarray(depth, dtype="float64")
    if d.ndim != 2:
        raise LayerError(f"depth raster must be 2-D, got shape {d.shape}")
    rgba = np.zeros((*d.shape, 4), dtype="uint8")
    wet = np.isfinite(d) & (d >= min_depth_m)
    rgba[wet] = (*classes[0][1], 200)
    for lower, rgb in classes[1:]:
        rgba[wet & (d >= lower)] = (*rgb, 215)
    return rgba


def ramp_rgba(values: np.ndarray, *, vmin: float, vmax: float, ramp: str = "Blues",
              transparent_below: float | None = None) -> np.ndarray:
    """Continuous colouring of a 2-D grid onto a ramp; NaN (and < ``transparent_below``) transparent."""
    v = np.asarray(values, dtype="float64")
    if v.ndim != 2:
        raise LayerError(f"raster must be 2-D, got shape {v.shape}")
    if ramp not in RAMPS:
        raise LayerError(f"unknown ramp {ramp!r}")
    rgb = ramp_colors(v.ravel(), ramp=ramp, vmin=vmin, vmax=vmax).reshape(*v.shape, 3)
    alpha = np.where(np.isfinite(v), 210, 0).astype("uint8")
    if transparent_below is not None:
        alpha[~(v >= transparent_below)] = 0
    return np.dstack([rgb, alpha])


def to_png(rgba: np.ndarray, *, max_side: int = MAX_SIDE) -> bytes:
    """Encode ``(h, w, 4)`` uint8 RGBA as PNG bytes; refuse rasters larger than ``max_side``."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise LayerError(f"expected (h, w, 4) RGBA, got {rgba.shape}")
    h, w = rgba.shape[:2]
    if max(h, w) > max_side:
        raise LayerError(f"raster {w}x{h} px is larger than {max_side} px per side; coarsen it first")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), mode="RGBA").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def corner_bounds(transform: Sequence[float], shape: tuple[int, int], crs) -> list[list[float]]:
    """The raster's four corners in EPSG:4326, in BitmapLayer order.

    Parameters
    ----------
    transform : affine.Affine or 6-sequence (a, b, c, d, e, f)
        Pixel -> CRS transform (GDAL/rasterio convention, north-up or rotated).
    shape : (rows, cols)
    crs : pyproj-compatible CRS (required)

    Returns
    -------
    list
        ``[[lon, lat] bottom-left, top-left, top-right, bottom-right]`` degrees.
    """
    if crs is None:
        raise LayerError("raster has no CRS; cannot place it on the map")
    a, b, c, d, e, f = (float(x) for x in tuple(transform)[:6])
    rows, cols = shape

    def px(col: float, row: float) -> tuple[float, float]:
        return a * col + b * row + c, d * col + e * row + f

    corners = [px(0, rows), px(0, 0), px(cols, 0), px(cols, rows)]  # BL, TL, TR, BR
    src = CRS.from_user_input(crs)
    if src.to_epsg() == 4326:
        return [[x, y] for x, y in corners]
    tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    return [[float(lon), float(lat)] for lon, lat in (tr.transform(x, y) for x, y in corners)]


def bitmap_layer(image_url: str, *, bounds: list, layer_id: str = "flood", opacity: float = 0.85) -> dict:
    """deck.gl ``BitmapLayer`` for an image served by URL.

    ``bounds`` is ``[W, S, E, N]`` degrees or four ``[lon, lat]`` corners
    (see :func:`corner_bounds`). ``image_url`` must be a plain URL
    (``/api/...`` or ``http://127.0.0.1...``); in a dict spec it is passed
    as a literal string, not a ``@@=`` expression.
    """
    if not isinstance(image_url, str) or not image_url or image_url.startswith("@@"):
        raise LayerError("image_url must be a plain URL string")
    if len(bounds) not in (4,):
        raise LayerError("bounds must be [W, S, E, N] or four [lon, lat] corners")
    return {
        "@@type": "BitmapLayer",
        "id": layer_id,
        "image": image_url,
        "bounds": bounds,
        "opacity": float(opacity),
        "pickable": False,
    }
