"""Pipe network (junctions, conduits, outfalls): EPA SWMM ``.inp`` reader/writer and checks.

Coordinates are in the DEM's projected CRS [m]; elevations [m]; sizes [m]; roughness is
Manning n [s m^-1/3]. A :class:`PipeNetwork` is plain data: the SWMM engine is driven by
:mod:`flood_model.drainage`. Bad input raises :class:`flood_model.errors.NetworkError`
naming the element (``conduit C12: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from os import PathLike
from pathlib import Path

import numpy as np

from flood_model.errors import NetworkError

__all__ = ["SHAPES", "Conduit", "Junction", "Outfall", "PipeNetwork", "read_inp"]

#: SWMM closed cross-sections supported: name -> number of size parameters used (geom1[, geom2]).
SHAPES = {"CIRCULAR": 1, "RECT_CLOSED": 2, "FORCE_MAIN": 1}


@dataclass(frozen=True)
class Junction:
    """A manhole: ``invert`` and ``rim`` elevations [m], position ``x, y`` [m, DEM CRS]."""

    name: str
    x: float
    y: float
    invert: float
    rim: float


@dataclass(frozen=True)
class Outfall:
    """A free outfall (``stage=None``) or one at a fixed water level ``stage`` [m]."""

    name: str
    x: float
    y: float
    invert: float
    stage: float | None = None


@dataclass(frozen=True)
class Conduit:
    """A pipe from ``from_node`` to ``to_node``.

    ``shape`` is a SWMM closed shape (:data:`SHAPES`), ``geom1`` the diameter / height [m],
    ``geom2`` the width [m] of a rectangular box, ``roughness`` Manning n, ``length`` [m]
    (``None``: the straight distance between the nodes), offsets above the node inverts [m].
    """

    name: str
    from_node: str
    to_node: str
    roughness: float
    geom1: float
    shape: str = "CIRCULAR"
    geom2: float = 0.0
    length: float | None = None
    in_offset: float = 0.0
    out_offset: float = 0.0


@dataclass
class PipeNetwork:
    """Junctions, outfalls and conduits of a drainage network (see module doc for units)."""

    junctions: list[Junction] = field(default_factory=list)
    outfalls: list[Outfall] = field(default_factory=list)
    conduits: list[Conduit] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.junctions)

    @property
    def nodes(self) -> dict[str, Junction | Outfall]:
        return {n.name: n for n in [*self.junctions, *self.outfalls]}

    def scaled(self, roughness_factor: float = 1.0) -> PipeNetwork:
        """A copy with every conduit's Manning n multiplied by ``roughness_factor`` (calibration)."""
        return PipeNetwork(list(self.junctions), list(self.outfalls),
                           [replace(c, roughness=c.roughness * roughness_factor) for c in self.conduits])

    def conduit_length(self, c: Conduit) -> float:
        if c.length is not None:
            return float(c.length)
        a, b = self.nodes[c.from_node], self.nodes[c.to_node]
        return float(math.hypot(a.x - b.x, a.y - b.y))

    # ------------------------------------------------------------------ checks
    def validate(self, grid=None, *, check_ground: bool = True) -> None:
        """Raise :class:`NetworkError` naming the first bad elements (all problems listed).

        Checks: unique names, finite coordinates/elevations, rim above invert, conduits
        whose end nodes exist (dangling conduits), positive sizes, lengths and roughness,
        known shapes, at least one outfall, and with ``grid`` (a :class:`DemGrid`) every
        node inside the DEM on a data cell and, with ``check_ground``, junction inverts below the
        ground (an import check at the DEM's resolution; a coarser model grid averages the ground).
        """
        problems: list[str] = []
        names: dict[str, str] = {}
        for kind, items in (("junction", self.junctions), ("outfall", self.outfalls), ("conduit", self.conduits)):
            for it in items:
                if not it.name or any(ch.isspace() for ch in it.name):
                    problems.append(f"{kind} {it.name!r}: a name must be non-empty without spaces")
                if it.name in names:
                    problems.append(f"{kind} {it.name}: name already used by a {names[it.name]}")
                names[it.name] = kind
        for j in self.junctions:
            vals = (j.x, j.y, j.invert, j.rim)
            if not all(math.isfinite(v) for v in vals):
                problems.append(f"junction {j.name}: coordinates and elevations must be finite numbers")
            elif j.rim <= j.invert:
                problems.append(f"junction {j.name}: rim {j.rim:g} m must be above the invert {j.invert:g} m")
        for o in self.outfalls:
            if not all(math.isfinite(v) for v in (o.x, o.y, o.invert)):
                problems.append(f"outfall {o.name}: coordinates and invert must be finite numbers")
            if o.stage is not None and not math.isfinite(o.stage):
                problems.append(f"outfall {o.name}: stage must be a finite number")
        if not self.outfalls and self.junctions:
            problems.append("the network has no outfall: water could never leave it")
        nodes = self.nodes
        for c in self.conduits:
            missing = [n for n in (c.from_node, c.to_node) if n not in nodes]
            if missing:
                problems.append(f"conduit {c.name}: dangling, node {', '.join(missing)} does not exist")
            elif c.from_node == c.to_node:
                problems.append(f"conduit {c.name}: starts and ends at the same node {c.from_node}")
            if c.shape not in SHAPES:
                problems.append(f"conduit {c.name}: shape {c.shape} not supported (use {', '.join(SHAPES)})")
            if not (math.isfinite(c.geom1) and c.geom1 > 0):
                problems.append(f"conduit {c.name}: size (geom1) must be positive, got {c.geom1:g} m")
            if c.shape == "RECT_CLOSED" and not (math.isfinite(c.geom2) and c.geom2 > 0):
                problems.append(f"conduit {c.name}: width (geom2) must be positive, got {c.geom2:g} m")
            if not (math.isfinite(c.roughness) and 0 < c.roughness < 1):
                problems.append(f"conduit {c.name}: Manning n must be in (0, 1), got {c.roughness:g}")
            if c.length is not None and not (math.isfinite(c.length) and c.length > 0):
                problems.append(f"conduit {c.name}: length must be positive, got {c.length:g} m")
            if c.in_offset < 0 or c.out_offset < 0:
                problems.append(f"conduit {c.name}: offsets must be >= 0")
        connected = {n for c in self.conduits for n in (c.from_node, c.to_node)}
        for n in nodes:
            if n not in connected:
                problems.append(f"{names[n]} {n}: not connected to any conduit")
        if grid is not None and not problems:
            problems += self._check_on_grid(grid, check_ground)
        if problems:
            more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
            raise NetworkError("invalid pipe network: " + "; ".join(problems[:20]) + more)

    def _check_on_grid(self, grid, check_ground: bool = True) -> list[str]:
        problems = []
        ny, nx = grid.shape
        for node in [*self.junctions, *self.outfalls]:
            kind = "junction" if isinstance(node, Junction) else "outfall"
            col, row = ~grid.transform @ (node.x, node.y)
            if not (0 <= row < ny and 0 <= col < nx):
                problems.append(f"{kind} {node.name}: at ({node.x:.1f}, {node.y:.1f}) outside the DEM "
                                f"{tuple(round(b, 1) for b in grid.bounds)}")
                continue
            z = grid.z[int(row), int(col)]
            if kind == "junction" and not np.isfinite(z):
                problems.append(f"junction {node.name}: on a nodata cell of the DEM")
            elif kind == "junction" and check_ground and node.invert >= z:
                problems.append(f"junction {node.name}: invert {node.invert:g} m is not below the ground {z:.2f} m")
        return problems

    def cells(self, grid) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each junction's DEM cell (in ``junctions`` order)."""
        inv = ~grid.transform
        rc = np.array([inv @ (j.x, j.y) for j in self.junctions], float).reshape(-1, 2)
        return rc[:, 1].astype(np.int64), rc[:, 0].astype(np.int64)

    # ------------------------------------------------------------------ SWMM file
    def to_inp(self, path: str | PathLike, *, duration_s: float, routing_step_s: float = 1.0,
               max_depth: Iterable[float] | None = None, surcharge_depth_m: float = 100.0,
               title: str = "OneMap drainage network") -> Path:
        """Write a SWMM 5 input file (CMS units, dynamic wave, fixed routing step).

        ``max_depth`` [m] per junction overrides ``rim - invert`` (the coupling sets the crest at
        the ground of the junction's cell). ``surcharge_depth_m`` lets a pressurised manhole's head
        rise above its rim instead of SWMM discarding the water as flooding: the coupling returns
        it to the surface through the manhole cover.
        """
        start = datetime(2000, 1, 1)
        end = start + timedelta(seconds=math.ceil(duration_s) + 3600)
        depths = [j.rim - j.invert for j in self.junctions] if max_depth is None else list(max_depth)
        lines = [
            "[TITLE]", title, "",
            "[OPTIONS]", "FLOW_UNITS CMS", "FLOW_ROUTING DYNWAVE", "LINK_OFFSETS DEPTH",
            f"START_DATE {start:%m/%d/%Y}", f"START_TIME {start:%H:%M:%S}",
            f"REPORT_START_DATE {start:%m/%d/%Y}", f"REPORT_START_TIME {start:%H:%M:%S}",
            f"END_DATE {end:%m/%d/%Y}", f"END_TIME {end:%H:%M:%S}",
            "REPORT_STEP 01:00:00", "WET_STEP 00:05:00", "DRY_STEP 00:05:00",
            f"ROUTING_STEP {routing_step_s:g}", "VARIABLE_STEP 0", "ALLOW_PONDING NO",
            "INERTIAL_DAMPING PARTIAL", "NORMAL_FLOW_LIMITED BOTH", "SURCHARGE_METHOD SLOT",
            "MIN_SURFAREA 1.167", "IGNORE_RAINFALL YES", "",
            "[REPORT]", "INPUT NO", "CONTROLS NO", "NODES NONE", "LINKS NONE", "",
            "[JUNCTIONS]", ";name invert max_depth init_depth surcharge_depth ponded_area",
        ]
        for j, d in zip(self.junctions, depths, strict=True):
            lines.append(f"{j.name} {j.invert:.4f} {d:.4f} 0 {surcharge_depth_m:g} 0")
        lines += ["", "[OUTFALLS]", ";name invert type stage gated"]
        for o in self.outfalls:
            lines.append(f"{o.name} {o.invert:.4f} FREE NO" if o.stage is None
                         else f"{o.name} {o.invert:.4f} FIXED {o.stage:.4f} NO")
        lines += ["", "[CONDUITS]", ";name from to length roughness in_offset out_offset init_flow max_flow"]
        for c in self.conduits:
            lines.append(f"{c.name} {c.from_node} {c.to_node} {self.conduit_length(c):.3f} {c.roughness:.5f} "
                         f"{c.in_offset:.4f} {c.out_offset:.4f} 0 0")
        lines += ["", "[XSECTIONS]", ";link shape geom1 geom2 geom3 geom4 barrels"]
        for c in self.conduits:
            lines.append(f"{c.name} {c.shape} {c.geom1:.4f} {c.geom2:.4f} 0 0 1")
        lines += ["", "[COORDINATES]"]
        for n in [*self.junctions, *self.outfalls]:
            lines.append(f"{n.name} {n.x:.3f} {n.y:.3f}")
        p = Path(path)
        p.write_text("\n".join(lines) + "\n")
        return p


