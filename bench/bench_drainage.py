"""Cost of the 1D-2D coupling: per-exchange overhead at 1,000 and 5,000 manholes vs the 2D step,
and the demo district's 2-hour forecast with and without its pipe network (exchange every surface
step, and at least every 5 s).

    PYTHONPATH=. .venv/bin/python bench/bench_drainage.py [--demo-cell 30] [--json out.json]

Synthetic case: a 400 x 400 grid at 10 m (0.5 % slope to the south, open south edge), 60 mm/h rain;
manholes on a lattice, each column of manholes a trunk sewer (0.6-1.2 m) to a free outfall on the
south edge. After a 120 s warm-up (pipes wet), 40 surface steps are timed with and without the
exchange, in the same process and order (step, step+exchange) so machine noise hits both.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from affine import Affine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flood_model.drainage import DrainageCoupling
from flood_model.grid import DemGrid
from flood_model.network import Conduit, Junction, Outfall, PipeNetwork
from flood_model.rainfall import MM_H
from flood_model.solver import LocalInertialSolver

N = 400
DX = 10.0


def synthetic(manholes: int) -> tuple[DemGrid, PipeNetwork]:
    yy, xx = np.mgrid[0:N, 0:N]
    z = 20.0 - 0.005 * DX * yy + 0.02 * np.sin(xx / 7.0)
    grid = DemGrid(z, Affine(DX, 0, 0, 0, -DX, N * DX), "EPSG:32650")
    side = math.ceil(math.sqrt(manholes))
    cols = np.linspace(5, N - 6, side).astype(int)
    rows = np.linspace(5, N - 6, math.ceil(manholes / side)).astype(int)
    junctions, conduits, outfalls = [], [], []
    k = 0
    for ci, c in enumerate(cols):
        prev = None
        for r in rows:
            if k >= manholes:
                break
            x, y = (c + 0.5) * DX, (N - r - 0.5) * DX
            name = f"J{k}"
            junctions.append(Junction(name, x, y, invert=float(z[r, c]) - 2.0, rim=float(z[r, c])))
            if prev is not None:
                conduits.append(Conduit(f"C{k}", prev, name, 0.013, 0.6 if r < N // 2 else 1.2))
            prev = name
            k += 1
        if prev is not None:
            x = (cols[ci] + 0.5) * DX
            outfalls.append(Outfall(f"O{ci}", x, 0.5 * DX, invert=float(z[N - 1, cols[ci]]) - 2.5))
            conduits.append(Conduit(f"CO{ci}", prev, f"O{ci}", 0.013, 1.2))
    return grid, PipeNetwork(junctions, outfalls, conduits)


def exchange_overhead(manholes: int, steps: int = 40) -> dict:
    grid, net = synthetic(manholes)
    solver = LocalInertialSolver(grid.z, dx=DX, boundaries={"south": "open"}, dtype=np.float32)
    rain = 60 * MM_H
    c = DrainageCoupling(net).start(solver, grid, 7200.0)
    try:
        while solver.t < 120.0:  # warm-up: wet the surface and the pipes
            solver.step(solver.stable_dt(), source=rain)
            c.exchange(solver)
        t_step, t_ex, t_eng = [], [], []
        for _ in range(steps):
            t0 = time.perf_counter()
            solver.step(solver.stable_dt(), source=rain)
            t1 = time.perf_counter()
            e0 = c.engine_s
            c.exchange(solver)
            t2 = time.perf_counter()
            t_step.append(t1 - t0)
            t_ex.append(t2 - t1)
            t_eng.append(c.engine_s - e0)
    finally:
        c.close()
    step_ms, ex_ms = 1e3 * float(np.median(t_step)), 1e3 * float(np.median(t_ex))
    eng_ms = 1e3 * float(np.median(t_eng))
    cpl_ms = 1e3 * float(np.median(np.array(t_ex) - np.array(t_eng)))
    return {"manholes": len(net.junctions), "conduits": len(net.conduits), "cells": N * N,
            "step_ms_median": round(step_ms, 3), "exchange_ms_median": round(ex_ms, 3),
            "of_which_swmm_routing_ms": round(eng_ms, 3), "of_which_coupling_ms": round(cpl_ms, 3),
            "coupling_per_manhole_us": round(1e3 * cpl_ms / len(net.junctions), 2),
            "ratio_exchange_to_step": round(ex_ms / step_ms, 3),
            "ratio_coupling_to_step": round(cpl_ms / step_ms, 3)}


def demo_forecast(cell: float) -> dict:
    import rasterio

    from data import _dem, _geometry
    from data.drainage import demo_network
    from data.load import dem_path
    from flood_model import design_storm, load_dem, run_forecast

    lay = _geometry.layout(np.random.default_rng(42))
    with rasterio.open(dem_path()) as src:
        net = demo_network(lay, _dem.Dem(src.read(1), src.transform))
    grid = load_dem(dem_path(), resolution=cell)
    storm = design_storm("huangpu", return_period=20, duration_s=3600)
    run_forecast(grid, storm, duration_s=60, drainage_mm_h=20)  # numba kernels loaded before timing
    out = {"cell_m": cell, "cells": int(grid.z.size), "manholes": len(net.junctions)}
    from flood_model.drainage import CouplingParameters

    for label, kw in (("uniform_20mm_h", {"drainage_mm_h": 20}), ("network", {"network": net}),
                      ("network_exchange_5s", {"network": net, "coupling": CouplingParameters(exchange_s=5.0)})):
        t0 = time.perf_counter()
        res = run_forecast(grid, storm, duration_s=7200, **kw)
        out[label] = {"wall_s": round(time.perf_counter() - t0, 2), "steps": res.info["steps"],
                      "area_ge_0.15m_ha": round(float(np.nansum(res.max_depth >= 0.15)) * grid.dx * grid.dy / 1e4, 1)}
        if "drainage" in res.info:
            d = res.info["drainage"]
            out[label].update({k: d[k] for k in ("exchanges", "surcharged_manholes", "surface_rel_error",
                                                 "combined_rel_error")})
    for label in ("network", "network_exchange_5s"):
        out[f"wall_ratio_{label}_to_uniform"] = round(out[label]["wall_s"] / out["uniform_20mm_h"]["wall_s"], 2)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-cell", type=float, default=30.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--skip-demo", action="store_true", help="only the exchange overhead")
    a = ap.parse_args(argv)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    results = {"load_average_start": load, "exchange": [exchange_overhead(n) for n in (1000, 5000)],
               "demo": None if a.skip_demo else demo_forecast(a.demo_cell)}
    with open("/proc/loadavg") as f:
        results["load_average_end"] = f.read().split()[:3]
    print(json.dumps(results, indent=1))
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
