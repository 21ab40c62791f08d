"""Skill of a forecast against water-level readings, and calibration of a few model parameters.

Observations and simulations are long tables ``t_s, gauge, depth_m`` (seconds from the start of
the run, gauge name, water depth above the ground [m]); a run's ``ForecastResult.gauges`` is one.

* :func:`skill`: per gauge the Nash-Sutcliffe efficiency (NSE, 1 = perfect, 0 = no better than the
  observed mean), mean absolute error [m], peak depths and the peak-timing error [s]
  (simulated minus observed time of the maximum).
* :func:`calibrate`: fits up to four parameters with a bounded optimiser (scipy's trust-region
  reflective least squares on the gauge residuals, finite-difference Jacobian): ``rain_factor``
  (multiplies the rainfall), ``manning`` (surface n),
  ``drainage_mm_h`` (the uniform sewer rate, without a network) or ``roughness_factor`` (multiplies
  every pipe's Manning n, with a network). The objective is the mean over gauges of
  ``1 - NSE`` (NSE on the simulation sampled at the observation times); the residuals are scaled
  so that their sum of squares is exactly that mean.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from flood_model.drainage import CouplingParameters
from flood_model.errors import InputError
from flood_model.rainfall import Hyetograph

__all__ = ["PARAMETERS", "CalibrationResult", "calibrate", "skill"]

#: calibratable parameters: name -> (default lower bound, upper bound, unit)
PARAMETERS: dict[str, tuple[float, float, str]] = {
    "rain_factor": (0.5, 2.0, "-"),
    "manning": (0.01, 0.15, "s m^-1/3"),
    "drainage_mm_h": (0.0, 100.0, "mm/h"),
    "roughness_factor": (0.3, 3.0, "-"),
}


def _check_table(df: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = {"t_s", "gauge", "depth_m"} - set(df.columns)
    if missing:
        raise InputError(f"{what} need columns t_s, gauge, depth_m (missing {', '.join(sorted(missing))})")
    df = df[["t_s", "gauge", "depth_m"]].copy()
    df["t_s"] = pd.to_numeric(df["t_s"], errors="coerce")
    df["depth_m"] = pd.to_numeric(df["depth_m"], errors="coerce")
    df["gauge"] = df["gauge"].astype(str)
    bad = ~np.isfinite(df["t_s"]) | ~np.isfinite(df["depth_m"])
    if bad.any():
        first = df[bad].iloc[0]
        raise InputError(f"{what}: {int(bad.sum())} rows without a numeric time or depth "
                         f"(first: gauge {first['gauge']}, t_s {first['t_s']})")
    return df.sort_values(["gauge", "t_s"])


def skill(simulated: pd.DataFrame, observed: pd.DataFrame) -> pd.DataFrame:
    """Per gauge present in both tables: ``n, nse, mae_m, obs_peak_m, sim_peak_m, obs_peak_t_s,
    sim_peak_t_s, peak_timing_error_s`` (simulation interpolated linearly at the observation times)."""
    sim, obs = _check_table(simulated, "simulated series"), _check_table(observed, "observations")
    rows = []
    for gauge, o in obs.groupby("gauge", sort=True):
        s = sim[sim.gauge == gauge]
        if s.empty:
            continue
        t, ov = o.t_s.to_numpy(), o.depth_m.to_numpy()
        inside = (t >= s.t_s.min()) & (t <= s.t_s.max())
        t, ov = t[inside], ov[inside]
        if len(t) < 2:
            continue
        sv = np.interp(t, s.t_s.to_numpy(), s.depth_m.to_numpy())
        var = float(((ov - ov.mean()) ** 2).sum())
        nse = 1.0 - float(((sv - ov) ** 2).sum()) / var if var > 0 else float("nan")
        rows.append({"gauge": gauge, "n": len(t), "nse": nse, "mae_m": float(np.abs(sv - ov).mean()),
                     "obs_peak_m": float(ov.max()), "sim_peak_m": float(s.depth_m.max()),
                     "obs_peak_t_s": float(t[ov.argmax()]), "sim_peak_t_s": float(s.t_s.iloc[s.depth_m.argmax()]),
                     "peak_timing_error_s": float(s.t_s.iloc[s.depth_m.argmax()] - t[ov.argmax()])})
    cols = ["gauge", "n", "nse", "mae_m", "obs_peak_m", "sim_peak_m", "obs_peak_t_s", "sim_peak_t_s",
            "peak_timing_error_s"]
    return pd.DataFrame(rows, columns=cols)


@dataclass
class CalibrationResult:
    """Best parameters, their objective (mean 1 - NSE), the skill table at the optimum and the trials."""

    parameters: dict[str, float]
    objective: float
    skill: pd.DataFrame
    evaluations: int
    wall_s: float
    history: list[dict[str, float]] = field(default_factory=list)
    success: bool = True
    message: str = ""


def apply_parameters(kwargs: Mapping[str, Any], rainfall: Hyetograph, params: Mapping[str, float]
                     ) -> tuple[Hyetograph, dict[str, Any]]:
    """The rainfall and :func:`run_forecast` keyword arguments with ``params`` applied."""
    kw = dict(kwargs)
    rain = rainfall
    if "rain_factor" in params:
        f = float(params["rain_factor"])
        rain = Hyetograph(rainfall.edges_s, rainfall.intensity_mm_h * f, label=f"{rainfall.label} x {f:.3g}")
    if "manning" in params:
        kw["manning"] = float(params["manning"])
    if "drainage_mm_h" in params:
        if kw.get("network") is not None:
            raise InputError("drainage_mm_h is the fallback without a pipe network; calibrate roughness_factor")
        kw["drainage_mm_h"] = float(params["drainage_mm_h"])
    if "roughness_factor" in params:
        if kw.get("network") is None:
            raise InputError("roughness_factor needs a pipe network (network=)")
        kw["coupling"] = replace(kw.get("coupling") or CouplingParameters(),
                                 roughness_factor=float(params["roughness_factor"]))
    return rain, kw


def calibrate(rainfall: Hyetograph, observed: pd.DataFrame, *, parameters: Mapping[str, tuple[float, float]],
              forecast_kwargs: Mapping[str, Any], x0: Mapping[str, float] | None = None,
              max_evaluations: int = 60, xtol: float = 1e-4, ftol: float = 1e-8, diff_step: float = 1e-2,
              run: Callable[..., Any] | None = None) -> CalibrationResult:
    """Fit ``parameters`` (name -> (lower, upper) bounds, names from :data:`PARAMETERS`) to ``observed``.

    ``forecast_kwargs`` are passed to :func:`flood_model.run_forecast` (``dem``, ``gauges`` with the
    observed gauges' positions, ``duration_s``, ``network``, ...); ``x0`` the start (default: the
    middle of each bound). Returns the best parameters found within about ``max_evaluations``
    optimiser iterations (each Jacobian costs one run per parameter; every run is counted in
    ``evaluations``). ``diff_step`` is the finite-difference step as a fraction of each bound's width.
    """
    from scipy.optimize import least_squares

    from flood_model.forecast import run_forecast

    run = run or run_forecast
    names = list(parameters)
    unknown = [n for n in names if n not in PARAMETERS]
    if unknown or not names:
        raise InputError(f"calibrate one or more of {', '.join(PARAMETERS)}; got {names}")
    lo = np.array([float(parameters[n][0]) for n in names])
    hi = np.array([float(parameters[n][1]) for n in names])
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
        raise InputError("every parameter needs finite bounds with lower < upper")
    obs = _check_table(observed, "observations")
    gauges = dict(forecast_kwargs.get("gauges") or {})
    missing = sorted(set(obs.gauge) - set(gauges))
    if missing:
        raise InputError(f"observed gauge {missing[0]} has no position in forecast_kwargs['gauges']")
    start = np.array([float((x0 or {}).get(n, 0.5 * (lo[k] + hi[k]))) for k, n in enumerate(names)])
    # optimise on [0, 1] per parameter so one tolerance fits all units
    u0 = np.clip((start - lo) / (hi - lo), 0.0, 1.0)
    history: list[dict[str, float]] = []
    cache: dict[tuple, np.ndarray] = {}
    groups = {g: (o.t_s.to_numpy(), o.depth_m.to_numpy()) for g, o in obs.groupby("gauge", sort=True)}
    scale = {g: math.sqrt(max(float(((v - v.mean()) ** 2).sum()), 1e-12)) for g, (_, v) in groups.items()}
    t0 = time.perf_counter()

    def residuals(u: np.ndarray) -> np.ndarray:
        """Per gauge (sim - obs) / sqrt(sum (obs - mean)^2): each gauge's squares sum to 1 - NSE."""
        x = lo + np.clip(u, 0.0, 1.0) * (hi - lo)
        key = tuple(np.round(x, 12))
        if key in cache:
            return cache[key]
        params = dict(zip(names, map(float, x), strict=True))
        rain, kw = apply_parameters(forecast_kwargs, rainfall, params)
        sim = run(kw.pop("dem"), rain, **kw).gauges
        parts = []
        for g, (t, v) in groups.items():
            sg = sim[sim.gauge == g]
            sv = np.interp(t, sg.t_s.to_numpy(), sg.depth_m.to_numpy())
            parts.append((sv - v) / scale[g] / math.sqrt(len(groups)))
        r = np.concatenate(parts)
        cache[key] = r
        history.append({**params, "objective": float((r * r).sum())})
        return r

    opt = least_squares(residuals, u0, bounds=(0.0, 1.0), method="trf", diff_step=diff_step, xtol=xtol,
                        ftol=ftol, max_nfev=max_evaluations)
    best = min(history, key=lambda h: h["objective"])
    params = {n: best[n] for n in names}
    rain, kw = apply_parameters(forecast_kwargs, rainfall, params)
    final = skill(run(kw.pop("dem"), rain, **kw).gauges, obs)
    return CalibrationResult(parameters=params, objective=best["objective"], skill=final,
                             evaluations=len(history), wall_s=time.perf_counter() - t0, history=history,
                             success=bool(opt.success), message=str(opt.message))
