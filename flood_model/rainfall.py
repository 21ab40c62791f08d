"""Rainfall forcing: design storms, hyetograph tables and gridded forecast stacks.

Every rainfall object is piecewise constant in time: ``edges`` [s] delimit
intervals and :meth:`rate` returns the rate [m/s] of the interval holding
``t`` (scalar for uniform rain, an array on the DEM grid for gridded rain).
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from flood_model.errors import RainfallError
from flood_model.storms import StormFormula, chicago_hyetograph, get_storm

__all__ = ["GriddedRainfall", "Hyetograph", "Rainfall", "design_storm"]

MM_H = 1e-3 / 3600.0  # 1 mm/h in m/s


@dataclass
class Hyetograph:
    """Uniform rain from a table: intervals ``edges_s`` [s] and intensities [mm/h].

    ``intensity_mm_h[k]`` holds between ``edges_s[k]`` and ``edges_s[k+1]``;
    before the first and after the last edge it does not rain.
    """

    edges_s: np.ndarray
    intensity_mm_h: np.ndarray
    label: str = "hyetograph"

    def __post_init__(self) -> None:
        self.edges_s = np.asarray(self.edges_s, dtype=float)
        self.intensity_mm_h = np.asarray(self.intensity_mm_h, dtype=float)
        if self.edges_s.ndim != 1 or len(self.edges_s) != len(self.intensity_mm_h) + 1:
            raise RainfallError("a hyetograph needs len(edges) == len(intensities) + 1")
        _check_edges(self.edges_s, "hyetograph")
        _check_intensity(self.intensity_mm_h, "hyetograph intensity")

    @classmethod
    def from_depths(cls, depths_mm: Any, step_s: float, *, start_s: float = 0.0, label: str = "hyetograph"
                    ) -> Hyetograph:
        """Build from rain depths [mm] per interval of ``step_s`` seconds."""
        d = np.asarray(depths_mm, dtype=float)
        return cls(start_s + step_s * np.arange(len(d) + 1), d / step_s * 3600.0, label)

    @classmethod
    def from_csv(cls, path: str | PathLike, *, column: str | None = None, step_s: float = 60.0) -> Hyetograph:
        """Read a depth table: one row per interval, depth [mm] in ``column`` (default: last)."""
        df = pd.read_csv(path)
        col = column or df.columns[-1]
        if col not in df:
            raise RainfallError(f"column {col!r} not in {path}; has {list(df.columns)}")
        return cls.from_depths(df[col].to_numpy(), step_s, label=f"{path}:{col}")

    @property
    def edges(self) -> np.ndarray:
        return self.edges_s

    @property
    def duration_s(self) -> float:
        return float(self.edges_s[-1])

    @property
    def total_mm(self) -> float:
        """Total rain depth [mm]."""
        return float(np.sum(self.intensity_mm_h * np.diff(self.edges_s)) / 3600.0)

    def interval(self, t: float) -> int:
        """Index of the interval holding time ``t`` [s], -1 outside the storm."""
        k = int(np.searchsorted(self.edges_s, t, side="right")) - 1
        return k if 0 <= k < len(self.intensity_mm_h) else -1

    def rate(self, t: float) -> float:
        """Rain rate [m/s] at time ``t`` [s]."""
        k = self.interval(t)
        return 0.0 if k < 0 else float(self.intensity_mm_h[k]) * MM_H


@dataclass
class GriddedRainfall:
    """A forecast stack: ``frames[k]`` [mm/h] on the DEM grid holds from ``edges_s[k]`` to ``edges_s[k+1]``."""

    edges_s: np.ndarray
    frames_mm_h: np.ndarray
    label: str = "gridded"

    def __post_init__(self) -> None:
        self.edges_s = np.asarray(self.edges_s, dtype=float)
        self.frames_mm_h = np.asarray(self.frames_mm_h, dtype=float)
        if self.frames_mm_h.ndim != 3 or len(self.edges_s) != self.frames_mm_h.shape[0] + 1:
            raise RainfallError("gridded rain needs frames (k, ny, nx) and k + 1 edges")
        _check_edges(self.edges_s, "gridded rain")
        _check_intensity(self.frames_mm_h, "gridded rain")
        self._cache: tuple[int, np.ndarray] | None = None

    @classmethod
    def from_rasters(cls, paths: list[str | PathLike], edges_s: Any, grid: Any) -> GriddedRainfall:
        """Read one raster per interval [mm/h] and resample each onto the DEM grid (bilinear)."""
        from flood_model.grid import align_raster

        frames = [np.asarray(align_raster(p, grid, name="rainfall")) for p in paths]
        outside = ~np.isfinite(grid.z)  # no rain is needed where the DEM has no data
        frames = [np.where(outside, 0.0, f) for f in frames]
        return cls(np.asarray(edges_s, float), np.stack(frames), label=f"{len(paths)} rasters")

    @property
    def edges(self) -> np.ndarray:
        return self.edges_s

    @property
    def duration_s(self) -> float:
        return float(self.edges_s[-1])

    def interval(self, t: float) -> int:
        k = int(np.searchsorted(self.edges_s, t, side="right")) - 1
        return k if 0 <= k < self.frames_mm_h.shape[0] else -1

    def rate(self, t: float) -> np.ndarray | float:
        """Rain rate [m/s] on the grid at time ``t`` (0.0 outside the stack)."""
        k = self.interval(t)
        if k < 0:
            return 0.0
        if self._cache is None or self._cache[0] != k:
            self._cache = (k, self.frames_mm_h[k] * MM_H)
        return self._cache[1]


Rainfall = Hyetograph | GriddedRainfall


def _check_edges(edges: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise RainfallError(f"{what} time edges [s] must be finite and strictly increasing")


def _check_intensity(values: np.ndarray, what: str) -> None:
    """Refuse NaN, infinite and negative intensities [mm/h] (no silent zero-filling)."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise RainfallError(f"{what} has {int(bad.sum())} NaN or infinite value(s) [mm/h]; "
                            "fill gaps explicitly (e.g. 0 where it did not rain) before forecasting")
    neg = values < 0
    if neg.any():
        raise RainfallError(f"{what} has {int(neg.sum())} negative value(s) (min {float(values.min()):g} mm/h); "
                            "rain intensities must be >= 0")


def design_storm(storm: str | StormFormula, *, return_period: float, duration_s: float,
                 peak_ratio: float | None = None, step_s: float = 60.0) -> Hyetograph:
    """Chicago design storm from a named preset or formula.

    Parameters
    ----------
    storm : str or StormFormula
        Preset name (``huangpu``, ``guangzhou``, ``shenzhen``) or a formula.
    return_period : float
        Years.
    duration_s : float
        Storm duration [s].
    peak_ratio : float, optional
        Peak position r (default from the preset).
    step_s : float
        Hyetograph interval [s].
    """
    f = get_storm(storm) if isinstance(storm, str) else storm
    depths = chicago_hyetograph(f, return_period, duration_s / 60.0, peak_ratio=peak_ratio, step_min=step_s / 60.0)
    edges = np.minimum(np.arange(len(depths) + 1) * step_s, duration_s)
    widths = np.diff(edges)
    return Hyetograph(edges, depths / widths * 3600.0, label=f"{f.name} P={return_period}a T={duration_s / 60:g}min")
