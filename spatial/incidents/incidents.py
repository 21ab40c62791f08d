"""Incidents: declare (from a ticket, an alert, a camera detection or a drawn geometry), joint dispatch, close.

Declaring
    :func:`declare` takes the incident's place from its source (or a GeoJSON
    geometry: point, line or polygon, EPSG:4326, inside the district), its
    defaults from the type's template (``incident_type``: zone as a buffer of
    ``radius_m`` or an isochrone of ``band_s``, level, tasks), computes the zone
    (:mod:`spatial.incidents.zone`) and stores the impact counts. A source has at
    most one open incident (declaring it again is a 409 naming it). An incident
    declared while a district event is on is tagged to it.

Joint dispatch
    :func:`dispatch` creates, in one transaction, one task per department of the
    template (or the chosen ones): its lead (the best available worker of the
    department by road travel time, preferring the task's skill, or the one
    named), deadline (now + ``deadline_h``) and closing standard; the lead's
    workload grows by one (row lock, cap re-checked). A department already given
    that task is skipped, so a double click creates nothing twice.

Closing and escalation
    :func:`update_task` moves a task open → in_progress → done (a closing note
    is required) or cancelled; when every task is done or cancelled the incident
    closes. :func:`sweep` marks overdue tasks (escalation level 1 at the
    deadline, 2 once overdue by the task's own duration again) and raises the
    incident's level; :func:`escalate` raises it by hand. Every step is written
    to the append-only timeline (``incident_event``). The incident row is locked
    first, then its tasks, so concurrent closes cannot both miss the last task.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.auth import Principal
from spatial.clock import utc_now
from spatial.errors import Conflict, NotFound, ValidationError
from spatial.incidents import impact as impact_mod
from spatial.incidents import resources, zone
from spatial.models import Incident, IncidentEvent, IncidentTask, IncidentType

SOURCE_KINDS = ("ticket", "alert", "detection", "drawn")
TASK_STATES = ("open", "in_progress", "done", "cancelled")
OPEN_TASK_STATES = ("open", "in_progress")
#: Allowed task transitions.
TASK_MOVES: dict[str, tuple[str, ...]] = {"open": ("in_progress", "done", "cancelled"),
                                          "in_progress": ("done", "cancelled")}
MAX_LEVEL = 4


def incident_types(session: Session, *, active_only: bool = True) -> list[dict]:
    """The incident type catalog with its templates."""
    q = sa.select(IncidentType).order_by(IncidentType.code)
    if active_only:
        q = q.where(IncidentType.active)
    return [{"code": t.code, "name": t.name, "zone_kind": t.zone_kind, "radius_m": t.radius_m, "band_s": t.band_s,
             "level": t.level, "tasks": t.tasks} for t in session.scalars(q)]


def _type(session: Session, code: str) -> IncidentType:
    t = session.get(IncidentType, code)
    if t is None or not t.active:
        known = ", ".join(x["code"] for x in incident_types(session))
        raise ValidationError(f"unknown incident type {code!r}; choose one of: {known}")
    return t


_SOURCE_SQL = {
    "ticket": "SELECT ST_AsEWKT(t.geom), c.name FROM ticket t JOIN category c ON c.id = t.category_id "
              "WHERE t.id = :id",
    "alert": "SELECT ST_AsEWKT(geom), coalesce(nullif(message, ''), rule) FROM alert WHERE id = :id",
    "detection": "SELECT ST_AsEWKT(geom), class FROM camera_detection WHERE id = :id",
}


def _source_geom(session: Session, kind: str, source_id: int | None, geometry: Any) -> tuple[str, str]:
    """(EWKT, label) of the incident's place."""
    if kind not in SOURCE_KINDS:
        raise ValidationError(f"source must be one of {', '.join(SOURCE_KINDS)}")
    if kind == "drawn":
        if geometry is None:
            raise ValidationError("a drawn incident needs a GeoJSON geometry (Point, LineString or Polygon)")
        text = geometry if isinstance(geometry, str) else json.dumps(geometry)
        try:
            with session.begin_nested():
                row = session.execute(sa.text(
                    "SELECT ST_AsEWKT(g), ST_IsValid(g), GeometryType(g), "
                    "EXISTS (SELECT 1 FROM admin_unit u WHERE u.level = 1 AND ST_Intersects(u.geom, g)) "
                    "FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326) AS g) q"), {"g": text}).one()
        except sa.exc.DBAPIError as exc:
            raise ValidationError("geometry is not valid GeoJSON (Point, LineString or Polygon, EPSG:4326)") from exc
        ewkt, valid, gtype, inside = row
        if gtype not in ("POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON"):
            raise ValidationError(f"geometry type {gtype} is not supported; draw a point, line or polygon")
        if not valid:
            raise ValidationError("the drawn geometry is invalid (self-intersecting?)")
        if not inside:
            raise ValidationError("the drawn geometry lies outside the district")
        return ewkt, "drawn on the map"
    if source_id is None:
        raise ValidationError(f"an incident from a {kind} needs source_id")
    row = session.execute(sa.text(_SOURCE_SQL[kind]), {"id": source_id}).one_or_none()
    if row is None:
        raise NotFound(f"{kind} {source_id} does not exist")
    if row[0] is None:
        raise ValidationError(f"{kind} {source_id} has no location; draw the incident instead")
    return row[0], f"{kind} #{source_id} ({row[1]})"


