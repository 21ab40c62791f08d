"""JSON API for dispatch under ``/api``: GPS fixes, worker map, candidates, assignment, duty.

All endpoints need ``Authorization: Bearer <token>`` (see ``spatial.auth``);
worker positions are personal data and only staff see them. Scopes beyond the
role: a ``grid_worker`` token posts fixes and toggles duty only for its own
worker; a ``handler`` token sees and dispatches only its department. Errors are
JSON ``{"error", "message"}`` with a 4xx status, and a failed request writes
nothing (one transaction per request).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from spatial.api.deps import TicketIdPath, WorkerIdPath, db_session, parse_bbox, require_roles, seconds_query
from spatial.auth import Principal
from spatial.bounds import INT4_MAX, AwareTime, Int4Id
from spatial.clock import utc_now
from spatial.errors import Forbidden
from spatial.tickets import dispatch
from spatial.tickets import queries as ticket_views
from spatial.workers import positions

router = APIRouter(prefix="/api", tags=["dispatch"])

DESK_ROLES = ("dispatcher", "handler")
MAP_ROLES = ("dispatcher", "handler", "leadership")


class FixIn(BaseModel):
    worker_id: Int4Id | None = Field(default=None, description="default: the grid worker's own id")
    fixed_at: AwareTime = Field(description="time of the fix, with a time zone")
    lon: float = Field(ge=-180, le=180, description="EPSG:4326 degrees")
    lat: float = Field(ge=-90, le=90, description="EPSG:4326 degrees")
    accuracy_m: float | None = Field(default=None, ge=0, description="horizontal accuracy, metres")


class FixBatch(BaseModel):
    fixes: list[FixIn] = Field(max_length=positions.MAX_BATCH)


class AssignIn(BaseModel):
    worker_id: Int4Id
    note: str | None = Field(default=None, max_length=2000)


class DutyIn(BaseModel):
    on_duty: bool


def _check_department(principal: Principal, department_id: int) -> None:
    if principal.role == "handler" and principal.department_id != department_id:
        raise Forbidden("this ticket belongs to another department")


@router.post("/workers/positions", summary="Store a batch of GPS fixes (history + latest trusted position)")
def post_positions(body: FixBatch,
                   principal: Principal = Depends(require_roles("grid_worker", "dispatcher")),
                   session: Session = Depends(db_session)) -> dict:
    fixes = []
    for f in body.fixes:
        wid = f.worker_id if f.worker_id is not None else principal.worker_id
        if wid is None:
            raise Forbidden("worker_id is required")
        if principal.role == "grid_worker" and wid != principal.worker_id:
            raise Forbidden("a grid worker may only post their own positions")
        fixes.append({"worker_id": wid, "fixed_at": f.fixed_at, "lon": f.lon, "lat": f.lat,
                      "accuracy_m": f.accuracy_m})
    return positions.ingest_fixes(session, fixes)


@router.get("/workers", summary="Workers with their latest position and its age (for the map)")
def get_workers(
    department: int | None = Query(default=None, ge=1, le=INT4_MAX, description="department id"),
    on_duty: bool | None = Query(default=None),
    bbox: str | None = Query(default=None, description="min_lon,min_lat,max_lon,max_lat (EPSG:4326)"),
    principal: Principal = Depends(require_roles(*MAP_ROLES)),
    session: Session = Depends(db_session),
) -> list[dict]:
    if principal.role == "handler":
        department = principal.department_id
    return positions.latest_positions(session, department_id=department, on_duty=on_duty, bbox=parse_bbox(bbox))


@router.post("/workers/{worker_id}/duty", summary="Put a worker on or off duty")
def post_duty(worker_id: WorkerIdPath, body: DutyIn,
              principal: Principal = Depends(require_roles("grid_worker", *DESK_ROLES)),
              session: Session = Depends(db_session)) -> dict:
    if principal.role == "grid_worker" and worker_id != principal.worker_id:
        raise Forbidden("a grid worker may only change their own duty status")
    if principal.role == "handler":
        dept = positions.worker_department(session, worker_id)
        if dept is not None and dept != principal.department_id:
            raise Forbidden("this worker belongs to another department")
    return positions.set_duty(session, worker_id, on_duty=body.on_duty)


@router.get("/tickets/{ticket_id}/candidates", summary="The K best available workers for a ticket")
def get_candidates(
    ticket_id: TicketIdPath,
    k: int = Query(default=5, ge=1, le=dispatch.MAX_K),
    max_age_s: float | None = seconds_query(description="GPS freshness limit, seconds"),
    principal: Principal = Depends(require_roles(*DESK_ROLES, "leadership")),
    session: Session = Depends(db_session),
) -> dict:
    ticket_views.check_in_scope(session, principal, ticket_id)
    _check_department(principal, ticket_views.ticket_department(session, ticket_id))
    now = utc_now()
    found = dispatch.candidates(session, ticket_id, k=k, max_age_s=max_age_s, now=now)
    out: dict = {"ticket_id": ticket_id, "candidates": [c.to_dict() for c in found]}
    if found:
        ranking = "road travel time" if found[0].travel_time_s is not None else "straight-line distance"
        out["message"] = f"{len(found)} available worker(s), best first by {ranking}."
        if not found[0].skill_match:
            out["message"] += " Nobody with the required skill is free; these are department colleagues."
    else:
        info = dispatch.availability(session, ticket_id, max_age_s=max_age_s, now=now)
        out["message"] = info.pop("message")
        out["availability"] = info
    return out


@router.post("/tickets/{ticket_id}/assign", summary="Dispatch a ticket to a worker (atomic; 409 if taken)")
def post_assign(ticket_id: TicketIdPath, body: AssignIn,
                principal: Principal = Depends(require_roles(*DESK_ROLES)),
                session: Session = Depends(db_session)) -> dict:
    ticket_views.check_in_scope(session, principal, ticket_id)
    _check_department(principal, ticket_views.ticket_department(session, ticket_id))
    dispatch.assign(session, ticket_id, body.worker_id, actor=principal.actor, role=principal.role,
                    note=body.note)
    return ticket_views.views_for(session, [ticket_views.ticket_row(session, ticket_id)], principal)[0]
