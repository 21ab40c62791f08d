"""Camera registry, camera-AI detections to tickets, and the "frequent location" report.

A camera has a location (EPSG:4326), a heading (degrees clockwise from
north), a field of view (degrees) and a range (metres). Its *view location*
is the point ``range_m / 2`` ahead along the heading, computed in the metric
CRS of the district profile; tickets from its detections are placed there,
located to a grid and snapped to the nearest road within 50 m.

Detections below the class's confidence threshold are stored
(``status='below_threshold'``) but open nothing. Above it, a detection of the
same camera and class within the class's dedup window (default 30 min) of a
ticketed one attaches to that ticket (``deduplicated``); otherwise it goes
through ``spatial.tickets.intake.intake`` with channel ``video_ai`` and
``external_id = det:{id}``. The camera row is locked while a detection is
processed, so a concurrent burst still yields one ticket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.errors import NotFound, OutsideDistrict, ValidationError
from spatial.locate import grid_at, grid_sql
from spatial.models import Camera, CameraDetection, Category, DetectionClass, Ticket
from spatial.profile import district_profile
from spatial.sensors.readings import MAX_FUTURE_S, parse_time
from spatial.tickets.intake import TicketCreate, intake
from spatial.tickets.lifecycle import FINAL_STATES

#: Road snapping distance for the frequent-location report, metres.
ROAD_SNAP_M = 50.0


@dataclass(frozen=True)
class ClassConfig:
    """How detections of one AI class become tickets."""

    code: str
    name: str
    category_code: str | None
    min_confidence: float
    dedup_window_s: float = 1800.0


#: Defaults; rows of table ``detection_class`` override them.
DEFAULT_CLASSES: dict[str, ClassConfig] = {c.code: c for c in (
    ClassConfig("illegal_parking", "违章停车 / Illegal parking", "illegal_parking", 0.6),
    ClassConfig("street_vending", "占道经营 / Street vending", "street_vending", 0.6),
    ClassConfig("no_helmet", "未戴头盔 / No helmet", "no_helmet", 0.7),
    ClassConfig("garbage_overflow", "垃圾满溢 / Garbage overflow", "garbage_overflow", 0.5),
    ClassConfig("waterlogging", "道路积水 / Waterlogging", "waterlogging", 0.6),
    ClassConfig("manhole_missing", "井盖缺失 / Missing manhole cover", "manhole_missing", 0.7),
    ClassConfig("road_damage", "道路破损 / Road damage", "pothole", 0.6),
)}



#: Called as ``hook(session, detection_id)`` after a detection is stored (same transaction), for classes
#: without a configuration and those above their confidence threshold. ``spatial.incidents`` registers
#: its geofence check.
AFTER_DETECTION: list[Callable[[Session, int], int]] = []


def class_configs(session: Session) -> dict[str, ClassConfig]:
    """Effective per-class configuration (defaults overridden by ``detection_class`` rows)."""
    out = dict(DEFAULT_CLASSES)
    for row in session.scalars(sa.select(DetectionClass)):
        if not row.active:
            out.pop(row.code, None)
            continue
        out[row.code] = ClassConfig(row.code, row.name or row.code, row.category_code, row.min_confidence,
                                    row.dedup_window_s)
    return out


def set_class(session: Session, code: str, *, category_code: str | None, min_confidence: float,
              dedup_window_s: float = 1800.0, name: str = "", active: bool = True) -> None:
    """Create or update the configuration of one detection class (confidence in 0..1, window in s)."""
    if not 0 <= min_confidence <= 1:
        raise ValidationError("min_confidence must be between 0 and 1.")
    if dedup_window_s < 0:
        raise ValidationError("dedup_window_s must not be negative.")
    stmt = pg_insert(DetectionClass).values(code=code, name=name, category_code=category_code,
                                            min_confidence=min_confidence, dedup_window_s=dedup_window_s,
                                            active=active)
    stmt = stmt.on_conflict_do_update(index_elements=["code"], set_={
        "name": stmt.excluded.name, "category_code": stmt.excluded.category_code,
        "min_confidence": stmt.excluded.min_confidence, "dedup_window_s": stmt.excluded.dedup_window_s,
        "active": stmt.excluded.active})
    session.execute(stmt)
    session.flush()


def register_camera(session: Session, code: str, *, name: str, lon: float, lat: float,
                    heading_deg: float | None = None, fov_deg: float = 60.0, range_m: float = 80.0,
                    stream_url: str | None = None, snapshot_url: str | None = None) -> Camera:
    """Create or update a camera by code (lon/lat EPSG:4326, heading clockwise from north, range in m)."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError("lon/lat must be EPSG:4326 degrees.")
    if heading_deg is not None:
        if not math.isfinite(heading_deg):
            raise ValidationError("heading_deg must be a number.")
        heading_deg = heading_deg % 360.0
    if not (0 < fov_deg <= 360) or not (0 < range_m <= 5000):
        raise ValidationError("fov_deg must be in (0, 360] and range_m in (0, 5000].")
    grid = grid_at(session, lon, lat)
    cam = session.scalars(sa.select(Camera).where(Camera.code == code).with_for_update()).one_or_none()
    if cam is None:
        cam = Camera(code=code)
        session.add(cam)
    cam.name, cam.heading_deg, cam.fov_deg, cam.range_m = name, heading_deg, fov_deg, range_m
    cam.stream_url, cam.snapshot_url, cam.grid_id = stream_url, snapshot_url, grid
    cam.geom = f"SRID=4326;POINT({lon} {lat})"
    session.flush()
    return cam


