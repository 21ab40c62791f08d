"""MQTT end to end on a real Mosquitto broker: readings and detections land in the database."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.models import Alert, CameraDetection, SensorReading, Ticket
from spatial.sensors import mqtt
from tests.district import seed_small_district
from tests.sensors.conftest import at, seed_cameras, seed_sensors

pytestmark = pytest.mark.mqtt


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = mqtt.start_broker(workdir=tmp_path_factory.mktemp("mqtt"))  # fails (never skips) without mosquitto
    yield b
    b.stop()


def _wait(engine, sql: str, expected, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    got = None
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            got = conn.scalar(sa.text(sql))
        if got == expected:
            return got
        time.sleep(0.1)
    return got


def test_parse_message():
    kind, rows = mqtt.parse_message("onemap/sensors/WL-1/readings", b'[{"t": "2026-01-01T00:00:00Z", "v": 1}]')
    assert kind == "readings" and rows == [{"t": "2026-01-01T00:00:00Z", "v": 1, "sensor": "WL-1"}]
    kind, rows = mqtt.parse_message("onemap/cameras/CAM-1/detections", b'{"class": "x"}')
    assert kind == "detections" and rows[0]["camera"] == "CAM-1"
    for topic, body in [("onemap/sensors/WL-1/readings", b"{nope"), ("other/x", b"{}"),
                        ("onemap/sensors/WL-1/readings", b"[1, 2]"), ("onemap/sensors/WL-1/readings", b"[]")]:
        with pytest.raises(ValueError):
            mqtt.parse_message(topic, body)


def test_broker_to_alerts_and_tickets(committed, db_url, broker):
    with Session(committed) as s:
        district = seed_small_district(s)
        seed_sensors(s, district)
        seed_cameras(s, district)
        s.commit()
    sub = mqtt.Subscriber(host=broker.host, port=broker.port, url=db_url, batch_ms=100).start()
    try:
        rising = [{"t": at(i).isoformat(), "v": round(0.02 * i, 2)} for i in range(31)]
        # one list message, then single readings (one in cm), a malformed one, an unknown sensor
        mqtt.publish(broker.host, broker.port, "onemap/sensors/WL-1/readings", rising[:20])
        for r in rising[20:30]:
            mqtt.publish(broker.host, broker.port, "onemap/sensors/WL-1/readings", r)
        mqtt.publish(broker.host, broker.port, "onemap/sensors/WL-1/readings",
                     {"t": rising[30]["t"], "v": 60, "unit": "cm"})
        mqtt.publish(broker.host, broker.port, "onemap/sensors/WL-1/readings", b"not json")
        mqtt.publish(broker.host, broker.port, "onemap/sensors/GHOST/readings", {"t": at(1).isoformat(), "v": 1})
        for k in range(5):
            mqtt.publish(broker.host, broker.port, "onemap/cameras/CAM-1/detections",
                         {"t": at(k).isoformat(), "class": "illegal_parking", "confidence": 0.9})
        assert _wait(committed, "SELECT count(*) FROM sensor_reading", 31) == 31
        assert _wait(committed, "SELECT count(*) FROM camera_detection", 5) == 5
    finally:
        counters = sub.stop()
    assert counters.malformed == 1 and counters.rejected == 1 and counters.inserted == 31
    with Session(committed) as s:
        a = s.scalars(sa.select(Alert).where(Alert.source_id == "WL-1", Alert.rule == "level")).one()
        assert a.state == "active" and a.level == "red"
        assert [h["level"] for h in a.data["history"]] == ["yellow", "orange", "red"]
        assert s.scalar(sa.select(SensorReading.value).where(SensorReading.observed_at == at(30))) == \
            pytest.approx(0.6)
        assert s.scalar(sa.select(sa.func.count()).select_from(Ticket).where(Ticket.channel == "sensor")) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(Ticket).where(Ticket.channel == "video_ai")) == 1
        assert sorted(s.scalars(sa.select(CameraDetection.status))) == ["deduplicated"] * 4 + ["ticketed"]
