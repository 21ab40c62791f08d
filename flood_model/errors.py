"""Errors raised by :mod:`flood_model`.

Every error derives from :class:`FloodModelError` and carries a message meant
for the user (planner, CLI operator), not a stack-trace reader.
"""

from __future__ import annotations

__all__ = [
    "FloodModelError",
    "GeographicCRSError",
    "InputError",
    "MassBalanceError",
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
