"""1D-2D coupling of the surface solver with the SWMM 5 engine (``swmm-toolkit``).

At every exchange (after a surface step, whenever the surface clock has caught up with
SWMM's), each manhole exchanges water with the DEM cell it lies in. As in Itzi (Courty et
al. 2017; equations of Rubinato et al. 2017), the flow is chosen by the relative heads of the
surface water ``wse = z + h`` and the node ``H``, with the crest at the cell's ground ``z``:

* ``H < z`` (pipe not full at the cover): free weir into the manhole,
  ``Q = 2/3 C_w W sqrt(2 g) h^1.5``;
* ``z <= H < wse`` and ``h < A/W``: submerged weir ``Q = C_s W h sqrt(2 g h)``;
* otherwise (``H > wse``: surcharge, or deep water): orifice ``Q = C_o A sqrt(2 g |wse - H|)``,
  towards the lower head: a surcharged manhole returns water to the surface.

``A`` is the manhole cover area [m2], ``W = 2 sqrt(pi A)`` its circumference [m]. Water entering
the network is capped by the water the cell holds (shared among the manholes of one cell);
it is written to SWMM as the node's generated (lateral) inflow for the next SWMM stride, and
taken from the surface at once, so the volumes leaving one domain are exactly those given to
the other. Water SWMM itself reports as node flooding (head above rim + surcharge depth) is
returned to the surface cell too, so nothing is lost.

Units: m, s, m3, m3/s; coordinates in the DEM's CRS. The SWMM engine is one global project
per process: :data:`ENGINE_LOCK` serialises coupled runs in a process.
"""

from __future__ import annotations

import functools
import math
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd

from flood_model.errors import DrainageEngineError, InputError
from flood_model.network import PipeNetwork

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["ENGINE_LOCK", "CouplingParameters", "DrainageCoupling", "closes_engine_on_error", "exchange_flow"]

ENGINE_LOCK = threading.Lock()
MIN_CREST_M = 0.5  # least height of a manhole's crest above its invert on the model grid [m]
_ACTIVE: dict[int, DrainageCoupling] = {}  # thread id -> the coupled run it holds the engine for


