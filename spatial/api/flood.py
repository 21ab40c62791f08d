"""HTTP API of the operational flood loop (``spatial.flood.ops``).

``POST /api/flood/forecasts?kind=gridded|hyetograph&issued_at=...&interval_s=...``
    Body: a GeoTIFF (``image/tiff`` or ``application/octet-stream``: one band per
    interval, mm/h) or a CSV (``text/csv``: one row per interval, depth in mm).
    Queues the forecast; the server's ``flood_watch`` job runs it. 202 with the run
    record; 409 when the same forecast was already taken. Roles: ``channel``, ``admin``.
``GET /api/flood/runs`` and ``GET /api/flood/runs/{run_id}``
    Run history with inputs, outputs, warnings and publication (staff).
``POST /api/flood/runs/{run_id}/confirm`` and ``.../reject``
    A person (dispatcher, leadership, admin) decides on a run that waits above the cap.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from spatial.api.deps import db_session, require_roles
from spatial.auth import STAFF_ROLES, Principal
from spatial.bounds import AwareTime
from spatial.flood import ops as flood_ops

router = APIRouter(prefix="/api/flood", tags=["flood"])

#: Who may publish or hold back a run above the cap (admin always may).
DECIDE_ROLES = ("dispatcher", "leadership")
#: Largest forecast body accepted [bytes] (also in ``spatial.api.boundary.BODY_LIMITS``).
MAX_FORECAST_BYTES = 200_000_000


@router.post("/forecasts", status_code=202, summary="Queue a rainfall forecast for the flood watch")
async def post_forecast(request: Request,
                        kind: Literal["gridded", "hyetograph"] | None = Query(
                            None, description="default: gridded for a TIFF body, hyetograph for text/csv"),
                        issued_at: AwareTime | None = Query(None, description="t = 0 of the run (ISO 8601, zone)"),
                        interval_s: float | None = Query(None, gt=0, le=86400, description="band / row length [s]"),
                        label: str | None = Query(None, pattern=r"^[A-Za-z0-9_.-]{1,60}$"),
                        session: Session = Depends(db_session),
                        principal: Principal = Depends(require_roles("channel"))) -> dict:
    data = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    k = kind or ("hyetograph" if ctype in ("text/csv", "text/plain") else "gridded")
    run = flood_ops.accept_upload(session, flood_ops.Upload(data=data, kind=k), issued_at=issued_at,
                                  interval_s=interval_s, label=label)
    return flood_ops.run_record(run)


@router.get("/runs", summary="Operational flood runs, newest first")
def get_runs(limit: int = Query(50, ge=1, le=1000), session: Session = Depends(db_session),
             principal: Principal = Depends(require_roles(*STAFF_ROLES))) -> list[dict]:
    return flood_ops.list_runs(session, limit=limit)


@router.get("/runs/{run_id}", summary="One flood run with its provenance")
def get_run(run_id: str, session: Session = Depends(db_session),
            principal: Principal = Depends(require_roles(*STAFF_ROLES))) -> dict:
    return flood_ops.get_run(session, run_id)


@router.post("/runs/{run_id}/confirm", summary="Publish a run's warnings that wait above the cap")
def confirm_run(run_id: str, session: Session = Depends(db_session),
                principal: Principal = Depends(require_roles(*DECIDE_ROLES))) -> dict:
    return flood_ops.decide(session, run_id, confirm=True, actor=principal.actor)


@router.post("/runs/{run_id}/reject", summary="Do not publish a run's warnings that wait above the cap")
def reject_run(run_id: str, session: Session = Depends(db_session),
               principal: Principal = Depends(require_roles(*DECIDE_ROLES))) -> dict:
    return flood_ops.decide(session, run_id, confirm=False, actor=principal.actor)
