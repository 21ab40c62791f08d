"""Impact analysis of a zone (EPSG:4326 MULTIPOLYGON): who and what is inside, in a handful of SQL statements.

* **Buildings** intersecting the zone and an estimate of the people in them:
  floor area (footprint m² in the metric CRS × storeys) × :data:`OCCUPANCY`
  (persons per m² of floor area, by use). Storeys: ``attrs`` ``floors`` /
  ``levels`` / ``building:levels``, else ``height_m / 3``, at least 1; use:
  ``attrs['use']``, else the OSM ``kind``.
* **Sensitive sites**: schools, hospitals and care homes (POIs, :data:`SENSITIVE_POI_KINDS`),
  and the registered elderly people living alone (private door sensors at their homes,
  ``spatial.privacy``): counted for everyone who may see an impact, listed only to those
  who see private sensors.
* **Roads to close** (length inside, class), with a **detour** for the
  :data:`MAX_DETOURS` longest: the travel time between the two ends of the
  closed stretch over the network without the zone's edges (``pgr_dijkstraCost``).
* **Grids and communities** touched, with the share of their area inside.
* **Cameras** whose view cone (heading, field of view, range; a circle
  without heading) intersects the zone, with their stream links (staff).
* **Sensors** inside (public ones; private ones are the households above).
"""

from __future__ import annotations

import json
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial import privacy
from spatial.auth import Principal
from spatial.profile import district_profile
from spatial.workers import network

#: Persons per m² of floor area by building use (a daytime planning figure; 40 m² per resident is
#: about the urban floor area per person in China, offices and schools are design occupancies).
OCCUPANCY: dict[str, float] = {
    "residential": 0.025, "apartments": 0.025, "house": 0.025, "detached": 0.025, "dormitory": 0.05,
    "commercial": 0.05, "retail": 0.05, "office": 0.1, "hotel": 0.03, "industrial": 0.01, "warehouse": 0.005,
    "public": 0.05, "civic": 0.05, "government": 0.05, "school": 0.2, "kindergarten": 0.2, "university": 0.1,
    "hospital": 0.04, "church": 0.1, "train_station": 0.05, "parking": 0.002, "garage": 0.002,
}
#: Occupancy of any other use (``yes``, unknown), persons per m².
DEFAULT_OCCUPANCY = 0.02
#: POI kinds that are sensitive sites, by group.
SENSITIVE_POI_KINDS: dict[str, tuple[str, ...]] = {
    "school": ("school", "kindergarten", "childcare", "college", "university"),
    "hospital": ("hospital", "clinic", "doctors"),
    "care_home": ("nursing_home", "care_home", "social_facility", "retirement_home"),
}
#: Sensor types that mark a registered elderly person living alone (private sensors of these types).
ELDERLY_SENSOR_TYPES = ("door",)
#: Roads given a detour, longest closed stretch first.
MAX_DETOURS = 8
#: Longest lists returned (counts are always complete).
MAX_ITEMS = 200

_BUILDINGS = """
WITH z AS (SELECT ST_GeomFromEWKT(:zone) AS g),
b AS (
  SELECT b.id, b.attrs, b.height_m, ST_Area(ST_Transform(b.geom, :srid)) AS area,
         lower(coalesce(b.attrs ->> 'use', b.attrs ->> 'kind', '')) AS use,
         greatest(1, coalesce(
           CASE WHEN b.attrs ->> 'floors' ~ '^[0-9]{1,3}$' THEN (b.attrs ->> 'floors')::int END,
           CASE WHEN b.attrs ->> 'levels' ~ '^[0-9]{1,3}$' THEN (b.attrs ->> 'levels')::int END,
           CASE WHEN b.attrs ->> 'building:levels' ~ '^[0-9]{1,3}$' THEN (b.attrs ->> 'building:levels')::int END,
           round(b.height_m / 3.0)::int, 1)) AS floors
  FROM building b, z WHERE ST_Intersects(b.geom, z.g)
)
SELECT use, count(*), sum(area * floors),
       sum(area * floors * coalesce((CAST(:occ AS jsonb) ->> use)::float, :default_occ))
FROM b GROUP BY use ORDER BY 4 DESC
"""

_POIS = """
SELECT p.id, p.kind, p.name, ST_X(p.geom), ST_Y(p.geom) FROM poi p
WHERE p.kind = ANY(CAST(:kinds AS text[])) AND ST_Intersects(p.geom, ST_GeomFromEWKT(:zone))
ORDER BY p.kind, p.name NULLS LAST, p.id
"""

_ELDERLY = """
SELECT s.id, s.code, s.name, ST_X(s.geom), ST_Y(s.geom) FROM sensor s
WHERE s.private AND s.sensor_type = ANY(CAST(:types AS text[])) AND ST_Intersects(s.geom, ST_GeomFromEWKT(:zone))
ORDER BY s.code
"""

