"""``onemap incident ...``: emergency command from the command line.

- ``onemap incident types``                              the incident type catalog
- ``onemap incident declare TYPE (--ticket ID | --alert ID | --detection ID | --geojson FILE|JSON)
  [--title T] [--level N] [--radius M | --band S]``
- ``onemap incident list [--all]`` / ``show ID`` (tasks and timeline) / ``impact ID`` / ``resources ID``
- ``onemap incident dispatch ID [--department CODE ...]``   joint dispatch, one task per department
- ``onemap incident task TASK_ID in_progress|done|cancelled [--note TEXT]``
- ``onemap incident escalate ID [--note TEXT]`` / ``sweep``
- ``onemap incident geofence add CODE NAME FILE|JSON [--rules JSON] [--level L]`` / ``geofence list``
- ``onemap incident event declare CODE NAME KIND [--start ISO] [--end ISO]`` / ``event end ID`` /
  ``event show ID`` (dashboard) / ``event export ID PATH`` (.gpkg, .geojson, .json)

Each command runs in one transaction; errors a user can cause print their message and exit 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spatial.clock import as_utc
from spatial.db.engine import session_scope
from spatial.errors import ValidationError
from spatial.incidents import events, geofences, incidents, sweep

ACTOR = "cli"


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def _geojson(text: str):
    p = Path(text)
    try:
        raw = p.read_text() if p.exists() else text
        doc = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"not a GeoJSON file or text: {text[:80]!r}") from exc
    if doc.get("type") == "FeatureCollection":
        doc = (doc.get("features") or [{}])[0]
    return doc.get("geometry", doc) if doc.get("type") == "Feature" else doc


def _types(args) -> int:
    with session_scope() as s:
        for t in incidents.incident_types(s):
            zone = f"buffer {t['radius_m']:g} m" if t["zone_kind"] == "buffer" else f"isochrone {t['band_s']:g} s"
            depts = ", ".join(x["department"] for x in t["tasks"])
            print(f"{t['code']:<14} {t['name']:<28} {zone:<18} level {t['level']}  {depts}")
    return 0


def _declare(args) -> int:
    kind, sid, geom = "drawn", None, None
    for k in ("ticket", "alert", "detection"):
        if getattr(args, k) is not None:
            kind, sid = k, getattr(args, k)
    if args.geojson:
        geom = _geojson(args.geojson)
    with session_scope() as s:
        inc = incidents.declare(s, type_code=args.type, source_kind=kind, source_id=sid, geometry=geom,
                                title=args.title, level=args.level, radius_m=args.radius, band_s=args.band,
                                zone_kind="buffer" if args.radius else ("isochrone" if args.band else None),
                                actor=args.actor)
        print(f"incident {inc.id} declared: {inc.title} (level {inc.level})")
        _print(inc.impact)
    return 0


def _list(args) -> int:
    with session_scope() as s:
        for i in incidents.list_incidents(s, status=None if args.all else "open"):
            print(f"{i['id']:>5} {i['status']:<6} L{i['level']} {i['type']:<13} {i['tasks_closed']}/{i['tasks_total']} "
                  f"tasks  {i['declared_at']:%Y-%m-%d %H:%M}  {i['title']}")
    return 0


def _show(args) -> int:
    with session_scope() as s:
        v = incidents.incident_view(s, args.id)
    v.pop("zone", None)
    _print(v)
    return 0


def _impact(args) -> int:
    with session_scope() as s:
        _print(incidents.impact(s, args.id))
    return 0


def _resources(args) -> int:
    with session_scope() as s:
        _print(incidents.nearby(s, args.id, k=args.k))
    return 0


def _dispatch(args) -> int:
    with session_scope() as s:
        out = incidents.dispatch(s, args.id, departments=args.department or None, actor=args.actor)
    for t in out["tasks"]:
        print(f"task {t['id']}: {t['department']} - {t['title']}, lead {t['lead_name'] or '(none free)'}, "
              f"due {t['deadline_at']:%Y-%m-%d %H:%M} UTC")
    for sk in out["skipped"]:
        print(f"skipped {sk['department']} - {sk['title']}: {sk['reason']}")
    return 0


def _task(args) -> int:
    with session_scope() as s:
        r = incidents.update_task(s, args.task_id, args.status, actor=args.actor, note=args.note)
    print(f"task {r['id']} {r['status']}; incident {r['incident_status']}")
    return 0


def _escalate(args) -> int:
    with session_scope() as s:
        inc = incidents.escalate(s, args.id, actor=args.actor, note=args.note)
        print(f"incident {inc.id} now level {inc.level}")
    return 0


def _sweep(args) -> int:
    with session_scope() as s:
        _print(sweep.run(s))
    return 0


def _fence_add(args) -> int:
    rules = json.loads(args.rules) if args.rules else {}
    with session_scope() as s:
        _print(geofences.save_geofence(s, args.code, name=args.name, geometry=_geojson(args.geometry), rules=rules,
                                       level=args.level))
    return 0


def _fence_list(args) -> int:
    with session_scope() as s:
        for g in geofences.list_geofences(s):
            print(f"{g['code']:<16} {g['name']:<24} {'on ' if g['active'] else 'off'} {g['level']:<6} "
                  f"inside now: {g['inside_now']}  rules: {json.dumps(g['rules'])}")
    return 0


def _event_declare(args) -> int:
    with session_scope() as s:
        _print(events.declare(s, code=args.code, name=args.name, kind=args.kind,
                              starts_at=as_utc(args.start, what="--start") if args.start else None,
                              ends_at=as_utc(args.end, what="--end") if args.end else None, actor=args.actor))
    return 0


def _event_end(args) -> int:
    with session_scope() as s:
        _print(events.end(s, args.id, at=as_utc(args.at, what="--at") if args.at else None))
    return 0


def _event_show(args) -> int:
    with session_scope() as s:
        _print(events.dashboard(s, args.id))
    return 0


def _event_export(args) -> int:
    with session_scope() as s:
        _print(events.export(s, args.id, args.path))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("incident", help="emergency command: incidents, joint dispatch, geofences, events")
    sub = p.add_subparsers(dest="incident_command", required=True)
    sub.add_parser("types", help="the incident type catalog").set_defaults(func=_types)

    d = sub.add_parser("declare", help="declare an incident")
    d.add_argument("type")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--ticket", type=int)
    src.add_argument("--alert", type=int)
    src.add_argument("--detection", type=int)
    src.add_argument("--geojson", help="a GeoJSON file or text (Point, LineString, Polygon; EPSG:4326)")
    d.add_argument("--title")
    d.add_argument("--level", type=int)
    zone = d.add_mutually_exclusive_group()
    zone.add_argument("--radius", type=float, help="buffer zone radius, metres")
    zone.add_argument("--band", type=float, help="road-network isochrone, seconds")
    d.add_argument("--actor", default=ACTOR)
    d.set_defaults(func=_declare)

    ls = sub.add_parser("list", help="open incidents (--all: closed too)")
    ls.add_argument("--all", action="store_true")
    ls.set_defaults(func=_list)
    for name, func, what in (("show", _show, "one incident, tasks and timeline"),
                             ("impact", _impact, "impact analysis of its zone")):
        x = sub.add_parser(name, help=what)
        x.add_argument("id", type=int)
        x.set_defaults(func=func)
    r = sub.add_parser("resources", help="nearby workers, equipment and shelters")
    r.add_argument("id", type=int)
    r.add_argument("-k", type=int, default=5)
    r.set_defaults(func=_resources)

    dp = sub.add_parser("dispatch", help="joint dispatch: one task per department of the template")
    dp.add_argument("id", type=int)
    dp.add_argument("--department", action="append", help="only these department codes (repeatable)")
    dp.add_argument("--actor", default=ACTOR)
    dp.set_defaults(func=_dispatch)
    t = sub.add_parser("task", help="move a task")
    t.add_argument("task_id", type=int)
    t.add_argument("status", choices=["in_progress", "done", "cancelled"])
    t.add_argument("--note")
    t.add_argument("--actor", default=ACTOR)
    t.set_defaults(func=_task)
    e = sub.add_parser("escalate", help="raise an incident's level")
    e.add_argument("id", type=int)
    e.add_argument("--note")
    e.add_argument("--actor", default=ACTOR)
    e.set_defaults(func=_escalate)
    sub.add_parser("sweep", help="escalate overdue tasks, geofence presences, event tags").set_defaults(func=_sweep)

    g = sub.add_parser("geofence", help="electronic fences").add_subparsers(dest="geofence_command", required=True)
    ga = g.add_parser("add", help="create or replace a fence")
    ga.add_argument("code")
    ga.add_argument("name")
    ga.add_argument("geometry", help="GeoJSON file or text ((Multi)Polygon, EPSG:4326)")
    ga.add_argument("--rules", help='JSON, e.g. {"subjects": ["detection"], "classes": ["person"], '
                                    '"hours": "20:00-06:00"}')
    ga.add_argument("--level", default="orange", choices=["yellow", "orange", "red"])
    ga.set_defaults(func=_fence_add)
    g.add_parser("list", help="fences").set_defaults(func=_fence_list)

    ev = sub.add_parser("event", help="event mode").add_subparsers(dest="event_command", required=True)
    ed = ev.add_parser("declare", help="declare a district-wide event")
    ed.add_argument("code")
    ed.add_argument("name")
    ed.add_argument("kind", choices=events.KINDS)
    ed.add_argument("--start", help="ISO 8601 with a time zone (default now)")
    ed.add_argument("--end", help="ISO 8601 with a time zone (default open)")
    ed.add_argument("--actor", default=ACTOR)
    ed.set_defaults(func=_event_declare)
    ee = ev.add_parser("end", help="end an event now (or --at)")
    ee.add_argument("id", type=int)
    ee.add_argument("--at")
    ee.set_defaults(func=_event_end)
    es = ev.add_parser("show", help="the event dashboard")
    es.add_argument("id", type=int)
    es.set_defaults(func=_event_show)
    ex = ev.add_parser("export", help="after-action record to .gpkg, .geojson or .json")
    ex.add_argument("id", type=int)
    ex.add_argument("path")
    ex.set_defaults(func=_event_export)
