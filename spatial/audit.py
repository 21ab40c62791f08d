"""The audit trail: who did what, when, from where, with before and after (issue 13).

Row changes are recorded by the database itself: migration 0013's
``onemap_audit()`` trigger on the tables people and tokens write appends one
``audit_log`` row per changed row, in the same transaction, with the actor
:func:`bind` put on the transaction (transaction-local settings, so a pooled
connection never carries them over). Writes without a bound actor (the demo
load, internal jobs) are not recorded. Events that change no row
(sign-in, failed sign-in, sign-out) are written by :func:`record`.
``audit_log`` is append-only (UPDATE and DELETE are refused by a trigger).
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.auth import Principal
from spatial.models import AuditLog

_BIND = sa.text("SELECT set_config('onemap.actor', :a, true), set_config('onemap.user_id', :u, true), "
                "set_config('onemap.token_id', :t, true), set_config('onemap.ip', :ip, true), "
                "set_config('onemap.request', :r, true)")


def valid_ip(value: str | None) -> str | None:
    """``value`` if it is an IP address (v4 or v6), else None (test clients, unix sockets)."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def bind(session: Session, principal: Principal, *, ip: str | None = None, request: str | None = None) -> None:
    """Attribute every row the current transaction changes to ``principal`` (from ``ip``, doing ``request``)."""
    session.execute(_BIND, {"a": principal.actor, "u": str(principal.user_id or ""),
                            "t": str(principal.token_id or ""), "ip": valid_ip(ip) or "", "r": (request or "")[:300]})


def record(session: Session, action: str, *, actor: str, user_id: int | None = None, token_id: int | None = None,
           ip: str | None = None, request: str | None = None, before: dict | None = None,
           after: dict | None = None) -> None:
    """Append one audit row that is not a row change (sign-in, sign-out, ...)."""
    session.add(AuditLog(action=action, actor=actor[:200], user_id=user_id, token_id=token_id, ip=valid_ip(ip),
                         request=(request or "")[:300] or None, before=before, after=after))
    session.flush()


def entries(session: Session, *, actor: str | None = None, table: str | None = None, row_id: str | None = None,
            since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered by actor, table, row and time."""
    q = sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if actor:
        q = q.where(AuditLog.actor == actor)
    if table:
        q = q.where(AuditLog.table_name == table)
    if row_id:
        q = q.where(AuditLog.row_id == str(row_id))
    if since:
        q = q.where(AuditLog.at >= since)
    return [{"id": a.id, "at": a.at, "actor": a.actor, "user_id": a.user_id, "token_id": a.token_id,
             "ip": str(a.ip) if a.ip else None, "request": a.request, "action": a.action, "table": a.table_name,
             "row_id": a.row_id, "before": a.before, "after": a.after} for a in session.scalars(q)]


def brief(value: dict | None, width: int = 120) -> str:
    """A one-line JSON of ``value`` cut to ``width`` characters (tables, CLI)."""
    if not value:
        return ""
    text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"
