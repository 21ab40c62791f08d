"""HTTP API and CLI of emergency command against committed data (each request is its own transaction)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from spatial.api.main import create_api
from spatial.auth import create_token
from spatial.cli.main import main
from spatial.incidents.catalog import install_defaults
from tests.dispatch.conftest import add_ticket, add_worker
from tests.district import seed_small_district


@pytest.fixture
def api(committed):
    now = datetime.now(UTC)
    with Session(committed) as s:
        d = seed_small_district(s)
        install_defaults(s)
        dep = d["departments"]
        workers = {code: add_worker(s, dept=dep[code], lon=113.441, lat=23.12, now=now, skills=skills)
                   for code, skills in (("water", ("drainage",)), ("traffic", ("traffic",)), ("urban", ()))}
        t = add_ticket(s, category=d["categories"]["waterlogging"], now=now)
        tok = {"dispatcher": create_token(s, name="desk", role="dispatcher"),
               "leadership": create_token(s, name="chief", role="leadership"),
               "water": create_token(s, name="water desk", role="handler", department_id=dep["water"]),
               "citizen": create_token(s, name="app", role="citizen")}
        s.commit()
    return {"client": TestClient(create_api(background=False)), "tok": tok, "ticket": t, "workers": workers,
            "district": d, "now": now}


def h(token):
    return {"Authorization": f"Bearer {token}"}


def test_declare_dispatch_close_over_http(api):
    c, tok, t = api["client"], api["tok"], api["ticket"]
    r = c.post("/api/incidents", json={"type": "gas_leak", "source": "ticket", "source_id": t},
               headers=h(tok["citizen"]))
    assert r.status_code == 403
    r = c.post("/api/incidents", json={"type": "gas_leak", "source": "ticket", "source_id": t},
               headers=h(tok["dispatcher"]))
    assert r.status_code == 200, r.text
    inc = r.json()
    assert inc["status"] == "open" and inc["zone"]["type"] == "MultiPolygon" and inc["impact"]["grids"] >= 1
    r = c.post("/api/incidents", json={"type": "gas_leak", "source": "ticket", "source_id": t},
               headers=h(tok["dispatcher"]))
    assert r.status_code == 409 and str(inc["id"]) in r.json()["message"]

    r = c.get(f"/api/incidents/{inc['id']}/resources", headers=h(tok["dispatcher"]))
    assert r.status_code == 200, r.text
    by_dept = {d["department"]: d for d in r.json()["workers"]}
    assert by_dept["traffic"]["workers"][0]["worker_id"] == api["workers"]["traffic"]
    assert by_dept["safety"]["workers"] == []              # the template's department that this district lacks

    r = c.post(f"/api/incidents/{inc['id']}/dispatch", json={}, headers=h(tok["dispatcher"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(x["department"] for x in body["tasks"]) == ["traffic", "urban"]
    assert body["skipped"] == [{"department": "safety", "title": "Isolate the leak and evacuate",
                                "reason": "no such department"}]
    tasks = {x["department"]: x["id"] for x in body["tasks"]}
    r = c.post(f"/api/incident-tasks/{tasks['traffic']}", json={"status": "done", "note": "ok"},
               headers=h(tok["water"]))
    assert r.status_code == 403                              # another department's task
    r = c.post(f"/api/incident-tasks/{tasks['traffic']}", json={"status": "done"}, headers=h(tok["dispatcher"]))
    assert r.status_code == 422 and "note" in r.json()["message"]
    for tid in tasks.values():
        r = c.post(f"/api/incident-tasks/{tid}", json={"status": "done", "note": "done"},
                   headers=h(tok["dispatcher"]))
        assert r.status_code == 200, r.text
    assert r.json()["incident_closed"] is True
    r = c.get("/api/incidents?status=all", headers=h(tok["leadership"]))
    assert [(i["id"], i["status"], i["progress"]) for i in r.json()] == [(inc["id"], "closed", 1.0)]


def test_bad_input_is_a_4xx(api):
    c, tok = api["client"], api["tok"]
    d = h(tok["dispatcher"])
    assert c.post("/api/incidents", json={"type": "fire", "source": "drawn"}, headers=d).status_code == 422
    assert c.post("/api/incidents", json={"type": "nope", "source": "ticket", "source_id": 1},
                  headers=d).status_code == 422
    assert c.post("/api/incidents", json={"type": "fire", "source": "ticket", "source_id": 999999},
                  headers=d).status_code == 404
    r = c.post("/api/incidents", json={"type": "fire", "source": "drawn",
                                       "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [2, 2]]]}}, headers=d)
    assert r.status_code == 422
    assert c.post("/api/incidents", json={"type": "fire", "source": "drawn", "radius_m": -5,
                                          "geometry": {"type": "Point", "coordinates": [113.44, 23.12]}},
                  headers=d).status_code == 422
    assert c.get("/api/incidents/0", headers=d).status_code == 422
    assert c.get("/api/incidents/77", headers=d).status_code == 404
    r = c.post("/api/impact", json={"geometry": {"type": "Point", "coordinates": [113.44, 23.12]}, "radius_m": 300},
               headers=d)
    assert r.status_code == 200 and r.json()["grids"]["count"] >= 1 and r.json()["zone"]["type"] == "MultiPolygon"
    r = c.post("/api/geofences", json={"code": "g", "name": "g", "geometry": {"type": "Point",
                                                                             "coordinates": [113.44, 23.12]}},
               headers=d)
    assert r.status_code == 422


def test_event_mode_tags_dashboard_and_export(api, committed, tmp_path, capsys):
    c, tok, now = api["client"], api["tok"], api["now"]
    r = c.post("/api/events", json={"code": "TY-2026-07", "name": "Typhoon Wipha", "kind": "typhoon",
                                    "starts_at": (now - timedelta(hours=1)).isoformat()},
               headers=h(tok["leadership"]))
    assert r.status_code == 200, r.text
    ev = r.json()
    r = c.post("/api/incidents", json={"type": "waterlogging", "source": "ticket", "source_id": api["ticket"],
                                       "radius_m": 200, "zone_kind": "buffer"}, headers=h(tok["dispatcher"]))
    assert r.status_code == 200 and r.json()["event_id"] == ev["id"]
    r = c.get(f"/api/events/{ev['id']}/dashboard", headers=h(tok["leadership"]))
    dash = r.json()
    assert dash["tickets"]["total"] == 1 and dash["incidents"]["total"] == 1
    assert dash["tickets"]["by_category"][0]["key"] == "waterlogging"
    r = c.get(f"/api/events/{ev['id']}/export", headers=h(tok["leadership"]))
    fc = r.json()
    assert r.headers["content-type"].startswith("application/geo+json")
    assert sorted(f["properties"]["layer"] for f in fc["features"]) == ["incidents", "tickets"]
    assert c.post(f"/api/events/{ev['id']}/end", json={}, headers=h(tok["leadership"])).status_code == 200
    assert c.post(f"/api/events/{ev['id']}/end", json={}, headers=h(tok["leadership"])).status_code == 409

    out = tmp_path / "after_action.gpkg"
    assert main(["incident", "event", "export", str(ev["id"]), str(out)]) == 0
    assert len(gpd.read_file(out, layer="tickets")) == 1 and len(gpd.read_file(out, layer="incidents")) == 1
    capsys.readouterr()
    assert main(["incident", "list", "--all"]) == 0
    assert "waterlogging" in capsys.readouterr().out
    assert main(["incident", "types"]) == 0
    assert "isochrone 180 s" in capsys.readouterr().out
    assert main(["incident", "declare", "fire", "--geojson", json.dumps({"type": "Point",
                                                                          "coordinates": [0, 0]})]) == 2
