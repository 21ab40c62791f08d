"""The ticket closed loop as an explicit transition table.

::

    reported -> accepted (立案) -> dispatched (派遣) -> in_progress (处置) -> resolved (反馈)
             -> verified (核查) -> closed (结案) -> rating (评价)
    side exits: rejected (not ours / invalid), merged (duplicate), reopened (verification failed,
    complaint after close); reopened goes back to dispatch.

Every transition runs under ``SELECT ... FOR UPDATE`` on the ticket row, checks
the from-state and the caller's role against :data:`TRANSITIONS`, sets the
matching timestamp, bumps ``ticket.version`` and appends a ``ticket_event``
(kind ``transition``) in the caller's transaction. Scope rules that need the
caller's department or worker (a handler only touches their department's
tickets) are checked at the API edge (``spatial.api.tickets``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.errors import Conflict, Forbidden, NotFound, ValidationError
from spatial.models import TICKET_STATES, Ticket, TicketEvent, Worker

_DISPATCH = frozenset({"dispatcher", "handler", "admin", "system"})
_DESK = frozenset({"dispatcher", "admin", "system"})
_FIELD = frozenset({"grid_worker", "handler", "admin"})
_VERIFY = frozenset({"dispatcher", "grid_worker", "admin", "system"})

#: (from_status, to_status) -> roles allowed to make the move. Anything absent is forbidden.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("reported", "accepted"): _DISPATCH,
    ("reported", "rejected"): frozenset({"dispatcher", "handler", "admin"}),
    ("reported", "merged"): _DESK,
    ("accepted", "dispatched"): _DISPATCH,
    ("accepted", "in_progress"): frozenset({"handler", "admin"}),
    ("accepted", "rejected"): frozenset({"dispatcher", "handler", "admin"}),
    ("accepted", "merged"): _DESK,
    ("dispatched", "in_progress"): _FIELD,
    ("dispatched", "resolved"): _FIELD,
    ("dispatched", "accepted"): frozenset({"dispatcher", "admin"}),  # recall for re-dispatch
    ("in_progress", "resolved"): _FIELD,
    ("in_progress", "accepted"): frozenset({"dispatcher", "admin"}),  # recall for re-dispatch
    ("resolved", "verified"): _VERIFY,
    ("resolved", "reopened"): _VERIFY,
    ("verified", "closed"): _DESK,
    ("verified", "reopened"): frozenset({"dispatcher", "admin"}),
    ("closed", "reopened"): frozenset({"dispatcher", "admin"}),
    ("rejected", "reopened"): frozenset({"dispatcher", "admin"}),
    ("merged", "reopened"): frozenset({"admin"}),  # un-merge
    ("reopened", "dispatched"): _DISPATCH,
    ("reopened", "in_progress"): frozenset({"handler", "admin"}),
    ("reopened", "rejected"): frozenset({"dispatcher", "handler", "admin"}),
    ("reopened", "merged"): _DESK,
}

# --- the one owner of ticket state sets (every other module imports these) ---
#: Final states: the ticket is done with (Open311 "closed").
FINAL_STATES = ("closed", "rejected", "merged")
#: Every state that is not final: backlog on the map, can be overdue, Open311 "open".
UNFINISHED_STATES = tuple(s for s in TICKET_STATES if s not in FINAL_STATES)
#: States that count as open for work (deadlines run, duplicates merge into them): not yet resolved.
OPEN_STATES = ("reported", "accepted", "dispatched", "in_progress", "reopened")
#: States a dispatcher still has to act on: the dispatch queue; only these can be dispatched.
QUEUE_STATES = ("reported", "accepted", "reopened")


def sql_list(states: tuple[str, ...]) -> str:
    """A state set as an SQL literal list, ``('reported','accepted')``, for static SQL text."""
    return "(" + ",".join(f"'{s}'" for s in states) + ")"


#: States where the assigned worker carries the ticket in ``worker.workload``.
WORKING_STATES = frozenset({"dispatched", "in_progress"})
#: Transitions whose note is mandatory (the reason must be recorded).
NOTE_REQUIRED = frozenset({"rejected", "reopened"})

_STAMP = {"accepted": "accepted_at", "dispatched": "dispatched_at", "resolved": "resolved_at",
          "closed": "closed_at"}


def allowed_targets(status: str, role: str) -> list[str]:
    """The states ``role`` may move a ticket in ``status`` to (for UIs)."""
    return [to for (frm, to), roles in TRANSITIONS.items() if frm == status and (role in roles)]



def lock_ticket(session: Session, ticket_id: int) -> Ticket:
    """Load a ticket with ``SELECT ... FOR UPDATE`` (fresh values); raises NotFound."""
    ticket = session.execute(
        sa.select(Ticket).where(Ticket.id == ticket_id).with_for_update().execution_options(
            populate_existing=True)
    ).scalar_one_or_none()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def add_event(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    actor: str,
    role: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    data: dict | None = None,
) -> TicketEvent:
    """Append one ``ticket_event`` row (flushes nothing by itself)."""
    ev = TicketEvent(ticket_id=ticket.id, at=at, kind=kind, from_status=from_status, to_status=to_status,
                     actor=actor, actor_role=role, note=note, data=data or {})
    session.add(ev)
    return ev


def transition(
    session: Session,
    ticket_id: int,
    to_status: str,
    *,
    actor: str,
    role: str,
    note: str | None = None,
    data: dict | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Ticket:
    """Move a ticket to ``to_status`` and record it.

    Parameters
    ----------
    session : Session
        Caller-owned transaction; this only flushes.
    ticket_id : int
        The ticket.
    to_status : str
        Target state, one of ``spatial.models.TICKET_STATES``.
    actor, role : str
        Who does it (written on the event) and their role (checked).
    note : str, optional
        Free text; required for ``rejected`` and ``reopened``.
    data : dict, optional
        Extra event data; ``{"into": id}`` is required for ``merged``.
    now : datetime, optional
        Timezone-aware time of the transition (default: current UTC time).
    expected_version : int, optional
        Optimistic check: 409 Conflict when the ticket changed since the caller read it.

    Returns
    -------
    Ticket
        The updated ticket (version bumped).

    Raises
    ------
    NotFound, Conflict, Forbidden, ValidationError
    """
    at = utc_now(now)
    data = dict(data or {})
    ticket = lock_ticket(session, ticket_id)
    frm = ticket.status
    if expected_version is not None and expected_version != ticket.version:
        raise Conflict(f"ticket {ticket_id} changed meanwhile (version {ticket.version}, you had "
                       f"{expected_version}); reload and retry",
                       details={"version": ticket.version, "status": frm})
    roles = TRANSITIONS.get((frm, to_status))
    if roles is None:
        if to_status == frm:
            raise Conflict(f"ticket {ticket_id} is already {frm}", details={"status": frm})
        raise Conflict(f"ticket {ticket_id} cannot go from {frm} to {to_status}",
                       details={"status": frm, "allowed": allowed_targets(frm, role)})
    if role not in roles:
        raise Forbidden(f"role {role!r} may not move a ticket from {frm} to {to_status}")
    note = (note or "").strip() or None
    if note is not None and len(note) > 2000:
        raise ValidationError("note must be at most 2000 characters")
    if to_status in NOTE_REQUIRED and note is None:
        raise ValidationError(f"a note giving the reason is required to mark a ticket {to_status}")

    if to_status == "merged":
        into = data.get("into")
        if not isinstance(into, int) or into == ticket.id:
            raise ValidationError("merging needs data.into, the id of another ticket")
        target = session.execute(sa.select(Ticket).where(Ticket.id == into).with_for_update()).scalar_one_or_none()
        if target is None:
            raise NotFound(f"ticket {into} does not exist")
        if target.status not in OPEN_STATES:
            raise Conflict(f"ticket {into} is {target.status}; merge only into an open ticket")
        ticket.merged_into_id = into
        add_event(session, target, "merged_in", actor=actor, role=role, at=at,
                  data={"ticket_id": ticket.id})
        target.updated_at = at
    elif frm == "merged":
        ticket.merged_into_id = None

    if ticket.assigned_worker_id is not None and frm in WORKING_STATES and to_status not in WORKING_STATES:
        _release_worker(session, ticket.assigned_worker_id)

    stamp = _STAMP.get(to_status)
    if stamp:
        setattr(ticket, stamp, at)
    if to_status == "accepted" and ticket.accept_due_at is not None and at > ticket.accept_due_at:
        ticket.accept_overdue = True
    if to_status == "resolved" and ticket.resolve_due_at is not None and at > ticket.resolve_due_at:
        ticket.resolve_overdue = True
    if to_status == "reopened":
        ticket.resolved_at = None
        ticket.closed_at = None
    if to_status == "dispatched" and isinstance(data.get("worker_id"), int):
        ticket.assigned_worker_id = data["worker_id"]
    ticket.status = to_status
    ticket.version = ticket.version + 1
    ticket.updated_at = at
    add_event(session, ticket, "transition", actor=actor, role=role, at=at, from_status=frm,
              to_status=to_status, note=note, data=data)
    session.flush()
    return ticket


def _release_worker(session: Session, worker_id: int) -> None:
    """workload -= 1 (not below 0) under the worker's row lock."""
    session.execute(
        sa.update(Worker).where(Worker.id == worker_id)
        .values(workload=sa.func.greatest(Worker.workload - 1, 0))
    )


def rate(
    session: Session,
    ticket_id: int,
    rating: int,
    *,
    actor: str,
    role: str,
    comment: str | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Record the reporter's satisfaction (1-5, optional comment) on a closed ticket, once.

    Raises Conflict when the ticket is not closed or already rated.
    """
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise ValidationError("rating must be an integer from 1 to 5")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > 2000:
        raise ValidationError("comment must be at most 2000 characters")
    if role not in ("citizen", "channel", "dispatcher", "admin"):
        raise Forbidden(f"role {role!r} may not rate tickets")
    at = utc_now(now)
    ticket = lock_ticket(session, ticket_id)
    if ticket.status != "closed":
        raise Conflict(f"ticket {ticket_id} is {ticket.status}; only closed tickets can be rated")
    if ticket.rating is not None:
        raise Conflict(f"ticket {ticket_id} was already rated")
    ticket.rating = rating
    ticket.rating_comment = comment
    ticket.version = ticket.version + 1
    ticket.updated_at = at
    add_event(session, ticket, "rated", actor=actor, role=role, at=at, note=comment, data={"rating": rating})
    session.flush()
    return ticket
