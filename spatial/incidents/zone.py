"""The impact zone of an incident: a buffer, or a road-network isochrone through pgRouting.

* **buffer**: the incident geometry (point, line or polygon, EPSG:4326) grown
  by ``radius_m`` metres in the district's metric CRS.
* **isochrone**: every stretch of road reachable from the incident within
  ``band_s`` seconds (``pgr_drivingDistance`` from the network nodes inside a
  polygon incident, else from the node nearest to it; one-way roads honoured),
  edges cut where the budget runs out (``ST_LineSubstring``), grown by
  :data:`ROADSIDE_M` metres so the buildings along the roads fall in, united
  with the incident geometry grown by the same (outline simplified to 1 m). Without a road network it falls
  back to a buffer of ``band_s`` at :data:`FALLBACK_SPEED_KMH`.

Zones are MULTIPOLYGONs in EPSG:4326.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.errors import ValidationError
from spatial.profile import district_profile
from spatial.workers import network

#: Depth of the roadside strip of an isochrone zone, metres.
ROADSIDE_M = 40.0
#: Speed of the fallback buffer when no road is loaded, km/h.
FALLBACK_SPEED_KMH = 20.0
#: Fastest speed of the network, km/h: bounds the edge box an isochrone reads.
MAX_NETWORK_KMH = 60.0


@dataclass
class Reached:
    """A network node reached by an isochrone: ``agg_cost`` seconds from the incident."""

    node: int
    agg_cost: float


def reached_nodes(session: Session, geom_ewkt: str, band_s: float) -> list[Reached]:
    """Nodes within ``band_s`` seconds of the incident (``pgr_drivingDistance``), nearest first."""
    starts, access = _start_nodes(session, geom_ewkt)
    if not starts:
        return []
    box = _box(session, geom_ewkt, band_s)
    rows = session.execute(sa.text(
        "SELECT node, min(agg_cost) FROM pgr_drivingDistance(:sql, CAST(:starts AS bigint[]), :band, "
        "directed => true, equicost => true) GROUP BY node ORDER BY 2, 1"),
        {"sql": network.edges_sql(box), "starts": starts, "band": max(0.0, band_s - access)}).all()
    return [Reached(int(r[0]), float(r[1]) + access) for r in rows]


def _start_nodes(session: Session, geom_ewkt: str) -> tuple[list[int], float]:
    """Network nodes inside a polygon incident (access 0 s), else the node nearest its point on surface."""
    inside = session.execute(sa.text(
        "SELECT v.id FROM road_vertex v, (SELECT ST_GeomFromEWKT(:g) AS g) q "
        "WHERE ST_Dimension(q.g) = 2 AND ST_Intersects(v.geom, q.g)"), {"g": geom_ewkt}).scalars().all()
    if inside:
        return [int(v) for v in inside], 0.0
    x, y = session.execute(sa.text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_GeomFromEWKT(:g)) AS p) q"),
        {"g": geom_ewkt}).one()
    snapped = network.snap(session, [(x, y)])
    if not snapped:
        return [], 0.0
    node, access = snapped[0]
    return [node], access


def _box(session: Session, geom_ewkt: str, band_s: float) -> tuple[float, float, float, float]:
    w, s, e, n = session.execute(sa.text(
        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT Box2D(ST_GeomFromEWKT(:g)) b) q"),
        {"g": geom_ewkt}).one()
    return network.search_box([(w, s), (e, n)], margin_m=band_s * MAX_NETWORK_KMH / 3.6)


_ISO_ZONE = """
WITH dd AS (SELECT node, agg_cost FROM unnest(CAST(:nodes AS bigint[]), CAST(:costs AS float8[])) AS u(node, agg_cost)),
e AS (
  SELECT e.geom, e.cost, e.reverse_cost, s.agg_cost AS cs, t.agg_cost AS ct
  FROM road_edge e LEFT JOIN dd s ON s.node = e.source LEFT JOIN dd t ON t.node = e.target
  WHERE (s.node IS NOT NULL OR t.node IS NOT NULL)
    AND e.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
),
f AS (  -- reached fraction from each end (0..1); an edge whose ends add to 1 or more is reached whole
  SELECT geom,
         CASE WHEN cs IS NULL OR cost < 0 THEN 0 WHEN cost = 0 THEN 1
              ELSE least(1.0, greatest(0.0, (:band - cs) / cost)) END AS ff,
         CASE WHEN ct IS NULL OR reverse_cost < 0 THEN 0 WHEN reverse_cost = 0 THEN 1
              ELSE least(1.0, greatest(0.0, (:band - ct) / reverse_cost)) END AS fb
  FROM e
),
pieces AS (
  SELECT geom AS g FROM f WHERE ff + fb >= 1
  UNION ALL SELECT ST_LineSubstring(geom, 0, ff) FROM f WHERE ff + fb < 1 AND ff > 0
  UNION ALL SELECT ST_LineSubstring(geom, 1 - fb, 1) FROM f WHERE ff + fb < 1 AND fb > 0
)
-- a cascaded union of each piece's buffer: several times faster than buffering the collected lines
SELECT ST_AsEWKT(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Transform(ST_SimplifyPreserveTopology(ST_Union(
         ST_Union(ST_Buffer(ST_Transform(g, :srid), :roadside, 'quad_segs=4')),
         ST_Buffer(ST_Transform(ST_GeomFromEWKT(:geom), :srid), :roadside, 'quad_segs=4')), 1.0), 4326)), 3))),
       sum(ST_Length(ST_Transform(g, :srid)))
