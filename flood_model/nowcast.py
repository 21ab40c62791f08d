"""Radar nowcasts with pysteps: a sequence of rain-rate frames -> a :class:`GriddedRainfall` forecast.

The frames [mm/h] are on the DEM grid (read them with
:meth:`GriddedRainfall.from_rasters`-style alignment first). The motion field
is estimated with pysteps' Proesmans optical flow (the Lucas-Kanade method
needs OpenCV, which OneMap does not install) from the last two frames; the
last frame is then advected (semi-Lagrangian extrapolation) for ``n_steps``
steps of ``interval_s`` seconds, or, with ``n_members``, the STEPS stochastic
ensemble is run on dB-transformed rates (members differ by cascade noise).

Each returned rainfall holds the nowcast frames as piecewise-constant rates:
frame ``k`` (lead ``(k + 1) * interval_s``) is used from ``k * interval_s`` to
``(k + 1) * interval_s`` after the last radar frame.
"""

from __future__ import annotations

import numpy as np

from flood_model.errors import RainfallError
from flood_model.rainfall import GriddedRainfall

__all__ = ["motion_field", "radar_nowcast"]

#: Rates below this [mm/h] are "no rain" for the dB transform of the STEPS ensemble.
RAIN_THRESHOLD_MM_H = 0.1


def _frames(frames_mm_h) -> np.ndarray:
    r = np.asarray(frames_mm_h, dtype=float)
    if r.ndim != 3 or r.shape[0] < 2:
        raise RainfallError("a radar nowcast needs at least 2 frames (k, ny, nx)")
    if not np.isfinite(r).all() or (r < 0).any():
        raise RainfallError("radar frames must be finite and >= 0 mm/h (fill gaps before nowcasting)")
    return r


def motion_field(frames_mm_h) -> np.ndarray:
    """Advection field ``(2, ny, nx)`` [cells per frame interval] from the last two frames (Proesmans)."""
    from pysteps import motion

    r = _frames(frames_mm_h)
    return np.nan_to_num(motion.get_method("proesmans")(r[-2:]))


def radar_nowcast(frames_mm_h, *, interval_s: float, n_steps: int, n_members: int | None = None,
                  cell_km: float = 0.03, seed: int = 0, label: str = "radar nowcast"
                  ) -> GriddedRainfall | list[GriddedRainfall]:
    """Extrapolate radar frames [mm/h] (oldest first) ``n_steps`` intervals of ``interval_s`` [s] ahead.

    Without ``n_members``: one deterministic extrapolation nowcast. With it: the
    pysteps STEPS ensemble (needs >= 3 frames; ``cell_km`` is the grid spacing
    [km] used for its spectral scales), one :class:`GriddedRainfall` per member.
    """
    from pysteps import nowcasts

    if not interval_s > 0 or n_steps < 1:
        raise RainfallError("a nowcast needs interval_s > 0 and n_steps >= 1")
    r = _frames(frames_mm_h)
    v = motion_field(r)
    edges = np.arange(n_steps + 1) * float(interval_s)
    if n_members is None:
        fc = nowcasts.get_method("extrapolation")(r[-1], v, n_steps)
        return GriddedRainfall(edges, np.clip(np.nan_to_num(fc), 0.0, None), label=f"{label} (extrapolation)")
    if r.shape[0] < 3:
        raise RainfallError("the STEPS ensemble needs at least 3 radar frames")
    from pysteps.utils import transformation

    rdb, meta = transformation.dB_transform(r, threshold=RAIN_THRESHOLD_MM_H, zerovalue=-15.0)
    ens = nowcasts.get_method("steps")(
        rdb[-3:], v, n_steps, n_ens_members=int(n_members), n_cascade_levels=4, precip_thr=meta["threshold"],
        kmperpixel=float(cell_km), timestep=float(interval_s) / 60.0, seed=seed, num_workers=1)
    mm, _ = transformation.dB_transform(ens, meta, inverse=True)
    mm = np.clip(np.nan_to_num(mm), 0.0, None)
    return [GriddedRainfall(edges, mm[i], label=f"{label} (STEPS member {i + 1}/{n_members})")
            for i in range(mm.shape[0])]
