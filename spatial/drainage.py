"""The district's drainage network in PostGIS: import (SWMM ``.inp`` or GeoPackage), store, load.

Rows are EPSG:4326 (tables ``drainage_node``, ``drainage_conduit``, migration 0017); the model
(:class:`flood_model.network.PipeNetwork`) works in the district's metric CRS [m]. An import
replaces the whole network in one transaction, after :meth:`PipeNetwork.validate` (and, when the
district has a DEM, the checks against it): bad input raises :class:`ImportDataError` naming the
element and writes nothing.

GeoPackage layers: ``junctions`` (points: ``name``, ``invert_m``, ``rim_m``), ``outfalls``
(points: ``name``, ``invert_m``, optional ``stage_m``), ``conduits`` (``name``, ``from_node``,
``to_node``, ``roughness``, ``geom1_m``, optional ``shape`` (CIRCULAR), ``geom2_m``, ``length_m``,
``in_offset_m``, ``out_offset_m``; the geometry is ignored, the pipe joins its nodes).
"""

from __future__ import annotations

import math
from pathlib import Path

import sqlalchemy as sa
from pyproj import Transformer
from sqlalchemy.orm import Session

from flood_model.errors import FloodModelError
from flood_model.network import Conduit, Junction, Outfall, PipeNetwork, read_inp
from spatial.errors import ImportDataError
from spatial.models import SRID, DrainageConduit, DrainageNode
from spatial.profile import district_profile

__all__ = ["load_network", "network_frames", "network_summary", "read_network_file", "store_network"]


def _num(row, col: str, layer: str, default: float | None = None) -> float:
    v = row.get(col, default)
    try:
        v = float(v) if v is not None else default
    except (TypeError, ValueError):
        v = None
    if v is None or (isinstance(v, float) and math.isnan(v)):
        if default is not None:
            return default
        raise ImportDataError(f"{layer} {row.get('name')}: column {col} must be a number")
    return v


def _read_gpkg(path: Path, srid: int) -> PipeNetwork:
    import geopandas as gpd
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(path)}
    missing = {"junctions", "conduits", "outfalls"} - layers
    if missing:
        raise ImportDataError(f"{path.name}: missing layer(s) {', '.join(sorted(missing))} "
                              "(need junctions, outfalls, conduits)")

    def points(layer: str):
        df = gpd.read_file(path, layer=layer)
        if df.crs is None:
            raise ImportDataError(f"{path.name}: layer {layer} has no CRS")
        df = df.to_crs(epsg=srid)
        for _, r in df.iterrows():
            if r.geometry is None or r.geometry.geom_type != "Point":
                raise ImportDataError(f"{layer[:-1]} {r.get('name')}: geometry must be a point")
            yield r

    junctions = [Junction(str(r["name"]), r.geometry.x, r.geometry.y, _num(r, "invert_m", "junction"),
                          _num(r, "rim_m", "junction")) for r in points("junctions")]
    outfalls = []
    for r in points("outfalls"):
        stage = r.get("stage_m")
        stage = None if stage is None or (isinstance(stage, float) and math.isnan(stage)) else float(stage)
        outfalls.append(Outfall(str(r["name"]), r.geometry.x, r.geometry.y, _num(r, "invert_m", "outfall"), stage))
    conduits = []
    for _, r in gpd.read_file(path, layer="conduits").iterrows():
        length = r.get("length_m")
        conduits.append(Conduit(
            str(r["name"]), str(r["from_node"]), str(r["to_node"]), _num(r, "roughness", "conduit"),
            _num(r, "geom1_m", "conduit"), shape=str(r.get("shape") or "CIRCULAR").upper(),
            geom2=_num(r, "geom2_m", "conduit", 0.0),
            length=None if length is None or (isinstance(length, float) and math.isnan(length)) else float(length),
            in_offset=_num(r, "in_offset_m", "conduit", 0.0), out_offset=_num(r, "out_offset_m", "conduit", 0.0)))
    return PipeNetwork(junctions, outfalls, conduits)


def read_network_file(path: str | Path, *, srid: int, grid=None) -> PipeNetwork:
    """Read and validate a network: SWMM ``.inp`` (coordinates in EPSG:``srid``) or GeoPackage layers."""
    p = Path(path)
    if not p.is_file():
        raise ImportDataError(f"no such file: {p}")
    try:
        if p.suffix.lower() == ".inp":
            return read_inp(p, grid=grid)
        if p.suffix.lower() == ".gpkg":
            net = _read_gpkg(p, srid)
            net.validate(grid)
            return net
    except FloodModelError as exc:
        raise ImportDataError(str(exc)) from None
    raise ImportDataError(f"{p.name}: use a SWMM .inp file or a GeoPackage (.gpkg)")


