"""The routable road network for pgRouting, built from the ``road`` table.

Every segment of every road (``ST_DumpSegments``, EPSG:4326) is an edge of
``road_edge``; its end points, rounded to 1e-7 degrees, are the nodes of
``road_vertex``: roads that share a vertex are connected. OSM roads (``road.source``
set by ``onemap osm import``) keep OSM's own topology (a bridge over a street is
no junction); other roads (``onemap import road``, the demo: centrelines drawn
without topology) are first noded where they cross each other (``ST_Snap`` of
each road to its intersections with the others). An edge's
``cost`` is its length on the sphere in metres divided by the speed of its road
(``road.attrs['speed_kmh']`` when set, else :data:`SPEED_KMH` of its
``road_class``) in seconds; ``reverse_cost`` is the same, or ``-1`` on a
one-way road (``road.oneway``, digitised direction).

The network is rebuilt lazily: a statement trigger on ``road`` moves
``road_network_state.road_generation`` (migration 0014); :func:`ensure`
rebuilds both tables when it differs from ``built_generation``, under a
transaction-level advisory lock, in the caller's transaction. Queries then go to pgRouting with the
edges of a bounding box (:func:`edges_sql`).
"""

from __future__ import annotations

import json
import math

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.db.copy import driver_connection

#: Free-flow urban speeds by OSM-style road class, km/h.
SPEED_KMH: dict[str, float] = {
    "motorway": 60.0, "trunk": 50.0, "primary": 40.0, "secondary": 35.0, "tertiary": 30.0,
    "residential": 20.0, "living_street": 10.0, "service": 15.0, "unclassified": 20.0,
    "footway": 5.0, "path": 5.0, "pedestrian": 5.0, "cycleway": 12.0, "steps": 2.0,
}
DEFAULT_SPEED_KMH = 25.0
#: Speed of the straight leg from a point to the nearest network node, km/h.
ACCESS_SPEED_KMH = 10.0
#: Advisory lock key of a rebuild (any constant unique to OneMap).
_LOCK_KEY = 7_114_016

_BUILD = """
DROP TABLE IF EXISTS _seg, _node;
CREATE TEMP TABLE _seg ON COMMIT DROP AS
  SELECT r.id AS road_id,
         CASE WHEN (r.attrs ->> 'speed_kmh') ~ '^[0-9]+(\\.[0-9]+)?$' AND (r.attrs ->> 'speed_kmh')::float > 0
              THEN (r.attrs ->> 'speed_kmh')::float
              ELSE coalesce((CAST(:speeds AS jsonb) ->> lower(r.road_class))::float, :default_speed) END AS kmh,
         coalesce(r.oneway, false) AS oneway, d.geom
  FROM road r
  CROSS JOIN LATERAL (SELECT CASE WHEN r.source IS NOT NULL THEN ST_Force2D(r.geom) ELSE coalesce((
      SELECT ST_Snap(ST_Force2D(r.geom), ST_Collect(ST_Force2D(ST_Intersection(r.geom, o.geom))), 1e-9)
      FROM road o WHERE o.source IS NULL AND o.id <> r.id AND ST_Intersects(r.geom, o.geom)),
    ST_Force2D(r.geom)) END AS g) n
  CROSS JOIN LATERAL ST_DumpSegments(n.g) d;
CREATE TEMP TABLE _node ON COMMIT DROP AS
  SELECT row_number() OVER (ORDER BY x, y) AS id, x, y
  FROM (SELECT round(ST_X(ST_StartPoint(geom))::numeric, 7) x, round(ST_Y(ST_StartPoint(geom))::numeric, 7) y
        FROM _seg
        UNION SELECT round(ST_X(ST_EndPoint(geom))::numeric, 7), round(ST_Y(ST_EndPoint(geom))::numeric, 7)
        FROM _seg) p;
CREATE INDEX ON _node (x, y);
DELETE FROM road_edge;
DELETE FROM road_vertex;
INSERT INTO road_vertex (id, geom) SELECT id, ST_SetSRID(ST_MakePoint(x::float, y::float), 4326) FROM _node;
INSERT INTO road_edge (id, road_id, source, target, cost, reverse_cost, length_m, geom)
  SELECT row_number() OVER (), s.road_id, a.id, b.id, q.len / (s.kmh / 3.6),
         CASE WHEN s.oneway THEN -1 ELSE q.len / (s.kmh / 3.6) END, q.len, s.geom
  FROM _seg s
  CROSS JOIN LATERAL (SELECT ST_Length(CAST(s.geom AS geography), false) AS len) q
  JOIN _node a ON a.x = round(ST_X(ST_StartPoint(s.geom))::numeric, 7)
              AND a.y = round(ST_Y(ST_StartPoint(s.geom))::numeric, 7)
  JOIN _node b ON b.x = round(ST_X(ST_EndPoint(s.geom))::numeric, 7)
              AND b.y = round(ST_Y(ST_EndPoint(s.geom))::numeric, 7)
  WHERE a.id <> b.id;
"""


