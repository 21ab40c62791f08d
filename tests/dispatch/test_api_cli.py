"""HTTP API and CLI for dispatch, against committed data (each request is its own transaction)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from spatial.api.main import create_api
from spatial.auth import create_token
from spatial.cli.main import main
from tests.dispatch.conftest import add_ticket, add_worker
from tests.district import seed_small_district


@pytest.fixture
def api(committed):
    """A client, the district, two workers, a ticket and tokens per role (live clock)."""
    now = datetime.now(UTC)
    with Session(committed) as s:
        d = seed_small_district(s)
        urban, water = d["departments"]["urban"], d["departments"]["water"]
        w1 = add_worker(s, dept=urban, lon=113.441, lat=23.12, skills=("road_repair",), now=now)
        w2 = add_worker(s, dept=urban, lon=113.45, lat=23.13, skills=("road_repair",), now=now)
        t = add_ticket(s, category=d["categories"]["pothole"], now=now)
        tok = {
            "dispatcher": create_token(s, name="desk", role="dispatcher"),
            "worker": create_token(s, name="w1 phone", role="grid_worker", worker_id=w1),
            "water": create_token(s, name="water handler", role="handler", department_id=water),
            "citizen": create_token(s, name="app", role="citizen"),
        }
        s.commit()
    client = TestClient(create_api(background=False))
    return {"client": client, "tok": tok, "w1": w1, "w2": w2, "ticket": t, "district": d, "now": now}


def h(token):
    return {"Authorization": f"Bearer {token}"}


def test_candidates_then_assign_then_conflict(api):
    c, tok, t = api["client"], api["tok"], api["ticket"]
    r = c.get(f"/api/tickets/{t}/candidates?k=3", headers=h(tok["dispatcher"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["worker_id"] for x in body["candidates"]] == [api["w1"], api["w2"]]
    assert body["candidates"][0]["reason"].startswith("102 m away") and "straight-line" in body["message"]

    r = c.post(f"/api/tickets/{t}/assign", json={"worker_id": api["w2"]}, headers=h(tok["dispatcher"]))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"
    r = c.post(f"/api/tickets/{t}/assign", json={"worker_id": api["w1"]}, headers=h(tok["dispatcher"]))
    assert r.status_code == 409 and r.json()["error"] == "conflict"


def test_empty_candidates_explain_why(api, committed):
    c, tok, d = api["client"], api["tok"], api["district"]
    with Session(committed) as s:
        t = add_ticket(s, category=d["categories"]["noise"], now=api["now"])
        add_worker(s, dept=d["departments"]["env"], age_s=3600, now=api["now"])
        s.commit()
    r = c.get(f"/api/tickets/{t}/candidates", headers=h(tok["dispatcher"]))
    assert r.status_code == 200
    body = r.json()
    assert body["candidates"] == [] and body["availability"]["stale"] == 1
    assert body["message"].startswith("No available worker in Ecology and Environment Bureau: 1 on duty, 1 with")


def test_roles_and_scopes(api):
    c, tok, t = api["client"], api["tok"], api["ticket"]
    assert c.get(f"/api/tickets/{t}/candidates").status_code == 401
    assert c.get(f"/api/tickets/{t}/candidates", headers=h(tok["citizen"])).status_code == 403
    assert c.get(f"/api/tickets/{t}/candidates", headers=h(tok["water"])).status_code == 403  # other dept
    assert c.post(f"/api/tickets/{t}/assign", json={"worker_id": api["w1"]},
                  headers=h(tok["worker"])).status_code == 403
    assert c.get("/api/tickets/999999/candidates", headers=h(tok["dispatcher"])).status_code == 404
    assert c.get(f"/api/tickets/{t}/candidates?k=0", headers=h(tok["dispatcher"])).status_code == 422
    assert c.get("/api/workers", headers=h(tok["worker"])).status_code == 403
    assert c.get("/api/workers", headers=h(tok["water"])).json() == []  # handler: own department only


def test_positions_batch_and_worker_map(api):
    c, tok, w1, w2 = api["client"], api["tok"], api["w1"], api["w2"]
    at = (api["now"] - timedelta(seconds=5)).isoformat()
    r = c.post("/api/workers/positions", headers=h(tok["worker"]),
               json={"fixes": [{"fixed_at": at, "lon": 113.4412, "lat": 23.1201, "accuracy_m": 6}]})
    assert r.status_code == 200, r.text
    assert r.json()["trusted"] == 1 and r.json()["workers_moved"] == 1
    # a grid worker cannot post for a colleague; nothing is written
    r = c.post("/api/workers/positions", headers=h(tok["worker"]),
               json={"fixes": [{"worker_id": w2, "fixed_at": at, "lon": 113.44, "lat": 23.12}]})
    assert r.status_code == 403
    r = c.post("/api/workers/positions", headers=h(tok["dispatcher"]),
               json={"fixes": [{"worker_id": w2, "fixed_at": "2026-01-01T00:00:00", "lon": 113.44, "lat": 23.12}]})
    assert r.status_code == 422  # naive time
    rows = {w["id"]: w for w in c.get("/api/workers", headers=h(tok["dispatcher"])).json()}
    assert rows[w1]["lon"] == pytest.approx(113.4412) and 0 <= rows[w1]["fix_age_s"] < 60
    assert rows[w1]["department"] == "urban" and rows[w1]["workload"] == 0

    assert c.post(f"/api/workers/{w1}/duty", json={"on_duty": False}, headers=h(tok["worker"])).json() == {
        "worker_id": w1, "on_duty": False}
    assert c.post(f"/api/workers/{w2}/duty", json={"on_duty": False}, headers=h(tok["worker"])).status_code == 403
    on = c.get("/api/workers?on_duty=true", headers=h(tok["dispatcher"])).json()
    assert [w["id"] for w in on] == [w2]
    box = c.get("/api/workers?bbox=113.445,23.125,113.455,23.135", headers=h(tok["dispatcher"])).json()
    assert [w["id"] for w in box] == [w2]
    assert c.get("/api/workers?bbox=1,2,3", headers=h(tok["dispatcher"])).status_code == 422


def test_cli_candidates_assign_prune(api, capsys):
    t, w1 = api["ticket"], api["w1"]
    assert main(["dispatch", "candidates", str(t), "-k", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["worker_id"] for c in out["candidates"]] == [w1]
    assert main(["dispatch", "candidates", str(t)]) == 0
    assert "m away" in capsys.readouterr().out
    assert main(["dispatch", "assign", str(t), str(w1)]) == 0
    assert "dispatched" in capsys.readouterr().out
    assert main(["dispatch", "assign", str(t), str(w1)]) == 2
    assert "already dispatched" in capsys.readouterr().err
    assert main(["positions", "prune", "--days", "30"]) == 0
    assert "deleted 0" in capsys.readouterr().out
