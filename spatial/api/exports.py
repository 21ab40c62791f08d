"""Filtered exports for staff under ``/api/exports``: tickets and alerts as CSV, Excel, GeoPackage or GeoJSON.

``GET /api/exports/tickets.{csv,xlsx,gpkg,geojson}`` takes the list API's
filters (``status``, ``category``, ``grid``, ``street``, ``department``,
``since``, ``until``, ``bbox``, ``overdue``); columns in
:mod:`spatial.io.ticket_export` (lifecycle times in UTC, no reporter contact).
``GET /api/exports/alerts.{...}`` takes ``state`` (active, cleared, all) and
``source_kind`` (``flood`` for the flood warnings).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from spatial.api.deps import db_session, require_roles, ticket_filter
from spatial.auth import Principal
from spatial.io import ticket_export
from spatial.tickets.queries import TicketFilter

router = APIRouter(prefix="/api/exports", tags=["exports"])

EXPORT_ROLES = ("leadership", "dispatcher", "handler")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json"}


@router.get("/tickets.{fmt}", summary="Export tickets with filters (staff)")
def export_tickets(
    fmt: Literal["csv", "xlsx", "gpkg", "geojson"],
    f: TicketFilter = Depends(ticket_filter),
    principal: Principal = Depends(require_roles(*EXPORT_ROLES)),
    session: Session = Depends(db_session),
) -> Response:
    frame = ticket_export.ticket_frame(session, f, principal)
    return _file(frame, fmt, "tickets", ticket_export.TIME_COLUMNS)


@router.get("/alerts.{fmt}", summary="Export alerts and flood warnings (staff)")
def export_alerts(
    fmt: Literal["csv", "xlsx", "gpkg", "geojson"],
    state: Literal["active", "cleared", "all"] = "all",
    source_kind: str | None = Query(None, description="sensor, camera, flood, ... (flood = flood warnings)"),
    principal: Principal = Depends(require_roles(*EXPORT_ROLES)),
    session: Session = Depends(db_session),
) -> Response:
    frame = ticket_export.alert_frame(session, state=None if state == "all" else state, source_kind=source_kind,
                                      principal=principal)
    return _file(frame, fmt, "alerts", ticket_export.ALERT_TIMES)


def _file(frame, fmt: str, layer: str, times: tuple[str, ...]) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        path = ticket_export.write(frame, Path(tmp) / f"{layer}.{fmt}", layer=layer, time_columns=times)
        content = path.read_bytes()
    return Response(content, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{layer}.{fmt}"'})