def build(session: Session) -> dict:
    """Rebuild ``road_vertex``/``road_edge`` from ``road`` now (caller's transaction); counts."""
    script = (_BUILD.replace(":speeds", "'" + json.dumps(SPEED_KMH).replace("'", "''") + "'")
              .replace(":default_speed", repr(DEFAULT_SPEED_KMH)))
    session.flush()
    driver_connection(session).execute(script)  # one round trip; the parameters are inlined literals
    row = session.execute(sa.text(
        "INSERT INTO road_network_state AS s (id, road_generation, built_generation, built_at, vertices, edges) "
        "SELECT 1, g, g, now(), (SELECT count(*) FROM road_vertex), (SELECT count(*) FROM road_edge) "
        "FROM (SELECT nextval('road_generation_seq') AS g) q "
        "ON CONFLICT (id) DO UPDATE SET built_generation = s.road_generation, built_at = excluded.built_at, "
        "vertices = excluded.vertices, edges = excluded.edges RETURNING vertices, edges, built_generation")).one()
    return {"vertices": int(row[0]), "edges": int(row[1]), "generation": int(row[2])}


_CURRENT = sa.text("SELECT road_generation = built_generation, edges > 0 FROM road_network_state WHERE id = 1")


def ensure(session: Session) -> bool:
    """Make the network current (rebuild after any write to ``road``); False when it has no edge.

    A missing state row (the tables were truncated) counts as out of date.
    """
    current, has_edges = session.execute(_CURRENT).one_or_none() or (False, False)
    if current:
        return bool(has_edges)
    session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    current, has_edges = session.execute(_CURRENT).one_or_none() or (False, False)
    if not current:
        has_edges = build(session)["edges"] > 0
    return bool(has_edges)


def edges_sql(bbox: tuple[float, float, float, float] | None = None) -> str:
    """pgRouting's edge query (id, source, target, cost, reverse_cost), in a box (W, S, E, N degrees) if given."""
    base = "SELECT id, source, target, cost, reverse_cost FROM road_edge"
    if bbox is None:
        return base
    w, s, e, n = (float(v) for v in bbox)
    return f"{base} WHERE geom && ST_MakeEnvelope({w!r}, {s!r}, {e!r}, {n!r}, 4326)"


def search_box(points: list[tuple[float, float]], *, margin_m: float) -> tuple[float, float, float, float]:
    """Bounding box (W, S, E, N degrees) of ``points`` grown by ``margin_m`` metres (and by its own size)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    lat = (min(ys) + max(ys)) / 2
    m_lat = 111_320.0
    m_lon = m_lat * max(0.05, math.cos(math.radians(lat)))
    span = max((max(xs) - min(xs)) * m_lon, (max(ys) - min(ys)) * m_lat)
    grow = margin_m + span
    return (min(xs) - grow / m_lon, min(ys) - grow / m_lat, max(xs) + grow / m_lon, max(ys) + grow / m_lat)


def snap(session: Session, points: list[tuple[float, float]]) -> list[tuple[int, float]]:
    """Nearest network node of each point (lon/lat) and the access leg in seconds at :data:`ACCESS_SPEED_KMH`."""
    if not points:
        return []
    rows = session.execute(sa.text(
        "SELECT p.i, v.id, ST_Distance(CAST(v.geom AS geography), CAST(p.g AS geography), false) "
        "FROM (SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326) AS g "
        "      FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS u(x, y, i)) p "
        "CROSS JOIN LATERAL (SELECT id, geom FROM road_vertex ORDER BY geom <-> p.g LIMIT 1) v ORDER BY p.i"),
        {"xs": [float(p[0]) for p in points], "ys": [float(p[1]) for p in points]}).all()
    return [(int(r[1]), float(r[2]) / (ACCESS_SPEED_KMH / 3.6)) for r in rows]