def store_network(session: Session, net: PipeNetwork, *, srid: int, source: str) -> dict[str, int]:
    """Replace the stored network with ``net`` (coordinates in EPSG:``srid``); returns row counts."""
    try:
        net.validate()
    except FloodModelError as exc:
        raise ImportDataError(str(exc)) from None
    to_ll = Transformer.from_crs(srid, SRID, always_xy=True)
    session.execute(sa.delete(DrainageConduit))
    session.execute(sa.delete(DrainageNode))
    ll: dict[str, tuple[float, float]] = {}
    rows = []
    for kind, items in (("junction", net.junctions), ("outfall", net.outfalls)):
        for n in items:
            lon, lat = to_ll.transform(n.x, n.y)
            ll[n.name] = (lon, lat)
            rows.append({"name": n.name, "kind": kind, "invert_m": n.invert,
                         "rim_m": n.rim if kind == "junction" else None, "stage_m": getattr(n, "stage", None),
                         "source": source, "geom": f"SRID={SRID};POINT({lon} {lat})"})
    ids = dict(session.execute(sa.insert(DrainageNode).returning(DrainageNode.name, DrainageNode.id), rows).all())
    session.execute(sa.insert(DrainageConduit), [
        {"name": c.name, "from_node_id": ids[c.from_node], "to_node_id": ids[c.to_node], "shape": c.shape,
         "geom1_m": c.geom1, "geom2_m": c.geom2, "roughness": c.roughness, "length_m": net.conduit_length(c),
         "in_offset_m": c.in_offset, "out_offset_m": c.out_offset, "source": source,
         "geom": f"SRID={SRID};LINESTRING({ll[c.from_node][0]} {ll[c.from_node][1]}, "
                 f"{ll[c.to_node][0]} {ll[c.to_node][1]})"}
        for c in net.conduits])
    return {"junctions": len(net.junctions), "outfalls": len(net.outfalls), "conduits": len(net.conduits)}


def load_network(session: Session, *, srid: int | None = None) -> PipeNetwork | None:
    """The stored network in EPSG:``srid`` (default: the district's metric CRS), None when there is none."""
    srid = srid or district_profile(session).metric_srid
    nodes = session.execute(sa.select(
        DrainageNode.id, DrainageNode.name, DrainageNode.kind, DrainageNode.invert_m, DrainageNode.rim_m,
        DrainageNode.stage_m, sa.func.ST_X(DrainageNode.geom), sa.func.ST_Y(DrainageNode.geom)
    ).order_by(DrainageNode.name)).all()
    if not nodes:
        return None
    to_m = Transformer.from_crs(SRID, srid, always_xy=True)
    names = {r[0]: r[1] for r in nodes}
    junctions, outfalls = [], []
    for _id, name, kind, inv, rim, stage, lon, lat in nodes:
        x, y = to_m.transform(lon, lat)
        if kind == "junction":
            junctions.append(Junction(name, x, y, inv, rim))
        else:
            outfalls.append(Outfall(name, x, y, inv, stage))
    conduits = [Conduit(r.name, names[r.from_node_id], names[r.to_node_id], r.roughness, r.geom1_m, shape=r.shape,
                        geom2=r.geom2_m, length=r.length_m, in_offset=r.in_offset_m, out_offset=r.out_offset_m)
                for r in session.scalars(sa.select(DrainageConduit).order_by(DrainageConduit.name))]
    return PipeNetwork(junctions, outfalls, conduits)


def network_summary(session: Session) -> dict:
    """Counts, total pipe length [km] and sources of the stored network."""
    n = dict(session.execute(sa.select(DrainageNode.kind, sa.func.count()).group_by(DrainageNode.kind)).all())
    c, km = session.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(DrainageConduit.length_m), 0)
                                      / 1000.0)).one()
    sources = session.scalars(sa.select(DrainageNode.source).distinct()).all()
    return {"junctions": n.get("junction", 0), "outfalls": n.get("outfall", 0), "conduits": c,
            "length_km": round(float(km), 3), "sources": sorted(sources)}


def network_frames(session: Session):
    """The stored network for the map, EPSG:4326: (conduits ``name, size_m``, nodes ``name, kind``)."""
    import geopandas as gpd

    pipes = gpd.read_postgis(sa.select(DrainageConduit.name, DrainageConduit.geom1_m.label("size_m"),
                                       DrainageConduit.geom).order_by(DrainageConduit.name),
                             session.connection(), geom_col="geom")
    nodes = gpd.read_postgis(sa.select(DrainageNode.name, DrainageNode.kind, DrainageNode.geom)
                             .order_by(DrainageNode.name), session.connection(), geom_col="geom")
    return pipes, nodes
