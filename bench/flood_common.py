"""Synthetic benchmark DEM shared by the flood benchmarks (same as research/flood.md section 2.1).

Plane falling 0.5 % towards row 0, 0.2 % V-shaped cross slope, 5 Gaussian pits
0.8-1.5 m deep; 2 m cells. Row 0 is the open edge.
"""

from __future__ import annotations

import numpy as np

DX = 2.0
RAIN_M_S = 50e-3 / 3600.0  # 50 mm/h
MANNING = 0.03


def bench_dem(n: int) -> np.ndarray:
    """Elevation [m] of an n x n benchmark grid (row 0 = downstream, open edge)."""
    y, x = np.mgrid[0:n, 0:n] * DX
    length = n * DX
    z = 0.005 * y + 0.002 * np.abs(x - length / 2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        cx, cy = rng.uniform(0.2, 0.8, 2) * length
        depth, sigma = rng.uniform(0.8, 1.5), rng.uniform(25, 40)
        z -= depth * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return z
