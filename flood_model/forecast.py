"""Forecast driver: rainfall + DEM -> max depth, velocity, exceedance times, warnings.

The public entry point is :func:`run_forecast`; it returns a
:class:`ForecastResult` that can write its products with :meth:`ForecastResult.write`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling

from flood_model.alerts import (
    DEFAULT_LEVELS,
    DEFAULT_MIN_AREA_M2,
    DEFAULT_MIN_CELLS,
    DEFAULT_MIN_LENGTH_M,
    build_warnings,
)
from flood_model.drainage import CouplingParameters, DrainageCoupling, closes_engine_on_error
from flood_model.errors import InputError, MassBalanceError, RainfallError
from flood_model.grid import DemGrid, align_raster, burn_obstacles, load_dem
from flood_model.losses import ConstantLoss, SCSCurveNumber
from flood_model.network import PipeNetwork
from flood_model.outputs import write_cog
from flood_model.probes import GaugeRecorder, OutletRecorder, outlet_open_mask
from flood_model.rainfall import MM_H, GriddedRainfall, Hyetograph
from flood_model.solver import LocalInertialSolver

__all__ = ["ForecastResult", "run_forecast"]

ProgressFn = Callable[[float, str], None]


@dataclass
class ForecastResult:
    """Products of one forecast run, on the DEM grid (``transform``, ``crs``).

    Attributes
    ----------
    max_depth : ndarray float32 (ny, nx)
        Maximum water depth [m] over the run; NaN outside the domain / in buildings.
    max_velocity : ndarray float32
        Maximum cell speed [m/s] (cells deeper than ``h_velocity_min``).
    time_to_threshold : dict[float, ndarray]
        Depth threshold [m] -> time [s from start] it was first reached (NaN = never).
    snapshots : dict[float, ndarray]
        Time [s] -> depth [m].
    balance : DataFrame
        One row per step: ``t_s, dt_s`` and cumulative volumes [m3] ``rain, infiltration,
        drainage, outflow, storage``, ``error_m3``, ``rel_error``.
    warnings : GeoDataFrame or None
        See :func:`flood_model.alerts.build_warnings`.
    outlets : DataFrame or None
        ``t_s, outlet, discharge_m3_s`` (mean over the record interval ending at ``t_s``),
        ``volume_m3`` (cumulative), per named outlet.
    gauges : DataFrame or None
        ``t_s, gauge, depth_m, unit_discharge_m2_s, speed_m_s`` per named point.
    drainage_nodes : DataFrame or None
        With a pipe network: per manhole max head / surcharge [m], drained / returned volume [m3]
        (:meth:`flood_model.drainage.DrainageCoupling.nodes_frame`).
    drainage_series : DataFrame or None
        With a pipe network: per exchange ``t_s``, flows to / from the network [m3/s], surcharged manholes.
    """

    max_depth: np.ndarray
    max_velocity: np.ndarray
    time_to_threshold: dict[float, np.ndarray]
    snapshots: dict[float, np.ndarray]
    balance: pd.DataFrame
    warnings: Any
    transform: Affine
    crs: CRS
    thresholds: tuple[float, ...]
    levels: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    outlets: pd.DataFrame | None = None
    gauges: pd.DataFrame | None = None
    drainage_nodes: pd.DataFrame | None = None
    drainage_series: pd.DataFrame | None = None

    @property
    def relative_balance_error(self) -> float:
        """Final |error| / max(rain, initial storage) of the water balance [-]."""
        return float(abs(self.balance["rel_error"].iloc[-1])) if len(self.balance) else 0.0

    def write(self, out_dir: str | PathLike) -> dict[str, Path]:
        """Write every product to ``out_dir``; returns name -> path.

        Files: ``max_depth.tif``, ``max_velocity.tif``, ``time_to_<thr>m.tif`` (COGs),
        ``depth_t<seconds>s.tif`` snapshots, ``balance.csv``, ``summary.json`` and,
        when roads/grids were given, ``warnings.geojson`` + ``warnings.csv``; ``outlets.csv`` and
        ``gauges.csv`` when requested.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        kw = dict(transform=self.transform, crs=self.crs)
        paths = {
            "max_depth": write_cog(out / "max_depth.tif", self.max_depth, description="max depth [m]", **kw),
            "max_velocity": write_cog(out / "max_velocity.tif", self.max_velocity, description="max speed [m/s]",
                                      **kw),
        }
        for thr, arr in self.time_to_threshold.items():
            paths[f"time_to_{thr:g}m"] = write_cog(out / f"time_to_{thr:g}m.tif", arr,
                                                   description=f"first time depth >= {thr:g} m [s]", **kw)
        for t, arr in self.snapshots.items():
            paths[f"depth_t{t:g}s"] = write_cog(out / f"depth_t{round(t)}s.tif", arr,
                                                description=f"depth at t = {t:g} s [m]", **kw)
        paths["balance"] = out / "balance.csv"
        self.balance.to_csv(paths["balance"], index=False)
        if self.warnings is not None:
            paths["warnings_geojson"] = out / "warnings.geojson"
            if len(self.warnings):
                self.warnings.to_crs("EPSG:4326").to_file(paths["warnings_geojson"], driver="GeoJSON")
            else:
                paths["warnings_geojson"].write_text('{"type": "FeatureCollection", "features": []}')
            paths["warnings_csv"] = out / "warnings.csv"
            self.warnings.drop(columns="geometry").to_csv(paths["warnings_csv"], index=False)
        for name in ("outlets", "gauges", "drainage_nodes", "drainage_series"):
            table = getattr(self, name)
            if table is not None:
                paths[name] = out / f"{name}.csv"
                table.to_csv(paths[name], index=False)
        paths["summary"] = out / "summary.json"
        paths["summary"].write_text(json.dumps(self.info, indent=2, default=str, ensure_ascii=False))
        return paths


