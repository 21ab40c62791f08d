"""Compile (or load from numba's on-disk cache) the solver kernels ahead of the first forecast."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

__all__ = ["warmup"]


def warmup(dtypes: Sequence[type | np.dtype] = (np.float32,)) -> dict[str, float]:
    """Compile or load the numba kernels by running a tiny forecast step in each precision.

    The kernels are ``cache=True``: the first process after a code change compiles
    them (tens of seconds) and writes ``flood_model/__pycache__/*.nbi|nbc``; later
    processes only load that cache (well under a second). Without a warm-up the
    first :func:`flood_model.run_forecast` of a process pays that cost. Call it
    once at start-up, e.g. from a daemon thread
    (``threading.Thread(target=flood_model.warmup, daemon=True).start()``).
    Compiling is Python code holding the GIL most of the time, so the rest of
    the process runs slower (not blocked) meanwhile; a cache load is brief.
    Numba serialises compilation, so a forecast started meanwhile simply waits
    for the kernels instead of compiling them twice.

    Every kernel a forecast can call is exercised with the same argument types as
    :class:`flood_model.solver.LocalInertialSolver` uses: the flux and depth
    kernels, the open-boundary kernel and the negative-depth fix-up.

    Parameters
    ----------
    dtypes : sequence of dtype
        Precisions to prepare; default float32 only (the :func:`run_forecast`
        default). Add ``np.float64`` if forecasts run with ``dtype=np.float64``.

    Returns
    -------
    dict
        dtype name -> wall time [s] it took (compile or cache load + 3 tiny steps).
    """
    from flood_model import _kernels as K
    from flood_model.solver import LocalInertialSolver

    out: dict[str, float] = {}
    y, x = np.mgrid[0:6, 0:6].astype(np.float64)
    z = 1.0 + 0.01 * x + 0.02 * y
    z[3, 3] -= 0.5  # a pit, so water ponds and flows
    obst = np.zeros(z.shape, bool)
    obst[1, 4] = True  # a building
    for dt in dtypes:
        t0 = time.perf_counter()
        s = LocalInertialSolver(z, dx=2.0, manning=0.03, obstacles=obst, boundaries="open", open_nodata=True,
                                dtype=dt, backend="numba", nchunks=2)
        for _ in range(3):
            s.step(min(s.stable_dt(), 1.0), source=1e-4, loss=1e-6, infiltration_share=0.5)
        # runs only when a depth went negative: call it directly (no row flagged -> no-op)
        K.fixup_negative(s.h, s.qx, s.qy, s._negrow, 1.0 / s.dx, 1.0 / s.dy, 50)
        out[np.dtype(dt).name] = round(time.perf_counter() - t0, 3)
    return out
