"""Camera AI detections: thresholds, dedup into one ticket (also under concurrency), frequent locations."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.errors import ValidationError
from spatial.models import CameraDetection, Ticket
from spatial.sensors import cameras as cams
from tests.district import seed_small_district
from tests.sensors.conftest import at, seed_cameras


def _det(cam: str, minute: float, cls: str = "illegal_parking", conf: float = 0.9, **kw) -> dict:
    return {"camera": cam, "t": at(minute).isoformat(), "class": cls, "confidence": conf,
            "snapshot_url": f"https://snap/{cam}/{minute}.jpg", **kw}


def test_view_location_is_half_range_ahead(session, cameras):
    c1 = cams.view_location(session, cameras["c1"].id)
    # 40 m north of (113.41, 23.10): ~0.00036 deg of latitude, same longitude (to UTM convergence)
    assert c1["lat"] - 23.10 == pytest.approx(40 / 110_760, rel=0.02)
    assert abs(c1["lon"] - 113.41) < 1e-5
    assert c1["road_id"] == cameras["r1"].id
    c2 = cams.view_location(session, cameras["c2"].id)
    assert c2["road_id"] == cameras["r2"].id and c2["lon"] < 113.4505


def test_burst_of_duplicate_detections_yields_one_ticket(session, cameras):
    burst = [_det("CAM-1", m) for m in (0, 1, 1.5, 2, 5, 9, 14, 20)]
    out = cams.ingest_detections(session, burst[::-1])
    assert out["by_status"] == {"ticketed": 1, "deduplicated": 7}
    assert len(out["tickets"]) == 1
    t = session.get(Ticket, out["tickets"][0])
    assert t.channel == "video_ai" and t.category.code == "illegal_parking"
    assert t.photo_urls == ["https://snap/CAM-1/0.jpg"]
    assert t.created_at == at(0)
    # ticket located at the view point, 40 m ahead, in the camera's grid
    lat = session.scalar(sa.select(sa.func.ST_Y(Ticket.geom)).where(Ticket.id == t.id))
    assert lat > 23.1003
    # below threshold and unmapped classes are kept but open nothing; a re-post is a no-op
    low = cams.ingest_detection(session, _det("CAM-1", 30, conf=0.3))
    assert low["status"] == "below_threshold" and low["ticket_id"] is None
    vend = cams.ingest_detection(session, _det("CAM-1", 31, cls="street_vending"))
    assert vend["status"] == "no_category"
    e1 = cams.ingest_detection(session, _det("CAM-2", 32, external_id="ai-77"))
    e2 = cams.ingest_detection(session, _det("CAM-2", 32, external_id="ai-77"))
    assert e1["status"] == "ticketed" and e2 == {**e1, "status": "duplicate_post"}
    assert session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
    # per-class threshold override
    cams.set_class(session, "street_vending", category_code="noise", min_confidence=0.95)
    assert cams.ingest_detection(session, _det("CAM-2", 40, cls="street_vending"))["status"] == \
        "below_threshold"
    with pytest.raises(ValidationError, match="unknown camera"):
        cams.ingest_detections(session, [_det("NOPE", 1)])
    with pytest.raises(ValidationError, match="confidence"):
        cams.ingest_detection(session, _det("CAM-1", 1, conf=1.7))


def test_frequent_locations_by_road_and_grid(session, cameras):
    # three episodes on R1 (an hour apart), one on R2; the burst counts once
    for m in (0, 60, 120):
        cams.ingest_detections(session, [_det("CAM-1", m), _det("CAM-1", m + 2)])
    cams.ingest_detection(session, _det("CAM-2", 10))
    cams.ingest_detection(session, _det("CAM-2", 11, conf=0.1))
    roads = cams.frequent_locations(session, cls="illegal_parking", days=3, min_count=1, now=at(200))
    assert [(r["code"], r["episodes"], r["detections"]) for r in roads] == [("R1", 3, 6), ("R2", 1, 1)]
    assert roads[0]["name"] == "黄埔东路"
    grids = cams.frequent_locations(session, cls="illegal_parking", by="grid", min_count=2, now=at(200))
    # the view point lies north of the camera, across the grid line
    assert [(g["code"], g["episodes"]) for g in grids] == [("G10", 3)]
    assert cams.frequent_locations(session, cls="no_helmet", now=at(200)) == []


def test_concurrent_detection_burst_opens_one_ticket(committed):
    with Session(committed) as s:
        district = seed_small_district(s)
        seed_cameras(s, district)
        s.commit()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def post(k: int) -> None:
        try:
            with Session(committed) as s:
                barrier.wait()
                cams.ingest_detections(s, [_det("CAM-1", k + 0.1 * j) for j in range(5)])
                s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    with Session(committed) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
        statuses = s.scalars(sa.select(CameraDetection.status)).all()
        assert sorted(statuses).count("ticketed") == 1 and len(statuses) == 20


def test_covering_uses_the_view_cone(session, district):
    """A camera covers a point inside its range and within ±fov/2 of its heading; no heading = whole circle."""
    m = 1 / 111_320  # degrees of latitude per metre
    lon, lat = 113.43, 23.11
    north = cams.register_camera(session, "COV-N", name="looks north", lon=lon, lat=lat - 40 * m, heading_deg=0.0,
                                 fov_deg=60.0, range_m=80.0)
    east = cams.register_camera(session, "COV-E", name="looks east", lon=lon, lat=lat - 40 * m, heading_deg=90.0,
                                fov_deg=60.0, range_m=80.0)
    dome = cams.register_camera(session, "COV-D", name="dome", lon=lon, lat=lat + 60 * m, range_m=70.0)
    far = cams.register_camera(session, "COV-F", name="far", lon=lon, lat=lat - 200 * m, heading_deg=0.0)
    got = [c["id"] for c in cams.covering(session, lon, lat)]
    assert got == [north.id, dome.id]  # nearest first; east looks away, far is out of range
    assert 39 < cams.covering(session, lon, lat)[0]["distance_m"] < 41
    assert [c["id"] for c in cams.covering(session, lon, lat - 200 * m)] == [far.id]
    assert east.id in [c["id"] for c in cams.covering(session, lon + 40 * m, lat - 40 * m)]
