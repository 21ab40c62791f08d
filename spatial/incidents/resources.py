"""Resources near an incident: workers by department and skill with road travel time, equipment, shelters.

* **Workers**: per department, the :data:`SHORTLIST` nearest available ones
  (on duty, under their workload cap, a trusted GPS fix fresher than
  ``Settings.position_max_age_s``; KNN on the partial GiST index of dispatch),
  then ranked by road travel time to the incident through pgRouting
  (:mod:`spatial.workers.routing`; straight-line order without roads). Those with
  the template's skill come first.
* **Equipment and stock**: assets of :data:`EQUIPMENT_TYPES` (``attrs.quantity``,
  default 1, ``attrs.unit``) within ``radius_m``, nearest first, with totals by type.
* **Shelters**: assets of type ``shelter`` (``attrs.capacity``, ``attrs.occupancy``)
  outside the impact zone, nearest first.

Distances are metres on the sphere; travel times seconds.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.settings import get_settings
from spatial.workers import routing

#: Asset types that are emergency equipment or stock.
EQUIPMENT_TYPES = ("pump", "sandbags", "barrier", "vehicle", "generator", "rescue_boat", "lighting",
                   "fire_extinguisher", "first_aid")
SHELTER_TYPE = "shelter"
#: Nearest available workers per department taken to the travel-time ranking.
SHORTLIST = 8
#: Default search radius for equipment and shelters, metres.
DEFAULT_RADIUS_M = 5000.0

_WORKERS = """
SELECT d.id, d.code, d.name, w.id, w.code, w.name, w.phone, w.skills, ST_X(w.geom), ST_Y(w.geom),
       ST_Distance(w.geog, CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), false),
       w.workload, w.max_workload
FROM department d
CROSS JOIN LATERAL (
  SELECT * FROM worker w
  WHERE w.on_duty AND w.workload < w.max_workload AND w.department_id = d.id
    AND w.position_at >= :since AND w.geog IS NOT NULL
  ORDER BY w.geog <-> CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) LIMIT :k) w
WHERE d.code = ANY(CAST(:codes AS text[]))
"""

_EQUIPMENT = """
SELECT a.id, a.code, a.asset_type, a.name, a.status, d.code,
       CASE WHEN a.attrs ->> 'quantity' ~ '^[0-9]+(\\.[0-9]+)?$' THEN (a.attrs ->> 'quantity')::float ELSE 1 END,
       a.attrs ->> 'unit', ST_X(a.geom), ST_Y(a.geom),
       ST_Distance(CAST(a.geom AS geography), CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), false) AS d
FROM asset a LEFT JOIN department d ON d.id = a.department_id
WHERE a.asset_type = ANY(CAST(:types AS text[])) AND a.status = 'ok'
  AND ST_DWithin(CAST(a.geom AS geography), CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), :radius)
ORDER BY d, a.id LIMIT :limit
"""

_SHELTERS = """
SELECT a.id, a.code, a.name, a.status,
       CASE WHEN a.attrs ->> 'capacity' ~ '^[0-9]+$' THEN (a.attrs ->> 'capacity')::int END,
       CASE WHEN a.attrs ->> 'occupancy' ~ '^[0-9]+$' THEN (a.attrs ->> 'occupancy')::int ELSE 0 END,
       ST_X(a.geom), ST_Y(a.geom),
       ST_Distance(CAST(a.geom AS geography), CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), false) AS d
FROM asset a
WHERE a.asset_type = :shelter AND a.status = 'ok'
  AND ST_DWithin(CAST(a.geom AS geography), CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), :radius)
  AND (CAST(:zone AS text) IS NULL OR NOT ST_Intersects(a.geom, ST_GeomFromEWKT(:zone)))
ORDER BY d LIMIT :limit
"""


def workers(session: Session, lon: float, lat: float, departments: list[str], *,
            skills: dict[str, str | None] | None = None, k: int = 5, now: datetime | None = None,
            use_routing: bool = True) -> dict[str, dict]:
    """Per department code: ``{"department", "name", "workers": [...]}``, best first (travel time).

    ``skills`` maps a department code to the skill its task needs (preferred, not required).
    """
    now = utc_now(now)
    since = now - timedelta(seconds=get_settings().position_max_age_s)
    rows = session.execute(sa.text(_WORKERS), {"lon": lon, "lat": lat, "since": since, "codes": departments,
                                               "k": max(k, SHORTLIST)}).all()
    router = routing.network_for(session) if use_routing and rows else None
    travel = (router.travel_times((lon, lat), [(r[8], r[9]) for r in rows]) if router is not None
              else [None] * len(rows))
    out: dict[str, dict] = {}
    for code in departments:
        out[code] = {"department": code, "name": None, "workers": []}
    skills = skills or {}
    for r, tt in zip(rows, travel, strict=True):
        want = skills.get(r[1])
        entry = out[r[1]]
        entry["name"] = r[2]
        entry["department_id"] = r[0]
        entry["workers"].append({
            "worker_id": r[3], "code": r[4], "name": r[5], "phone": r[6], "skills": list(r[7] or []),
            "lon": r[8], "lat": r[9], "distance_m": round(float(r[10]), 1), "travel_time_s": tt,
            "workload": r[11], "max_workload": r[12], "skill_match": want is None or want in (r[7] or [])})
    for entry in out.values():
        entry["workers"].sort(key=lambda w: (not w["skill_match"], w["travel_time_s"] is None,
                                             w["travel_time_s"] or 0.0, w["distance_m"]))
        entry["workers"] = entry["workers"][:k]
    return out


def equipment(session: Session, lon: float, lat: float, *, radius_m: float = DEFAULT_RADIUS_M,
              limit: int = 200) -> dict:
    """Equipment and stock within ``radius_m`` metres: ``items`` nearest first and ``totals`` by type."""
    rows = session.execute(sa.text(_EQUIPMENT), {"lon": lon, "lat": lat, "types": list(EQUIPMENT_TYPES),
                                                 "radius": radius_m, "limit": limit}).all()
    items = [{"asset_id": r[0], "code": r[1], "type": r[2], "name": r[3], "status": r[4], "department": r[5],
              "quantity": r[6], "unit": r[7], "lon": r[8], "lat": r[9], "distance_m": round(float(r[10]), 1)}
             for r in rows]
    totals: dict[str, dict] = defaultdict(lambda: {"quantity": 0.0, "unit": None, "sites": 0})
    for it in items:
        t = totals[it["type"]]
        t["quantity"] += it["quantity"]
        t["unit"] = t["unit"] or it["unit"]
        t["sites"] += 1
    return {"items": items, "totals": dict(totals)}


def shelters(session: Session, lon: float, lat: float, *, zone_ewkt: str | None = None,
             radius_m: float = DEFAULT_RADIUS_M, limit: int = 20) -> list[dict]:
    """Shelters within ``radius_m`` metres and outside the zone, nearest first, with free places."""
    rows = session.execute(sa.text(_SHELTERS), {"lon": lon, "lat": lat, "shelter": SHELTER_TYPE,
                                                "radius": radius_m, "zone": zone_ewkt, "limit": limit}).all()
    return [{"asset_id": r[0], "code": r[1], "name": r[2], "status": r[3], "capacity": r[4], "occupancy": r[5],
             "free": None if r[4] is None else max(0, r[4] - r[5]), "lon": r[6], "lat": r[7],
             "distance_m": round(float(r[8]), 1)} for r in rows]
