"""Outlets (discharge per named boundary segment) and gauges (series at named points).

Both record every solver step and are resampled afterwards onto output times, so
the output times never influence the step sequence. Volumes in m3, discharges in
m3/s (outlets) or m2/s per unit width (gauges), depths in m, times in s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from flood_model.errors import InputError
from flood_model.grid import DemGrid
from flood_model.solver import EDGES, LocalInertialSolver

__all__ = ["GaugeRecorder", "OutletRecorder", "outlet_open_mask"]

OutletSpec = str | np.ndarray  # an edge name, "nodata", or a bool mask of cells (DEM shape)


def outlet_open_mask(outlets: Mapping[str, OutletSpec] | None, shape: tuple[int, int]) -> np.ndarray | None:
    """Union of the outlet cell masks: their raster-edge faces must be open."""
    masks = [np.asarray(v, bool) for v in (outlets or {}).values() if not isinstance(v, str)]
    for m in masks:
        if m.shape != shape:
            raise InputError(f"outlet mask shape {m.shape} != DEM shape {shape}")
    return np.logical_or.reduce(masks) if masks else None


class OutletRecorder:
    """Discharge through named groups of open faces.

    ``outlets`` maps a name to ``"north"|"south"|"west"|"east"`` (the open faces of
    that raster edge), ``"nodata"`` (open faces into nodata) or a bool cell mask (the
    open faces of those cells). A face may belong to several outlets.
    """

    def __init__(self, outlets: Mapping[str, OutletSpec], solver: LocalInertialSolver) -> None:
        self.names = list(outlets)
        edge_of = {e: d for d, e in enumerate(("west", "east", "north", "south"))}
        rows = []
        for name, spec in outlets.items():
            if isinstance(spec, str):
                if spec == "nodata":
                    sel = solver.ob_nodata.copy()
                elif spec in EDGES:
                    sel = (solver.ob_d == edge_of[spec]) & ~solver.ob_nodata
                else:
                    raise InputError(f"outlet {name!r}: {spec!r} is not one of {(*EDGES, 'nodata')} or a mask")
            else:
                sel = np.asarray(spec, bool)[solver.ob_j, solver.ob_i]
            if not sel.any():
                raise InputError(f"outlet {name!r} has no open boundary face (open its edge or give boundaries=)")
            rows.append(sel)
        self._m = np.array(rows, float).reshape(len(rows), len(solver.ob_j))
        self._solver = solver
        self._t = [solver.t]
        self._cum = [np.zeros(len(rows))]

    def add(self, dt: float) -> None:
        """Book the last step (call right after ``solver.step(dt)``)."""
        self._cum.append(self._cum[-1] + self._m @ self._solver.face_outflow(dt))
        self._t.append(self._solver.t)

    @property
    def volumes_m3(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self._cum[-1], strict=True)}

    def frame(self, times: np.ndarray) -> pd.DataFrame:
        """Long table ``t_s, outlet, discharge_m3_s`` (mean over the interval ending at ``t_s``), ``volume_m3``."""
        t = np.asarray(self._t)
        cum = np.asarray(self._cum)
        out = []
        for k, name in enumerate(self.names):
            v = np.interp(times, t, cum[:, k])  # exact: the rate is constant within a step
            q = np.diff(v, prepend=0.0) / np.diff(times, prepend=0.0).clip(min=1e-12)
            out.append(pd.DataFrame({"t_s": times, "outlet": name, "discharge_m3_s": q, "volume_m3": v}))
        return pd.concat(out, ignore_index=True)


class GaugeRecorder:
    """Depth, unit discharge and speed at named points ``{name: (x, y)}`` in the DEM's CRS."""

    def __init__(self, gauges: Mapping[str, Any], grid: DemGrid, solver: LocalInertialSolver) -> None:
        self.names = list(gauges)
        inv = ~grid.transform
        ny, nx = grid.shape
        self._j, self._i = [], []
        for name, xy in gauges.items():
            try:
                x, y = (float(v) for v in xy)
            except (TypeError, ValueError) as exc:
                raise InputError(f"gauge {name!r}: expected (x, y) in the DEM CRS, got {xy!r}") from exc
            col, row = inv @ (x, y)
            j, i = int(np.floor(row)), int(np.floor(col))
            if not (0 <= j < ny and 0 <= i < nx):
                raise InputError(f"gauge {name!r} at ({x:g}, {y:g}) lies outside the DEM "
                                 f"(bounds {grid.bounds}, CRS {grid.crs.to_string()})")
            if not solver.active[j, i]:
                raise InputError(f"gauge {name!r} at ({x:g}, {y:g}) lies on a nodata or building cell")
            self._j.append(j)
            self._i.append(i)
        self._j, self._i = np.array(self._j), np.array(self._i)
        self._solver = solver
        self._t: list[float] = []
        self._h: list[np.ndarray] = []
        self._q: list[np.ndarray] = []
        self.add()

    def add(self) -> None:
        """Record the current state (call after every step)."""
        s, j, i = self._solver, self._j, self._i
        ux = 0.5 * (s.qx[j, i].astype(float) + s.qx[j, i + 1])
        uy = 0.5 * (s.qy[j, i].astype(float) + s.qy[j + 1, i])
        self._t.append(s.t)
        self._h.append(s.h[j, i].astype(float))
        self._q.append(np.hypot(ux, uy))

    def frame(self, times: np.ndarray) -> pd.DataFrame:
        """Long table ``t_s, gauge, depth_m, unit_discharge_m2_s, speed_m_s`` at ``times`` (linear in time)."""
        t = np.asarray(self._t)
        h, q = np.asarray(self._h), np.asarray(self._q)
        hv = self._solver.h_velocity_min
        out = []
        for k, name in enumerate(self.names):
            hk, qk = np.interp(times, t, h[:, k]), np.interp(times, t, q[:, k])
            sp = np.where(hk > hv, qk / np.maximum(hk, hv), 0.0)
            out.append(pd.DataFrame({"t_s": times, "gauge": name, "depth_m": hk, "unit_discharge_m2_s": qk,
                                     "speed_m_s": sp}))
        return pd.concat(out, ignore_index=True)
