"""Roles, principals and hashed API tokens: the one owner of who may do what.

The FastAPI dependencies that read the bearer token live in ``spatial.api.deps``.

A token is ``om_`` + 32 random bytes (URL-safe base64); only its SHA-256 hex
digest is stored (table ``api_token``), so a database dump reveals no usable
credential. The plaintext is shown once, by :func:`create_token`.

Roles
-----
``citizen``      create tickets; read and rate their own tickets.
``channel``      an intake system (12345 hotline, video AI, sensor gateway): create; read its own tickets.
``grid_worker``  create on patrol; handle the tickets dispatched to them; verify others' work.
``dispatcher``   accept, reject, merge, dispatch, verify, close, reopen; sees reporter details.
``handler``      a department's handler: accept/handle/resolve tickets of their department.
``leadership``   read everything (dashboards, scores, reporter details), write nothing.
``admin``        everything, including tokens.
``wall``         the command centre's big screen (``/wall``): reads the public map data and camera
                 streams (``spatial.privacy.STREAM_ROLES``), writes nothing, no personal data.
``system``       internal jobs only (SLA sweep, auto-dispatch); never a token role.

Who sees which personal data (reporter contact, sensitive tickets, private
sensors) is decided by ``spatial.privacy`` from the principal's role and
department: a token's ``department_id``, or for a grid worker their worker's
department.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.errors import NotFound, Unauthorized, ValidationError
from spatial.models import ApiToken, Department, Worker

#: Roles a token can carry.
ROLES = ("citizen", "channel", "grid_worker", "dispatcher", "handler", "leadership", "admin", "wall")
#: Staff roles that read every ticket (not only their own).
STAFF_ROLES = frozenset({"grid_worker", "dispatcher", "handler", "leadership", "admin", "system"})
#: Roles that may create tickets.
INTAKE_ROLES = ("citizen", "channel", "grid_worker", "dispatcher", "handler", "admin")

TOKEN_PREFIX = "om_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``actor`` is written on every event the call causes.

    ``department_id`` is the token's department, or the department of the
    token's worker (grid workers).
    """

    actor: str
    role: str
    department_id: int | None = None
    worker_id: int | None = None
    token_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


SYSTEM = Principal(actor="system", role="system")


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a plaintext token (what the table stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    role: str,
    department_id: int | None = None,
    worker_id: int | None = None,
) -> str:
    """Create a token and return its plaintext (shown once, never stored).

    ``handler`` tokens need a ``department_id`` and ``grid_worker`` tokens a
    ``worker_id``; they scope what the token may touch.
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError("token name must be 1-100 characters")
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role == "handler" and department_id is None:
        raise ValidationError("a handler token needs a department")
    if role == "grid_worker" and worker_id is None:
        raise ValidationError("a grid_worker token needs a worker")
    if department_id is not None and session.get(Department, department_id) is None:
        raise NotFound(f"department {department_id} does not exist")
    if worker_id is not None and session.get(Worker, worker_id) is None:
        raise NotFound(f"worker {worker_id} does not exist")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_hash=hash_token(plaintext),
                         department_id=department_id, worker_id=worker_id))
    session.flush()
    return plaintext


def revoke_token(session: Session, token_id: int, *, now: datetime | None = None) -> None:
    """Revoke a token from now on (idempotent)."""
    row = session.get(ApiToken, token_id, with_for_update=True)
    if row is None:
        raise NotFound(f"token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = now or sa.func.now()
        session.flush()


def principal_for_token(session: Session, token: str) -> Principal:
    """The principal behind a plaintext token; raises Unauthorized if unknown or revoked."""
    if not token:
        raise Unauthorized("an API token is required")
    row = session.execute(_LOOKUP, {"h": hash_token(token)}).one_or_none()
    if row is None:
        raise Unauthorized("the API token is unknown or revoked")
    return Principal(actor=f"{row.name}#{row.id}", role=row.role, department_id=row.department_id,
                     worker_id=row.worker_id, token_id=row.id)


_LOOKUP = sa.text("SELECT t.id, t.name, t.role, COALESCE(t.department_id, w.department_id) AS department_id, "
                  "t.worker_id FROM api_token t LEFT JOIN worker w ON w.id = t.worker_id "
                  "WHERE t.token_hash = :h AND t.revoked_at IS NULL")
