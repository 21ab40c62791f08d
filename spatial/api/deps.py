"""Shared FastAPI plumbing: the per-request session, the caller's principal and error translation."""

from __future__ import annotations

import math
from collections.abc import Iterator

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from flood_model.errors import FloodModelError
from layers.errors import LayerError
from spatial.auth import Principal, principal_for_token
from spatial.db.engine import session_scope
from spatial.errors import DatabaseUnavailable, Forbidden, OneMapError, Unauthorized, ValidationError


def db_session() -> Iterator[Session]:
    """FastAPI dependency: one session and one transaction per request.

    Commits when the endpoint returns, rolls back on any error, so a failed
    request writes nothing.
    """
    with session_scope() as session:
        yield session


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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    return value.strip()


def optional_principal(request: Request, session: Session = Depends(db_session)) -> Principal | None:
    """FastAPI dependency: the caller's principal, or None for anonymous (public) calls."""
    token = _bearer(request)
    return None if token is None else principal_for_token(session, token)


def current_principal(request: Request, session: Session = Depends(db_session)) -> Principal:
    """FastAPI dependency: the caller's principal; 401 without a valid bearer token."""
    token = _bearer(request)
    if token is None:
        raise Unauthorized("an API token is required ('Authorization: Bearer <token>')")
    return principal_for_token(session, token)


def require_roles(*roles: str):
    """FastAPI dependency factory: the principal if its role is in ``roles`` (admin always passes)."""
    allowed = frozenset(roles) | {"admin"}

    def _dep(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role!r} may not do this (needs {', '.join(sorted(allowed))})")
        return principal

    return _dep


async def onemap_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OneMapError)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code)


async def db_down_handler(request: Request, exc: Exception) -> JSONResponse:
    err = DatabaseUnavailable("The database is unavailable; try again shortly.")
    return JSONResponse(err.to_dict(), status_code=err.status_code)


async def model_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Errors of the pure packages (flood_model, layers) carry a user message: 422 in the API's format."""
    err = ValidationError(str(exc))
    return JSONResponse(err.to_dict(), status_code=err.status_code)


def install_error_handlers(app) -> None:
    """Map every error root to the documented ``{"error", "message"}`` body."""
    app.add_exception_handler(OneMapError, onemap_error_handler)
    app.add_exception_handler(FloodModelError, model_error_handler)
    app.add_exception_handler(LayerError, model_error_handler)
    app.add_exception_handler(OperationalError, db_down_handler)