def _manning_field(manning, landuse, landuse_manning, grid) -> float | np.ndarray:
    n = align_raster(manning, grid, name="Manning")
    if landuse is not None:
        if not landuse_manning:
            raise InputError("a land-use raster needs landuse_manning={code: n}")
        lu = np.asarray(align_raster(landuse, grid, resampling=Resampling.nearest, name="land use"))
        base = np.full(grid.shape, float(n)) if np.ndim(n) == 0 else np.array(n, float)
        for code, val in landuse_manning.items():
            base[lu == code] = val
        n = base
    if np.ndim(n) != 0:
        arr = np.asarray(n, float)
        med = np.nanmedian(arr)
        n = np.where(np.isfinite(arr), arr, med)
    return n


@closes_engine_on_error
def run_forecast(
    dem: str | PathLike | DemGrid,
    rainfall: Hyetograph | GriddedRainfall | float,
    *,
    duration_s: float | None = None,
    drainage_mm_h: float | np.ndarray | str | PathLike = 0.0,
    network: PipeNetwork | None = None,
    coupling: CouplingParameters | None = None,
    infiltration: ConstantLoss | SCSCurveNumber | float | None = None,
    manning: float | np.ndarray | str | PathLike = 0.03,
    landuse: np.ndarray | str | PathLike | None = None,
    landuse_manning: Mapping[int, float] | None = None,
    buildings: Any = None,
    thresholds: Sequence[float] = (0.15, 0.30),
    levels: Mapping[str, float] = DEFAULT_LEVELS,
    snapshot_times: Sequence[float] = (),
    roads: Any = None,
    grids: Any = None,
    warn_min_length_m: float = DEFAULT_MIN_LENGTH_M,
    warn_min_area_m2: float | None = DEFAULT_MIN_AREA_M2,
    warn_min_area_fraction: float | None = None,
    warn_min_cells: int = DEFAULT_MIN_CELLS,
    boundaries: str | dict[str, str] = "open",
    open_mask: np.ndarray | None = None,
    open_nodata: bool | str = "frame",
    edge_slope: float = 0.0,
    boundary_stage: float | None = None,
    outlets: Mapping[str, str | np.ndarray] | None = None,
    gauges: Mapping[str, tuple[float, float]] | None = None,
    initial_depth: float | np.ndarray = 0.0,
    crs: Any = None,
    alpha: float = 0.5,
    theta: float = 0.8,
    dt_max: float = 5.0,
    h_min_flow: float = 1e-4,
    dtype: type = np.float32,
    backend: str = "numba",
    record_interval_s: float = 10.0,
    max_balance_error: float | None = None,
    progress: ProgressFn | None = None,
) -> ForecastResult:
    """Run a rain-on-grid forecast and return its products.

    Parameters
    ----------
    dem : path or DemGrid
        DEM GeoTIFF (projected CRS in metres; pass ``crs="utm"`` to reproject a
        geographic one) or an already loaded :class:`DemGrid`.
    rainfall : Hyetograph, GriddedRainfall or float
        Uniform hyetograph (e.g. :func:`flood_model.design_storm`), gridded
        forecast stack on the DEM grid, or a constant intensity [mm/h] over ``duration_s``.
    duration_s : float, optional
        Simulated time [s]; default: rainfall duration + 1 h of recession.
    drainage_mm_h : float, array or raster path
        Sewer capacity [mm/h] removed from ponded water (the fallback when there is no ``network``).
    network : PipeNetwork, optional
        Pipe network coupled through its manholes and run by SWMM 5
        (:mod:`flood_model.drainage`); replaces ``drainage_mm_h`` (pass one of them).
    coupling : CouplingParameters, optional
        Manhole exchange and SWMM settings (default: Itzi's coefficients, 1 s routing step).
    infiltration : ConstantLoss, SCSCurveNumber or float, optional
        Infiltration model; a float is a constant loss [mm/h].
    manning : float, array or raster path
        Manning n [s m^-1/3]; ``landuse`` + ``landuse_manning`` override it per class.
    buildings : GeoDataFrame or path, optional
        Footprints burned in as obstacles (no water, no flow, no rain).
    thresholds : sequence of float
        Depths [m] whose first exceedance time is mapped.
    levels : mapping
        Warning levels [m] (default yellow 0.15, orange 0.30, red 0.50).
    snapshot_times : sequence of float
        Times [s] at which the depth is saved.
    roads, grids : GeoDataFrame, optional
        Features to warn about (see :func:`flood_model.alerts.build_warnings`).
    warn_min_length_m : float
        Road rule: a road is at a level when at least this length [m] of it is at
        least the level's depth deep (default 20 m).
    warn_min_area_m2 : float or None
        Grid rule: at least this area [m2] of the grid (default 400 m2).
    warn_min_area_fraction : float, optional
        Grid rule: additionally at least this fraction [0-1] of the grid's area
        inside the DEM (default off; with ``warn_min_area_m2=None`` the fraction alone).
    warn_min_cells : int
        Both rules: the flooded length / area must span at least this many DEM
        cells (default 2, so a one-cell pit never warns at any cell size).
    boundaries : str or dict
        Domain-edge types (``open`` = free outflow, ``closed`` = wall), per edge
        ``north/south/west/east`` with a dict.
    open_mask : bool array, optional
        Cells whose raster-edge faces are open regardless of ``boundaries``.
    open_nodata : bool or "frame"
        Faces into nodata: ``"frame"`` (default) free outflow into the nodata frame
        connected to an open raster edge, interior voids are walls; ``True`` all
        nodata drains; ``False`` all nodata is walled.
    edge_slope, boundary_stage : float
        Open-boundary outflow: fixed energy slope [-], or fixed water level [m]
        outside the open faces (see :class:`flood_model.solver.LocalInertialSolver`).
    outlets : mapping, optional
        ``{name: "north"|"south"|"west"|"east"|"nodata"|bool cell mask}``: discharge
        [m3/s] and volume [m3] through those open faces (``res.outlets``); mask cells on
        the raster edge are opened.
    gauges : mapping, optional
        ``{name: (x, y)}`` in the DEM's CRS: depth, unit discharge and speed series
        (``res.gauges``), e.g. the water-level sensors.
    alpha, theta, dt_max, h_min_flow, dtype, backend
        Solver parameters, see :class:`flood_model.solver.LocalInertialSolver`.
    record_interval_s : float
        Resolution [s] of the exceedance times, outlet/gauge series and progress reports.
        Output times (records, snapshots) never shorten a step: the step sequence depends
        only on the state, the rain interval edges and the end time.
    max_balance_error : float, optional
        Raise :class:`MassBalanceError` when the final relative error exceeds it.
    progress : callable(fraction, message), optional
        Called about every ``record_interval_s`` of simulated time.
    """
    wall0 = time.perf_counter()
    grid = dem if isinstance(dem, DemGrid) else load_dem(dem, crs=crs)
    if isinstance(rainfall, (int, float)):
        if duration_s is None:
            raise RainfallError("a constant intensity needs duration_s")
        rainfall = Hyetograph([0.0, float(duration_s)], [float(rainfall)], label=f"constant {rainfall} mm/h")
    if not isinstance(rainfall, (Hyetograph, GriddedRainfall)):
        raise RainfallError(f"unsupported rainfall {type(rainfall).__name__}")
    if isinstance(rainfall, GriddedRainfall) and rainfall.frames_mm_h.shape[1:] != grid.shape:
        raise RainfallError("gridded rainfall frames must be on the DEM grid (use GriddedRainfall.from_rasters)")
    T = float(duration_s if duration_s is not None else rainfall.duration_s + 3600.0)
    if T <= 0:
        raise InputError("duration must be positive")
    n = _manning_field(manning, landuse, landuse_manning, grid)
    obst = burn_obstacles(buildings, grid) if buildings is not None else None
    om = outlet_open_mask(outlets, grid.shape)
    if open_mask is not None:
        om = np.asarray(open_mask, bool) if om is None else (om | np.asarray(open_mask, bool))
    solver = LocalInertialSolver(
        grid.z, dx=grid.dx, dy=grid.dy, manning=n, obstacles=obst, boundaries=boundaries, open_mask=om,
        open_nodata=open_nodata, alpha=alpha, theta=theta, dt_max=dt_max, h_min_flow=h_min_flow,
        edge_slope=edge_slope, boundary_stage=boundary_stage, dtype=dtype, backend=backend)  # type: ignore[arg-type]
    solver.set_depth(initial_depth)
    act = solver.active
    coupler = None
    if network is not None:
        if np.ndim(drainage_mm_h) == 0 and float(drainage_mm_h) != 0.0:  # type: ignore[arg-type]
            raise InputError("pass either a pipe network or a uniform drainage_mm_h, not both")
        coupler = DrainageCoupling(network, coupling).start(solver, grid, T)
    outlet_rec = OutletRecorder(outlets, solver) if outlets else None
    gauge_rec = GaugeRecorder(gauges, grid, solver) if gauges else None

    # losses [m/s]
    drain = align_raster(drainage_mm_h, grid, name="drainage")
    drain = drain * MM_H if np.ndim(drain) == 0 else np.nan_to_num(np.asarray(drain)) * MM_H
    if isinstance(infiltration, (int, float)):
        infiltration = ConstantLoss(float(infiltration))
    scs = infiltration if isinstance(infiltration, SCSCurveNumber) else None
    if scs is not None:
        scs.reset()
    finf = infiltration.rate_mm_h * MM_H if isinstance(infiltration, ConstantLoss) else 0.0
    finf = finf if np.ndim(finf) == 0 else np.asarray(finf, float)
    loss = finf + drain
    if np.ndim(loss) == 0:
        share = float(finf) / float(loss) if float(loss) > 0 else 1.0
        loss = float(loss)
    else:
        loss = np.asarray(loss, float)
        share = np.where(loss > 0, np.broadcast_to(finf, loss.shape) / np.where(loss > 0, loss, 1.0), 1.0)

    all_thr = sorted({float(t) for t in thresholds} | {float(v) for v in levels.values()})
    t_first = {t: np.full(grid.shape, np.nan, np.float32) for t in all_thr}
    if not record_interval_s > 0:
        raise InputError("record_interval_s must be positive")
    snaps_req = sorted({float(t) for t in snapshot_times if 0 < float(t) <= T})
    # steps end at rain interval edges (the forcing changes there) and at T, never at output times
    events_arr = np.array(sorted({float(e) for e in rainfall.edges if 0 < e < T} | {T}))
    rec_times = np.array(sorted(set(np.arange(record_interval_s, T, record_interval_s).tolist()) | {T}))
    ri = 0
    snapshots: dict[float, np.ndarray] = {}
    records: list[tuple] = []
    cum = dict(rain=0.0, infiltration=0.0, drainage=0.0, outflow=0.0, clipped=0.0, to_net=0.0, from_net=0.0)
    storage0 = solver.storage
    cell_area = solver.cell_area
    cur_interval, net_rate, gross_rate = -2, 0.0, 0.0
    ei = 0
    eps = 1e-9
    if progress:
        progress(0.0, f"start: {grid.shape[0]}x{grid.shape[1]} cells, {T:g} s, rain {rainfall.label}")
    while solver.t < T - eps:
        t = solver.t
        while events_arr[ei] <= t + eps:
            ei += 1
        t_next = events_arr[ei]
        k = rainfall.interval(t + eps)
        if k != cur_interval:  # forcing is piecewise constant: recompute once per rain interval
            cur_interval = k
            gross_rate = rainfall.rate(t + eps)
            if scs is not None and k >= 0:
                width = float(rainfall.edges[k + 1] - rainfall.edges[k])
                net_rate = scs.effective_rate(gross_rate, width)
            else:
                net_rate = gross_rate
            if np.ndim(gross_rate) == 0:
                gross_vol_rate = float(gross_rate) * solver.n_active * cell_area
            else:
                gross_vol_rate = float(np.sum(gross_rate, where=act)) * cell_area
        dt = min(solver.stable_dt(), t_next - t)
        snap_due = [sn for sn in snaps_req if sn not in snapshots and sn <= t + dt + eps]
        h_before = solver.h.astype(np.float64) if snap_due else None
        r = solver.step(dt, source=net_rate, loss=loss, infiltration_share=share)
        storage = r.storage
        if coupler is not None:  # 1D-2D exchange step (flood_model.drainage)
            v_in, v_out = coupler.exchange(solver)
            cum["to_net"] += v_in
            cum["from_net"] += v_out
            storage += v_out - v_in
        if outlet_rec is not None:
            outlet_rec.add(dt)
        if gauge_rec is not None:
            gauge_rec.add()
        for sn in snap_due:  # linear in time within the step that passes the snapshot time
            w = min(max((sn - t) / dt, 0.0), 1.0)
            snapshots[sn] = np.where(act, h_before + w * (solver.h - h_before), np.nan).astype(np.float32)
        gross = gross_vol_rate * dt
        cum["rain"] += gross
        cum["infiltration"] += r.infiltration + (gross - r.source)
        cum["drainage"] += r.loss - r.infiltration
        cum["outflow"] += r.outflow
        cum["clipped"] += r.clipped
        err = storage - storage0 - (cum["rain"] - cum["infiltration"] - cum["drainage"] - cum["outflow"]
                                    - cum["to_net"] + cum["from_net"])
        ref = max(cum["rain"], storage0, 1e-12)
        records.append((solver.t, dt, cum["rain"], cum["infiltration"], cum["drainage"], cum["outflow"],
                        cum["to_net"], cum["from_net"], storage, r.repaired_cells, cum["clipped"], err, err / ref))
        tn = solver.t
        if tn >= rec_times[ri] - eps or tn >= T - eps:
            while ri < len(rec_times) - 1 and rec_times[ri] <= tn + eps:
                ri += 1
            hm = solver.hmax
            for thr, arr in t_first.items():
                new = (hm >= thr) & np.isnan(arr)
                if new.any():
                    arr[new] = tn
            if progress:
                progress(min(tn / T, 1.0), f"t={tn:,.0f}/{T:,.0f} s  max depth {float(hm.max()):.3f} m  "
                         f"storage {storage:,.0f} m3  balance err {err / ref:.1e}")
    wall = time.perf_counter() - wall0
    bal = pd.DataFrame(records, columns=["t_s", "dt_s", "rain_m3", "infiltration_m3", "drainage_m3", "outflow_m3",
                                         "to_network_m3", "from_network_m3",
                                         "storage_m3", "repaired_cells", "clipped_m3", "error_m3", "rel_error"])
    max_depth = np.where(act, solver.hmax, np.nan).astype(np.float32)
    max_vel = np.where(act, solver.vmax, np.nan).astype(np.float32)
    for arr in t_first.values():
        arr[~act] = np.nan
    warnings = None
    if roads is not None or grids is not None:
        warnings = build_warnings(grid, max_depth, t_first, roads=roads, grids=grids, levels=levels,
                                  min_length_m=warn_min_length_m, min_area_m2=warn_min_area_m2,
                                  min_area_fraction=warn_min_area_fraction, min_cells=warn_min_cells)
    rel = float(abs(bal["rel_error"].iloc[-1])) if len(bal) else 0.0
    info = {
        "cells": int(act.size), "active_cells": int(act.sum()), "dx_m": grid.dx, "dy_m": grid.dy,
        "crs": grid.crs.to_string(), "duration_s": T, "steps": solver.nsteps, "wall_s": round(wall, 3),
        "cell_updates_per_s": act.size * solver.nsteps / max(wall, 1e-9), "rainfall": rainfall.label,
        "rain_m3": cum["rain"], "outflow_m3": cum["outflow"], "final_storage_m3": solver.storage,
        "relative_balance_error": rel, "max_depth_m": float(np.nanmax(max_depth)),
        "thresholds_m": all_thr, "levels_m": dict(levels), "dtype": np.dtype(dtype).name,
        "warning_rule": {"min_length_m": warn_min_length_m, "min_area_m2": warn_min_area_m2,
                         "min_area_fraction": warn_min_area_fraction, "min_cells": warn_min_cells},
    }
    out_times = np.concatenate([[0.0], rec_times])
    outlet_tab = outlet_rec.frame(out_times) if outlet_rec is not None else None
    gauge_tab = gauge_rec.frame(out_times) if gauge_rec is not None else None
    if outlet_rec is not None:
        info["outlet_volume_m3"] = outlet_rec.volumes_m3
    nodes_tab = series_tab = None
    if coupler is not None:
        nodes_tab, series_tab = coupler.nodes_frame(), coupler.series()
        info["drainage"] = _combined_balance(coupler, cum, storage0, solver.storage)
    if progress:
        progress(1.0, f"done: {solver.nsteps} steps in {wall:.1f} s, max depth {info['max_depth_m']:.3f} m, "
                 f"balance error {rel:.1e}")
    if max_balance_error is not None and (rel > max_balance_error or not math.isfinite(rel)):
        raise MassBalanceError(f"relative water-balance error {rel:.2e} exceeds {max_balance_error:.1e}")
    return ForecastResult(max_depth=max_depth, max_velocity=max_vel,
                          time_to_threshold={t: t_first[t] for t in all_thr}, snapshots=snapshots,
                          balance=bal, warnings=warnings, transform=grid.transform, crs=grid.crs,
                          thresholds=tuple(float(t) for t in thresholds), levels=dict(levels), info=info,
                          outlets=outlet_tab, gauges=gauge_tab, drainage_nodes=nodes_tab,
                          drainage_series=series_tab)


