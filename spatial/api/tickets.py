"""JSON API for tickets under ``/api``: intake, reads, transitions, ratings, history, scores, catalog.

Authentication is ``Authorization: Bearer <token>`` (see ``spatial.auth``).
Reads of tickets are public; what each caller sees (sensitive categories,
reporter contact) is decided by ``spatial.privacy``; writes need a token and
are attributed to it on the ticket's events. Errors are JSON
``{"error": code, "message": text}`` with a 4xx status; a failed request
writes nothing (one transaction per request, see ``spatial.api.deps``).
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import date
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from spatial.api.deps import (
    PageQuery,
    TicketIdPath,
    current_principal,
    db_session,
    optional_principal,
    require_roles,
    ticket_filter,
)
from spatial.auth import INTAKE_ROLES, Principal
from spatial.bounds import Day, JsonObject
from spatial.errors import Forbidden, ValidationError
from spatial.models import Ticket
from spatial.tickets import dispatch, lifecycle, scoring
from spatial.tickets import intake as tickets
from spatial.tickets import queries as ticket_views
from spatial.tickets.bulk import bulk_intake

router = APIRouter(prefix="/api", tags=["tickets"])

READ_SCORE_ROLES = ("leadership", "dispatcher", "handler", "grid_worker")
MAX_IMPORT_BYTES = 50_000_000


class TransitionIn(BaseModel):
    to: str = Field(description="target state")
    note: str | None = Field(default=None, max_length=2000)
    data: JsonObject = Field(default_factory=dict)
    expected_version: int | None = Field(default=None, description="409 if the ticket changed since")


class RatingIn(BaseModel):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


def _is_owner(session: Session, principal: Principal | None, ticket_id: int) -> bool:
    if principal is None:
        return False
    return ticket_views.is_reported_by(session, ticket_id, principal.actor)


def _view(session: Session, row: sa.Row, principal: Principal | None) -> dict:
    return ticket_views.views_for(session, [row], principal, with_reporters=True)[0]


@router.get("/catalog", summary="The category catalog (codes double as Open311 service codes)")
def catalog(session: Session = Depends(db_session)) -> list[dict]:
    return ticket_views.catalog(session)


def _ticket_create_schema() -> dict:
    """TicketCreate's JSON schema for the OpenAPI document (``channel`` is set by the server for citizens)."""
    schema = tickets.TicketCreate.model_json_schema()
    schema["required"] = [r for r in schema.get("required", []) if r != "channel"]
    schema["examples"] = [{"category": "pothole", "lon": 113.41, "lat": 23.09, "channel": "hotline",
                           "external_id": "12345-0001", "description": "Deep pothole by the bus stop"}]
    return schema


#: The request body as documented: the role rules below adjust it before TicketCreate validates it.
CREATE_TICKET_DOC = {"requestBody": {"required": True,
                                     "content": {"application/json": {"schema": _ticket_create_schema()}}}}


@router.post("/tickets", status_code=201, summary="Report an event (any channel)", openapi_extra=CREATE_TICKET_DOC)
def create_ticket(
    response: Response,
    body: dict[str, Any] = Body(..., examples=[{"category": "pothole", "lon": 113.41, "lat": 23.09,
                                                "channel": "hotline", "external_id": "12345-0001",
                                                "description": "Deep pothole by the bus stop"}]),
    principal: Principal = Depends(require_roles(*INTAKE_ROLES)),
    session: Session = Depends(db_session),
) -> dict:
    """Body: the fields of ``spatial.tickets.intake.TicketCreate``. 201 when a ticket is created, 200 when the
    report was merged into an open duplicate or the external id was seen before."""
    body = dict(body)
    if principal.role == "citizen":
        body["channel"] = "citizen_app"
        body["reporter_account"] = principal.actor
        body["dedupe"] = True
    elif principal.role == "grid_worker":
        body.setdefault("channel", "grid_worker")
    if body.get("dedupe") is False and principal.role not in ("dispatcher", "handler", "admin", "channel"):
        raise Forbidden("only dispatchers, handlers, channels and admins may override the duplicate merge")
    data = tickets.TicketCreate.parse(body)
    result = tickets.intake(session, data, actor=principal.actor, role=principal.role)
    if result.outcome != "created":
        response.status_code = 200
    row = ticket_views.ticket_row(session, result.ticket.id)
    return {"outcome": result.outcome, "ticket": _view(session, row, principal)}