def closes_engine_on_error(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a driver so that a SWMM run it started is ended if it raises (engine released)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        finally:
            run = _ACTIVE.get(threading.get_ident())
            if run is not None:
                run.close()

    return wrapper


@dataclass(frozen=True)
class CouplingParameters:
    """Manhole exchange parameters (defaults of Itzi / Rubinato et al. 2017).

    ``manhole_area_m2`` cover area [m2]; ``orifice_coeff``, ``free_weir_coeff``,
    ``submerged_weir_coeff`` discharge coefficients [-]; ``routing_step_s`` SWMM's fixed
    routing step [s] (whole seconds); ``exchange_s`` the least SWMM advance per exchange [s] (a multiple
    of the routing step; longer = fewer exchanges, SWMM then runs ahead of the surface by up to that);
    ``surcharge_depth_m`` height above the rim a manhole may pressurise to
    before SWMM reports flooding [m]; ``roughness_factor`` multiplies every pipe's Manning n.
    ``relaxation`` blends the new flow with the previous one (1 = none) and ``inversion_damping``
    scales a flow that changed direction (as Itzi does); ``level_heads`` caps a flow at what levels
    the surface and node heads within one exchange (node plan area = SWMM's MIN_SURFAREA, plus the
    node's net pipe outflow): without these a manhole's head oscillates by metres between exchanges.
    """

    manhole_area_m2: float = 1.0
    orifice_coeff: float = 0.167
    free_weir_coeff: float = 0.54
    submerged_weir_coeff: float = 0.056
    routing_step_s: float = 1.0
    exchange_s: float = 1.0
    surcharge_depth_m: float = 100.0
    roughness_factor: float = 1.0
    relaxation: float = 0.5
    inversion_damping: float = 0.5
    level_heads: bool = True
    g: float = 9.81

    def __post_init__(self) -> None:
        for name in ("manhole_area_m2", "orifice_coeff", "free_weir_coeff", "submerged_weir_coeff",
                     "routing_step_s", "exchange_s", "surcharge_depth_m", "roughness_factor"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise InputError(f"drainage parameter {name} must be positive, got {v!r}")
        if not (0 < self.relaxation <= 1 and 0 < self.inversion_damping <= 1):
            raise InputError("relaxation and inversion_damping must be in (0, 1]")
        if not float(self.routing_step_s).is_integer():
            raise InputError("routing_step_s must be a whole number of seconds (SWMM strides by seconds)")
        if not float(self.exchange_s / self.routing_step_s).is_integer():
            raise InputError("exchange_s must be a whole multiple of routing_step_s")


def exchange_flow(wse: np.ndarray, crest: np.ndarray, head: np.ndarray, p: CouplingParameters) -> np.ndarray:
    """Manhole flow [m3/s] from the surface into the network (negative: out of the network).

    ``wse`` surface water level, ``crest`` the ground at the manhole, ``head`` node head [m].
    """
    a = p.manhole_area_m2
    w = 2.0 * math.sqrt(math.pi * a)
    s2g = math.sqrt(2.0 * p.g)
    depth = np.maximum(wse - crest, 0.0)
    drain = head < wse
    free = drain & (head < crest)
    submerged = drain & ~free & (depth < a / w)
    q = p.orifice_coeff * a * s2g * np.sqrt(np.abs(wse - head))
    q = np.where(free, (2.0 / 3.0) * p.free_weir_coeff * w * s2g * depth ** 1.5, q)
    q = np.where(submerged, p.submerged_weir_coeff * w * depth * s2g * np.sqrt(depth), q)
    return np.where(head == wse, 0.0, np.where(drain, q, -q))


class DrainageCoupling:
    """A pipe network run by SWMM and coupled to a :class:`~flood_model.solver.LocalInertialSolver`.

    Use :meth:`start` once, :meth:`exchange` after every surface step, :meth:`finish` at the end
    (or the context manager). Cumulative volumes [m3]: ``to_network`` (surface -> pipes),
    ``from_network`` (pipes -> surface), ``outfall`` (left through the outfalls, from SWMM's
    routing totals); ``network_storage()`` is the water in nodes and pipes now.
    """

    def __init__(self, network: PipeNetwork, params: CouplingParameters | None = None) -> None:
        if not len(network):
            raise InputError("the pipe network has no junction")
        self.network = network
        self.params = params or CouplingParameters()
        self.to_network = 0.0
        self.from_network = 0.0
        self.flooded = 0.0
        self.t_swmm = 0.0
        self.exchanges = 0
        self.engine_s = 0.0  # wall time inside SWMM's routing (swmm_stride) [s]
        self._open = False
        self._records: list[tuple] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self, solver, grid, duration_s: float) -> DrainageCoupling:
        """Check the network on ``grid`` (a DemGrid), write the SWMM input and start the engine."""
        from swmm.toolkit import shared_enum as E
        from swmm.toolkit import solver as S

        net = self.network.scaled(self.params.roughness_factor) if self.params.roughness_factor != 1 else self.network
        net.validate(grid, check_ground=False)
        rows, cols = net.cells(grid)
        if not solver.active[rows, cols].all():
            bad = [j.name for j, ok in zip(net.junctions, solver.active[rows, cols], strict=True) if not ok]
            raise InputError(f"junction {bad[0]}: its cell is a building or nodata (and {len(bad) - 1} more)"
                             if len(bad) > 1 else f"junction {bad[0]}: its cell is a building or nodata")
        self.rows, self.cols = rows, cols
        inverts = np.array([j.invert for j in net.junctions])
        ground = grid.z[rows, cols].astype(np.float64)
        # the crest is the cell's ground; on a coarse grid a cell's mean ground can lie below a manhole's
        # invert (a river bank cell): its cover then stands MIN_CREST_M above the invert
        self.crest = np.maximum(ground, inverts + MIN_CREST_M)
        self.raised_crests = int((self.crest > ground).sum())
        self.cell_area = solver.cell_area
        flat = rows * grid.shape[1] + cols
        self._cell_ids, self._cell_of = np.unique(flat, return_inverse=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="onemap-swmm-")
        d = Path(self._tmp.name)
        inp = net.to_inp(d / "network.inp", duration_s=duration_s, routing_step_s=self.params.routing_step_s,
                         max_depth=self.crest - inverts,
                         surcharge_depth_m=self.params.surcharge_depth_m)
        if not ENGINE_LOCK.acquire(timeout=600):
            raise DrainageEngineError("the SWMM engine is busy with another coupled run in this process")
        self._S, self._E = S, E
        try:
            S.swmm_open(str(inp), str(d / "network.rpt"), str(d / "network.out"))
            S.swmm_start(False)
        except Exception as exc:  # swmm-toolkit raises a bare Exception with SWMM's message
            ENGINE_LOCK.release()
            raise DrainageEngineError(f"SWMM refused the network: {exc}; see {d / 'network.rpt'}") from None
        self._open = True
        _ACTIVE[threading.get_ident()] = self
        node_t = E.ObjectType.NODE
        self.node_index = np.array([S.project_get_index(node_t, j.name) for j in net.junctions], np.int64)
        self._nodes = [int(i) for i in self.node_index]  # plain ints: the engine calls take them directly
        self.n_nodes = S.project_get_count(node_t)
        self.n_links = S.project_get_count(E.ObjectType.LINK)
        self._flood_seen = np.zeros(len(net.junctions))
        self._q = np.zeros(len(net.junctions))  # last exchange flow per manhole [m3/s]
        self._node_area = 1.167  # SWMM's MIN_SURFAREA [m2] (written by PipeNetwork.to_inp)
        self.head = np.array([S.node_get_result(int(i), E.NodeResult.HEAD) for i in self.node_index])
        self.max_head = self.head.copy()
        self.drained_m3 = np.zeros(len(net.junctions))
        self.returned_m3 = np.zeros(len(net.junctions))
        self.storage0 = self.network_storage()
        return self

    def __enter__(self) -> DrainageCoupling:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End and close the SWMM run (idempotent); releases the engine."""
        if self._open:
            self._open = False
            try:
                self._S.swmm_end()
                self._S.swmm_close()
            finally:
                self._release()

    def finish(self) -> dict:
        """End the SWMM run, close the engine and return its routing totals and network storage [m3]."""
        if not self._open:
            return {}
        storage = self.network_storage()
        S = self._S
        try:
            rt = S.system_get_routing_totals()
            out = {"swmm_external_inflow_m3": float(rt.exInflow), "swmm_outflow_m3": float(rt.outflow),
                   "swmm_flooding_m3": float(rt.flooding), "network_storage_m3": storage}
            S.swmm_end()
            S.swmm_close()
        finally:
            self._open = False
            self._release()
        return out

    def _release(self) -> None:
        _ACTIVE.pop(threading.get_ident(), None)
        ENGINE_LOCK.release()
        self._tmp.cleanup()

    # ------------------------------------------------------------------ state
    def network_storage(self) -> float:
        """Water in the network's nodes and conduits now [m3] (SWMM's state)."""
        S, E = self._S, self._E
        v = sum(S.node_get_result(i, E.NodeResult.VOLUME) for i in range(self.n_nodes))
        return float(v + sum(S.link_get_result(i, E.LinkResult.VOLUME) for i in range(self.n_links)))

    @property
    def outfall(self) -> float:
        """Cumulative volume that left through the outfalls [m3] (SWMM routing totals)."""
        return float(self._S.system_get_routing_totals().outflow)

    # ------------------------------------------------------------------ exchange
    def exchange(self, solver) -> tuple[float, float]:
        """Exchange water with ``solver``'s cells and advance SWMM to the surface clock.

        Does nothing while SWMM is ahead of ``solver.t``. Otherwise SWMM advances by the whole
        number of routing steps ``delta`` covering ``solver.t``, the flows being those of the
        heads now. Returns the volumes [m3] moved (surface -> network, network -> surface).
        """
        t = solver.t
        if t < self.t_swmm - 1e-9 or not self._open:
            return 0.0, 0.0
        S, E = self._S, self._E
        rs = self.params.routing_step_s
        n = max(1, math.ceil((t - self.t_swmm) / rs - 1e-9), round(self.params.exchange_s / rs))
        delta = n * rs
        a = self.cell_area
        h_cell = solver.h.reshape(-1)[self._cell_ids].astype(np.float64)
        h = h_cell[self._cell_of]
        get, head_key = S.node_get_result, E.NodeResult.HEAD
        self.head = head = np.fromiter((get(i, head_key) for i in self._nodes), float, len(self._nodes))
        p = self.params
        wse = self.crest + h
        q = exchange_flow(wse, self.crest, head, p)
        q = p.relaxation * q + (1.0 - p.relaxation) * self._q
        q = np.where(q * self._q < 0, q * p.inversion_damping, q)
        # no overshoot: within one exchange a flow may at most level the two heads, counting the
        # manhole's own plan area and what the pipes carry away from (bring to) the node meanwhile
        if p.level_heads:
            gap = np.abs(wse - head) / (1.0 / self._node_area + 1.0 / a) / delta
            over = np.nonzero(np.abs(q) > gap)[0]  # only these need the node's pipe flows
            if len(over):
                idx = self.node_index[over]
                node_out = np.array([S.node_get_result(int(i), E.NodeResult.TOTAL_OUTFLOW) for i in idx])
                node_in = np.array([S.node_get_result(int(i), E.NodeResult.TOTAL_INFLOW) for i in idx])
                qo, g, lat = q[over], gap[over], self._q[over]
                q[over] = np.where(qo > 0, np.minimum(qo, g + np.maximum(node_out - node_in + lat, 0.0)),
                                   np.maximum(qo, -(g + np.maximum(node_in - lat - node_out, 0.0))))
        # cap what enters the pipes by the water each cell holds (shared by its manholes)
        q_in = np.maximum(q, 0.0)
        want = np.bincount(self._cell_of, q_in * delta, minlength=len(self._cell_ids))
        scale = np.where(want > h_cell * a, h_cell * a / np.where(want > 0, want, 1.0), 1.0)
        q = np.where(q > 0, q * scale[self._cell_of], q)
        dv_cell = np.bincount(self._cell_of, q * delta, minlength=len(self._cell_ids))  # + leaves the surface
        h_new = np.maximum(h_cell - dv_cell / a, 0.0).astype(solver.h.dtype)
        flat_h = solver.h.reshape(-1)
        flat_h[self._cell_ids] = h_new
        moved = (h_cell - h_new.astype(np.float64)) * a  # exact change of the stored surface water
        # hand each manhole its share of the volume actually moved (rounding of the stored depth)
        share = np.where(np.abs(dv_cell) > 0, moved / np.where(dv_cell != 0, dv_cell, 1.0), 0.0)
        vol = q * delta * share[self._cell_of]
        self._q = vol / delta
        set_inflow = S.node_set_total_inflow
        for i, v in zip(self._nodes, (vol / delta).tolist(), strict=True):
            set_inflow(i, v)
        t_engine = time.perf_counter()
        try:
            S.swmm_stride(int(delta))
        except Exception as exc:
            raise DrainageEngineError(f"SWMM failed at t = {t:.1f} s: {exc}") from None
        self.engine_s += time.perf_counter() - t_engine
        self.t_swmm += delta
        vin, vout = float(vol[vol > 0].sum()), float(-vol[vol < 0].sum())
        self.drained_m3 += np.maximum(vol, 0.0)
        self.returned_m3 += np.maximum(-vol, 0.0)
        # water SWMM reports as flooding goes back to the surface cell (nothing is lost)
        flood_total = float(S.system_get_routing_totals().flooding)
        if flood_total > self.flooded + 1e-12:
            cum = np.array([S.node_get_stats(int(i)).volFlooded for i in self.node_index])
            dflood = np.maximum(cum - self._flood_seen, 0.0)
            self._flood_seen = cum
            fcell = np.bincount(self._cell_of, dflood, minlength=len(self._cell_ids))
            before = flat_h[self._cell_ids].astype(np.float64)
            flat_h[self._cell_ids] = (before + fcell / a).astype(solver.h.dtype)
            got = (flat_h[self._cell_ids].astype(np.float64) - before) * a
            vout += float(got.sum())
            self.returned_m3 += dflood
            self.flooded = flood_total
        hm = solver.hmax.reshape(-1)
        hm[self._cell_ids] = np.maximum(hm[self._cell_ids], flat_h[self._cell_ids])
        np.maximum(self.max_head, head, out=self.max_head)
        self.to_network += vin
        self.from_network += vout
        self.exchanges += 1
        self._records.append((t, vin / delta, vout / delta, int((head > self.crest).sum())))
        return vin, vout

    def nodes_frame(self) -> pd.DataFrame:
        """Per manhole: name, cell, crest [m], max head [m], max surcharge above the ground [m],
        volumes drained from / returned to the surface [m3]."""
        j = self.network.junctions
        return pd.DataFrame({
            "node": [x.name for x in j], "row": self.rows, "col": self.cols, "crest_m": self.crest,
            "max_head_m": self.max_head, "max_surcharge_m": np.maximum(self.max_head - self.crest, 0.0),
            "drained_m3": self.drained_m3, "returned_m3": self.returned_m3})

    def series(self) -> pd.DataFrame:
        """Per exchange: t_s, inflow to / return from the network [m3/s], surcharged manholes."""
        return pd.DataFrame(self._records, columns=["t_s", "to_network_m3_s", "from_network_m3_s", "surcharged"])