def drawn_geometry(session: Session, geometry: Any) -> str:
    """EWKT of a GeoJSON geometry drawn on the map (validated: type, validity, inside the district)."""
    return _source_geom(session, "drawn", None, geometry)[0]


def task_department(session: Session, task_id: int) -> int | None:
    """The department id of a task (None when there is no such task)."""
    return session.execute(sa.text("SELECT department_id FROM incident_task WHERE id = :t"), {"t": task_id}).scalar()


def active_event_id(session: Session, at: datetime) -> int | None:
    """The district event on at ``at`` (the latest started), or None."""
    return session.execute(sa.text(
        "SELECT id FROM district_event WHERE starts_at <= :t AND (ends_at IS NULL OR ends_at > :t) "
        "ORDER BY starts_at DESC LIMIT 1"), {"t": at}).scalar()


def compute_zone(session: Session, geom_ewkt: str, zone_kind: str, *, radius_m: float | None,
                 band_s: float | None) -> tuple[str, dict]:
    """The zone (EWKT MULTIPOLYGON) of a geometry and how it was made."""
    if zone_kind == "isochrone":
        if band_s is None:
            raise ValidationError("an isochrone zone needs band_s (seconds)")
        return zone.isochrone_zone(session, geom_ewkt, band_s)
    if zone_kind != "buffer" or radius_m is None:
        raise ValidationError("zone_kind must be 'buffer' (with radius_m) or 'isochrone' (with band_s)")
    return zone.buffer_zone(session, geom_ewkt, radius_m), {"method": "buffer", "radius_m": radius_m}


def _summary(full: dict) -> dict:
    """Counts of an impact analysis (what the incident row keeps; no personal data)."""
    return {"buildings": full["buildings"]["count"], "people": full["buildings"]["people"],
            "sensitive": full["sensitive"]["counts"], "roads": full["roads"]["count"],
            "road_m": full["roads"]["length_m"], "grids": full["grids"]["count"],
            "communities": full["communities"]["count"], "cameras": full["cameras"]["count"],
            "sensors": full["sensors"]["count"], "ms": full["ms"]}


def _log(session: Session, incident_id: int, kind: str, *, at: datetime, actor: str, note: str | None = None,
         task_id: int | None = None, data: dict | None = None) -> None:
    session.add(IncidentEvent(incident_id=incident_id, at=at, kind=kind, actor=actor, note=note, task_id=task_id,
                              data=data or {}))


