"""Shared FastAPI plumbing: the per-request session, the caller's principal and error translation.

A request is one transaction, and a 2xx means it is committed: :func:`commit_before_response`
(mounted on every router by ``spatial.api.main.create_api``) commits the request's session after
the endpoint has returned and its response is built, before a byte of it is sent. A failed commit
(a conflict, the database gone) is answered by the error handlers below, never with a 2xx.
"""

from __future__ import annotations

import hmac
import logging
import math
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from flood_model.errors import FloodModelError
from layers.errors import LayerError
from spatial import accounts, audit
from spatial.auth import Principal, principal_for_token
from spatial.bounds import INT4_MAX, INT8_MAX, MAX_PAGE, MAX_SECONDS, AwareTime
from spatial.db.engine import new_read_session, new_session
from spatial.errors import Conflict, DatabaseUnavailable, Forbidden, OneMapError, Unauthorized, ValidationError
from spatial.settings import get_settings
from spatial.tickets.queries import TicketFilter

log = logging.getLogger(__name__)

#: SQLSTATEs of a transaction that lost a race and may simply be retried.
RETRYABLE_SQLSTATES = {"40001": "serialization failure", "40P01": "deadlock"}


#: Typed path and query parameters, bounded by their columns (spatial.bounds): 422 beyond them.
TicketIdPath = Annotated[int, Path(ge=1, le=INT8_MAX, description="ticket id")]
WorkerIdPath = Annotated[int, Path(ge=1, le=INT4_MAX, description="worker id")]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page number, from 1")]


def seconds_query(default: float | None = None, description: str = "seconds") -> float | None:
    """A duration query parameter in seconds, bounded by :data:`spatial.bounds.MAX_SECONDS`."""
    return Query(default=default, gt=0, le=MAX_SECONDS, description=description)


def db_session() -> Iterator[Session]:
    """FastAPI dependency: the request's session, one transaction per request.

    :func:`commit_before_response` commits it; whatever is not committed by then (the endpoint
    raised, or the route is not mounted with that dependency) is rolled back when the request ends,
    so a failed request writes nothing.
    """
    session = new_session()
    try:
        yield session
    finally:
        session.close()  # rolls back an uncommitted transaction


def read_session() -> Iterator[Session]:
    """FastAPI dependency: a session for read-only endpoints, on the read replica when one is configured.

    ``ONEMAP_DATABASE_REPLICA_URL`` (a streaming standby): map statistics and
    other reads that may lag the primary by the replication delay; nothing is
    written through it (a standby refuses writes).
    """
    session = new_read_session()
    try:
        yield session
    finally:
        session.close()


def commit_before_response(session: Session = Depends(db_session)) -> Iterator[None]:
    """Router dependency (``scope="function"``): commit the request's session once the endpoint has returned.

    FastAPI runs the exit code of ``scope="function"`` dependencies after the endpoint returned
    and its response was serialised, but before the response is sent; request-scoped ones (the
    default) exit only after the client has the answer. An endpoint that raises is not committed;
    a commit that fails raises to the error handlers (409 for a lost race or a constraint, 503
    when the database is gone).
    """
    yield
    session.commit()