# lengths and areas inside: intersections with the zone cut in pieces (ST_Subdivide), which do not overlap
_ROADS = """
WITH z AS (SELECT ST_Subdivide(ST_GeomFromEWKT(:zone), 96) AS g)
SELECT r.id, r.code, r.name, r.road_class, sum(ST_Length(ST_Transform(ST_Intersection(r.geom, z.g), :srid))) AS inside_m
FROM road r JOIN z ON ST_Intersects(r.geom, z.g)
GROUP BY r.id ORDER BY inside_m DESC, r.id
"""

# the two ends of each closed stretch: the farthest-apart nodes, outside the zone, of the road's edges that touch it
_ENDS = """
WITH z AS (SELECT ST_GeomFromEWKT(:zone) AS g),
x AS (
  SELECT DISTINCT e.road_id, v.id AS node, v.geom
  FROM road_edge e JOIN road_vertex v ON v.id IN (e.source, e.target), z
  WHERE e.road_id = ANY(CAST(:roads AS int[])) AND ST_Intersects(e.geom, z.g) AND NOT ST_Intersects(v.geom, z.g)
)
SELECT DISTINCT ON (a.road_id) a.road_id, a.node, b.node
FROM x a JOIN x b ON a.road_id = b.road_id AND a.node < b.node
ORDER BY a.road_id, ST_Distance(a.geom, b.geom) DESC
"""

_DETOURS = """
SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCost(:sql, CAST(:pairs AS text), directed => true)
"""

_UNITS = """
WITH z AS (SELECT ST_Subdivide(ST_GeomFromEWKT(:zone), 96) AS g)
SELECT u.id, u.code, u.name, u.level,
       sum(ST_Area(ST_Transform(ST_Intersection(u.geom, z.g), :srid)))
         / nullif(max(coalesce(u.area_m2, ST_Area(ST_Transform(u.geom, :srid)))), 0)
FROM admin_unit u JOIN z ON ST_Intersects(u.geom, z.g) WHERE u.level IN (3, 4)
GROUP BY u.id ORDER BY u.level, u.code
"""

_CAMERAS = """
WITH z AS (SELECT ST_Transform(ST_GeomFromEWKT(:zone), :srid) AS g, ST_GeomFromEWKT(:zone) AS g4326),
c AS (
  SELECT c.*, ST_Transform(c.geom, :srid) AS p, coalesce(c.range_m, 80) AS r, coalesce(c.fov_deg, 60) AS f
  FROM camera c, z
  WHERE c.geom && ST_Expand(z.g4326, 0.1)  -- range_m <= 5 km (spatial.sensors.cameras): 0.1 deg >= 5 km to 60 N/S
    AND ST_DWithin(ST_Transform(c.geom, :srid), z.g, coalesce(c.range_m, 80))
)
SELECT c.id, c.code, c.name, c.stream_url, c.status, ST_X(c.geom), ST_Y(c.geom), c.heading_deg
FROM c, z
WHERE ST_Intersects(z.g, CASE
  WHEN c.heading_deg IS NULL OR c.f >= 360 THEN ST_Buffer(c.p, c.r)
  ELSE ST_MakePolygon(ST_MakeLine(ARRAY[c.p] || ARRAY(
         SELECT ST_Translate(c.p, c.r * sin(radians(c.heading_deg - c.f / 2 + c.f * i / 8.0)),
                                  c.r * cos(radians(c.heading_deg - c.f / 2 + c.f * i / 8.0)))
         FROM generate_series(0, 8) i) || ARRAY[c.p])) END)
ORDER BY c.code
"""

_SENSORS = """
SELECT s.id, s.code, s.sensor_type, s.name, s.status, s.last_value, s.unit, ST_X(s.geom), ST_Y(s.geom)
FROM sensor s WHERE NOT s.private AND ST_Intersects(s.geom, ST_GeomFromEWKT(:zone)) ORDER BY s.code
"""


def _poi_group(kind: str) -> str:
    return next((g for g, kinds in SENSITIVE_POI_KINDS.items() if kind in kinds), kind)


