"""JSON API of emergency command under ``/api``: incidents, impact, resources, joint dispatch, geofences, events.

Every endpoint needs a staff token (``spatial.auth``): impacts name sensitive
sites and worker positions. Dispatchers declare, dispatch and escalate;
leadership reads everything and may escalate; a handler sees incidents and
moves the tasks of its own department. The registered elderly living alone
are listed only to callers who see private sensors (``spatial.privacy``).
Errors are JSON ``{"error", "message"}`` with a 4xx status, and a failed
request writes nothing (one transaction per request).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from spatial.api.deps import db_session, require_roles
from spatial.auth import Principal
from spatial.bounds import INT4_MAX, INT8_MAX, AwareTime, Int4Id, Int8Id
from spatial.errors import Forbidden
from spatial.incidents import events, geofences, impact, incidents, resources, zone

router = APIRouter(prefix="/api", tags=["incidents"])

COMMAND_ROLES = ("dispatcher",)
READ_ROLES = ("dispatcher", "handler", "leadership")
IncidentIdPath = Path(ge=1, le=INT8_MAX, description="incident id")
EventIdPath = Path(ge=1, le=INT4_MAX, description="event id")


class DeclareIn(BaseModel):
    type: str = Field(max_length=64, description="incident type code (GET /api/incident-types)")
    source: Literal["ticket", "alert", "detection", "drawn"]
    source_id: Int8Id | None = Field(default=None, description="ticket, alert or detection id")
    geometry: dict[str, Any] | None = Field(default=None, description="GeoJSON Point/LineString/Polygon, EPSG:4326 "
                                                                      "(drawn incidents)")
    title: str | None = Field(default=None, max_length=200)
    level: int | None = Field(default=None, ge=1, le=incidents.MAX_LEVEL)
    zone_kind: Literal["buffer", "isochrone"] | None = None
    radius_m: float | None = Field(default=None, gt=0, le=10_000, description="buffer radius, metres")
    band_s: float | None = Field(default=None, gt=0, le=7200, description="isochrone travel time, seconds")


class ZoneIn(BaseModel):
    geometry: dict[str, Any] = Field(description="GeoJSON geometry, EPSG:4326")
    zone_kind: Literal["buffer", "isochrone"] = "buffer"
    radius_m: float | None = Field(default=200.0, gt=0, le=10_000)
    band_s: float | None = Field(default=None, gt=0, le=7200)


class DispatchIn(BaseModel):
    departments: list[str] | None = Field(default=None, max_length=50, description="default: every template task")
    leads: dict[str, Int4Id] | None = Field(default=None, description="department code -> worker id")


class EscalateIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class TaskIn(BaseModel):
    status: Literal["in_progress", "done", "cancelled"]
    note: str | None = Field(default=None, max_length=4000, description="required for done/cancelled")


class GeofenceIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    geometry: dict[str, Any]
    rules: dict[str, Any] = Field(default_factory=dict)
    level: Literal["yellow", "orange", "red"] = "orange"
    active: bool = True


class EventIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal[events.KINDS]  # type: ignore[valid-type]
    starts_at: AwareTime | None = None
    ends_at: AwareTime | None = None


class EventEndIn(BaseModel):
    at: AwareTime | None = None


@router.get("/incident-types", summary="Incident types and their templates (zone, departments, tasks)")
def get_types(principal: Principal = Depends(require_roles(*READ_ROLES)),
              session: Session = Depends(db_session)) -> list[dict]:
    return incidents.incident_types(session)


@router.post("/impact", summary="Impact of a drawn zone without declaring an incident (preview)")
def post_impact(body: ZoneIn, principal: Principal = Depends(require_roles(*COMMAND_ROLES, "leadership")),
                session: Session = Depends(db_session)) -> dict:
    geom = incidents.drawn_geometry(session, body.geometry)
    ewkt, how = incidents.compute_zone(session, geom, body.zone_kind, radius_m=body.radius_m, band_s=body.band_s)
    return {"zone": zone.as_geojson(session, ewkt), "method": how, **impact.analyse(session, ewkt, viewer=principal)}


@router.post("/incidents", summary="Declare an incident (from a ticket, alert, detection or a drawn geometry)")
def post_incident(body: DeclareIn, principal: Principal = Depends(require_roles(*COMMAND_ROLES)),
                  session: Session = Depends(db_session)) -> dict:
    inc = incidents.declare(session, type_code=body.type, source_kind=body.source, source_id=body.source_id,
                            geometry=body.geometry, title=body.title, level=body.level, zone_kind=body.zone_kind,
                            radius_m=body.radius_m, band_s=body.band_s, actor=principal.actor)
    return incidents.incident_view(session, inc.id)


@router.get("/incidents", summary="Incidents with zone, level and task progress (open first)")
def get_incidents(status: Literal["open", "closed", "all"] = "open",
                  event: int | None = Query(default=None, ge=1, le=INT4_MAX, description="district event id"),
                  limit: int = Query(default=200, ge=1, le=10_000),
                  principal: Principal = Depends(require_roles(*READ_ROLES)),
                  session: Session = Depends(db_session)) -> list[dict]:
    return incidents.list_incidents(session, status=None if status == "all" else status, event_id=event, limit=limit)


@router.get("/incidents/{incident_id}", summary="One incident with its tasks and timeline")
def get_incident(incident_id: int = IncidentIdPath, principal: Principal = Depends(require_roles(*READ_ROLES)),
                 session: Session = Depends(db_session)) -> dict:
    return incidents.incident_view(session, incident_id)


@router.get("/incidents/{incident_id}/impact", summary="Impact analysis of the incident's zone")
def get_impact(incident_id: int = IncidentIdPath, principal: Principal = Depends(require_roles(*READ_ROLES)),
               session: Session = Depends(db_session)) -> dict:
    return incidents.impact(session, incident_id, viewer=principal)


@router.get("/incidents/{incident_id}/resources",
            summary="Nearby workers (road travel time), equipment and shelters")
def get_resources(incident_id: int = IncidentIdPath, k: int = Query(default=5, ge=1, le=20),
                  radius_m: float = Query(default=resources.DEFAULT_RADIUS_M, gt=0, le=50_000),
                  principal: Principal = Depends(require_roles(*READ_ROLES)),
                  session: Session = Depends(db_session)) -> dict:
    return incidents.nearby(session, incident_id, k=k, radius_m=radius_m)


@router.post("/incidents/{incident_id}/dispatch", summary="Joint dispatch: one task per department, in one go")
def post_dispatch(body: DispatchIn, incident_id: int = IncidentIdPath,
                  principal: Principal = Depends(require_roles(*COMMAND_ROLES)),
                  session: Session = Depends(db_session)) -> dict:
    out = incidents.dispatch(session, incident_id, departments=body.departments, leads=body.leads,
                             actor=principal.actor)
    return {**out, "incident": incidents.incident_view(session, incident_id)}


@router.post("/incidents/{incident_id}/escalate", summary="Raise the incident's level by one")
def post_escalate(body: EscalateIn, incident_id: int = IncidentIdPath,
                  principal: Principal = Depends(require_roles(*COMMAND_ROLES, "leadership")),
                  session: Session = Depends(db_session)) -> dict:
    incidents.escalate(session, incident_id, actor=principal.actor, note=body.note)
    return incidents.incident_view(session, incident_id)


@router.post("/incident-tasks/{task_id}", summary="Move a task (in_progress, done or cancelled with a note)")
def post_task(body: TaskIn, task_id: int = Path(ge=1, le=INT8_MAX),
              principal: Principal = Depends(require_roles(*COMMAND_ROLES, "handler")),
              session: Session = Depends(db_session)) -> dict:
    if principal.role == "handler":
        dept = incidents.task_department(session, task_id)
        if dept is not None and dept != principal.department_id:
            raise Forbidden("this task belongs to another department")
    return incidents.update_task(session, task_id, body.status, actor=principal.actor, note=body.note)


@router.post("/incidents/sweep", summary="Escalate overdue tasks and end stale geofence presences now (admin)")
def post_sweep(principal: Principal = Depends(require_roles()), session: Session = Depends(db_session)) -> dict:
    return {**incidents.sweep(session), **geofences.sweep(session)}


@router.get("/geofences", summary="Geofences with their rules and who is inside now")
def get_geofences(principal: Principal = Depends(require_roles(*READ_ROLES)),
                  session: Session = Depends(db_session)) -> list[dict]:
    return geofences.list_geofences(session)


@router.post("/geofences", summary="Create or replace a geofence (by code)")
def post_geofence(body: GeofenceIn, principal: Principal = Depends(require_roles(*COMMAND_ROLES)),
                  session: Session = Depends(db_session)) -> dict:
    return geofences.save_geofence(session, body.code, name=body.name, geometry=body.geometry, rules=body.rules,
                                   level=body.level, active=body.active)


@router.delete("/geofences/{code}", summary="Switch a geofence off")
def delete_geofence(code: str = Path(max_length=64), principal: Principal = Depends(require_roles(*COMMAND_ROLES)),
                    session: Session = Depends(db_session)) -> dict:
    geofences.delete_geofence(session, code)
    return {"code": code, "active": False}


@router.get("/events", summary="District events (typhoon, rainstorm...), newest first")
def get_events(principal: Principal = Depends(require_roles(*READ_ROLES)),
               session: Session = Depends(db_session)) -> list[dict]:
    return events.list_events(session)


@router.post("/events", summary="Declare a district-wide event (event mode)")
def post_event(body: EventIn, principal: Principal = Depends(require_roles(*COMMAND_ROLES, "leadership")),
               session: Session = Depends(db_session)) -> dict:
    return events.declare(session, code=body.code, name=body.name, kind=body.kind, starts_at=body.starts_at,
                          ends_at=body.ends_at, actor=principal.actor)


@router.post("/events/{event_id}/end", summary="End an event's window")
def post_event_end(body: EventEndIn, event_id: int = EventIdPath,
                   principal: Principal = Depends(require_roles(*COMMAND_ROLES, "leadership")),
                   session: Session = Depends(db_session)) -> dict:
    return events.end(session, event_id, at=body.at)


@router.get("/events/{event_id}/dashboard", summary="Event dashboard: tickets, incidents, alerts in its window")
def get_event_dashboard(event_id: int = EventIdPath, principal: Principal = Depends(require_roles(*READ_ROLES)),
                        session: Session = Depends(db_session)) -> dict:
    return events.dashboard(session, event_id)


@router.get("/events/{event_id}/export", summary="After-action record as GeoJSON (tickets and incidents)")
def get_event_export(event_id: int = EventIdPath, principal: Principal = Depends(require_roles(*READ_ROLES)),
                     session: Session = Depends(db_session)) -> Response:
    return Response(events.geojson(session, event_id), media_type="application/geo+json",
                    headers={"Content-Disposition": f'attachment; filename="event-{event_id}.geojson"'})