def declare(session: Session, *, type_code: str, source_kind: str, source_id: int | None = None,
            geometry: Any = None, title: str | None = None, level: int | None = None,
            zone_kind: str | None = None, radius_m: float | None = None, band_s: float | None = None,
            actor: str, now: datetime | None = None) -> Incident:
    """Declare an incident; 409 (:class:`Conflict`) if its source already has an open one."""
    now = utc_now(now)
    itype = _type(session, type_code)
    if level is not None and not 1 <= level <= MAX_LEVEL:
        raise ValidationError(f"level must be between 1 and {MAX_LEVEL}")
    geom, label = _source_geom(session, source_kind, source_id, geometry)
    if source_kind != "drawn":
        existing = session.execute(sa.text(
            "SELECT id FROM incident WHERE source_kind = :k AND source_id = :s AND status = 'open'"),
            {"k": source_kind, "s": source_id}).scalar()
        if existing is not None:
            raise Conflict(f"{source_kind} {source_id} already has open incident {existing}",
                           details={"incident_id": existing})
    kind = zone_kind or itype.zone_kind
    radius = radius_m if radius_m is not None else (itype.radius_m if kind == "buffer" else None)
    band = band_s if band_s is not None else (itype.band_s if kind == "isochrone" else None)
    if kind == "buffer" and radius is None:
        radius = (itype.band_s or 300.0) * zone.FALLBACK_SPEED_KMH / 3.6
    if kind == "isochrone" and band is None:
        raise ValidationError("this type has no default travel-time band; give band_s")
    zone_ewkt, how = compute_zone(session, geom, kind, radius_m=radius, band_s=band)
    full = impact_mod.analyse(session, zone_ewkt)
    inc = Incident(type_code=itype.code, title=(title or f"{itype.name}: {label}")[:200], status="open",
                   level=level or itype.level, source_kind=source_kind,
                   source_id=None if source_kind == "drawn" else source_id,
                   ticket_id=source_id if source_kind == "ticket" else None, event_id=active_event_id(session, now),
                   zone_kind=kind, radius_m=radius, band_s=band, geom=geom, zone=zone_ewkt, declared_at=now,
                   declared_by=actor, impact=_summary(full), attrs={"zone": how})
    session.add(inc)
    session.flush()
    _log(session, inc.id, "declared", at=now, actor=actor, note=inc.title,
         data={"type": itype.code, "source": source_kind, "source_id": source_id, "zone": how,
               "impact": inc.impact})
    session.flush()
    return inc


def _lock_incident(session: Session, incident_id: int) -> Incident:
    inc = session.execute(sa.select(Incident).where(Incident.id == incident_id).with_for_update()
                          .execution_options(populate_existing=True)).scalar_one_or_none()
    if inc is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return inc


def place(session: Session, incident_id: int) -> dict:
    """The incident's point on surface (lon/lat), zone EWKT, type and status."""
    row = session.execute(sa.text(
        "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), ST_AsEWKT(zone), type_code, status, "
        "radius_m, band_s FROM incident WHERE id = :i"), {"i": incident_id}).one_or_none()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return {"lon": row[0], "lat": row[1], "zone": row[2], "type": row[3], "status": row[4], "radius_m": row[5],
            "band_s": row[6]}


def impact(session: Session, incident_id: int, *, viewer: Principal | None = None) -> dict:
    """The full impact analysis of the incident's zone now."""
    p = place(session, incident_id)
    return {"incident_id": incident_id, **impact_mod.analyse(session, p["zone"], viewer=viewer)}


def nearby(session: Session, incident_id: int, *, k: int = 5, radius_m: float = resources.DEFAULT_RADIUS_M,
           now: datetime | None = None) -> dict:
    """Workers of the template's departments (travel time), equipment and shelters near the incident."""
    p = place(session, incident_id)
    tasks = _type(session, p["type"]).tasks
    depts = list(dict.fromkeys(t["department"] for t in tasks))
    skills = {t["department"]: t.get("skill") for t in tasks}
    return {"incident_id": incident_id,
            "workers": list(resources.workers(session, p["lon"], p["lat"], depts, skills=skills, k=k,
                                              now=now).values()),
            "equipment": resources.equipment(session, p["lon"], p["lat"], radius_m=radius_m),
            "shelters": resources.shelters(session, p["lon"], p["lat"], zone_ewkt=p["zone"], radius_m=radius_m)}


