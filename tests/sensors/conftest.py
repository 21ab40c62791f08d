"""Fixtures for the perception loop: sensors and cameras in the small test district.

The district (tests/district.py) spans 113.40-113.48 E, 23.08-23.16 N; every
sensor and camera here sits inside it. Times are built around ``T0`` (now,
rounded to the minute) so that ticket intake accepts them as recent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.models import Camera, Road, Sensor

T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)


def at(minutes: float) -> datetime:
    """T0 + ``minutes``."""
    return T0 + timedelta(minutes=minutes)


WATER_THRESHOLDS = {"yellow": 0.15, "orange": 0.30, "red": 0.50, "hysteresis": 0.05, "min_duration_s": 120,
                    "rate_of_rise_per_h": None, "offline_after_s": 1800, "valid_min": -1, "valid_max": 5,
                    "category": "waterlogging", "ticket_level": "orange"}


def add_sensor(session: Session, code: str, sensor_type: str, unit: str, lon: float, lat: float,
               thresholds: dict | None = None, grid_id: int | None = None) -> Sensor:
    s = Sensor(code=code, sensor_type=sensor_type, name=f"Station {code}", unit=unit,
               geom=f"SRID=4326;POINT({lon} {lat})", thresholds=thresholds or {}, grid_id=grid_id)
    session.add(s)
    session.flush()
    return s


def seed_sensors(session: Session, district: dict) -> dict[str, Sensor]:
    g = district["grids"]
    return {
        "wl": add_sensor(session, "WL-1", "water_level", "m", 113.41, 23.09, WATER_THRESHOLDS, g["G00"]),
        "wl_rate": add_sensor(session, "WL-2", "water_level", "m", 113.45, 23.13,
                              {**WATER_THRESHOLDS, "rate_of_rise_per_h": 0.3, "yellow": 5, "orange": 6,
                               "red": 7}, g["G22"]),
        "rain": add_sensor(session, "RG-1", "rain_gauge", "mm/h", 113.43, 23.11, None, g["G11"]),
        "door": add_sensor(session, "DOOR-1", "door", "0/1", 113.47, 23.15,
                           {"inactivity_after_s": 6 * 3600, "offline_after_s": 86400}, g["G33"]),
        "noise": add_sensor(session, "NZ-1", "noise", "dB", 113.42, 23.14, {"min_duration_s": 0}, g["G30"]),
    }


@pytest.fixture
def sensors(session: Session, district: dict) -> dict[str, Sensor]:
    return seed_sensors(session, district)


def seed_cameras(session: Session, district: dict) -> dict[str, Camera]:
    road = Road(code="R1", name="黄埔东路", road_class="primary",
                geom="SRID=4326;MULTILINESTRING((113.40 23.1003, 113.48 23.1003))")
    road2 = Road(code="R2", name="Kexue Avenue", road_class="primary",
                 geom="SRID=4326;MULTILINESTRING((113.45 23.08, 113.45 23.16))")
    session.add_all([road, road2])
    # CAM-1 at 23.1000 looking north (0 deg), range 80 m -> view point 40 m north (on R1, ~33 m north)
    c1 = Camera(code="CAM-1", name="Gate 1", geom="SRID=4326;POINT(113.41 23.1000)", heading_deg=0.0,
                fov_deg=60, range_m=80, stream_url="rtsp://cams/1", grid_id=district["grids"]["G00"])
    # CAM-2 east of R2 looking west (270 deg): view point 40 m west
    c2 = Camera(code="CAM-2", name="Gate 2", geom="SRID=4326;POINT(113.4505 23.13)", heading_deg=270.0,
                fov_deg=90, range_m=80, stream_url="rtsp://cams/2", grid_id=district["grids"]["G22"])
    session.add_all([c1, c2])
    session.flush()
    session.execute(sa.text("SELECT 1"))
    return {"c1": c1, "c2": c2, "r1": road, "r2": road2}


@pytest.fixture
def cameras(session: Session, district: dict) -> dict:
    return seed_cameras(session, district)
