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

from spatial.api.deps import csv_list, db_session, parse_bbox, require_roles
from spatial.auth import Principal
from spatial.bounds import AwareTime
from spatial.io import ticket_export
from spatial.tickets import queries

router = APIRouter(prefix="/api/exports", tags=["exports"])

EXPORT_ROLES = ("leadership", "dispatcher", "handler")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json"}


@router.get("/tickets.{fmt}", summary="Export tickets with filters (staff)")
def export_tickets(
    fmt: Literal["csv", "xlsx", "gpkg", "geojson"],
    status: str | None = Query(None, description="comma list of states"),
    category: str | None = Query(None, description="comma list of category codes"),
    grid: str | None = Query(None, description="comma list of grid codes"),
    street: str | None = Query(None, description="comma list of street codes"),
    department: str | None = Query(None, description="comma list of department codes"),
    since: AwareTime | None = Query(None, description="created at or after (ISO 8601 with zone)"),
    until: AwareTime | None = Query(None, description="created before (ISO 8601 with zone)"),
    bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat (EPSG:4326)"),
    overdue: bool | None = None,
    principal: Principal = Depends(require_roles(*EXPORT_ROLES)),
    session: Session = Depends(db_session),
) -> Response:
    f = queries.TicketFilter(status=csv_list(status), category=csv_list(category), grid=csv_list(grid),
                             street=csv_list(street), department=csv_list(department), since=since, until=until,
                             bbox=parse_bbox(bbox), overdue=overdue)
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
