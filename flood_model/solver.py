"""2D local inertial shallow-water solver (Bates et al. 2010; de Almeida et al. 2012).

The solver works on a regular raster in a projected CRS (metres). It knows
nothing about files or rainfall formulas: the forcing (source and loss rates)
is passed to :meth:`LocalInertialSolver.step`. See ``docs/flood.md`` for the
equations, defaults and their justification.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from flood_model import _kernels as K
from flood_model import _reference as R
from flood_model.errors import InputError

__all__ = ["EDGES", "LocalInertialSolver", "StepResult"]

EDGES = ("north", "south", "west", "east")
Backend = Literal["numba", "numpy"]


@dataclass(frozen=True)
class StepResult:
    """Volumes exchanged during one step [m3] and the step length [s]."""

    dt: float
    source: float
    loss: float
    infiltration: float
    outflow: float
    storage: float
    repaired_cells: int
    clipped: float


class LocalInertialSolver:
    """Explicit local inertial solver on a raster (component: inputs/outputs with units).

    Inputs: bed elevation ``z`` [m] (NaN = nodata, outside the domain), Manning
    ``n`` [s m^-1/3], obstacle mask (buildings), boundary types. State:
    depth ``h`` [m], face unit discharges ``qx``, ``qy`` [m2/s]. Outputs:
    ``hmax`` [m], ``vmax`` [m/s], per-step volumes (:class:`StepResult`).

    Parameters
    ----------
    z : ndarray (ny, nx)
        Bed elevation [m], row 0 = north. NaN marks nodata cells.
    dx, dy : float
        Cell size [m] along columns (x) and rows (y).
    manning : float or ndarray
        Manning roughness n [s m^-1/3], scalar or per cell.
    obstacles : ndarray of bool, optional
        Cells that are walls (building footprints): no water, no flow, no rain.
    boundaries : {"closed", "open"} or dict
        Type of the domain edges; a dict maps ``north/south/west/east`` to a type.
    open_mask : ndarray of bool, optional
        Cells whose domain-edge faces are open regardless of ``boundaries``.
    open_nodata : bool or "frame"
        Faces towards nodata cells: ``False`` walls (default), ``True`` free outflow,
        ``"frame"`` free outflow only into nodata connected to an open raster edge
        (the frame around a clipped DEM), interior voids stay walls.
    alpha : float
        Courant coefficient of ``dt = alpha * dx / sqrt(g h_max)``; 0.5 avoids
        the checkerboard instability measured at 0.7 on ~1 m ponds.
    theta : float
        de Almeida smoothing weight (1 = no smoothing).
    dt_max : float
        Cap of the time step [s] (guards the dry start).
    h_min_flow : float
        Minimum flow depth across a face [m]; shallower faces carry no flow.
    h_velocity_min : float
        Minimum depth for the velocity statistics [m].
    edge_slope : float
        If > 0, fixed energy slope [-] used for open-boundary outflow; otherwise
        the bed slope of the adjacent interior face (or, where that is flat or
        adverse, the water-surface slope).
    boundary_stage : float, optional
        Fixed water-surface elevation [m] outside the open faces (a river or
        sea level); outflow follows the gradient to it over half a cell.
        Outflow only: a stage above the cell does not push water in.
    g : float
        Gravity [m/s2].
    dtype : numpy dtype
        ``float64`` (default) or ``float32`` for the state and kernels.
    backend : {"numba", "numpy"}
        ``numpy`` is the plain reference twin (slow; test oracle).
    nchunks : int, optional
        Row chunks for the parallel kernels (default: numba thread count).
    """

    def __init__(
        self,
        z: np.ndarray,
        *,
        dx: float,
        dy: float | None = None,
        manning: float | np.ndarray = 0.03,
        obstacles: np.ndarray | None = None,
        boundaries: str | dict[str, str] = "closed",
        open_mask: np.ndarray | None = None,
        open_nodata: bool | str = False,
        alpha: float = 0.5,
        theta: float = 0.8,
        dt_max: float = 5.0,
        h_min_flow: float = 1e-4,
        h_velocity_min: float = 0.01,
        edge_slope: float = 0.0,
        boundary_stage: float | None = None,
        g: float = 9.81,
        dtype: type | np.dtype = np.float64,
        backend: Backend = "numba",
        nchunks: int | None = None,
    ) -> None:
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or min(z.shape) < 2:
            raise InputError(f"the DEM must be a 2D grid of at least 2x2 cells, got shape {z.shape}")
        if dx <= 0 or (dy is not None and dy <= 0):
            raise InputError("cell sizes must be positive (metres)")
        if not 0 < alpha <= 1 or not 0 < theta <= 1 or dt_max <= 0:
            raise InputError("need 0 < alpha <= 1, 0 < theta <= 1 and dt_max > 0")
        if backend not in ("numba", "numpy"):
            raise InputError(f"unknown backend {backend!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise InputError("dtype must be float32 or float64")
        self.backend = backend
        #: numba: one fused pass per step (``_kernels.step_kernel``); False = the flux and depth kernels in
        #: two passes (same results; kept for benchmarks and as the readable reference of the fused form)
        self.fused = True
        self.dx = float(dx)
        self.dy = float(dy if dy is not None else dx)
        self.cell_area = self.dx * self.dy
        self.alpha, self.theta, self.dt_max, self.g = float(alpha), float(theta), float(dt_max), float(g)
        self.h_min_flow, self.h_velocity_min = float(h_min_flow), float(h_velocity_min)
        self.edge_slope = float(edge_slope)
        self.boundary_stage = float("nan") if boundary_stage is None else float(boundary_stage)
        ny, nx = z.shape
        self.shape = (ny, nx)
        nodata = ~np.isfinite(z)
        obst = np.zeros_like(nodata) if obstacles is None else np.asarray(obstacles, dtype=bool)
        if obst.shape != z.shape:
            raise InputError(f"obstacle mask shape {obst.shape} != DEM shape {z.shape}")
        act = ~(nodata | obst)
        if not act.any():
            raise InputError("the DEM has no valid (active) cell")
        self.active = act
        self.n_active = int(act.sum())
        self.z = np.where(act, z, np.nan)
        zf = np.where(act, z, 0.0)
        self._act8 = act.astype(np.uint8)
        dt_ = self.dtype
        # face geometry
        self.dzx = np.zeros((ny, nx + 1), dt_)
        self.dzx[:, 1:nx] = zf[:, 1:] - zf[:, :-1]
        self.dzy = np.zeros((ny + 1, nx), dt_)
        self.dzy[1:ny, :] = zf[1:, :] - zf[:-1, :]
        self.mx = np.zeros((ny, nx + 1), np.uint8)
        self.mx[:, 1:nx] = act[:, 1:] & act[:, :-1]
        self.my = np.zeros((ny + 1, nx), np.uint8)
        self.my[1:ny, :] = act[1:, :] & act[:-1, :]
        # largest bed step between active cells [m]: bounds the step while nothing flows yet (dry start)
        self._dz_max = float(max(np.abs(self.dzx[self.mx != 0]).max(initial=0.0),
                                 np.abs(self.dzy[self.my != 0]).max(initial=0.0)))
        # roughness
        if np.ndim(manning) == 0:
            if float(manning) <= 0:
                raise InputError("Manning n must be positive")
            self._n2_uniform = True
            self._n2u = float(manning) ** 2
            self.n2 = np.zeros((1, 1), dt_)
        else:
            n = np.asarray(manning, dtype=np.float64)
            if n.shape != z.shape:
                raise InputError(f"Manning raster shape {n.shape} != DEM shape {z.shape}")
            n = np.where(act, n, np.nanmedian(np.where(act, n, np.nan)))
            if not np.all(np.isfinite(n)) or (n <= 0).any():
                raise InputError("Manning n must be positive and finite on active cells")
            self._n2_uniform = False
            self._n2u = 0.0
            self.n2 = (n * n).astype(dt_)
        self._build_open_faces(boundaries, open_mask, open_nodata, nodata)
        # state
        self.h = np.zeros((ny, nx), dt_)
        self.qx = np.zeros((ny, nx + 1), dt_)
        self.qy = np.zeros((ny + 1, nx), dt_)
        self._qx2 = np.zeros_like(self.qx)
        self._qy2 = np.zeros_like(self.qy)
        self.hmax = np.zeros((ny, nx), dt_)
        self.vmax = np.zeros((ny, nx), dt_)
        self.t = 0.0
        self.nsteps = 0
        self._h_peak = 0.0  # domain max depth after the last step [m]
        self.nchunks = int(nchunks or max(1, numba.get_num_threads()))
        self.nchunks = max(1, min(self.nchunks, ny))
        if backend == "numpy":
            self.nchunks = 1
        self._stats = np.zeros((self.nchunks, K.S_SIZE), dt_)
        self._ustats = np.zeros((self.nchunks, 2), dt_)
        self._u_peak = 0.0  # largest face speed |q|/h_f of the last step [m/s]
        self._s_peak = 0.0  # largest water-surface step |d eta| across a flowing face [m]
        self._negrow = np.zeros(ny, np.uint8)
        itype = np.int32 if dt_ == np.float32 else np.int64
        self._magic = itype(K.MAGIC32 if dt_ == np.float32 else K.MAGIC64)
        self._fbuf = np.zeros((self.nchunks, nx + 1), dt_)
        self._rbuf = np.zeros((self.nchunks, nx + 1), dt_)
        self._fbuf_i = self._fbuf.view(itype)
        self._rbuf_i = self._rbuf.view(itype)
        self._dummy = np.zeros((1, 1), dt_)
        self._P = np.zeros(K.P_SIZE, dt_)
        self._src_cache: tuple[object, float] = (None, 0.0)

    # ------------------------------------------------------------------ setup
    def _build_open_faces(self, boundaries, open_mask, open_nodata, nodata) -> None:
        if isinstance(boundaries, str):
            boundaries = {e: boundaries for e in EDGES}
        bad = {k: v for k, v in boundaries.items() if k not in EDGES or v not in ("open", "closed")}
        if bad:
            raise InputError(f"boundaries must map {EDGES} to 'open'/'closed', got {bad}")
        ny, nx = self.shape
        act = self.active
        edge_open = {e: np.zeros(n, bool) for e, n in (("north", nx), ("south", nx), ("west", ny), ("east", ny))}
        for e in EDGES:
            if boundaries.get(e, "closed") == "open":
                edge_open[e][:] = True
        if open_mask is not None:
            om = np.asarray(open_mask, dtype=bool)
            if om.shape != self.shape:
                raise InputError("open_mask must have the DEM shape")
            edge_open["north"] |= om[0, :]
            edge_open["south"] |= om[-1, :]
            edge_open["west"] |= om[:, 0]
            edge_open["east"] |= om[:, -1]
        js, is_, ds = [], [], []
        for i in np.nonzero(edge_open["north"] & act[0, :])[0]:
            js.append(0), is_.append(i), ds.append(2)
        for i in np.nonzero(edge_open["south"] & act[-1, :])[0]:
            js.append(ny - 1), is_.append(i), ds.append(3)
        for j in np.nonzero(edge_open["west"] & act[:, 0])[0]:
            js.append(j), is_.append(0), ds.append(0)
        for j in np.nonzero(edge_open["east"] & act[:, -1])[0]:
            js.append(j), is_.append(nx - 1), ds.append(1)
        n_edge = len(js)
        if open_nodata not in (True, False, "frame"):
            raise InputError(f"open_nodata must be False, True or 'frame', got {open_nodata!r}")
        if open_nodata == "frame":
            seed = np.zeros_like(nodata)
            seed[0, :] |= edge_open["north"]
            seed[-1, :] |= edge_open["south"]
            seed[:, 0] |= edge_open["west"]
            seed[:, -1] |= edge_open["east"]
            sink = _connected(nodata, seed & nodata)
        else:
            sink = nodata if open_nodata else np.zeros_like(nodata)
        if sink.any():
            pad = np.pad(sink, 1, constant_values=False)
            for d, (dj, di) in enumerate(((0, -1), (0, 1), (-1, 0), (1, 0))):
                nb = pad[1 + dj:1 + dj + ny, 1 + di:1 + di + nx]
                jj, ii = np.nonzero(act & nb)
                js.extend(jj), is_.extend(ii), ds.extend([d] * len(jj))
        self.ob_j = np.asarray(js, np.int64)
        self.ob_i = np.asarray(is_, np.int64)
        self.ob_d = np.asarray(ds, np.int64)
        self.ob_q = np.zeros(len(js), np.float64)
        self.ob_nodata = np.arange(len(js)) >= n_edge  # face leads into nodata (not a raster edge)
        self.ob_length = np.where(self.ob_d < 2, self.dx, self.dy)  # flow length across the face [m]

    def face_outflow(self, dt: float) -> np.ndarray:
        """Volume [m3] that left through each open face (``ob_j, ob_i, ob_d``) in the last step of ``dt`` s."""
        return self.ob_q * dt / self.ob_length * self.cell_area

    def set_depth(self, h0: np.ndarray | float) -> None:
        """Set the initial depth [m] (inactive cells forced to 0) and reset maxima."""
        h = np.broadcast_to(np.asarray(h0, dtype=np.float64), self.shape)
        if (h < 0).any() or not np.all(np.isfinite(h[self.active])):
            raise InputError("initial depth must be finite and >= 0")
        self.h[...] = np.where(self.active, h, 0.0)
        self.hmax[...] = self.h
        self._h_peak = float(self.h.max())

    # ---------------------------------------------------------------- stepping
    @property
    def storage(self) -> float:
        """Water stored on the grid [m3]."""
        return float(self.h.sum(dtype=np.float64)) * self.cell_area

    def stable_dt(self) -> float:
        """Next time step [s] from the state after the last step, capped at ``dt_max``.

        ``dt = alpha * min(d / (|u|max + sqrt(g h_max)), sqrt(0.6 d / (g S_w)))`` with
        ``d = min(dx, dy)``, face speeds ``u = |q|/h_f`` and ``S_w = |d eta|max / d`` the
        steepest water-surface slope across a face carrying flow (the steepest bed step
        while nothing flows yet). The first term is the Courant limit with advection; the
        second keeps the semi-implicit friction from overshooting its Manning equilibrium:
        linearised with continuity the scheme is stable for ``C_k * B < 1`` (kinematic Courant
        number ``5/3 u dt/d`` times friction number ``g dt n^2 u / h^(4/3)``), which at
        equilibrium is ``5/3 g dt^2 S_w / d < 1``, independent of depth and roughness. It also
        bounds the free acceleration of water starting from rest. See docs/flood.md, "Time step".
        """
        hp = max(self._h_peak, 1e-12)
        d = min(self.dx, self.dy)
        dt = min(self.dt_max, self.alpha * d / (self._u_peak + math.sqrt(self.g * hp)))
        dz = self._s_peak if self._s_peak > 0 else self._dz_max  # nothing flows yet: the bed steps
        if dz > 0:
            dt = min(dt, self.alpha * math.sqrt(0.6 * d * d / (self.g * dz)))
        return dt

    def _source_volume_rate(self, source) -> float:
        """Source volume per second [m3/s] over active cells."""
        if np.ndim(source) == 0:
            return float(source) * self.n_active * self.cell_area
        if self._src_cache[0] is not source:  # identity: rates are piecewise constant arrays
            self._src_cache = (source, float(np.sum(source, where=self.active, dtype=np.float64)) * self.cell_area)
        return self._src_cache[1]

    def step(
        self,
        dt: float,
        *,
        source: float | np.ndarray = 0.0,
        loss: float | np.ndarray = 0.0,
        infiltration_share: float | np.ndarray = 1.0,
    ) -> StepResult:
        """Advance the state by ``dt`` seconds.

        Parameters
        ----------
        dt : float
            Time step [s]; use :meth:`stable_dt` (or less).
        source : float or ndarray
            Water added [m/s] (net rainfall, inflows), scalar or per cell.
        loss : float or ndarray
            Loss capacity [m/s] (infiltration + sewer drainage), taken only
            from water present after the flux update.
        infiltration_share : float or ndarray
            Share of the loss booked as infiltration (the rest is drainage).
        """
        dtp = self.dtype.type
        P = self._P
        P[K.P_THETA] = self.theta
        P[K.P_THETA2] = 0.5 * (1.0 - self.theta)
        P[K.P_GDTDX] = self.g * dt / self.dx
        P[K.P_GDTDY] = self.g * dt / self.dy
        P[K.P_GDT] = self.g * dt
        P[K.P_HMIN] = self.h_min_flow
        P[K.P_DTDX] = dt / self.dx
        P[K.P_DTDY] = dt / self.dy
        P[K.P_DT] = dt
        P[K.P_N2] = self._n2u
        P[K.P_HVEL] = self.h_velocity_min
        P[K.P_ONE] = 1.0
        P[K.P_ZERO] = 0.0
        P[K.P_C43] = 4.0 / 3.0
        P[K.P_C13] = 1.0 / 3.0
        P[K.P_HALF] = 0.5
        src_u = np.ndim(source) == 0
        loss_u = np.ndim(loss) == 0
        fin_u = np.ndim(infiltration_share) == 0
        P[K.P_RAIN] = float(source) if src_u else 0.0
        P[K.P_LOSS] = float(loss) if loss_u else 0.0
        P[K.P_FINF] = float(infiltration_share) if fin_u else 0.0
        src_a = self._dummy if src_u else np.ascontiguousarray(source, dtype=dtp)
        loss_a = self._dummy if loss_u else np.ascontiguousarray(loss, dtype=dtp)
        fin_a = self._dummy if fin_u else np.ascontiguousarray(infiltration_share, dtype=dtp)
        src_vol = self._source_volume_rate(source) * dt
        # 1. momentum (face fluxes) and 2. continuity (depths, max depth/speed, balance sums): one fused
        # pass over the rows with numba (K.step_kernel), two whole-array passes with the numpy twin
        if self.backend == "numba" and self.fused:
            K.step_kernel(self.h, self.qx, self.qy, self._qx2, self._qy2, self.dzx, self.dzy, self.mx,
                          self.my, self.n2, self._n2_uniform, P, self._magic, self._fbuf, self._fbuf_i,
                          self._rbuf, self._rbuf_i, self._ustats, self._act8, src_a, src_u, loss_a, loss_u,
                          fin_a, fin_u, self.hmax, self.vmax, self._negrow, self._stats, self.nchunks)
            self.qx, self._qx2 = self._qx2, self.qx
            self.qy, self._qy2 = self._qy2, self.qy
        elif self.backend == "numba":  # the two-pass form (benchmarks: bench/flood_bench.py --two-pass)
            K.flux_kernel(self.h, self.qx, self.qy, self._qx2, self._qy2, self.dzx, self.dzy, self.mx,
                          self.my, self.n2, self._n2_uniform, P, self._magic, self._fbuf, self._fbuf_i,
                          self._rbuf, self._rbuf_i, self._ustats, self.nchunks)
            self.qx, self._qx2 = self._qx2, self.qx
            self.qy, self._qy2 = self._qy2, self.qy
            K.depth_kernel(self.h, self.qx, self.qy, self._act8, src_a, src_u, loss_a, loss_u, fin_a, fin_u,
                           self.hmax, self.vmax, P, self._negrow, self._stats, self.nchunks)
        else:
            R.flux(self.h, self.qx, self.qy, self._qx2, self._qy2, self.dzx, self.dzy, self.mx, self.my,
                   self.n2, self._n2_uniform, P, self._ustats)
            self.qx, self._qx2 = self._qx2, self.qx
            self.qy, self._qy2 = self._qy2, self.qy
            R.depth(self.h, self.qx, self.qy, self._act8, src_a, src_u, loss_a, loss_u, fin_a, fin_u,
                    self.hmax, self.vmax, P, self._negrow, self._stats)
        self._u_peak = float(self._ustats[:, 0].max())
        self._s_peak = float(self._ustats[:, 1].max())
        st = self._stats.astype(np.float64)
        fixed, clipped = 0, 0.0
        if st[:, K.S_NNEG].sum() > 0:
            fix = K.fixup_negative if self.backend == "numba" else R.fixup
            fixed, clipped = fix(self.h, self.qx, self.qy, self._negrow, dt / self.dx, dt / self.dy, 50)
        out = 0.0
        if len(self.ob_j):
            bnd = K.boundary_kernel if self.backend == "numba" else R.boundary
            out = bnd(self.h, self.z, self._act8, self.n2, self._n2_uniform, self._n2u, self.ob_j, self.ob_i,
                      self.ob_d, self.ob_q, self.dx, self.dy, dt, self.g, self.h_min_flow, self.edge_slope,
                      self.boundary_stage)
        self._h_peak = float(st[:, K.S_HMAX].max())
        self.t += dt
        self.nsteps += 1
        a = self.cell_area
        return StepResult(
            dt=dt,
            source=src_vol,
            loss=float(st[:, K.S_LOSS].sum()) * a,
            infiltration=float(st[:, K.S_INF].sum()) * a,
            outflow=out * a,
            storage=(float(st[:, K.S_STORE].sum()) - out + clipped) * a,
            repaired_cells=int(fixed),
            clipped=clipped * a,
        )

    def velocity(self) -> np.ndarray:
        """Cell-centred speed [m/s] from the current face discharges (0 where shallow)."""
        ux = 0.5 * (self.qx[:, :-1] + self.qx[:, 1:])
        uy = 0.5 * (self.qy[:-1, :] + self.qy[1:, :])
        h = self.h.astype(np.float64)
        hv = self.h_velocity_min
        return np.where(h > hv, np.hypot(ux, uy) / np.maximum(h, hv), 0.0)


def _connected(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Cells of ``mask`` 4-connected to ``seed`` (iterative dilation; no scipy)."""
    out = seed & mask
    while True:
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown &= mask
        if (grown == out).all():
            return out
        out = grown