def csv_list(value: str | None) -> list[str]:
    """A comma-separated query parameter as a list (blank items dropped)."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def ticket_filter(
    status: str | None = Query(None, description="comma list of states"),
    category: str | None = Query(None, description="comma list of category codes"),
    grid: str | None = Query(None, description="comma list of grid codes"),
    street: str | None = Query(None, description="comma list of street codes"),
    department: str | None = Query(None, description="comma list of department codes"),
    since: AwareTime | None = Query(None, description="created at or after (ISO 8601 with zone)"),
    until: AwareTime | None = Query(None, description="created before (ISO 8601 with zone)"),
    bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat (EPSG:4326)"),
    overdue: bool | None = None,
) -> TicketFilter:
    """FastAPI dependency: the ticket filters shared by the list and the exports, as a ``TicketFilter``."""
    return TicketFilter(status=csv_list(status), category=csv_list(category), grid=csv_list(grid),
                        street=csv_list(street), department=csv_list(department), since=since, until=until,
                        bbox=parse_bbox(bbox), overdue=overdue)


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``min_lon,min_lat,max_lon,max_lat`` (EPSG:4326 degrees) from a query parameter; None when absent."""
    if not value:
        return None
    try:
        parts = tuple(float(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise ValidationError("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat (EPSG:4326)")
    return parts  # type: ignore[return-value]


#: Cookie holding the sign-in session (HttpOnly) and the CSRF double-submit cookie (readable by the page).
SESSION_COOKIE = "onemap_session"
CSRF_COOKIE = "onemap_csrf"
CSRF_HEADER = "x-csrf-token"
#: Methods that change nothing: no CSRF check.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_ip(request: Request) -> str | None:
    """The caller's IP: the first ``X-Forwarded-For`` hop behind a trusted proxy, else the socket peer."""
    if get_settings().trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.client.host if request.client else None


def is_https(request: Request) -> bool:
    """Whether the browser talks HTTPS (``X-Forwarded-Proto`` is believed only behind a trusted proxy)."""
    if get_settings().trust_proxy and request.headers.get("x-forwarded-proto"):
        return request.headers["x-forwarded-proto"].split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    return value.strip()


def _route_label(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def _check_token_scope(request: Request, principal: Principal) -> None:
    if principal.scopes is None:
        return
    tags = set(getattr(request.scope.get("route"), "tags", None) or ())
    if not tags & set(principal.scopes):
        raise Forbidden(f"this token is limited to {', '.join(principal.scopes)}")


def _session_principal(request: Request, session: Session) -> Principal | None:
    signed = accounts.signed_in(session, request.cookies.get(SESSION_COOKIE))
    if signed is None:
        return None
    if request.method not in SAFE_METHODS:  # CSRF: double-submit header must carry the session's secret
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, signed.csrf):
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header (CSRF protection of signed-in sessions)")
    role = request.headers.get("x-onemap-role") or None
    return signed.principal(role if role in signed.roles else None)


def resolve_principal(request: Request, session: Session) -> Principal | None:
    """The caller: a bearer token (machines) or a sign-in session cookie (people); None when anonymous.

    The principal is bound to the request's transaction for the audit trail (``spatial.audit``).
    """
    token = _bearer(request)
    if token is not None:
        principal = principal_for_token(session, token)
        _check_token_scope(request, principal)
    else:
        principal = _session_principal(request, session)
    if principal is not None and request.method not in SAFE_METHODS:  # reads change no audited row
        audit.bind(session, principal, ip=client_ip(request), request=_route_label(request))
    return principal


def optional_principal(request: Request, session: Session = Depends(db_session)) -> Principal | None:
    """FastAPI dependency: the caller's principal, or None for anonymous (public) calls."""
    return resolve_principal(request, session)


def current_principal(request: Request, session: Session = Depends(db_session)) -> Principal:
    """FastAPI dependency: the caller's principal; 401 without a valid bearer token or sign-in session."""
    principal = resolve_principal(request, session)
    if principal is None:
        raise Unauthorized("sign in, or send an API token ('Authorization: Bearer <token>')")
    return principal


def require_roles(*roles: str):
    """FastAPI dependency factory: the principal if its role is in ``roles`` (admin always passes)."""
    allowed = frozenset(roles) | {"admin"}

    def _dep(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role!r} may not do this (needs {', '.join(sorted(allowed))})")
        return principal

    _dep.allowed_roles = allowed  # type: ignore[attr-defined]  # read by the access-matrix test and docs
    return _dep


async def onemap_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OneMapError)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code)


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


async def db_down_handler(request: Request, exc: Exception) -> JSONResponse:
    """Operational database errors: 409 for a transaction that lost a race (retry it), else 503."""
    assert isinstance(exc, DBAPIError)
    race = RETRYABLE_SQLSTATES.get(_sqlstate(exc) or "")
    if race:
        err: OneMapError = Conflict(f"a concurrent request changed the same data ({race}); nothing was written, "
                                    "retry the request")
    else:
        err = DatabaseUnavailable("The database is unavailable; try again shortly.")
    return JSONResponse(err.to_dict(), status_code=err.status_code)


async def integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A constraint the services did not check first (a race, or a deferred check at commit): 409, nothing written."""
    assert isinstance(exc, IntegrityError)
    diag = getattr(exc.orig, "diag", None)
    what = getattr(diag, "constraint_name", None) or "a database constraint"
    err = Conflict(f"the request conflicts with stored data ({what}); nothing was written")
    return JSONResponse(err.to_dict(), status_code=err.status_code)


async def model_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Errors of the pure packages (flood_model, layers) carry a user message: 422 in the API's format."""
    err = ValidationError(str(exc))
    return JSONResponse(err.to_dict(), status_code=err.status_code)


#: Longest message of a 422 body (the input itself is never echoed).
MAX_MESSAGE_CHARS = 600


def _field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts)[:80] or "body"


async def request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    """A request that does not fit its models: 422, one short line per field, no input echoed."""
    assert isinstance(exc, RequestValidationError)
    lines = [f"{_field(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()[:10]]
    message = "; ".join(lines)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    err = ValidationError(message or "invalid request")
    return JSONResponse(err.to_dict(), status_code=err.status_code)


def _first_line(exc: DBAPIError) -> str:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.splitlines()[0][:200] if text else ""


async def data_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value (out of its column's range, bad encoding): 422, nothing written."""
    assert isinstance(exc, DataError)
    err = ValidationError(f"a value does not fit its field: {_first_line(exc)}")
    return JSONResponse(err.to_dict(), status_code=err.status_code)


async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Anything else is a bug: logged with a reference, answered 500 in the API's format, no trace."""
    ref = uuid.uuid4().hex[:12]
    log.error("internal error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal", "message": f"internal error (reference {ref}); it has been logged"},
                        status_code=500)


def install_error_handlers(app) -> None:
    """Map every error root to the documented ``{"error", "message"}`` body."""
    app.add_exception_handler(OneMapError, onemap_error_handler)
    app.add_exception_handler(FloodModelError, model_error_handler)
    app.add_exception_handler(LayerError, model_error_handler)
    app.add_exception_handler(OperationalError, db_down_handler)
    app.add_exception_handler(InterfaceError, db_down_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(DataError, data_error_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(Exception, internal_error_handler)
