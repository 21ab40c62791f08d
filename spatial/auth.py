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
``planner``      people only: the flood planner (forecast runs, warnings); reads like staff.
``system``       internal jobs only (SLA sweep, auto-dispatch); never a token role.

People sign in (``spatial.accounts``); a person may hold several roles and
picks one per page. Machines use tokens, each with one role, optional scopes
(router tags) and an expiry. The one rule set of which app views and actions a
role gets is :data:`APP_VIEWS` and :data:`ACTIONS`; the API's
``require_roles`` and the app read the same tables.

Data scope
----------
``admin_unit_id`` (a street) limits a street's staff to the tickets of that
street (seeing and acting), ``department_id`` limits what handlers act on to
their department's tickets (they read others' without reporter contact,
``spatial.privacy``); leadership and admin see all (:func:`ticket_scope_clause`,
:func:`in_scope`).

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

from spatial import authcache
from spatial.errors import NotFound, Unauthorized, ValidationError
from spatial.models import ApiToken, Department, Worker

#: Roles a token can carry.
ROLES = ("citizen", "channel", "grid_worker", "dispatcher", "handler", "leadership", "admin", "wall")
#: Roles a person (``user_account``) can hold: the token roles plus the planner.
PERSON_ROLES = (*ROLES, "planner")
#: Staff roles that read every ticket (not only their own).
STAFF_ROLES = frozenset({"grid_worker", "dispatcher", "handler", "leadership", "admin", "system", "planner"})
#: The one-map app's views and the roles that get each (admin gets every view).
APP_VIEWS: dict[str, frozenset[str]] = {
    "leadership": frozenset({"leadership", "admin"}),
    "dispatcher": frozenset({"dispatcher", "admin"}),
    "planner": frozenset({"planner", "admin"}),
    "audit": frozenset({"admin"}),
}
#: Actions of the app and the API and the roles allowed each (admin always passes).
ACTIONS: dict[str, frozenset[str]] = {
    "ticket.assign": frozenset({"dispatcher", "handler"}),
    "ticket.create": frozenset({"citizen", "channel", "grid_worker", "dispatcher", "handler"}),
    "warning.publish": frozenset({"planner"}),
    "forecast.run": frozenset({"planner"}),
    "audit.read": frozenset(),
    "user.manage": frozenset(),
}
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
    #: The street (admin unit) the principal is limited to; None = no street limit.
    admin_unit_id: int | None = None
    #: A person's account id (people sign in; tokens have ``token_id``).
    user_id: int | None = None
    #: Every role the person holds (``role`` is the one in use); a token's is just its role.
    roles: tuple[str, ...] = ()
    #: Router tags a token may call; None = every route its role allows.
    scopes: tuple[str, ...] | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def can(self, action: str) -> bool:
        """Whether the role in use may do ``action`` (:data:`ACTIONS`)."""
        return self.role == "admin" or self.role in ACTIONS[action]


def views_for(roles: tuple[str, ...] | list[str]) -> list[str]:
    """The app views (:data:`APP_VIEWS` keys, in order) any of ``roles`` gets."""
    return [v for v, allowed in APP_VIEWS.items() if allowed & set(roles)]


def ticket_scope_clause(principal: Principal | None, street_col):
    """A SQL condition limiting the tickets ``principal`` sees to their street, or None (no street limit).

    ``street_col`` is the ticket's ``street_id`` column. Leadership and admin are never limited.
    """
    if principal is None or principal.role in ("admin", "leadership", "system") or principal.admin_unit_id is None:
        return None
    return street_col == principal.admin_unit_id


def in_scope(principal: Principal | None, *, street_id: int | None, department_id: int | None = None,
             acting: bool = False) -> bool:
    """Whether one ticket (its street and department) is within ``principal``'s data scope.

    Seeing: a street's staff only their street. Acting (``acting``): also a
    handler only their department's tickets.
    """
    if principal is None or principal.role in ("admin", "leadership", "system"):
        return True
    if principal.admin_unit_id is not None and street_id != principal.admin_unit_id:
        return False
    return not (acting and principal.role == "handler" and principal.department_id is not None
                and department_id != principal.department_id)


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
    admin_unit_id: int | None = None,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a token and return its plaintext (shown once, never stored).

    ``handler`` tokens need a ``department_id`` and ``grid_worker`` tokens a
    ``worker_id``; they scope what the token may touch, as does
    ``admin_unit_id`` (a street). ``scopes`` limits the token to routers by tag
    (:data:`TOKEN_SCOPES`); ``expires_at`` ends it.
    """
    if scopes is not None:
        unknown = sorted(set(scopes) - set(TOKEN_SCOPES))
        if unknown or not scopes:
            raise ValidationError(f"unknown scope(s) {', '.join(unknown) or '(none)'}; "
                                  f"choose from {', '.join(TOKEN_SCOPES)}")
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
                         department_id=department_id, worker_id=worker_id, admin_unit_id=admin_unit_id,
                         scopes=list(scopes) if scopes is not None else None, expires_at=expires_at))
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
    authcache.evict("t:" + row.token_hash)


def principal_for_token(session: Session, token: str) -> Principal:
    """The principal behind a plaintext token; raises Unauthorized if unknown or revoked."""
    if not token:
        raise Unauthorized("an API token is required")
    key = "t:" + hash_token(token)
    cached = authcache.get(key)
    if cached is not None:
        return cached
    row = session.execute(_LOOKUP, {"h": key[2:]}).one_or_none()
    if row is None:
        raise Unauthorized("the API token is unknown, revoked or expired")
    principal = Principal(actor=f"{row.name}#{row.id}", role=row.role, department_id=row.department_id,
                          worker_id=row.worker_id, token_id=row.id, admin_unit_id=row.admin_unit_id,
                          roles=(row.role,), scopes=tuple(row.scopes) if row.scopes is not None else None)
    authcache.put(key, principal, max_seconds=float(row.left_s) if row.left_s is not None else None)
    return principal


#: Scopes a token can be limited to: the API's router tags.
TOKEN_SCOPES = ("tickets", "open311", "dispatch", "sensors", "map", "exports", "tiles")

_LOOKUP = sa.text("SELECT t.id, t.name, t.role, COALESCE(t.department_id, w.department_id) AS department_id, "
                  "t.worker_id, t.admin_unit_id, t.scopes, EXTRACT(EPOCH FROM t.expires_at - now()) AS left_s "
                  "FROM api_token t LEFT JOIN worker w ON w.id = t.worker_id "
                  "WHERE t.token_hash = :h AND t.revoked_at IS NULL "
                  "AND (t.expires_at IS NULL OR t.expires_at > now())")
