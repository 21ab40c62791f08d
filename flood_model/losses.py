"""Hydrological losses: infiltration (constant rate or SCS curve number) and sewer drainage.

* :class:`ConstantLoss` - a loss capacity [mm/h] taken from the ponded water.
* :class:`SCSCurveNumber` - SCS-CN rainfall excess ``Pe = (P - Ia)^2 / (P - Ia + S)``
  with ``S = 25.4 (1000/CN - 10)`` mm and ``Ia = ratio * S``, applied to the rain
  before routing (the abstraction is booked as infiltration).
* Drainage capacity [mm/h] (uniform or raster) is a loss taken from the
  ponded water, like :class:`ConstantLoss`, and booked as drainage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flood_model.errors import InputError

__all__ = ["ConstantLoss", "SCSCurveNumber"]


@dataclass
class ConstantLoss:
    """Constant infiltration capacity ``rate_mm_h`` [mm/h] (scalar or array on the DEM grid)."""

    rate_mm_h: float | np.ndarray = 0.0

    def __post_init__(self) -> None:
        if np.any(np.asarray(self.rate_mm_h) < 0):
            raise InputError("infiltration rate must be >= 0 mm/h")


@dataclass
class SCSCurveNumber:
    """SCS curve-number rainfall excess (scalar CN or CN raster on the DEM grid).

    Parameters
    ----------
    cn : float or ndarray
        Curve number in (0, 100]; 98 for sealed surfaces, 60-80 for urban green.
    ia_ratio : float
        Initial abstraction ratio (0.2 classic, 0.05 modern).
    """

    cn: float | np.ndarray = 85.0
    ia_ratio: float = 0.2
    _p_cum: float | np.ndarray = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        cn = np.asarray(self.cn, dtype=float)
        if np.any((cn <= 0) | (cn > 100)):
            raise InputError("curve numbers must be in (0, 100]")

    @property
    def s_mm(self) -> float | np.ndarray:
        """Potential retention S [mm]."""
        return 25.4 * (1000.0 / np.asarray(self.cn, dtype=float) - 10.0)

    def excess_mm(self, p_mm: float | np.ndarray) -> float | np.ndarray:
        """Cumulative rainfall excess Pe [mm] for cumulative rain P [mm]."""
        s = self.s_mm
        ia = self.ia_ratio * s
        p = np.asarray(p_mm, dtype=float)
        return np.where(p > ia, (p - ia) ** 2 / np.maximum(p - ia + s, 1e-12), 0.0)

    def reset(self) -> None:
        self._p_cum = 0.0

    def effective_rate(self, rain_m_s: float | np.ndarray, dt_s: float) -> float | np.ndarray:
        """Net rate [m/s] over the next ``dt_s`` seconds for a rain rate [m/s]; advances the state."""
        p0 = self._p_cum
        p1 = p0 + np.asarray(rain_m_s) * dt_s * 1e3
        self._p_cum = p1
        net = (self.excess_mm(p1) - self.excess_mm(p0)) / 1e3 / dt_s
        return float(net) if np.ndim(net) == 0 else net
