"""Errors raised by :mod:`flood_model`.

Every error derives from :class:`FloodModelError` and carries a message meant
for the user (planner, CLI operator), not a stack-trace reader.
"""

from __future__ import annotations

__all__ = [
    "DrainageEngineError",
    "FloodModelError",
    "GeographicCRSError",
    "InputError",
    "MassBalanceError",
    "NetworkError",
    "RainfallError",
    "StormFormulaError",
]


class FloodModelError(Exception):
    """Root of all flood-model errors (to subclass the project-wide OneMapError later)."""


class InputError(FloodModelError):
    """An input raster, vector layer or parameter is missing, malformed or inconsistent."""


class GeographicCRSError(InputError):
    """The DEM is in a geographic (degree) CRS; the solver needs metres.

    Pass ``crs="utm"`` (or an EPSG code) to :func:`flood_model.load_dem` to
    reproject, or reproject the DEM beforehand.
    """


class RainfallError(InputError):
    """A rainfall specification (storm, hyetograph, raster stack) is invalid."""


class StormFormulaError(RainfallError):
    """Unknown storm-formula preset or invalid formula parameters."""


class MassBalanceError(FloodModelError):
    """The run's relative water-balance error exceeded the configured tolerance."""


class NetworkError(InputError):
    """A pipe network (SWMM ``.inp`` or layers) is malformed; the message names the element."""


class DrainageEngineError(FloodModelError):
    """The SWMM engine refused the network or failed during the run (message from SWMM)."""