_VIEW_SQL = """
    ST_Transform(ST_Translate(ST_Transform(c.geom, :srid),
        COALESCE(sin(radians(c.heading_deg)) * COALESCE(c.range_m, 80) / 2, 0),
        COALESCE(cos(radians(c.heading_deg)) * COALESCE(c.range_m, 80) / 2, 0)), 4326)
"""

_PLACE = sa.text(f"""
    WITH v AS (SELECT c.id, {_VIEW_SQL} AS vp FROM camera c WHERE c.id = :cid)
    SELECT ST_X(v.vp) AS lon, ST_Y(v.vp) AS lat,
           {grid_sql("v.vp")} AS grid_id,
           (SELECT r.id FROM (SELECT r.id, r.geom FROM road r ORDER BY r.geom <-> v.vp LIMIT 5) r
             WHERE ST_DWithin(r.geom::geography, v.vp::geography, :snap)
             ORDER BY ST_Distance(r.geom::geography, v.vp::geography) LIMIT 1) AS road_id
    FROM v
""")


def view_location(session: Session, camera_id: int) -> dict:
    """View point of a camera: {lon, lat (EPSG:4326), grid_id, road_id (nearest road within 50 m)}."""
    row = session.execute(_PLACE, {"cid": camera_id, "srid": district_profile(session).metric_srid,
                                   "snap": ROAD_SNAP_M}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"camera {camera_id} does not exist")
    return dict(row)


def list_cameras(session: Session) -> list[dict]:
    """Cameras with their view point (EPSG:4326) for the map and the API."""
    rows = session.execute(sa.text(f"""
        SELECT c.id, c.code, c.name, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.heading_deg, c.fov_deg,
               c.range_m, c.stream_url, c.status, c.grid_id,
               ST_X({_VIEW_SQL}) AS view_lon, ST_Y({_VIEW_SQL}) AS view_lat
        FROM camera c ORDER BY c.code"""), {"srid": district_profile(session).metric_srid}).mappings()
    return [dict(r) for r in rows]


_COVERING = sa.text("""
    WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :srid) AS pt)
    SELECT c.id, ST_Distance(ST_Transform(c.geom, :srid), p.pt) AS distance_m
    FROM camera c, p
    WHERE ST_DWithin(ST_Transform(c.geom, :srid), p.pt, COALESCE(c.range_m, 80))
      AND (c.heading_deg IS NULL OR COALESCE(c.fov_deg, 60) >= 360
           OR ST_Distance(ST_Transform(c.geom, :srid), p.pt) < 1.0
           OR abs(mod((degrees(ST_Azimuth(ST_Transform(c.geom, :srid), p.pt)) - c.heading_deg + 540)::numeric,
                      360) - 180) <= COALESCE(c.fov_deg, 60) / 2)
    ORDER BY distance_m, c.id
    LIMIT :lim
""")


def covering(session: Session, lon: float, lat: float, *, limit: int = 9) -> list[dict]:
    """Cameras whose view cone contains the point (lon/lat EPSG:4326), nearest first.

    The cone is the camera's ``range_m`` (default 80 m) around its heading
    ± ``fov_deg``/2 (default 60°), measured in the district's metric CRS;
    a camera without heading (or a 360° dome) covers its whole range circle.
    Returns dicts {id, distance_m}.
    """
    rows = session.execute(_COVERING, {"lon": float(lon), "lat": float(lat), "lim": max(1, min(limit, 100)),
                                       "srid": district_profile(session).metric_srid}).mappings()
    return [dict(r) for r in rows]


#: Where the server serves hls.js (``spatial.api.video``) for the app's players.
HLS_URL = "/vendor/hls.min.js"


