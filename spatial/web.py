"""Shared FastAPI plumbing: the per-request session and error translation."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from spatial.db import session_scope
from spatial.errors import DatabaseUnavailable, OneMapError


def db_session() -> Iterator[Session]:
    """FastAPI dependency: one session and one transaction per request.

    Commits when the endpoint returns, rolls back on any error, so a failed
    request writes nothing.
    """
    with session_scope() as session:
        yield session


async def onemap_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OneMapError)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code)


async def db_down_handler(request: Request, exc: Exception) -> JSONResponse:
    err = DatabaseUnavailable("The database is unavailable; try again shortly.")
    return JSONResponse(err.to_dict(), status_code=err.status_code)


def install_error_handlers(app) -> None:
    app.add_exception_handler(OneMapError, onemap_error_handler)
    app.add_exception_handler(OperationalError, db_down_handler)
