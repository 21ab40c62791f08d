"""HTTP API of the perception loop: readings, sensors, alerts, cameras, hotspots, messages.

Writes (readings, detections) need a ``channel`` or ``admin`` token; reads of
sensors, alerts and messages are public (warnings are meant to be seen), except
private sensors and their alerts and messages, which are staff-only
(``spatial.privacy``);
camera stream URLs, hotspots and the frequent-location report need a staff
token. Errors are JSON ``{"error", "message"}`` with a 4xx status and a failed
request writes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy.orm import Session

from spatial import privacy
from spatial.api.deps import db_session, optional_principal, require_roles
from spatial.auth import STAFF_ROLES, Principal
from spatial.bounds import AwareTime, Day
from spatial.errors import ValidationError
from spatial.sensors import alerts, cameras, hotspots, readings, rules

router = APIRouter(prefix="/api", tags=["sensors"])

WRITE_ROLES = ("channel",)
MAX_BATCH = 50_000


def _items(payload: Any, key: str) -> list:
    items = payload.get(key) if isinstance(payload, dict) and key in payload else payload
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ValidationError(f"Send a JSON list, or an object with a {key!r} list.")
    if len(items) > MAX_BATCH:
        raise ValidationError(f"At most {MAX_BATCH} items per request.")
    return items


@router.post("/sensors/readings", summary="Ingest a batch of sensor readings")
def post_readings(
    payload: Any = Body(..., examples=[{"readings": [{"sensor": "WL-001", "t": "2026-07-01T08:00:00+08:00",
                                                      "v": 0.23, "unit": "m"}]}]),
    strict: bool = Query(True, description="true: one bad reading refuses the batch; false: skip it"),
    session: Session = Depends(db_session),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> dict:
    return readings.ingest_readings(session, _items(payload, "readings"), strict=strict)


@router.get("/sensors", summary="Sensors with latest value and alarm state")
def get_sensors(sensor_type: str | None = Query(None, alias="type"),
                session: Session = Depends(db_session),
                principal: Principal | None = Depends(optional_principal)) -> list[dict]:
    return readings.sensor_status(session, sensor_type=sensor_type, viewer=principal)


@router.post("/sensors/check-offline", summary="Raise offline / inactivity alerts now (admin)")
def post_check_offline(session: Session = Depends(db_session),
                       principal: Principal = Depends(require_roles())) -> dict:
    return rules.check_offline(session)


@router.get("/alerts", summary="Alerts, newest first")
def get_alerts(state: Literal["active", "cleared", "all"] = "active",
               source_kind: str | None = None, limit: int = Query(500, ge=1, le=10_000),
               session: Session = Depends(db_session),
               principal: Principal | None = Depends(optional_principal)) -> list[dict]:
    return alerts.list_alerts(session, state=None if state == "all" else state, source_kind=source_kind,
                              limit=limit, viewer=principal)


@router.get("/messages", summary="Published warning messages, newest first")
def get_messages(since: AwareTime | None = None, channel: str | None = None,
                 limit: int = Query(200, ge=1, le=10_000), session: Session = Depends(db_session),
                 principal: Principal | None = Depends(optional_principal)) -> list[dict]:
    if since is not None and since.tzinfo is None:
        raise ValidationError("since must carry a time zone, e.g. 2026-07-01T08:00:00+08:00.")
    return alerts.list_messages(session, since=since, channel=channel, limit=limit, viewer=principal)


@router.post("/cameras/detections", summary="Ingest camera AI detections")
def post_detections(
    payload: Any = Body(..., examples=[{"detections": [{"camera": "CAM-001", "t": "2026-07-01T08:00:00+08:00",
                                                        "class": "illegal_parking", "confidence": 0.91,
                                                        "snapshot_url": "https://example/snap.jpg"}]}]),
    session: Session = Depends(db_session),
    principal: Principal = Depends(require_roles(*WRITE_ROLES)),
) -> dict:
    return cameras.ingest_detections(session, _items(payload, "detections"))


@router.get("/cameras", summary="Camera registry with view points")
def get_cameras(session: Session = Depends(db_session),
                principal: Principal | None = Depends(optional_principal)) -> list[dict]:
    rows = cameras.list_cameras(session)
    if not privacy.sees_streams(principal):
        for r in rows:
            r["stream_url"] = None
    return rows


@router.get("/cameras/frequent", summary="Roads or grids where a detection class recurs")
def get_frequent(cls: str = Query(..., alias="class"), days: float = Query(30, gt=0, le=3660),
                 by: Literal["road", "grid"] = "road", min_count: int = Query(2, ge=1),
                 limit: int = Query(50, ge=1, le=1000), session: Session = Depends(db_session),
                 principal: Principal = Depends(require_roles(*STAFF_ROLES))) -> list[dict]:
    return cameras.frequent_locations(session, cls=cls, days=days, by=by, min_count=min_count, limit=limit)


@router.get("/hotspots", summary="High-frequency events per category, grid and week")
def get_hotspots(weeks: int = Query(1, ge=1, le=104), baseline_weeks: int = Query(8, ge=2, le=104),
                 alpha: float = Query(0.05, gt=0, lt=1), min_count: int = Query(5, ge=1),
                 category: str | None = None,
                 as_of: Day | None = Query(None, description="evaluate at the end of this local day "
                                                             "(weeks up to it) instead of now"),
                 session: Session = Depends(db_session),
                 principal: Principal = Depends(require_roles(*STAFF_ROLES))) -> list[dict]:
    df = hotspots.hotspots(session, weeks=weeks, baseline_weeks=baseline_weeks, alpha=alpha,
                           min_count=min_count, category=category, as_of=as_of)
    return hotspots.to_records(df)
