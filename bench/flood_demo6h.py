"""A 6-hour forecast of the demo district at 5 m: wall time, steps, speed and memory per million cells.

    PYTHONPATH=. /work/main/.venv/bin/python bench/flood_demo6h.py [--dem <home>/demo/dem.tif] [--cell 5]

The demo DEM (``onemap load-demo`` writes ``<ONEMAP_HOME>/demo/dem.tif``, 10 m) resampled to ``--cell``
metres; Huangpu P = 20 a, 60-minute Chicago storm, then 5 h of recession (6 h simulated), sewers
20 mm/h, float32, default solver settings, records every 5 min. Memory: the bytes of every array the
solver holds (state, double buffers, bed steps, masks, maxima) plus the forecast's own per-cell
arrays (exceedance times), per million cells, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import flood_model  # noqa: E402
from flood_model import design_storm, load_dem, run_forecast  # noqa: E402
from flood_model.solver import LocalInertialSolver  # noqa: E402


def solver_bytes(grid) -> int:
    """Bytes of the ndarrays a float32 solver on ``grid`` holds."""
    s = LocalInertialSolver(grid.z, dx=grid.dx, dy=grid.dy, dtype=np.float32)
    return sum(v.nbytes for v in vars(s).values() if isinstance(v, np.ndarray))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dem", default=str(Path.home() / ".onemap" / "demo" / "dem.tif"))
    ap.add_argument("--cell", type=float, default=5.0)
    ap.add_argument("--hours", type=float, default=6.0)
    a = ap.parse_args()
    flood_model.warmup()
    grid = load_dem(a.dem, resolution=a.cell)
    storm = design_storm("huangpu", return_period=20, duration_s=3600)
    t0 = time.perf_counter()
    res = run_forecast(grid, storm, duration_s=a.hours * 3600, drainage_mm_h=20.0, record_interval_s=300.0)
    wall = time.perf_counter() - t0
    cells = grid.shape[0] * grid.shape[1]
    sb = solver_bytes(grid)
    fb = sum(arr.nbytes for arr in res.time_to_threshold.values()) + res.max_depth.nbytes + res.max_velocity.nbytes
    out = {"dem": a.dem, "cell_m": a.cell, "shape": list(grid.shape), "cells": cells,
           "active_cells": res.info["active_cells"], "simulated_h": a.hours, "steps": res.info["steps"],
           "wall_s": round(wall, 1), "model_wall_s": res.info["wall_s"],
           "M_cell_updates_s": round(res.info["cell_updates_per_s"] / 1e6, 1),
           "solver_MB_per_million_cells": round(sb / cells, 1),
           "forecast_outputs_MB_per_million_cells": round(fb / cells, 1),
           "peak_rss_MB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
           "max_depth_m": res.info["max_depth_m"], "balance_error": res.relative_balance_error}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
