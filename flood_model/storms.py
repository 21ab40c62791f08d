"""Storm-intensity formulas (Chinese 暴雨强度公式) and the Chicago design hyetograph.

Formula forms (q in L/(s*ha), t in minutes, P = return period in years)::

    general : q = A (1 + C lg P) / (t + b)^n
    interval: q = 167 A(P) / (t + b(P))^n(P),  X(P) = p1 + p2 ln(P - p3)

Rain intensity ``i`` [mm/min] = q / 167 (GB 50014 convention).

Presets (parameters copied from the shared data set
``03_dem_rainfall/guangzhou_idf_2021.yaml`` and ``shenzhen_idf_2024.yaml``;
see its PROVENANCE.txt):

* ``huangpu``  - Guangzhou 黄埔区 short-duration general formula (Huangpu station
  2001-2020), A = 8618.173 (PDF garble 1618.173 corrected by the data set's
  curator; reproduces the published 60-min depths), C = 0.5428, b = 34.767,
  n = 0.844; Chicago peak ratio r = 0.566 (60 min), 0.387 (120 min), 0.290 (180 min).
  Source: 广州市水务局/气象局《广州市暴雨强度公式编制与设计暴雨雨型研究技术报告（简本）》
  (2022-12), http://swj.gz.gov.cn/attachment/7/7870/7870863/8835843.pdf
* ``guangzhou`` - Guangzhou 中心城区 general formula, same report:
  A = 13290.6, C = 0.607, b = 39.12, n = 0.956.
* ``shenzhen`` - Shenzhen 中部流域和水系 (Futian, Luohu, Nanshan...) interval formula,
  深圳市气象局等《深圳市分流域暴雨强度公式及查算图表》(2024版),
  https://weather.sz.gov.cn/attachment/1/1547/1547780/11971465.pdf
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from flood_model.errors import StormFormulaError

__all__ = ["PRESETS", "IntervalFormula", "StormFormula", "chicago_hyetograph", "get_storm", "parse_storm_params"]

L_S_HA_PER_MM_MIN = 167.0  # 1 mm/min = 166.7 L/(s*ha); Chinese design codes use 167


@dataclass(frozen=True)
class StormFormula:
    """General storm-intensity formula ``q = A (1 + C lg P) / (t + b)^n``.

    Parameters
    ----------
    A, C, b, n : float
        Formula parameters; q in L/(s*ha), t in minutes (A includes the 167 factor).
    name, citation : str
        Label and bibliographic source.
    peak_ratio : float
        Default Chicago peak position r (fraction of the duration before the peak).
    """

    A: float
    C: float
    b: float
    n: float
    name: str = "custom"
    citation: str = ""
    peak_ratio: float = 0.4
    peak_ratios: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.A > 0 and self.b >= 0 and 0 < self.n < 2):
            raise StormFormulaError(f"implausible storm formula parameters A={self.A} b={self.b} n={self.n}")

    def abn(self, return_period: float) -> tuple[float, float, float]:
        """Return ``(a, b, n)`` with ``i = a / (t + b)^n`` in mm/min for a return period [years]."""
        if return_period < 1:
            raise StormFormulaError("return period must be >= 1 year")
        return self.A * (1 + self.C * math.log10(return_period)) / L_S_HA_PER_MM_MIN, self.b, self.n

    def intensity(self, t_min: float | np.ndarray, return_period: float) -> float | np.ndarray:
        """Average intensity [mm/min] over a duration ``t_min`` [min]."""
        a, b, n = self.abn(return_period)
        return a / (np.asarray(t_min, dtype=float) + b) ** n

    def depth(self, t_min: float | np.ndarray, return_period: float) -> float | np.ndarray:
        """Total rain depth [mm] of the design storm of duration ``t_min`` [min]."""
        return self.intensity(t_min, return_period) * np.asarray(t_min, dtype=float)

    def peak_ratio_for(self, duration_min: float) -> float:
        """Chicago peak ratio for a duration (nearest tabulated value, else the default)."""
        if not self.peak_ratios:
            return self.peak_ratio
        key = min(self.peak_ratios, key=lambda d: abs(d - duration_min))
        return self.peak_ratios[key]


@dataclass(frozen=True)
class IntervalFormula(StormFormula):
    """Interval formula ``q = 167 A(P)/(t + b(P))^n(P)``, ``X(P) = p1 + p2 ln(P - p3)``.

    ``ranges`` holds ``(p_lo, p_hi, (A1, A2, A3), (b1, b2, b3), (n1, n2, n3))`` rows.
    """

    ranges: tuple = ()

    def abn(self, return_period: float) -> tuple[float, float, float]:
        for lo, hi, pa, pb, pn in self.ranges:
            if lo <= return_period <= hi:
                def f(p):
                    return p[0] + p[1] * math.log(return_period - p[2])
                return f(pa), f(pb), f(pn)  # interval A is in mm: i = A / (t + b)^n
        raise StormFormulaError(f"return period {return_period} outside the formula's range")


_GZ_REPORT = ("广州市水务局/广州市气象局《广州市暴雨强度公式编制与设计暴雨雨型研究技术报告（简本）》(2022-12), "
              "http://swj.gz.gov.cn/attachment/7/7870/7870863/8835843.pdf; values via shared data "
              "03_dem_rainfall/guangzhou_idf_2021.yaml (YYer-ai/swmm-copilot b85aafc, MIT)")
_SZ_REPORT = ("深圳市气象局等《深圳市分流域暴雨强度公式及查算图表》(2024版), "
              "https://weather.sz.gov.cn/attachment/1/1547/1547780/11971465.pdf; values via shared data "
              "03_dem_rainfall/shenzhen_idf_2024.yaml (YYer-ai/swmm-copilot b85aafc, MIT)")

PRESETS: dict[str, StormFormula] = {
    "huangpu": StormFormula(
        A=8618.173, C=0.5428, b=34.767, n=0.844, name="广州市黄埔区 (Huangpu station, general formula)",
        citation=_GZ_REPORT, peak_ratio=0.566, peak_ratios={60: 0.566, 120: 0.387, 180: 0.290},
    ),
    "guangzhou": StormFormula(
        A=13290.6, C=0.607, b=39.12, n=0.956, name="广州市中心城区 (general formula)", citation=_GZ_REPORT,
        peak_ratio=0.4,
    ),
    "shenzhen": IntervalFormula(
        A=1.0, C=0.0, b=0.0, n=0.5, name="深圳市中部流域和水系 (interval formula)", citation=_SZ_REPORT,
        peak_ratio=0.4,
        ranges=(
            (1, 10, (27.622, 3.362, 0.771), (16.655, 2.828, 0.116), (0.786, -0.029, 0.247)),
            (10, 100, (33.652, -1.991, 6.737), (22.609, -0.760, 6.185), (0.762, -0.037, 5.080)),
        ),
    ),
}


def get_storm(name: str) -> StormFormula:
    """Return a named storm-formula preset (``huangpu``, ``guangzhou``, ``shenzhen``)."""
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise StormFormulaError(f"unknown storm preset {name!r}; choose one of {sorted(PRESETS)}") from None


def parse_storm_params(text: str) -> StormFormula:
    """Parse ``"A,C,b,n"`` (general formula, q in L/(s*ha), t in min) into a formula."""
    try:
        A, C, b, n = (float(v) for v in text.split(","))
    except ValueError:
        raise StormFormulaError(f"--storm-params needs four numbers A,C,b,n, got {text!r}") from None
    return StormFormula(A=A, C=C, b=b, n=n, name="custom", citation="user supplied")


def chicago_hyetograph(formula: StormFormula, return_period: float, duration_min: float, *,
                       peak_ratio: float | None = None, step_min: float = 1.0) -> np.ndarray:
    """Chicago design storm (Keifer & Chu 1957) as depths per interval [mm].

    Any window around the peak holds the formula's depth for its duration:
    before the peak the cumulative depth is ``r H(T) - r H((t_p - t)/r)``,
    after it ``r H(T) + (1 - r) H((t - t_p)/(1 - r))`` with ``H(d) = i(d) d``.

    Parameters
    ----------
    formula : StormFormula
    return_period : float
        Years.
    duration_min : float
        Storm duration T [min].
    peak_ratio : float, optional
        Peak position r in (0, 1); default from the formula (duration-specific if tabulated).
    step_min : float
        Interval length [min].

    Returns
    -------
    ndarray
        Rain depth [mm] in each interval, ``ceil(T / step)`` values; sums to ``H(T)``.
    """
    if duration_min <= 0 or step_min <= 0:
        raise StormFormulaError("duration and step must be positive")
    r = formula.peak_ratio_for(duration_min) if peak_ratio is None else float(peak_ratio)
    if not 0 < r < 1:
        raise StormFormulaError("peak ratio must be in (0, 1)")
    T = float(duration_min)
    tp = r * T
    edges = np.minimum(np.arange(0, T + step_min, step_min), T)
    edges = np.unique(edges)

    def H(d):
        d = np.asarray(d, dtype=float)
        return np.where(d > 0, formula.depth(np.maximum(d, 1e-12), return_period), 0.0)

    HT = float(H(T))
    cum = np.where(
        edges <= tp,
        r * HT - r * H((tp - edges) / r),
        r * HT + (1 - r) * H((edges - tp) / (1 - r)),
    )
    return np.diff(cum)
