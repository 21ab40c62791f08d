"""Geofences: one alert on entering, cleared on leaving; dwell; night-time rules on camera detections."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from spatial.errors import ValidationError
from spatial.incidents import geofences
from spatial.sensors import cameras
from spatial.workers import positions
from tests.incidents.conftest import NOW

FENCE = {"type": "Polygon", "coordinates": [[[113.449, 23.129], [113.451, 23.129], [113.451, 23.131],
                                             [113.449, 23.131], [113.449, 23.129]]]}


def _alerts(session, state="active"):
    return session.execute(sa.text(
        "SELECT rule, source_id, state, message FROM alert WHERE source_kind = 'geofence' AND state = :s "
        "ORDER BY id"), {"s": state}).all()


def _fix(session, wid, lon, at):
    return positions.ingest_fixes(session, [{"worker_id": wid, "fixed_at": at, "lon": lon, "lat": 23.13}], now=at)


def test_worker_enter_fires_once_and_leave_clears(session, district, worker_factory):
    geofences.save_geofence(session, "river", name="Riverbank", geometry=FENCE,
                            rules={"subjects": ["worker"], "on": ["enter", "dwell"], "dwell_s": 300})
    w = worker_factory("urban", lon=113.447, lat=23.13, now=NOW - timedelta(minutes=1))
    assert _fix(session, w, 113.4472, NOW).get("alert_changes", 0) == 0    # outside
    assert _alerts(session) == []
    assert _fix(session, w, 113.4495, NOW + timedelta(minutes=1))["alert_changes"] == 1   # enters
    (a,) = _alerts(session)
    assert a.rule == "geofence_enter" and "entered geofence Riverbank" in a.message
    _fix(session, w, 113.4500, NOW + timedelta(minutes=2))                   # still inside: nothing new
    _fix(session, w, 113.4502, NOW + timedelta(minutes=3))
    assert len(_alerts(session)) == 1
    # 5 minutes inside: one dwell alert (and only one)
    _fix(session, w, 113.4503, NOW + timedelta(minutes=6, seconds=30))
    _fix(session, w, 113.4504, NOW + timedelta(minutes=7))
    assert sorted(r.rule for r in _alerts(session)) == ["geofence_dwell", "geofence_enter"]
    _fix(session, w, 113.4530, NOW + timedelta(minutes=8))                   # leaves
    assert _alerts(session) == []
    assert sorted(r.rule for r in _alerts(session, "cleared")) == ["geofence_dwell", "geofence_enter"]
    # entering again is a new alert
    _fix(session, w, 113.4505, NOW + timedelta(minutes=9))
    assert [r.rule for r in _alerts(session)] == ["geofence_enter"]
    assert geofences.list_geofences(session)[0]["inside_now"] == 1


def test_person_on_the_riverbank_at_night(session, district):
    geofences.save_geofence(session, "bank", name="Riverbank", geometry=FENCE, level="red",
                            rules={"subjects": ["detection"], "classes": ["person"], "hours": "20:00-06:00",
                                   "clear_after_s": 600})
    cameras.register_camera(session, "CAM-R", name="River cam", lon=113.45, lat=23.1295, heading_deg=0.0,
                            range_m=80.0)
    day = NOW                               # 10:00 local: outside the fence's hours
    night = NOW + timedelta(hours=12)       # 22:00 local

    def detect(cls, at, n):
        return cameras.ingest_detection(session, {"camera": "CAM-R", "class": cls, "confidence": 0.9,
                                                  "t": at.isoformat(), "external_id": f"e{n}"}, now=at)

    detect("person", day, 1)
    assert _alerts(session) == []
    geofences.sweep(session, now=day + timedelta(hours=1))                  # the day-time presence ends quietly
    detect("illegal_parking", night, 2)                                       # another class: ignored
    assert _alerts(session) == []
    detect("person", night, 3)
    detect("person", night + timedelta(minutes=2), 4)
    (a,) = _alerts(session)
    assert a.rule == "geofence_enter" and "person at camera CAM-R" in a.message
    # nobody seen for 10 minutes: the presence ends and the alert clears
    assert geofences.sweep(session, now=night + timedelta(minutes=5)) == {"left": 0, "dwell_alerts": 0}
    assert geofences.sweep(session, now=night + timedelta(minutes=13)) == {"left": 1, "dwell_alerts": 0}
    assert _alerts(session) == []


def test_bad_rules_are_refused(session, district):
    with pytest.raises(ValidationError, match="hours must look like"):
        geofences.save_geofence(session, "x", name="x", geometry=FENCE, rules={"hours": "night"})
    with pytest.raises(ValidationError, match="on must be a list"):
        geofences.save_geofence(session, "x", name="x", geometry=FENCE, rules={"on": ["explode"]})
    with pytest.raises(ValidationError, match="a geofence is a polygon"):
        geofences.save_geofence(session, "x", name="x", geometry={"type": "Point", "coordinates": [113.45, 23.13]})