def _take_lead(session: Session, worker_id: int, department_id: int) -> tuple[int, str] | None:
    """Lock a worker and add one to its workload if it may lead (department, on duty, under cap)."""
    row = session.execute(sa.text(
        "SELECT id, name, department_id, on_duty, workload, max_workload FROM worker WHERE id = :w FOR UPDATE"),
        {"w": worker_id}).one_or_none()
    if row is None or row[2] != department_id or not row[3] or row[4] >= row[5]:
        return None
    session.execute(sa.text("UPDATE worker SET workload = workload + 1 WHERE id = :w"), {"w": worker_id})
    return int(row[0]), row[1]


def dispatch(session: Session, incident_id: int, *, departments: list[str] | None = None,
             leads: dict[str, int] | None = None, actor: str, now: datetime | None = None) -> dict:
    """Create the incident's tasks for several departments at once; ``{"tasks", "skipped"}``."""
    now = utc_now(now)
    inc = _lock_incident(session, incident_id)
    if inc.status != "open":
        raise Conflict(f"incident {incident_id} is {inc.status}")
    template = _type(session, inc.type_code).tasks
    wanted = set(departments) if departments else None
    if wanted is not None:
        unknown = wanted - {t["department"] for t in template}
        if unknown:
            raise ValidationError(f"the {inc.type_code} template has no task for department(s) "
                                  f"{', '.join(sorted(unknown))}")
    chosen = [t for t in template if wanted is None or t["department"] in wanted]
    dept_ids = dict(session.execute(sa.text("SELECT code, id FROM department WHERE code = ANY(:c)"),
                                    {"c": [t["department"] for t in chosen]}).all())
    existing = {(r[0], r[1]) for r in session.execute(sa.text(
        "SELECT department_id, title FROM incident_task WHERE incident_id = :i"), {"i": incident_id})}
    leads = leads or {}
    p = place(session, incident_id)
    ranked = resources.workers(session, p["lon"], p["lat"], [t["department"] for t in chosen if t["department"]
                                                            in dept_ids],
                               skills={t["department"]: t.get("skill") for t in chosen}, k=resources.SHORTLIST,
                               now=now)
    created, skipped = [], []
    for t in chosen:
        code = t["department"]
        dept_id = dept_ids.get(code)
        if dept_id is None:
            skipped.append({"department": code, "title": t["title"], "reason": "no such department"})
            continue
        if (dept_id, t["title"]) in existing:
            skipped.append({"department": code, "title": t["title"], "reason": "already dispatched"})
            continue
        lead = None
        if code in leads:
            lead = _take_lead(session, int(leads[code]), dept_id)
            if lead is None:
                raise Conflict(f"worker {leads[code]} cannot lead the {code} task (other department, off duty "
                               "or at the workload cap)", details={"department": code, "worker_id": leads[code]})
        else:
            for w in ranked.get(code, {}).get("workers", []):
                lead = _take_lead(session, w["worker_id"], dept_id)
                if lead is not None:
                    break
        task = IncidentTask(incident_id=incident_id, department_id=dept_id, title=t["title"],
                            lead_worker_id=lead[0] if lead else None, lead_name=lead[1] if lead else None,
                            deadline_at=now + timedelta(hours=float(t.get("deadline_h") or 2)),
                            closing_standard=t.get("closing_standard") or "", status="open", created_at=now)
        session.add(task)
        session.flush()
        _log(session, incident_id, "task_dispatched", at=now, actor=actor, task_id=task.id,
             note=f"{code}: {t['title']}" + (f" (lead {lead[1]})" if lead else " (no lead available: department "
                                                                                "to name one)"),
             data={"department": code, "lead_worker_id": task.lead_worker_id,
                   "deadline_at": task.deadline_at.isoformat()})
        created.append(task_view(task, code))
    session.flush()
    return {"incident_id": incident_id, "tasks": created, "skipped": skipped}


def task_view(task: IncidentTask, department_code: str | None = None) -> dict:
    return {"id": task.id, "incident_id": task.incident_id, "department_id": task.department_id,
            "department": department_code, "title": task.title, "lead_worker_id": task.lead_worker_id,
            "lead_name": task.lead_name, "deadline_at": task.deadline_at, "closing_standard": task.closing_standard,
            "status": task.status, "escalation_level": task.escalation_level, "created_at": task.created_at,
            "closed_at": task.closed_at, "closing_note": task.closing_note}


