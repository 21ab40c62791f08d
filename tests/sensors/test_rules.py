"""Rules: thresholds with hysteresis and minimum duration, rate of rise, offline, inactivity."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from spatial.errors import ValidationError
from spatial.models import Alert, PublishedMessage, RuleState, Sensor, SensorReading, Ticket
from spatial.sensors import readings, rules
from tests.sensors.conftest import at


def _series(code: str, values: list[float], *, start: float = 0, step: float = 1, unit: str | None = None):
    return [{"sensor": code, "t": at(start + i * step).isoformat(), "v": v, **({"unit": unit} if unit else {})}
            for i, v in enumerate(values)]


def test_target_level_hysteresis_and_direction():
    cfg = rules.config("water_level", {"yellow": 0.15, "orange": 0.3, "red": 0.5, "hysteresis": 0.05})
    assert rules.target_level(cfg, 0.14, None) is None
    assert rules.target_level(cfg, 0.15, None) == "yellow"
    assert rules.target_level(cfg, 0.31, None) == "orange"
    assert rules.target_level(cfg, 0.27, "orange") == "orange"  # within hysteresis: held
    assert rules.target_level(cfg, 0.24, "orange") == "yellow"
    assert rules.target_level(cfg, 0.11, "yellow") == "yellow"
    assert rules.target_level(cfg, 0.09, "yellow") is None
    below = rules.config("water_quality", {"yellow": 5, "orange": 3, "red": 2, "direction": "below",
                                           "hysteresis": 0.5})
    assert rules.target_level(below, 6, None) is None
    assert rules.target_level(below, 2.9, None) == "orange"
    assert rules.target_level(below, 3.3, "orange") == "orange"
    assert rules.target_level(below, 3.6, "orange") == "yellow"


def test_convert_units():
    assert rules.convert(12, "cm", "m") == pytest.approx(0.12)
    assert rules.convert(1, "mm/min", "mm/h") == pytest.approx(60)
    with pytest.raises(ValidationError, match="cannot be converted"):
        rules.convert(1, "mm/h", "m")
    with pytest.raises(ValidationError, match="Unknown unit"):
        rules.convert(1, "furlong", "m")


def test_rising_water_fires_yellow_then_red_once_each_and_clears(session, sensors):
    # 0 .. 0.60 m in 0.02 m/min steps, held at the top, oscillating around 0.5 within the hysteresis, then falling
    rise = [round(0.02 * i, 2) for i in range(31)]
    hold = [0.60, 0.49, 0.52, 0.47, 0.51, 0.48]
    fall = [0.40, 0.30, 0.20, 0.12, 0.08, 0.05]
    values = rise + hold + fall
    batch = _series("WL-1", values)
    # deliver in three batches, the middle one shuffled (out of order within a batch is fine)
    r1 = readings.ingest_readings(session, batch[:12])
    mid = batch[12:30]
    r2 = readings.ingest_readings(session, mid[::-1])
    r3 = readings.ingest_readings(session, batch[30:])
    assert r1["inserted"] + r2["inserted"] + r3["inserted"] == len(values)
    alerts = session.scalars(sa.select(Alert).where(Alert.source_id == "WL-1")).all()
    assert len(alerts) == 1
    a = alerts[0]
    levels = [h["level"] for h in a.data["history"]]
    # escalations are announced once each; on the way down the level follows (hysteresis), then clears
    assert levels == ["yellow", "orange", "red", "orange", "yellow", None]
    assert a.state == "cleared" and a.level == "yellow"
    assert a.peak_value == pytest.approx(0.60)
    # yellow needs 0.15 m (t=7.5 -> reading 8) held for 120 s -> fires at minute 10
    first = a.data["history"][0]
    assert first["at"] == at(10).isoformat()
    assert a.started_at == at(10)
    assert a.cleared_at == at(len(rise) + len(hold) + 4)  # 0.08 < 0.15 - 0.05
    msgs = session.scalars(sa.select(PublishedMessage).where(PublishedMessage.alert_id == a.id)
                           .order_by(PublishedMessage.id)).all()
    assert [m.level for m in msgs] == ["yellow", "orange", "red", "yellow"]
    assert "红色预警" in msgs[2].text and "red warning" in msgs[2].text
    assert "解除" in msgs[3].text
    # exactly one ticket (at orange), routed like any other: channel sensor, grid located
    t = session.get(Ticket, a.ticket_id)
    assert t is not None and t.channel == "sensor" and t.external_id == f"alert:{a.id}"
    assert t.grid_id == sensors["wl"].grid_id
    assert session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(Ticket.channel == "sensor")) == 1
    s = session.get(Sensor, sensors["wl"].id)
    assert s.last_value == pytest.approx(0.05)
    # a new rise opens a new alert (the old one stays cleared)
    readings.ingest_readings(session, _series("WL-1", [0.2, 0.2, 0.2, 0.2], start=60))
    active = session.scalars(sa.select(Alert).where(Alert.source_id == "WL-1", Alert.state == "active")).all()
    assert len(active) == 1 and active[0].id != a.id and active[0].level == "yellow"


def test_duplicates_out_of_order_out_of_range_and_units(session, sensors):
    r = readings.ingest_readings(session, _series("WL-1", [0.01, 0.02, 0.03], start=10))
    assert r["inserted"] == 3
    again = readings.ingest_readings(session, _series("WL-1", [0.01, 0.02, 0.03], start=10))
    assert again["inserted"] == 0 and again["duplicates"] == 3
    late = readings.ingest_readings(session, _series("WL-1", [0.9], start=0))
    assert late["inserted"] == 1 and late["late"] == 1 and late["alerts_raised"] == 0
    s = session.get(Sensor, sensors["wl"].id)
    assert s.last_value == pytest.approx(0.03) and s.last_reading_at == at(12)
    oor = readings.ingest_readings(session, _series("WL-1", [50.0, 50.0, 50.0, 50.0], start=20))
    assert oor["out_of_range"] == 4 and oor["alerts_raised"] == 0
    q = session.execute(sa.select(SensorReading.quality).where(SensorReading.sensor_id == s.id,
                                                                SensorReading.observed_at == at(20))).scalar()
    assert q == "out_of_range"
    assert s.last_value == pytest.approx(0.03) and s.last_reading_at == at(23)
    cm = readings.ingest_readings(session, _series("WL-1", [12.0], start=30, unit="cm"))
    assert cm["inserted"] == 1
    assert session.get(Sensor, s.id).last_value == pytest.approx(0.12)
    n = session.scalar(sa.select(sa.func.count()).select_from(SensorReading))
    with pytest.raises(ValidationError, match="cannot be converted"):
        readings.ingest_readings(session, [*_series("WL-1", [0.1], start=40),
                                           *_series("WL-1", [3.0], start=41, unit="mm/h")])
    with pytest.raises(ValidationError, match="unknown sensor"):
        readings.ingest_readings(session, _series("NOPE", [0.1], start=40))
    with pytest.raises(ValidationError, match="future"):
        readings.ingest_readings(session, [{"sensor": "WL-1", "t": at(60 * 25).isoformat(), "v": 1}])
    assert session.scalar(sa.select(sa.func.count()).select_from(SensorReading)) == n
    soft = readings.ingest_readings(session, [*_series("WL-1", [0.1], start=40),
                                              {"sensor": "WL-1", "t": "yesterday", "v": 1},
                                              {"sensor": "WL-1", "t": at(42).isoformat(), "v": "x"}],
                                    strict=False)
    assert soft["inserted"] == 1 and [r["index"] for r in soft["rejected"]] == [1, 2]


def test_naive_times_are_local_time(session, sensors):
    r = readings.ingest_readings(session, [{"sensor_id": sensors["rain"].id, "t": "2026-07-01 08:00:00",
                                            "v": 3.0}], now=at(0) + timedelta(days=3650))
    assert r["inserted"] == 1
    t = session.scalar(sa.select(SensorReading.observed_at).where(SensorReading.sensor_id == sensors["rain"].id))
    assert t.isoformat() == "2026-07-01T00:00:00+00:00"


def test_rate_of_rise_raises_ticketed_alert_and_clears(session, sensors):
    # +0.02 m every 2 min = 0.6 m/h > 0.3 m/h; then flat
    vals = [1.0 + 0.02 * i for i in range(16)] + [1.3] * 20
    out = readings.ingest_readings(session, _series("WL-2", vals, step=2))
    assert out["alerts_raised"] == 1 and out["alerts_cleared"] == 1 and out["tickets"] == 1
    a = session.scalars(sa.select(Alert).where(Alert.source_id == "WL-2")).one()
    assert a.rule == "rate_of_rise" and a.level == "orange" and a.state == "cleared"
    assert a.peak_value == pytest.approx(0.6, rel=1e-6)
    # fires once the window holds >= 10 min of data (t = 10 min)
    assert a.started_at == at(10)


def test_offline_detection_and_recovery(session, sensors):
    readings.ingest_readings(session, _series("RG-1", [1.0, 2.0], start=0))
    r = rules.check_offline(session, now=at(1 + 29))
    assert r["offline_raised"] == 0
    r = rules.check_offline(session, now=at(1 + 31))
    assert r["offline_raised"] == 1
    assert session.get(Sensor, sensors["rain"].id).status == "offline"
    assert rules.check_offline(session, now=at(40))["offline_raised"] == 0  # still one alert
    a = session.scalars(sa.select(Alert).where(Alert.rule == "offline")).one()
    assert a.level == "offline" and a.state == "active" and a.ticket_id is None
    back = readings.ingest_readings(session, _series("RG-1", [0.5], start=45), now=at(45))
    assert back["alerts_cleared"] == 1
    session.refresh(a)
    assert a.state == "cleared" and session.get(Sensor, sensors["rain"].id).status == "online"


def test_door_inactivity_for_elderly_living_alone(session, sensors):
    readings.ingest_readings(session, _series("DOOR-1", [1, 0], start=0))
    assert rules.check_offline(session, now=at(5 * 60))["inactivity_raised"] == 0
    assert rules.check_offline(session, now=at(6 * 60 + 1))["inactivity_raised"] == 1
    assert rules.check_offline(session, now=at(6 * 60 + 30))["inactivity_raised"] == 0
    a = session.scalars(sa.select(Alert).where(Alert.rule == "inactivity")).one()
    assert a.state == "active" and "no door opening" in a.message
    readings.ingest_readings(session, _series("DOOR-1", [1], start=7 * 60))
    session.refresh(a)
    assert a.state == "cleared"
    st = session.get(RuleState, (sensors["door"].id, "inactivity"))
    assert st.last_event_at == at(7 * 60)


def test_noise_ticket_only_at_ticket_level(session, sensors):
    readings.ingest_readings(session, _series("NZ-1", [72, 73, 60], start=0))
    assert session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
    out = readings.ingest_readings(session, _series("NZ-1", [85], start=10))
    assert out["tickets"] == 1
    t = session.scalars(sa.select(Ticket)).one()
    assert t.category.code == "noise"
