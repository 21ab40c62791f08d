"""In-app messages: what a worker, a reporter or a role's users read in their apps.

Rows are written by the ``ticket_event_notify`` trigger (migration 0016): the assigned worker gets
``dispatched`` (new task), ``reopened``, ``overdue`` and ``escalated``; every reporter account of a
ticket who reported in the citizen or grid worker app gets its status changes (hotline and other
channels' gateways do not); roles get what their ``inapp`` subscriptions select. Texts are made
when read, in the reader's language (``spatial.notify.texts``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.auth import Principal
from spatial.clock import utc_now
from spatial.errors import NotFound
from spatial.models import InappMessage
from spatial.notify import texts

MAX_MESSAGES = 200


def recipient_clause(principal: Principal) -> sa.ColumnElement[bool]:
    """Messages addressed to ``principal``: its worker, its reporter account, or its role (and department)."""
    clauses = [InappMessage.reporter_account == principal.actor]
    if principal.worker_id is not None:
        clauses.append(InappMessage.worker_id == principal.worker_id)
    role = InappMessage.role == principal.role
    if principal.role != "admin":
        role = role & (InappMessage.department_id.is_(None) | (InappMessage.department_id == principal.department_id))
    clauses.append(role)
    return sa.or_(*clauses)


def view(m: InappMessage, lang: str | None) -> dict:
    status = (m.data or {}).get("status")
    return {"id": m.id, "ticket_id": m.ticket_id, "topic": m.topic, "status": status,
            "text": texts.message_text(m.topic, m.ticket_id, status, lang),
            "created_at": m.created_at.isoformat() if m.created_at else None,
            "read": m.read_at is not None}


def for_principal(session: Session, principal: Principal, *, unread_only: bool = False, lang: str | None = "zh",
                  since: datetime | None = None, limit: int = 50) -> list[dict]:
    """The newest messages of ``principal`` (at most ``limit``, up to :data:`MAX_MESSAGES`)."""
    q = sa.select(InappMessage).where(recipient_clause(principal))
    if unread_only:
        q = q.where(InappMessage.read_at.is_(None))
    if since is not None:
        q = q.where(InappMessage.created_at >= since)
    q = q.order_by(InappMessage.created_at.desc(), InappMessage.id.desc()).limit(min(limit, MAX_MESSAGES))
    return [view(m, lang) for m in session.scalars(q)]


def for_account(session: Session, account: str, *, lang: str | None = "zh") -> list[dict]:
    """Messages of one reporter account, newest first (the citizen's tracking page)."""
    q = (sa.select(InappMessage).where(InappMessage.reporter_account == account)
         .order_by(InappMessage.created_at.desc(), InappMessage.id.desc()).limit(MAX_MESSAGES))
    return [view(m, lang) for m in session.scalars(q)]


def mark_read(session: Session, principal: Principal, message_id: int, *, now: datetime | None = None) -> None:
    """Mark one of the principal's messages read (404 for another's message)."""
    n = session.execute(sa.update(InappMessage).where(InappMessage.id == message_id, recipient_clause(principal))
                        .values(read_at=sa.func.coalesce(InappMessage.read_at, utc_now(now)))).rowcount
    if not n:
        raise NotFound(f"message {message_id} does not exist")