def update_task(session: Session, task_id: int, status: str, *, actor: str, note: str | None = None,
                now: datetime | None = None) -> dict:
    """Move a task (a closing note is required for done/cancelled); closes the incident after its last task."""
    now = utc_now(now)
    if status not in TASK_STATES:
        raise ValidationError(f"status must be one of {', '.join(TASK_STATES)}")
    inc_id = session.execute(sa.text("SELECT incident_id FROM incident_task WHERE id = :t"), {"t": task_id}).scalar()
    if inc_id is None:
        raise NotFound(f"task {task_id} does not exist")
    inc = _lock_incident(session, inc_id)
    task = session.execute(sa.select(IncidentTask).where(IncidentTask.id == task_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()
    if status not in TASK_MOVES.get(task.status, ()):
        raise Conflict(f"task {task_id} is {task.status} and cannot become {status}",
                       details={"status": task.status})
    if status in ("done", "cancelled") and not (note or "").strip():
        raise ValidationError(f"closing a task needs a note against its standard: {task.closing_standard!r}")
    old = task.status
    task.status = status
    if status in ("done", "cancelled"):
        task.closed_at, task.closed_by, task.closing_note = now, actor, note.strip() if note else None
        if task.lead_worker_id is not None:
            session.execute(sa.text("UPDATE worker SET workload = greatest(0, workload - 1) WHERE id = :w"),
                            {"w": task.lead_worker_id})
    session.flush()
    _log(session, inc.id, f"task_{status}", at=now, actor=actor, task_id=task.id, note=note,
         data={"from": old, "to": status})
    left = session.execute(sa.text(
        "SELECT count(*) FILTER (WHERE status IN ('open','in_progress')), count(*) FROM incident_task "
        "WHERE incident_id = :i"), {"i": inc.id}).one()
    closed = False
    if left[0] == 0 and left[1] > 0 and inc.status == "open":
        inc.status, inc.closed_at = "closed", now
        _log(session, inc.id, "closed", at=now, actor=actor, note="all tasks closed")
        closed = True
    session.flush()
    return {**task_view(task), "incident_status": inc.status, "incident_closed": closed}


def escalate(session: Session, incident_id: int, *, actor: str, note: str | None = None,
             now: datetime | None = None) -> Incident:
    """Raise the incident's level by one (at most :data:`MAX_LEVEL`), on the timeline."""
    now = utc_now(now)
    inc = _lock_incident(session, incident_id)
    if inc.status != "open":
        raise Conflict(f"incident {incident_id} is {inc.status}")
    if inc.level >= MAX_LEVEL:
        raise Conflict(f"incident {incident_id} is already at the highest level {MAX_LEVEL}")
    old = inc.level
    inc.level = old + 1
    _log(session, incident_id, "escalated", at=now, actor=actor, note=note, data={"from": old, "to": inc.level})
    session.flush()
    return inc


def sweep(session: Session, *, now: datetime | None = None, actor: str = "system:incident-sweep") -> dict:
    """Escalate overdue open tasks (level 1 at the deadline, 2 after its own duration again) and their incidents."""
    now = utc_now(now)
    rows = session.execute(sa.text(
        "SELECT t.id, t.incident_id, t.escalation_level, "
        "CASE WHEN :now >= t.deadline_at + (t.deadline_at - t.created_at) THEN 2 ELSE 1 END AS due_level "
        "FROM incident_task t JOIN incident i ON i.id = t.incident_id "
        "WHERE t.status IN ('open','in_progress') AND i.status = 'open' AND t.deadline_at <= :now "
        "ORDER BY t.incident_id, t.id"), {"now": now}).all()
    todo = [r for r in rows if r[3] > r[2]]
    escalated = 0
    for incident_id in sorted({r[1] for r in todo}):
        inc = _lock_incident(session, incident_id)
        for tid, _, _, due in (r for r in todo if r[1] == incident_id):
            n = session.execute(sa.text(
                "UPDATE incident_task SET escalation_level = :lv WHERE id = :t AND escalation_level < :lv "
                "AND status IN ('open','in_progress')"), {"lv": due, "t": tid}).rowcount
            if not n:
                continue
            escalated += 1
            old = inc.level
            inc.level = min(MAX_LEVEL, inc.level + 1)
            _log(session, incident_id, "task_overdue", at=now, actor=actor, task_id=tid,
                 note=f"task overdue, escalation level {due}", data={"escalation_level": due, "level_from": old,
                                                                      "level_to": inc.level})
    session.flush()
    return {"tasks_escalated": escalated}


def timeline(session: Session, incident_id: int) -> list[dict]:
    """The incident's timeline, oldest first."""
    rows = session.execute(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                           .order_by(IncidentEvent.at, IncidentEvent.id)).scalars()
    return [{"at": e.at, "kind": e.kind, "actor": e.actor, "task_id": e.task_id, "note": e.note, "data": e.data}
            for e in rows]


_LIST = """
SELECT i.id, i.type_code, ty.name, i.title, i.status, i.level, i.source_kind, i.source_id, i.ticket_id,
       i.event_id, i.zone_kind, i.radius_m, i.band_s, i.declared_at, i.declared_by, i.closed_at, i.impact,
       ST_X(ST_PointOnSurface(i.geom)), ST_Y(ST_PointOnSurface(i.geom)),
       ST_AsGeoJSON(i.geom, 7), ST_AsGeoJSON(i.zone, 7),
       (SELECT count(*) FROM incident_task t WHERE t.incident_id = i.id),
       (SELECT count(*) FROM incident_task t WHERE t.incident_id = i.id AND t.status IN ('done','cancelled')),
       (SELECT coalesce(max(t.escalation_level), 0) FROM incident_task t WHERE t.incident_id = i.id
          AND t.status IN ('open','in_progress'))
FROM incident i JOIN incident_type ty ON ty.code = i.type_code
WHERE (CAST(:status AS text) IS NULL OR i.status = :status) AND (CAST(:id AS bigint) IS NULL OR i.id = :id)
  AND (CAST(:event AS int) IS NULL OR i.event_id = :event)
ORDER BY i.status DESC, i.level DESC, i.declared_at DESC LIMIT :limit
"""


def _row_view(r) -> dict:
    return {"id": r[0], "type": r[1], "type_name": r[2], "title": r[3], "status": r[4], "level": r[5],
            "source_kind": r[6], "source_id": r[7], "ticket_id": r[8], "event_id": r[9], "zone_kind": r[10],
            "radius_m": r[11], "band_s": r[12], "declared_at": r[13], "declared_by": r[14], "closed_at": r[15],
            "impact": r[16], "lon": r[17], "lat": r[18], "geometry": json.loads(r[19]),
            "zone": json.loads(r[20]) if r[20] else None, "tasks_total": r[21], "tasks_closed": r[22],
            "progress": round(r[22] / r[21], 3) if r[21] else 0.0, "overdue_level": r[23]}


def list_incidents(session: Session, *, status: str | None = "open", event_id: int | None = None,
                   limit: int = 200) -> list[dict]:
    """Incidents (open first, highest level first) with zone GeoJSON and task progress."""
    if status is not None and status not in ("open", "closed"):
        raise ValidationError("status must be open or closed")
    rows = session.execute(sa.text(_LIST), {"status": status, "id": None, "event": event_id, "limit": limit}).all()
    return [_row_view(r) for r in rows]


def incident_view(session: Session, incident_id: int) -> dict:
    """One incident with its tasks (department, lead, deadline, standard) and timeline."""
    rows = session.execute(sa.text(_LIST), {"status": None, "id": incident_id, "event": None, "limit": 1}).all()
    if not rows:
        raise NotFound(f"incident {incident_id} does not exist")
    out = _row_view(rows[0])
    tasks = session.scalars(sa.select(IncidentTask).where(IncidentTask.incident_id == incident_id)
                            .order_by(IncidentTask.id)).all()
    codes = dict(session.execute(sa.text("SELECT id, code FROM department WHERE id = ANY(:ids)"),
                                 {"ids": [t.department_id for t in tasks]}).all())
    out["tasks"] = [task_view(t, codes.get(t.department_id)) for t in tasks]
    out["timeline"] = timeline(session, incident_id)
    return out