def _browser_url(url: str | None) -> str | None:
    """``url`` if a browser can fetch it: http(s) only (RTSP cameras need a gateway), never on the reserved
    ``.invalid`` TLD (RFC 2606: it never resolves; the demo's placeholder cameras use it)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.hostname.endswith(".invalid"):
        return None
    return url


def video_sources(cam: Camera) -> dict:
    """A camera's browser-playable sources: ``hls`` (an http(s) .m3u8 playlist), ``mjpeg`` (any other http(s)
    stream URL), ``snapshot``; None where there is none (an RTSP stream is not playable in a browser)."""
    url = _browser_url(cam.stream_url)
    hls = url if url and url.split("?")[0].lower().endswith(".m3u8") else None
    return {"id": cam.id, "code": cam.code, "name": cam.name, "hls": hls,
            "mjpeg": url if url and hls is None else None, "snapshot": _browser_url(cam.snapshot_url)}


Status = Literal["ticketed", "merged", "deduplicated", "below_threshold", "no_category", "unknown_class",
                 "outside_district", "duplicate_post"]


def _camera(session: Session, key: Any) -> Camera | None:
    stmt = sa.select(Camera).with_for_update()
    if isinstance(key, int) and not isinstance(key, bool):
        stmt = stmt.where(Camera.id == key)
    else:
        stmt = stmt.where(Camera.code == str(key))
    return session.scalars(stmt).one_or_none()


def _existing_ticket(session: Session, camera_id: int, cls: str, t: datetime, window_s: float) -> int | None:
    w = timedelta(seconds=window_s)
    return session.scalar(
        sa.select(CameraDetection.ticket_id)
        .join(Ticket, Ticket.id == CameraDetection.ticket_id)
        .where(CameraDetection.camera_id == camera_id, CameraDetection.cls == cls,
               CameraDetection.ticket_id.is_not(None),
               CameraDetection.detected_at.between(t - w, t + w), Ticket.status.not_in(FINAL_STATES))
        .order_by(sa.func.abs(sa.extract("epoch", CameraDetection.detected_at - t)))
        .limit(1))


def ingest_detection(session: Session, det: Mapping, *, now: datetime | None = None,
                     configs: dict[str, ClassConfig] | None = None) -> dict:
    """Store one camera-AI detection and open (or attach to) its ticket.

    Parameters
    ----------
    det
        ``camera`` (code) or ``camera_id``; ``t`` (ISO 8601, naive = local time);
        ``class``; ``confidence`` (0..1); optional ``snapshot_url``, ``external_id``
        (the AI platform's event id: re-posting it is a no-op), ``data``.

    Returns
    -------
    dict
        {detection_id, status, ticket_id}.
    """
    now = utc_now(now)
    cam_key = det.get("camera", det.get("camera_code", det.get("camera_id")))
    if cam_key is None:
        raise ValidationError("A detection needs camera (code) or camera_id.")
    cls = det.get("class", det.get("cls"))
    if not isinstance(cls, str) or not cls.strip():
        raise ValidationError("A detection needs a class (e.g. illegal_parking).")
    cls = cls.strip()
    try:
        conf = float(det.get("confidence"))
    except (TypeError, ValueError) as exc:
        raise ValidationError("confidence must be a number between 0 and 1.") from exc
    if not 0 <= conf <= 1:
        raise ValidationError("confidence must be between 0 and 1.")
    t = parse_time(det.get("t", det.get("time", det.get("detected_at"))), district_profile(session).zone)
    if (t - now).total_seconds() > MAX_FUTURE_S:
        raise ValidationError(f"detection time {t.isoformat()} is in the future.")
    snapshot = det.get("snapshot_url")
    ext = det.get("external_id")
    cam = _camera(session, cam_key)
    if cam is None:
        raise ValidationError(f"unknown camera {cam_key!r}.")
    cfgs = configs if configs is not None else class_configs(session)
    cfg = cfgs.get(cls)
    place = view_location(session, cam.id)
    ins = pg_insert(CameraDetection).values(
        camera_id=cam.id, detected_at=t, cls=cls, confidence=conf, snapshot_url=snapshot,
        external_id=None if ext is None else str(ext), status="received", grid_id=place["grid_id"],
        road_id=place["road_id"], geom=f"SRID=4326;POINT({place['lon']} {place['lat']})",
        data=dict(det.get("data") or {}))
    det_id = session.execute(ins.on_conflict_do_nothing(constraint="uq_camera_detection_external")
                             .returning(CameraDetection.id)).scalar()
    if det_id is None:
        prev = session.execute(sa.select(CameraDetection.id, CameraDetection.ticket_id)
                               .where(CameraDetection.external_id == str(ext))).one()
        return {"detection_id": prev.id, "status": "duplicate_post", "ticket_id": prev.ticket_id}
    status: Status
    ticket_id: int | None = None
    if cfg is None:
        status = "unknown_class"
    elif conf < cfg.min_confidence:
        status = "below_threshold"
    elif not cfg.category_code or not session.scalar(
            sa.select(sa.func.count()).select_from(Category).where(Category.code == cfg.category_code,
                                                                   Category.active)):
        status = "no_category"
    else:
        ticket_id = _existing_ticket(session, cam.id, cls, t, cfg.dedup_window_s)
        if ticket_id is not None:
            status = "deduplicated"
        else:
            data = TicketCreate(
                category=cfg.category_code, lon=place["lon"], lat=place["lat"], channel="video_ai",
                external_id=f"det:{det_id}", description=f"{cfg.name}: camera {cam.name} ({cam.code}), "
                f"confidence {conf:.2f}", photo_urls=[snapshot] if snapshot else [], reported_at=min(t, now),
                attrs={"camera_code": cam.code, "detection_id": det_id, "class": cls, "confidence": conf})
            try:
                with session.begin_nested():
                    res = intake(session, data, actor="system:cameras", role="system", now=now)
            except OutsideDistrict:
                status = "outside_district"
            else:
                ticket_id = res.ticket.id
                status = "merged" if res.outcome == "merged" else "ticketed"
    session.execute(sa.update(CameraDetection).where(CameraDetection.id == det_id)
                    .values(status=status, ticket_id=ticket_id))
    session.flush()
    if cfg is None or conf >= cfg.min_confidence:  # hooks (geofences) see every class the AI is sure enough of
        for hook in AFTER_DETECTION:
            hook(session, det_id)
    return {"detection_id": det_id, "status": status, "ticket_id": ticket_id}


def ingest_detections(session: Session, detections: Iterable[Mapping], *, now: datetime | None = None) -> dict:
    """Ingest a batch (in time order); any invalid detection refuses the whole batch (nothing written).

    Returns {received, results: [{detection_id, status, ticket_id}], by_status: {status: n}, tickets: [ids]}.
    """
    rows = list(detections)
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise ValidationError(f"Detection #{i} must be an object.")
    zone = district_profile(session).zone
    order = sorted(range(len(rows)), key=lambda i: parse_time(rows[i].get("t", rows[i].get("time",
                                                                 rows[i].get("detected_at"))), zone))
    configs = class_configs(session)
    results: list[dict | None] = [None] * len(rows)
    for i in order:
        try:
            results[i] = ingest_detection(session, rows[i], now=now, configs=configs)
        except ValidationError as exc:
            raise ValidationError(f"Detection #{i}: {exc.message}", details={"index": i}) from exc
    by_status: dict[str, int] = {}
    for r in results:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    tickets = sorted({r["ticket_id"] for r in results if r["ticket_id"] is not None})
    return {"received": len(rows), "results": results, "by_status": by_status, "tickets": tickets}


def frequent_locations(session: Session, *, cls: str, days: float = 30.0, by: Literal["road", "grid"] = "road",
                       min_count: int = 2, limit: int = 50, now: datetime | None = None) -> list[dict]:
    """Roads (nearest within 50 m of the view point) or grids where a class recurs, most episodes first.

    Counts detections at or above the class threshold over the last ``days``;
    ``episodes`` counts detections that were not attached to an earlier one (a
    deduplicated burst is one episode).
    Returns dicts with id, code, name, episodes, detections, cameras, first_at,
    last_at and lon/lat (EPSG:4326) of the detections' centroid.
    """
    if by not in ("road", "grid"):
        raise ValidationError("by must be 'road' or 'grid'.")
    if days <= 0 or days > 3660:
        raise ValidationError("days must be between 0 and 3660.")
    now = utc_now(now)
    key, table = ("road_id", "road") if by == "road" else ("grid_id", "admin_unit")
    rows = session.execute(sa.text(f"""
        SELECT u.id, u.code, u.name,
               count(*) FILTER (WHERE d.status <> 'deduplicated') AS episodes, count(*) AS detections,
               count(DISTINCT d.camera_id) AS cameras, min(d.detected_at) AS first_at,
               max(d.detected_at) AS last_at,
               ST_X(ST_Centroid(ST_Collect(d.geom))) AS lon, ST_Y(ST_Centroid(ST_Collect(d.geom))) AS lat
        FROM camera_detection d JOIN {table} u ON u.id = d.{key}
        WHERE d.class = :cls AND d.detected_at >= :since AND d.detected_at <= :now
          AND d.status NOT IN ('below_threshold', 'duplicate_post')
        GROUP BY u.id, u.code, u.name
        HAVING count(*) FILTER (WHERE d.status <> 'deduplicated') >= :min_count
        ORDER BY episodes DESC, detections DESC, u.code
        LIMIT :limit"""), {"cls": cls, "since": now - timedelta(days=days), "now": now,
                           "min_count": max(1, min_count), "limit": max(1, min(limit, 1000))}).mappings()
    return [{"by": by, **dict(r)} for r in rows]
