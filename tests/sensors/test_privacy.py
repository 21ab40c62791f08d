"""Private sensors over the real HTTP API (issue 11): the door sensor of an elderly person living alone,
its last reading, its alerts and their messages reach staff only; public sensors stay public."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from spatial.api.main import create_api
from spatial.auth import create_token, principal_for_token
from spatial.db.engine import session_scope
from spatial.maps import mapdata
from spatial.sensors import rules
from tests.district import seed_small_district
from tests.sensors.conftest import at, seed_sensors


@pytest.fixture
def world(committed) -> dict:
    """Committed sensors with DOOR-1 private; an inactivity alert on it and a red alert on WL-1."""
    with session_scope() as s:
        d = seed_small_district(s)
        seed_sensors(s, d)
        s.execute(sa.text("UPDATE sensor SET private = true WHERE code = 'DOOR-1'"))
        d["tokens"] = {role: create_token(s, name=f"t-{role}", role=role)
                       for role in ("channel", "citizen", "dispatcher", "leadership", "admin")}
    return d


@pytest.fixture
def client(world) -> TestClient:
    with TestClient(create_api(background=False)) as c:
        yield c


def _h(world, who: str) -> dict:
    return {"Authorization": f"Bearer {world['tokens'][who]}"}


def test_private_sensors_reach_staff_only(world, client):
    door = [{"sensor": "DOOR-1", "t": at(i).isoformat(), "v": v} for i, v in enumerate([1, 0])]
    water = [{"sensor": "WL-1", "t": at(i).isoformat(), "v": 0.02 * i} for i in range(31)]
    r = client.post("/api/sensors/readings", json={"readings": door + water}, headers=_h(world, "channel"))
    assert r.status_code == 200, r.text
    with session_scope() as s:
        assert rules.check_offline(s, now=at(6 * 60 + 1))["inactivity_raised"] == 1

    def seen(who: str | None) -> dict[str, set]:
        h = _h(world, who) if who else {}
        sensors = {x["code"] for x in client.get("/api/sensors", headers=h).json()}
        doors = {x["code"] for x in client.get("/api/sensors", params={"type": "door"}, headers=h).json()}
        alerts = {a["source_id"] for a in client.get("/api/alerts", params={"state": "all"}, headers=h).json()}
        msgs = client.get("/api/messages", headers=h).json()
        return {"sensors": sensors, "doors": doors, "alerts": alerts,
                "msgs": {m["channel"] for m in msgs if "DOOR-1" in m["text"]},
                "public_msgs": {m["channel"] for m in msgs if "WL-1" in m["text"]}}

    for who in (None, "citizen", "channel"):
        got = seen(who)
        assert got["sensors"] == {"WL-1", "WL-2", "RG-1", "NZ-1"} and got["doors"] == set(), who
        assert got["alerts"] == {"WL-1"} and got["msgs"] == set() and got["public_msgs"] == {"public"}, who
    for who in ("dispatcher", "leadership", "admin"):
        got = seen(who)
        assert "DOOR-1" in got["sensors"] and got["doors"] == {"DOOR-1"}, who
        assert got["alerts"] == {"WL-1", "DOOR-1"} and got["msgs"] == {"staff"}, who  # never the public channel
    door_row = next(x for x in client.get("/api/sensors", headers=_h(world, "dispatcher")).json()
                    if x["code"] == "DOOR-1")
    assert door_row["last_value"] == 0 and door_row["alert_level"] == "orange"
    # the map layer's data
    with session_scope() as s:
        staff = principal_for_token(s, world["tokens"]["dispatcher"])
        citizen = principal_for_token(s, world["tokens"]["citizen"])
        assert "DOOR-1" not in set(mapdata.sensors(s)["code"])
        assert "DOOR-1" not in set(mapdata.sensors(s, viewer=citizen)["code"])
        assert "DOOR-1" in set(mapdata.sensors(s, viewer=staff)["code"])
