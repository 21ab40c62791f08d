"""Ensemble forecasts on Dask distributed: N rainfall members -> probability-of-exceedance maps.

Members are perturbed copies of one rainfall forecast (:func:`perturb_rainfall`:
a log-normal factor per member and per interval, mean 1) or the members of a
pysteps STEPS nowcast (:func:`flood_model.nowcast.radar_nowcast` with
``n_members``). :func:`run_ensemble` runs each member as one Dask task
(:func:`flood_model.run_forecast` on the same DEM grid, scattered once to every
worker): a ``LocalCluster`` of single-threaded worker processes by default, or
the cluster of an existing scheduler (``scheduler="tcp://HOST:8786"``).

Outputs: per threshold (default 0.15 m and 0.30 m) the fraction of members whose
maximum depth reaches it in each cell (probability of exceedance, 0-1, NaN
outside the DEM), and, with roads / grids, per feature the probability of each
warning level or worse, worded as "60 % chance of orange (>= 0.30 m) or worse".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flood_model.alerts import DEFAULT_LEVELS
from flood_model.errors import InputError
from flood_model.grid import DemGrid
from flood_model.rainfall import GriddedRainfall, Hyetograph

__all__ = ["EnsembleResult", "perturb_rainfall", "run_ensemble"]

Rain = Hyetograph | GriddedRainfall


def perturb_rainfall(rain: Rain, n: int, *, sigma_member: float = 0.3, sigma_interval: float = 0.2,
                     seed: int = 0) -> list[Rain]:
    """``n`` members of ``rain``: intensity x exp(N(0, s^2) - s^2/2) per member and per interval (mean 1).

    ``sigma_member`` spreads the storm total, ``sigma_interval`` its timing; the
    same ``seed`` gives the same members.
    """
    if n < 1:
        raise InputError("an ensemble needs at least one member")
    rng = np.random.default_rng(seed)
    out: list[Rain] = []
    k = len(rain.edges) - 1
    for i in range(n):
        f = np.exp(rng.normal(0, sigma_member) - sigma_member ** 2 / 2
                   + rng.normal(0, sigma_interval, k) - sigma_interval ** 2 / 2)
        label = f"{rain.label} member {i + 1}/{n}"
        if isinstance(rain, Hyetograph):
            out.append(Hyetograph(rain.edges_s.copy(), rain.intensity_mm_h * f, label=label))
        else:
            out.append(GriddedRainfall(rain.edges_s.copy(), rain.frames_mm_h * f[:, None, None], label=label))
    return out


def _member(i: int, grid: DemGrid, rain: Rain, kwargs: dict) -> dict:
    """One member (runs on a worker): max depth, warning levels per feature, where and how long it ran."""
    from flood_model.forecast import run_forecast

    t0 = time.perf_counter()
    res = run_forecast(grid, rain, **kwargs)
    try:
        from distributed import get_worker

        where = get_worker().address
    except (ImportError, ValueError):
        where = "local"
    levels = None
    if res.warnings is not None:
        levels = {(r["kind"], str(r["feature_id"])): r["level"] for r in res.warnings.to_dict("records")}
    return {"member": i, "max_depth": res.max_depth, "levels": levels, "worker": where,
            "wall_s": time.perf_counter() - t0, "steps": res.info["steps"]}


@dataclass
class EnsembleResult:
    """Probability maps [0-1] per threshold [m] on the DEM grid, probabilistic warnings and timings."""

    probability: dict[float, np.ndarray]
    transform: Any
    crs: Any
    members: int
    warnings: Any = None
    info: dict = field(default_factory=dict)

    def write(self, out_dir) -> dict:
        """``prob_ge_<thr>m.tif`` (COG, 0-1) per threshold and ``warnings.csv``; returns name -> path."""
        from pathlib import Path

        from flood_model.outputs import write_cog

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for thr, arr in self.probability.items():
            paths[f"prob_ge_{thr:g}m"] = write_cog(out / f"prob_ge_{thr:g}m.tif", arr.astype(np.float32),
                                                   transform=self.transform, crs=self.crs,
                                                   description=f"probability of depth >= {thr:g} m [0-1]")
        if self.warnings is not None:
            paths["warnings"] = out / "warnings.csv"
            self.warnings.drop(columns="geometry").to_csv(paths["warnings"], index=False)
        return paths


def _probabilistic_warnings(results: list[dict], roads, grids, levels: Mapping[str, float], crs) -> Any:
    import geopandas as gpd

    n = len(results)
    order = sorted(levels, key=lambda k: levels[k])
    rows = []
    for kind, gdf in (("road", roads), ("grid", grids)):
        if gdf is None or not len(gdf):
            continue
        id_col = "id" if "id" in gdf.columns else None
        for idx, row in gdf.iterrows():
            fid = str(row[id_col]) if id_col else str(idx)
            reached = [r["levels"].get((kind, fid)) for r in results]
            probs = {lv: sum(1 for x in reached if x is not None and order.index(x) >= order.index(lv)) / n
                     for lv in order}
            if probs[order[0]] == 0:
                continue
            top = max((lv for lv in order if probs[lv] > 0), key=order.index)
            text = "; ".join(f"{probs[lv]:.0%} chance of {lv} (>= {levels[lv]:g} m) or worse"
                             for lv in order if probs[lv] > 0)
            rows.append({"kind": kind, "feature_id": row[id_col] if id_col else idx,
                         "name": row.get("name"), **{f"p_{lv}": probs[lv] for lv in order},
                         "most_severe_possible": top, "text": text, "geometry": row.geometry})
    cols = ["kind", "feature_id", "name", *[f"p_{lv}" for lv in order], "most_severe_possible", "text",
            "geometry"]
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry="geometry", crs=crs)
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    return out.sort_values([f"p_{lv}" for lv in reversed(order)], ascending=False).reset_index(drop=True)[cols]


def run_ensemble(grid: DemGrid, members: Sequence[Rain], *, scheduler: str | None = None, n_workers: int = 2,
                 thresholds: Sequence[float] = (0.15, 0.30), levels: Mapping[str, float] = DEFAULT_LEVELS,
                 roads: Any = None, grids: Any = None, client: Any = None, **forecast_kw: Any) -> EnsembleResult:
    """Run every member as a Dask task and combine them into probability-of-exceedance maps.

    Parameters
    ----------
    grid : DemGrid
        The DEM (projected, metres); scattered once to every worker.
    members : sequence of Hyetograph or GriddedRainfall
        One rainfall per member (:func:`perturb_rainfall`, or a STEPS nowcast ensemble).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:8786``); default: a
        ``LocalCluster`` of ``n_workers`` single-threaded worker processes for this call.
    thresholds : sequence of float
        Depths [m] whose probability of exceedance is mapped.
    roads, grids : GeoDataFrame, optional
        Features for the probabilistic warnings (with a CRS, an ``id`` and ``name`` column).
    client : distributed.Client, optional
        Use this client instead of connecting (the caller closes it).
    **forecast_kw
        Passed to :func:`flood_model.run_forecast` for every member (duration_s, drainage_mm_h...).
    """
    from distributed import Client, LocalCluster

    if not members:
        raise InputError("an ensemble needs at least one member")
    t0 = time.perf_counter()
    kwargs = {**forecast_kw, "levels": dict(levels), "roads": roads, "grids": grids,
              "thresholds": tuple(thresholds)}
    cluster = own = None
    if client is None:
        if scheduler:
            client = own = Client(scheduler, timeout="30s")
        else:
            # one numba thread per worker process: n_workers members at once, no oversubscription
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, host="127.0.0.1", silence_logs=logging.CRITICAL,
                                   env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
            client = own = Client(cluster)
    try:
        g = client.scatter(grid, broadcast=True)
        kw = client.scatter(kwargs, broadcast=True)
        futs = [client.submit(_member, i, g, rain, kw, key=f"flood-member-{i}-{time.time_ns()}", pure=False)
                for i, rain in enumerate(members)]
        results = sorted(client.gather(futs), key=lambda r: r["member"])
        workers = sorted({r["worker"] for r in results})
    finally:
        if own is not None:
            own.close()
        if cluster is not None:
            cluster.close()
    stack = np.stack([r["max_depth"] for r in results])
    inside = np.isfinite(stack[0])
    prob = {float(t): np.where(inside, (np.nan_to_num(stack, nan=-1.0) >= t).mean(axis=0), np.nan)
            for t in thresholds}
    warnings = None
    if roads is not None or grids is not None:
        warnings = _probabilistic_warnings(results, roads, grids, levels, grids.crs if grids is not None
                                           else roads.crs)
    info = {"members": len(results), "workers": workers, "wall_s": time.perf_counter() - t0,
            "member_wall_s": [r["wall_s"] for r in results], "steps": [r["steps"] for r in results],
            "scheduler": scheduler or "LocalCluster"}
    return EnsembleResult(probability=prob, transform=grid.transform, crs=grid.crs, members=len(results),
                          warnings=warnings, info=info)
