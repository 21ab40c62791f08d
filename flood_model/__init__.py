"""OneMap flood forecast: rainfall -> waterlogging depth on a DEM (pure numpy/numba/rasterio).

Public API::

    from flood_model import run_forecast, design_storm, load_dem
    storm = design_storm("huangpu", return_period=5, duration_s=7200)
    result = run_forecast("dem.tif", storm, drainage_mm_h=30, roads=roads_gdf)
    result.max_depth, result.warnings, result.write("out/")

``warmup()`` compiles / loads the numba kernels ahead of the first forecast
(call it from a background thread at server start-up).

This package imports neither ``spatial`` nor ``panel``.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless already set (before numba's
OpenMP layer starts): spinning OpenMP barriers made 2-thread runs 5-10x slower
than 1 thread on a busy 2-vCPU VM (measured, see docs/flood.md).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from flood_model._warmup import warmup
from flood_model.alerts import DEFAULT_LEVELS, build_warnings, level_for
from flood_model.errors import (
    FloodModelError,
    GeographicCRSError,
    InputError,
    MassBalanceError,
    RainfallError,
    StormFormulaError,
)
from flood_model.forecast import ForecastResult, run_forecast
from flood_model.grid import DemGrid, load_dem
from flood_model.losses import ConstantLoss, SCSCurveNumber
from flood_model.rainfall import GriddedRainfall, Hyetograph, design_storm
from flood_model.solver import LocalInertialSolver
from flood_model.storms import PRESETS, StormFormula, chicago_hyetograph, get_storm, parse_storm_params

__all__ = [
    "DEFAULT_LEVELS",
    "PRESETS",
    "ConstantLoss",
    "DemGrid",
    "FloodModelError",
    "ForecastResult",
    "GeographicCRSError",
    "GriddedRainfall",
    "Hyetograph",
    "InputError",
    "LocalInertialSolver",
    "MassBalanceError",
    "RainfallError",
    "SCSCurveNumber",
    "StormFormula",
    "StormFormulaError",
    "build_warnings",
    "chicago_hyetograph",
    "design_storm",
    "get_storm",
    "level_for",
    "load_dem",
    "parse_storm_params",
    "run_forecast",
    "warmup",
]
