"""The demo district's digital elevation model (EPSG:32649, 10 m cells, metres above sea level).

Terrain: a plain rising gently to the north (5 m near the river, 15-20 m
inland) with wooded hills in the north, a river channel across the south,
a creek running into it, low-lying basins (1.2-2.4 m deep bowls) and road
underpasses (3-4 m deep troughs along arterials). The basins and underpasses
are where the demo's waterlogging tickets and water-level sensors concentrate,
so a flood forecast on this DEM finds water where the tickets say it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from affine import Affine

from data._geometry import METRIC_EPSG, Layout

NODATA = -9999.0


@dataclass
class Dem:
    """Elevation (m) on a north-up grid; ``transform`` maps (col, row) to EPSG:32649 metres."""

    elevation: np.ndarray  # float32, shape (rows, cols)
    transform: Affine
    crs: str = f"EPSG:{METRIC_EPSG}"

    @property
    def cell_size(self) -> float:
        return float(self.transform.a)

    def write(self, path: Path) -> Path:
        """Write a tiled, deflate-compressed GeoTIFF; returns ``path``."""
        import rasterio

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.tif")
        with rasterio.open(tmp, "w", driver="GTiff", width=self.elevation.shape[1],
                           height=self.elevation.shape[0], count=1, dtype="float32", crs=self.crs,
                           transform=self.transform, nodata=NODATA, compress="deflate", tiled=True,
                           blockxsize=256, blockysize=256) as dst:
            dst.write(self.elevation.astype(np.float32), 1)
            dst.update_tags(units="m", description="OneMap demo DEM (synthetic)")
        tmp.replace(path)
        return path


def _distance_to_line(line: shapely.LineString, x: np.ndarray, y: np.ndarray, *, within: float = 600.0,
                      coarse: int = 5) -> np.ndarray:
    """Distance (m) from each (x, y) cell centre to ``line``, exact up to ``within`` metres.

    A coarse pass on every ``coarse``-th cell finds the band near the line;
    only cells there get the exact distance, the rest keep the coarse value.
    """
    shapely.prepare(line)
    cx, cy = x[::coarse, ::coarse], y[::coarse, ::coarse]
    dc = shapely.distance(line, shapely.points(cx.ravel(), cy.ravel())).reshape(cx.shape)
    d = np.repeat(np.repeat(dc, coarse, axis=0), coarse, axis=1)[: x.shape[0], : x.shape[1]]
    cell = abs(float(x[0, 1] - x[0, 0])) if x.shape[1] > 1 else 1.0
    band = d < within + 1.5 * coarse * cell
    d = d.copy()
    d[band] = shapely.distance(line, shapely.points(x[band], y[band]))
    return d


def make_dem(rng: np.random.Generator, lay: Layout, *, cell: float = 10.0, margin: float = 200.0) -> Dem:
    """Synthesise the DEM for ``lay`` (deterministic for the generator state)."""
    minx, miny, maxx, maxy = lay.outline.bounds
    minx, miny = np.floor((minx - margin) / cell) * cell, np.floor((miny - margin) / cell) * cell
    maxx, maxy = np.ceil((maxx + margin) / cell) * cell, np.ceil((maxy + margin) / cell) * cell
    cols, rows = int((maxx - minx) / cell), int((maxy - miny) / cell)
    xs = minx + (np.arange(cols) + 0.5) * cell
    ys = maxy - (np.arange(rows) + 0.5) * cell
    X, Y = np.meshgrid(xs, ys)
    v = (Y - miny) / (maxy - miny)
    z = 5.0 + 12.0 * v ** 1.5
    # hills in the north
    for _ in range(3):
        hx, hy = rng.uniform(minx, maxx), maxy - rng.uniform(0, 0.2) * (maxy - miny)
        s = rng.uniform(500, 900)
        z += rng.uniform(15, 40) * np.exp(-((X - hx) ** 2 + (Y - hy) ** 2) / (2 * s * s))
    # gentle undulation (0.5-1 m)
    for _ in range(6):
        kx, ky = rng.normal(0, 1 / 800, 2)
        z += rng.uniform(0.2, 0.6) * np.cos(2 * np.pi * (kx * X + ky * Y) + rng.uniform(0, 2 * np.pi))
    # river (south) and creek: channels below their banks
    if lay.river is not None:
        d = _distance_to_line(lay.river, X, Y)
        z = np.where(d < 400, np.minimum(z, 4.0 + d / 400 * (z - 4.0)), z)  # flood plain down to 4 m
        z -= 4.5 * np.exp(-(d / 30.0) ** 2)
    if lay.creek is not None:
        d = _distance_to_line(lay.creek, X, Y)
        z -= 2.5 * np.exp(-(d / 12.0) ** 2) + 0.6 * np.exp(-(d / 120.0) ** 2)
    # low-lying basins
    for b in lay.basins:
        r2 = (X - b["x"]) ** 2 + (Y - b["y"]) ** 2
        z -= b["depth_m"] * np.exp(-r2 / (2 * b["sigma_m"] ** 2))
    # underpasses: troughs 150 m long, 20 m wide along the road
    for u in lay.underpasses:
        c, s = np.cos(u["angle_rad"]), np.sin(u["angle_rad"])
        along = (X - u["x"]) * c + (Y - u["y"]) * s
        across = -(X - u["x"]) * s + (Y - u["y"]) * c
        z -= u["depth_m"] * np.exp(-(along / 60.0) ** 4) * np.exp(-(across / 12.0) ** 4)
    z += rng.normal(0, 0.03, z.shape)  # survey noise, 3 cm
    transform = Affine(cell, 0.0, minx, 0.0, -cell, maxy)
    return Dem(z.astype(np.float32), transform)