FROM pieces
"""

_BUFFER_ZONE = sa.text(
    "SELECT ST_AsEWKT(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Transform("
    "ST_Buffer(ST_Transform(ST_GeomFromEWKT(:geom), :srid), :radius, 'quad_segs=16'), 4326)), 3)))")


def buffer_zone(session: Session, geom_ewkt: str, radius_m: float) -> str:
    """EWKT MULTIPOLYGON: the geometry grown by ``radius_m`` metres (district metric CRS)."""
    if not 0 < radius_m <= 10_000:
        raise ValidationError("radius_m must be in (0, 10000] metres")
    return session.execute(_BUFFER_ZONE, {"geom": geom_ewkt, "srid": district_profile(session).metric_srid,
                                          "radius": radius_m}).scalar_one()


def isochrone_zone(session: Session, geom_ewkt: str, band_s: float) -> tuple[str, dict]:
    """EWKT MULTIPOLYGON of the road-network isochrone and facts about it (nodes reached, road metres)."""
    if not 0 < band_s <= 7200:
        raise ValidationError("band_s must be in (0, 7200] seconds")
    if not network.ensure(session):
        radius = band_s * FALLBACK_SPEED_KMH / 3.6
        return buffer_zone(session, geom_ewkt, radius), {"method": "buffer_fallback", "radius_m": radius}
    nodes = reached_nodes(session, geom_ewkt, band_s)
    if not nodes:
        radius = band_s * FALLBACK_SPEED_KMH / 3.6
        return buffer_zone(session, geom_ewkt, radius), {"method": "buffer_fallback", "radius_m": radius}
    w, s, e, n = _box(session, geom_ewkt, band_s)
    zone, road_m = session.execute(sa.text(_ISO_ZONE), {
        "nodes": [r.node for r in nodes], "costs": [r.agg_cost for r in nodes], "band": band_s,
        "w": w, "s": s, "e": e, "n": n, "srid": district_profile(session).metric_srid, "roadside": ROADSIDE_M,
        "geom": geom_ewkt}).one()
    return zone, {"method": "isochrone", "nodes_reached": len(nodes), "road_m": round(float(road_m or 0), 1)}


def as_geojson(session: Session, ewkt: str) -> dict:
    """A GeoJSON geometry dict of an EWKT geometry (7 decimals)."""
    return json.loads(session.execute(sa.text("SELECT ST_AsGeoJSON(ST_GeomFromEWKT(:z), 7)"), {"z": ewkt}).scalar())
