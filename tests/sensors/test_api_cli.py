"""HTTP API and CLI of the perception loop, against a committed database."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from spatial.api.main import create_api
from spatial.auth import create_token
from spatial.cli import main as cli
from spatial.db.engine import session_scope
from tests.district import seed_small_district
from tests.sensors.conftest import at, seed_cameras, seed_sensors


@pytest.fixture
def world(committed) -> dict:
    with session_scope() as s:
        d = seed_small_district(s)
        seed_sensors(s, d)
        seed_cameras(s, d)
        d["tokens"] = {
            "channel": create_token(s, name="iot-gateway", role="channel"),
            "citizen": create_token(s, name="alice", role="citizen"),
            "leadership": create_token(s, name="mayor-office", role="leadership"),
            "admin": create_token(s, name="root", role="admin"),
        }
    return d


@pytest.fixture
def client(world) -> TestClient:
    with TestClient(create_api(background=False)) as c:
        yield c


def _h(world, who: str) -> dict:
    return {"Authorization": f"Bearer {world['tokens'][who]}"}


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))


def test_readings_alerts_cameras_messages_over_http(world, client, committed):
    body = {"readings": [{"sensor": "WL-1", "t": at(i).isoformat(), "v": 0.02 * i} for i in range(31)]}
    assert client.post("/api/sensors/readings", json=body).status_code == 401
    assert client.post("/api/sensors/readings", json=body, headers=_h(world, "citizen")).status_code == 403
    bad = {"readings": [*body["readings"][:3], {"sensor": "WL-1", "t": at(40).isoformat(), "v": 3, "unit": "mm/h"}]}
    r = client.post("/api/sensors/readings", json=bad, headers=_h(world, "channel"))
    assert r.status_code == 422 and "cannot be converted" in r.json()["message"]
    assert _count(committed, "sensor_reading") == 0
    r = client.post("/api/sensors/readings", json=body, headers=_h(world, "channel"))
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 31 and r.json()["alerts_raised"] == 1 and r.json()["tickets"] == 1
    r = client.post("/api/sensors/readings", json=body["readings"][:5], headers=_h(world, "channel"))
    assert r.json()["duplicates"] == 5
    sensors = {s["code"]: s for s in client.get("/api/sensors").json()}
    assert sensors["WL-1"]["alert_level"] == "red" and sensors["WL-1"]["last_value"] == pytest.approx(0.6)
    assert sensors["RG-1"]["alert_level"] is None and sensors["RG-1"]["alarm"] == "ok"
    assert sensors["WL-1"]["alarm"] == "red"
    assert [s["code"] for s in client.get("/api/sensors", params={"type": "door"}).json()] == ["DOOR-1"]
    active = client.get("/api/alerts", params={"state": "active"}).json()
    assert [(a["source_id"], a["level"]) for a in active] == [("WL-1", "red")]
    assert active[0]["lon"] == pytest.approx(113.41)
    msgs = client.get("/api/messages").json()
    assert len(msgs) == 3 and "红色预警" in msgs[0]["text"]

    dets = [{"camera": "CAM-1", "t": at(k).isoformat(), "class": "illegal_parking", "confidence": 0.9}
            for k in range(6)]
    assert client.post("/api/cameras/detections", json=dets).status_code == 401
    r = client.post("/api/cameras/detections", json={"detections": dets}, headers=_h(world, "channel"))
    assert r.status_code == 200 and r.json()["by_status"] == {"ticketed": 1, "deduplicated": 5}
    r = client.post("/api/cameras/detections", json=[{**dets[0], "confidence": 3}], headers=_h(world, "channel"))
    assert r.status_code == 422
    anon = client.get("/api/cameras").json()
    assert anon[0]["stream_url"] is None and anon[0]["view_lat"] > anon[0]["lat"]
    assert client.get("/api/cameras", headers=_h(world, "leadership")).json()[0]["stream_url"] == "rtsp://cams/1"
    assert client.get("/api/cameras/frequent", params={"class": "illegal_parking"}).status_code == 401
    fr = client.get("/api/cameras/frequent", params={"class": "illegal_parking", "min_count": 1, "days": 3},
                    headers=_h(world, "leadership"))
    assert fr.status_code == 200 and fr.json()[0]["code"] == "R1"
    hs = client.get("/api/hotspots", params={"weeks": 2, "min_count": 1}, headers=_h(world, "leadership"))
    assert hs.status_code == 200 and isinstance(hs.json(), list)
    assert client.post("/api/sensors/check-offline", headers=_h(world, "channel")).status_code == 403
    assert client.post("/api/sensors/check-offline", headers=_h(world, "admin")).json()["offline_raised"] == 1


def test_cli_import_check_offline_hotspots_frequent(world, committed, tmp_path, capsys):
    good = tmp_path / "readings.csv"
    good.write_text("sensor,t,v,unit\n" + "".join(f"RG-1,{at(i).isoformat()},{10 + 5 * i},mm/h\n"
                                                  for i in range(20)))
    assert cli.main(["sensors", "import", str(good)]) == 0
    assert "imported 20 of 20 readings" in capsys.readouterr().out
    assert _count(committed, "sensor_reading") == 20
    bad = tmp_path / "bad.csv"
    bad.write_text(f"sensor,t,v\nRG-1,{at(30).isoformat()},1\nNOPE,{at(31).isoformat()},2\n")
    assert cli.main(["sensors", "import", str(bad)]) == 2
    assert "unknown sensor" in capsys.readouterr().err
    assert _count(committed, "sensor_reading") == 20
    assert cli.main(["sensors", "import", str(bad), "--skip-invalid"]) == 0
    assert _count(committed, "sensor_reading") == 21
    assert cli.main(["sensors", "import", str(tmp_path / "missing.csv")]) == 2
    assert cli.main(["sensors", "check-offline"]) == 0
    assert '"offline_raised": 1' in capsys.readouterr().out
    assert cli.main(["hotspots", "--weeks", "8"]) == 0
    assert "no hotspots" in capsys.readouterr().out
    assert cli.main(["cameras", "frequent", "--class", "illegal_parking"]) == 0
    assert "no recurring illegal_parking" in capsys.readouterr().out
