"""landlab OverlandFlow on the benchmark DEM (run in a Python >= 3.12 venv with landlab).

    /tmp/flood-bench312/bin/python bench/flood_landlab.py N T_SECONDS OUT.npy

Prints one JSON line (steps, wall, cell-updates/s) and saves the final depth.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from flood_common import DX, MANNING, RAIN_M_S, bench_dem


def main() -> None:
    from landlab import RasterModelGrid
    from landlab.components import OverlandFlow

    n, t_end, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    z = bench_dem(n)
    grid = RasterModelGrid((n, n), xy_spacing=DX)
    grid.add_field("topographic__elevation", z.ravel().copy(), at="node")
    grid.add_field("surface_water__depth", np.full(n * n, 1e-5), at="node")
    grid.set_closed_boundaries_at_grid_edges(True, True, True, False)  # right, top, left, bottom(row 0) open
    of = OverlandFlow(grid, mannings_n=MANNING, rainfall_intensity=RAIN_M_S, alpha=0.5, theta=0.8,
                      steep_slopes=False)
    t, steps = 0.0, 0
    t0 = time.perf_counter()
    while t < t_end:
        dt = min(of.calc_time_step(), 5.0, t_end - t)
        of.overland_flow(dt=dt)
        t += dt
        steps += 1
    wall = time.perf_counter() - t0
    h = grid.at_node["surface_water__depth"].reshape(n, n)
    np.save(out, h)
    print(json.dumps({"impl": "landlab OverlandFlow", "n": n, "T": t_end, "steps": steps, "wall_s": wall,
                      "mcups": n * n * steps / wall / 1e6, "h_min": float(h.min()), "h_max": float(h.max())}))


if __name__ == "__main__":
    main()
