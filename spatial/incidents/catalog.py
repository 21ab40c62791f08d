"""The incident type catalog: default templates and their installation.

A template gives the impact zone (``buffer`` of ``radius_m`` metres, or ``isochrone`` of ``band_s``
seconds over the road network), the starting level (1-4) and the tasks: per department code a
title, a deadline in hours, a closing standard and the preferred skill of its lead. Migration 0014
seeds :data:`DEFAULT_TYPES`; :func:`install_defaults` puts back the missing ones (after a restore
or a truncation) without touching edited types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class TypeSpec:
    code: str
    name: str
    zone_kind: str
    radius_m: float | None
    band_s: float | None
    level: int
    tasks: list

    def row(self) -> dict:
        return {"code": self.code, "name": self.name, "zone_kind": self.zone_kind, "radius_m": self.radius_m,
                "band_s": self.band_s, "level": self.level, "tasks": self.tasks}


def _task(dept, title, hours, standard, skill=None):
    return {"department": dept, "title": title, "deadline_h": hours, "closing_standard": standard,
            "skill": skill}


#: The default templates (department codes of the demo catalog; a department the district lacks is
#: reported as skipped at dispatch).
DEFAULT_TYPES: list[TypeSpec] = [TypeSpec(*t) for t in [
    ("waterlogging", "Waterlogging 内涝", "isochrone", 300.0, 180.0, 2, [
        _task("water", "Pump out and clear drains", 2, "Water depth under 5 cm, drains flowing, photos", "drainage"),
        _task("traffic", "Close and divert flooded roads", 1, "Closures signed, detours published", "traffic"),
        _task("urban", "Barriers and sandbags at entrances", 2, "Sandbag lines placed at listed entrances"),
        _task("civil", "Check elderly living alone in the zone", 3, "Every registered household contacted",
              "care"),
    ]),
    ("fire", "Fire 火灾", "buffer", 200.0, None, 3, [
        _task("safety", "Coordinate fire response and evacuation", 1, "Fire out, buildings cleared", "safety"),
        _task("traffic", "Clear access routes for fire engines", 1, "Access lanes open, cordon set", "traffic"),
        _task("civil", "Shelter evacuees", 3, "Evacuees registered at a shelter", "care"),
    ]),
    ("gas_leak", "Gas leak 燃气泄漏", "buffer", 150.0, None, 3, [
        _task("safety", "Isolate the leak and evacuate", 1, "Leak isolated, gas reading zero", "safety"),
        _task("traffic", "Cordon and divert traffic", 1, "Cordon in place, detours signed", "traffic"),
        _task("urban", "Keep the public out of the cordon", 2, "No public inside the cordon"),
    ]),
    ("collapse", "Structural collapse 坍塌", "buffer", 100.0, None, 3, [
        _task("housing", "Assess structural safety", 4, "Engineer's assessment filed", "road_repair"),
        _task("safety", "Search and rescue", 1, "All occupants accounted for", "safety"),
        _task("traffic", "Cordon and divert traffic", 1, "Cordon in place, detours signed", "traffic"),
    ]),
    ("crowd", "Crowd gathering 人群聚集", "buffer", 300.0, None, 2, [
        _task("traffic", "Crowd and traffic control", 1, "Flow restored, no crush points", "traffic"),
        _task("urban", "Marshal the area", 2, "Area cleared or orderly", "enforcement"),
        _task("grid", "Report from the ground every 30 min", 4, "Reports logged until dispersal", "inspection"),
    ]),
]]


def install_defaults(session: Session) -> int:
    """Insert the default types that are missing (by code); returns how many were added."""
    n = 0
    for t in DEFAULT_TYPES:
        n += session.execute(sa.text(
            "INSERT INTO incident_type (code, name, zone_kind, radius_m, band_s, level, tasks) "
            "VALUES (:code, :name, :zone_kind, :radius_m, :band_s, :level, CAST(:tasks AS jsonb)) "
            "ON CONFLICT (code) DO NOTHING"), {**t.row(), "tasks": json.dumps(t.tasks)}).rowcount
    return n