def analyse(session: Session, zone_ewkt: str, *, viewer: Principal | None = None) -> dict:
    """The impact of ``zone_ewkt`` (EPSG:4326); lists capped at :data:`MAX_ITEMS`, counts complete.

    Returns ``buildings`` (count, floor_area_m2, people, by_use), ``sensitive`` (schools, hospitals,
    care homes, elderly living alone; the latter listed only for ``viewer``\\ s who see private
    sensors), ``roads`` (with ``detour_s`` for the longest), ``units`` (grids and communities with
    ``share`` inside), ``cameras``, ``sensors`` and ``ms`` (time taken).
    """
    t0 = time.perf_counter()
    srid = district_profile(session).metric_srid
    p = {"zone": zone_ewkt, "srid": srid}
    by_use = [{"use": r[0] or "unknown", "count": int(r[1]), "floor_area_m2": round(float(r[2] or 0)),
               "people": round(float(r[3] or 0))}
              for r in session.execute(sa.text(_BUILDINGS), {**p, "occ": json.dumps(OCCUPANCY),
                                                             "default_occ": DEFAULT_OCCUPANCY})]
    buildings = {"count": sum(b["count"] for b in by_use), "floor_area_m2": sum(b["floor_area_m2"] for b in by_use),
                 "people": sum(b["people"] for b in by_use), "by_use": by_use}

    kinds = [k for ks in SENSITIVE_POI_KINDS.values() for k in ks]
    sites = [{"id": r[0], "group": _poi_group(r[1]), "kind": r[1], "name": r[2], "lon": r[3], "lat": r[4]}
             for r in session.execute(sa.text(_POIS), {**p, "kinds": kinds})]
    elderly = session.execute(sa.text(_ELDERLY), {**p, "types": list(ELDERLY_SENSOR_TYPES)}).all()
    sensitive: dict = {g: [s for s in sites if s["group"] == g][:MAX_ITEMS] for g in SENSITIVE_POI_KINDS}
    sensitive["counts"] = {**{g: sum(1 for s in sites if s["group"] == g) for g in SENSITIVE_POI_KINDS},
                           "elderly_alone": len(elderly)}
    if privacy.sees_private_sensors(viewer):
        sensitive["elderly_alone"] = [{"sensor_id": r[0], "code": r[1], "name": r[2], "lon": r[3], "lat": r[4]}
                                      for r in elderly[:MAX_ITEMS]]

    roads = [{"id": r[0], "code": r[1], "name": r[2], "road_class": r[3], "inside_m": round(float(r[4]), 1),
              "detour_s": None} for r in session.execute(sa.text(_ROADS), p)]
    _detours(session, zone_ewkt, roads[:MAX_DETOURS])

    units = [{"id": r[0], "code": r[1], "name": r[2], "level": "grid" if r[3] == 4 else "community",
              "share": None if r[4] is None else round(float(r[4]), 3)} for r in session.execute(sa.text(_UNITS), p)]
    cams = [{"id": r[0], "code": r[1], "name": r[2], "stream_url": r[3], "status": r[4], "lon": r[5], "lat": r[6],
             "heading_deg": r[7]} for r in session.execute(sa.text(_CAMERAS), p)]
    if not privacy.is_staff(viewer):
        for c in cams:
            c["stream_url"] = None
    sensors = [{"id": r[0], "code": r[1], "type": r[2], "name": r[3], "status": r[4], "last_value": r[5],
                "unit": r[6], "lon": r[7], "lat": r[8]} for r in session.execute(sa.text(_SENSORS), p)]
    grids = [u for u in units if u["level"] == "grid"]
    communities = [u for u in units if u["level"] == "community"]
    return {
        "buildings": buildings, "sensitive": sensitive,
        "roads": {"count": len(roads), "length_m": round(sum(r["inside_m"] for r in roads), 1),
                  "items": roads[:MAX_ITEMS]},
        "grids": {"count": len(grids), "items": grids[:MAX_ITEMS]},
        "communities": {"count": len(communities), "items": communities[:MAX_ITEMS]},
        "cameras": {"count": len(cams), "items": cams[:MAX_ITEMS]},
        "sensors": {"count": len(sensors), "items": sensors[:MAX_ITEMS]},
        "ms": round((time.perf_counter() - t0) * 1000, 1),
    }


def _detours(session: Session, zone_ewkt: str, roads: list[dict]) -> None:
    """Set ``detour_s`` (seconds around the zone between the closed stretch's ends) on ``roads`` in place."""
    if not roads or not network.ensure(session):
        return
    ends = session.execute(sa.text(_ENDS), {"zone": zone_ewkt, "roads": [r["id"] for r in roads]}).all()
    if not ends:
        return
    pairs = {int(e[0]): (int(e[1]), int(e[2])) for e in ends}
    w, s, e, n = session.execute(sa.text(
        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT Box2D(ST_GeomFromEWKT(:z)) b) q"),
        {"z": zone_ewkt}).one()
    box = network.search_box([(w, s), (e, n)], margin_m=2000.0)
    edges = (network.edges_sql(box) + " AND NOT ST_Intersects(geom, ST_GeomFromEWKT("
             + "'" + zone_ewkt.replace("'", "''") + "'))")
    values = ", ".join(f"({a}, {b}), ({b}, {a})" for a, b in pairs.values())
    pair_sql = f"SELECT * FROM (VALUES {values}) AS t(source, target)"
    cost = {(int(r[0]), int(r[1])): float(r[2])
            for r in session.execute(sa.text(_DETOURS), {"sql": edges, "pairs": pair_sql})}
    for r in roads:
        pair = pairs.get(r["id"])
        if pair is not None:
            both = [c for c in (cost.get(pair), cost.get((pair[1], pair[0]))) if c is not None]
            c = min(both) if both else None
            r["detour_s"] = None if c is None else round(c, 1)
            r["detour_available"] = c is not None