def _combined_balance(coupler: DrainageCoupling, cum: dict, storage0: float, storage: float) -> dict:
    """Surface + network water balance at the end of a coupled run [m3] (see docs/flood.md)."""
    routed = coupler.finish()
    net_storage = routed.pop("network_storage_m3")
    rain = cum["rain"]
    ref = max(rain + storage0, cum["to_net"] + cum["from_net"], 1e-12)  # water that moved
    surface_err = storage - storage0 - (rain - cum["infiltration"] - cum["drainage"] - cum["outflow"]
                                        - cum["to_net"] + cum["from_net"])
    # SWMM books our inflows with backflow from outfalls as external inflow, and our returns (negative
    # inflows) with outfall discharge as outflow: the outfalls' net discharge is what remains
    outfall = ((routed["swmm_outflow_m3"] - (cum["from_net"] - routed["swmm_flooding_m3"]))
               - (routed["swmm_external_inflow_m3"] - cum["to_net"]))
    network_err = net_storage - coupler.storage0 - (cum["to_net"] - cum["from_net"] - outfall)
    combined = surface_err + network_err
    return {"manholes": len(coupler.network), "exchanges": coupler.exchanges,
            "to_network_m3": cum["to_net"], "from_network_m3": cum["from_net"], "outfall_m3": outfall,
            "network_storage_m3": net_storage, "surface_error_m3": surface_err,
            "surface_rel_error": surface_err / ref, "network_error_m3": network_err,
            "network_rel_error": network_err / ref, "combined_error_m3": combined,
            "combined_rel_error": combined / ref,
            "surcharged_manholes": int((coupler.max_head > coupler.crest).sum()),
            "raised_crests": coupler.raised_crests, "swmm_engine_s": round(coupler.engine_s, 3), **routed}
