"""Ensemble benchmark: 8 perturbed-rainfall members on 2 local Dask workers vs one after another.

    PYTHONPATH=. /work/main/.venv/bin/python bench/flood_ensemble_bench.py [--n 300] [--members 8]

Same members, same DEM (bench/flood_common.py, 2 m cells, n x n), same process
start-up excluded on both sides (a warm-up member runs first in this process; the
Dask workers load the numba cache on their first member, counted in the Dask wall
time). Writes ``docs/flood_ensemble_prob.png`` (probability of >= 0.15 m and
>= 0.30 m) and prints the JSON figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from flood_common import DX, bench_dem  # noqa: E402

from flood_model.ensemble import perturb_rainfall, run_ensemble  # noqa: E402
from flood_model.forecast import run_forecast  # noqa: E402
from flood_model.grid import DemGrid  # noqa: E402
from flood_model.rainfall import Hyetograph  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--png", default=str(HERE.parent / "docs" / "flood_ensemble_prob.png"))
    a = ap.parse_args()
    grid = DemGrid(bench_dem(a.n), from_origin(400000, 2500000 + a.n * DX, DX, DX), CRS.from_epsg(32650))
    rain = Hyetograph([0, 600, 1200], [60.0, 100.0], label="bench storm")
    members = perturb_rainfall(rain, a.members, seed=1)
    kw = {"duration_s": a.duration, "boundaries": {"north": "open"}}
    run_forecast(DemGrid(grid.z[:16, :16], grid.transform, grid.crs), rain, duration_s=60.0)  # warm-up
    t0 = time.perf_counter()
    seq = [run_forecast(grid, m, **kw).max_depth for m in members]
    t_seq = time.perf_counter() - t0
    res = run_ensemble(grid, members, n_workers=2, **kw)
    stack = np.stack(seq)
    same = all(np.array_equal(res.probability[t], (stack >= t).mean(axis=0)) for t in res.probability)
    out = {"n": a.n, "cells": a.n * a.n, "members": a.members, "sequential_s": round(t_seq, 2),
           "dask_2_workers_s": round(res.info["wall_s"], 2), "speed_up": round(t_seq / res.info["wall_s"], 2),
           "member_wall_s_on_workers": [round(x, 2) for x in res.info["member_wall_s"]],
           "workers": res.info["workers"], "identical_to_sequential": same}
    print(json.dumps(out, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    for ax, (thr, p) in zip(axes, res.probability.items(), strict=True):
        im = ax.imshow(p, cmap="Blues", vmin=0, vmax=1, origin="upper",
                       extent=(0, a.n * DX, 0, a.n * DX))
        ax.set_title(f"P(max depth >= {thr:g} m), {a.members} members")
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m] (open edge at the top)")
    fig.colorbar(im, ax=axes, shrink=0.8, label="probability")
    fig.savefig(a.png, dpi=90)
    print(f"wrote {a.png}")


if __name__ == "__main__":
    main()