@router.post("/tickets/import", summary="Bulk import (hotline back office): CSV or JSON rows")
async def import_tickets(
    request: Request,
    channel: str = Query("hotline", description="default channel of rows without one"),
    skip_invalid: bool = Query(False, description="import the valid rows and list the rejected ones"),
    principal: Principal = Depends(require_roles("channel")),
    session: Session = Depends(db_session),
) -> dict:
    """Body: ``text/csv`` with a header, or JSON ``[{...}, ...]``; columns as
    ``spatial.tickets.bulk.BULK_COLUMNS``. No duplicate merge; idempotent on external ids.
    Without ``skip_invalid`` one bad row rejects the whole import (422 listing the reasons)."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if len(raw) > MAX_IMPORT_BYTES:
        raise ValidationError(f"an import may hold at most {MAX_IMPORT_BYTES // 1_000_000} MB; split the file")
    try:
        if "csv" in ctype:
            df = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
        else:
            rows = json.loads(raw or b"null")
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValidationError("the JSON body must be a list of objects")
            df = pd.DataFrame(rows)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValidationError(f"unreadable import body: {exc}") from exc
    if df.empty:
        raise ValidationError("the import holds no rows")
    return await run_in_threadpool(bulk_intake, session, df, actor=principal.actor, role=principal.role,
                                   channel=channel, skip_invalid=skip_invalid)


@router.get("/tickets", summary="List tickets with filters and paging")
def list_tickets(
    f: ticket_views.TicketFilter = Depends(ticket_filter),
    mine: bool = Query(False, description="only tickets I reported (needs a token)"),
    page: PageQuery = 1,
    page_size: int = Query(50, ge=1, le=ticket_views.MAX_PAGE_SIZE),
    order: Literal["created_at", "-created_at", "updated_at", "-updated_at"] = "-created_at",
    principal: Principal | None = Depends(optional_principal),
    session: Session = Depends(db_session),
) -> dict:
    if mine and principal is None:
        raise ValidationError("mine=true needs a token")
    if mine:
        f = dataclasses.replace(f, owner=principal.actor)
    rows, more = ticket_views.list_tickets(session, ticket_views.visible_to(f, principal), limit=page_size,
                                           offset=(page - 1) * page_size, order=order)
    return {"items": ticket_views.views_for(session, rows, principal), "page": page,
            "page_size": page_size, "has_more": more}


@router.get("/tickets/{ticket_id}", summary="One ticket")
def get_ticket(ticket_id: TicketIdPath, principal: Principal | None = Depends(optional_principal),
               session: Session = Depends(db_session)) -> dict:
    out = _view(session, ticket_views.visible_row(session, ticket_id, principal), principal)
    if principal is not None:
        out["allowed_transitions"] = lifecycle.allowed_targets(out["status"], principal.role)
    return out


def check_scope(principal: Principal, ticket: Ticket) -> None:
    """Who may touch which ticket, beyond the role table: handlers their department's tickets,
    grid workers the tickets dispatched to them, and never verify their own work."""
    if principal.role == "handler" and ticket.department_id != principal.department_id:
        raise Forbidden("this ticket belongs to another department")
    if principal.role == "grid_worker":
        own = ticket.assigned_worker_id is not None and ticket.assigned_worker_id == principal.worker_id
        if ticket.status in lifecycle.WORKING_STATES and not own:
            raise Forbidden("this ticket is not dispatched to you")
        if ticket.status == "resolved" and own:
            raise Forbidden("a grid worker may not verify their own work")


@router.post("/tickets/{ticket_id}/transitions", summary="Move a ticket through the loop")
def post_transition(ticket_id: TicketIdPath, body: TransitionIn, principal: Principal = Depends(current_principal),
                    session: Session = Depends(db_session)) -> dict:
    ticket_views.check_in_scope(session, principal, ticket_id)
    ticket = lifecycle.lock_ticket(session, ticket_id)
    check_scope(principal, ticket)
    worker_id = body.data.get("worker_id")
    if body.to == "dispatched" and worker_id is not None:
        if not isinstance(worker_id, int):
            raise ValidationError("data.worker_id must be an integer")
        if body.expected_version is not None and body.expected_version != ticket.version:
            lifecycle.transition(session, ticket_id, body.to, actor=principal.actor, role=principal.role,
                                 expected_version=body.expected_version)  # raises the 409
        dispatch.assign(session, ticket_id, worker_id, actor=principal.actor, role=principal.role)
    else:
        lifecycle.transition(session, ticket_id, body.to, actor=principal.actor, role=principal.role,
                             note=body.note, data=body.data, expected_version=body.expected_version)
    return _view(session, ticket_views.ticket_row(session, ticket_id), principal)


@router.post("/tickets/{ticket_id}/rating", summary="Rate a closed ticket (1-5, once)")
def post_rating(ticket_id: TicketIdPath, body: RatingIn,
                principal: Principal = Depends(require_roles("citizen", "channel", "dispatcher")),
                session: Session = Depends(db_session)) -> dict:
    if principal.role in ("citizen", "channel") and not _is_owner(session, principal, ticket_id):
        ticket_views.ticket_row(session, ticket_id)  # 404 first if it does not exist
        raise Forbidden("only the reporter may rate this ticket")
    lifecycle.rate(session, ticket_id, body.rating, comment=body.comment, actor=principal.actor,
                   role=principal.role)
    return _view(session, ticket_views.ticket_row(session, ticket_id), principal)


@router.get("/tickets/{ticket_id}/events", summary="The ticket's append-only history")
def get_events(ticket_id: TicketIdPath, principal: Principal = Depends(current_principal),
               session: Session = Depends(db_session)) -> list[dict]:
    ticket_views.ticket_row(session, ticket_id)
    if not principal.is_staff and not _is_owner(session, principal, ticket_id):
        raise Forbidden("only staff and the reporter may read a ticket's history")
    return ticket_views.events(session, ticket_id, pii=principal.is_staff)


@router.get("/scores", summary="Monthly scores and ranking per department or street")
def get_scores(
    month: str | None = Query(None, pattern=r"^\d{4}-\d{2}$",
                              description="YYYY-MM (district local time); default: the month of as_of"),
    by: Literal["department", "street"] = "department",
    as_of: Day | None = Query(None, description="score the month as it stood at the end of this local day"),
    principal: Principal = Depends(require_roles(*READ_SCORE_ROLES)),
    session: Session = Depends(db_session),
) -> dict:
    if month is None and as_of is None:
        raise ValidationError("give month=YYYY-MM or as_of=YYYY-MM-DD")
    month = month or as_of.strftime("%Y-%m")
    try:
        first = date(int(month[:4]), int(month[5:]), 1)
    except ValueError as exc:
        raise ValidationError(f"month {month!r} is not a valid YYYY-MM") from exc
    df = scoring.monthly_scores(session, month=first, by=by, as_of=as_of)
    out = {"month": month, "by": by, "rows": scoring.to_records(df)}
    if as_of is not None:
        out["as_of"] = as_of.isoformat()
    return out