def _sections(text: str) -> dict[str, list[tuple[int, list[str]]]]:
    out: dict[str, list[tuple[int, list[str]]]] = {}
    cur = None
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = line[1:-1].strip().upper()
            out.setdefault(cur, [])
        elif cur is not None:
            out[cur].append((no, line.split()))
    return out


def read_inp(path: str | PathLike, *, grid=None) -> PipeNetwork:
    """Read junctions, outfalls, conduits, cross-sections and coordinates of a SWMM ``.inp``.

    Lengths, elevations and sizes must be in metres (``FLOW_UNITS`` CMS, LPS or MLD); the
    network is validated (:meth:`PipeNetwork.validate`, with ``grid`` the DEM checks too).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise NetworkError(f"cannot read {p}: {exc.strerror}") from None
    sec = _sections(text)
    units = next((f[1].upper() for _, f in sec.get("OPTIONS", []) if f[0].upper() == "FLOW_UNITS" and len(f) > 1),
                 "CFS")
    if units not in ("CMS", "LPS", "MLD"):
        raise NetworkError(f"{p.name}: FLOW_UNITS {units} is a US unit system (feet); convert the model to "
                           "SI units (CMS, LPS or MLD)")
    if "LINK_OFFSETS" in {f[0].upper() for _, f in sec.get("OPTIONS", [])} and any(
            f[0].upper() == "LINK_OFFSETS" and f[1].upper() == "ELEVATION" for _, f in sec["OPTIONS"]):
        raise NetworkError(f"{p.name}: LINK_OFFSETS ELEVATION is not supported, use DEPTH offsets")

    def num(no: int, what: str, v: str) -> float:
        try:
            return float(v)
        except ValueError:
            raise NetworkError(f"{p.name} line {no}: {what} is not a number: {v!r}") from None

    coords: dict[str, tuple[float, float]] = {}
    for no, f in sec.get("COORDINATES", []):
        if len(f) < 3:
            raise NetworkError(f"{p.name} line {no}: [COORDINATES] needs name x y")
        coords[f[0]] = (num(no, f"x of {f[0]}", f[1]), num(no, f"y of {f[0]}", f[2]))

    def xy(kind: str, name: str) -> tuple[float, float]:
        if name not in coords:
            raise NetworkError(f"{kind} {name}: no entry in [COORDINATES]")
        return coords[name]

    junctions = []
    for no, f in sec.get("JUNCTIONS", []):
        if len(f) < 3:
            raise NetworkError(f"{p.name} line {no}: [JUNCTIONS] needs name invert max_depth")
        inv, depth = num(no, f"invert of junction {f[0]}", f[1]), num(no, f"max depth of junction {f[0]}", f[2])
        if depth <= 0:
            raise NetworkError(f"junction {f[0]}: max depth must be positive, got {depth:g} m")
        junctions.append(Junction(f[0], *xy("junction", f[0]), invert=inv, rim=inv + depth))
    outfalls = []
    for no, f in sec.get("OUTFALLS", []):
        if len(f) < 3:
            raise NetworkError(f"{p.name} line {no}: [OUTFALLS] needs name invert type")
        typ = f[2].upper()
        if typ not in ("FREE", "NORMAL", "FIXED"):
            raise NetworkError(f"outfall {f[0]}: type {typ} not supported (FREE, NORMAL or FIXED)")
        stage = num(no, f"stage of outfall {f[0]}", f[3]) if typ == "FIXED" and len(f) > 3 else None
        outfalls.append(Outfall(f[0], *xy("outfall", f[0]), invert=num(no, f"invert of {f[0]}", f[1]), stage=stage))
    for other in ("STORAGE", "DIVIDERS", "PUMPS", "ORIFICES", "WEIRS", "OUTLETS"):
        if sec.get(other):
            raise NetworkError(f"{p.name}: [{other}] elements are not supported yet "
                               f"(first: {sec[other][0][1][0]}); only junctions, outfalls and conduits")
    xs: dict[str, tuple[str, float, float]] = {}
    for no, f in sec.get("XSECTIONS", []):
        if len(f) < 3:
            raise NetworkError(f"{p.name} line {no}: [XSECTIONS] needs link shape geom1")
        xs[f[0]] = (f[1].upper(), num(no, f"geom1 of {f[0]}", f[2]),
                    num(no, f"geom2 of {f[0]}", f[3]) if len(f) > 3 else 0.0)
    conduits = []
    for no, f in sec.get("CONDUITS", []):
        if len(f) < 5:
            raise NetworkError(f"{p.name} line {no}: [CONDUITS] needs name from to length roughness")
        if f[0] not in xs:
            raise NetworkError(f"conduit {f[0]}: no entry in [XSECTIONS]")
        shape, g1, g2 = xs[f[0]]
        conduits.append(Conduit(
            f[0], f[1], f[2], roughness=num(no, f"roughness of {f[0]}", f[4]), geom1=g1, shape=shape, geom2=g2,
            length=num(no, f"length of {f[0]}", f[3]),
            in_offset=num(no, f"inlet offset of {f[0]}", f[5]) if len(f) > 5 else 0.0,
            out_offset=num(no, f"outlet offset of {f[0]}", f[6]) if len(f) > 6 else 0.0))
    net = PipeNetwork(junctions, outfalls, conduits)
    net.validate(grid)
    return net
