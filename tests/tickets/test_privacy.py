"""Personal data over the real HTTP API on PostGIS (issue 11): sensitive tickets, reporter contact.

An ``elderly_help`` ticket (a sensitive category) sits at a distinctive point
with an address, a description and a photo; none of them, nor its coordinates,
may reach an anonymous caller, a citizen who did not report it, Open311 (JSON
and XML) or the location-revealing map data, in either ``ONEMAP_SENSITIVE_PUBLIC``
mode. Staff see it. Reporter phones follow the department rule.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from spatial.auth import create_token, principal_for_token
from spatial.db.engine import session_scope
from spatial.maps import mapdata
from spatial.models import Category
from spatial.settings import get_settings
from tests.tickets.conftest import auth

LON, LAT = 113.4567, 23.1234  # distinctive digits: any leak of the location shows up in the body text
ELDERLY = {"category": "elderly_help", "lon": LON, "lat": LAT, "channel": "hotline", "external_id": "12345-E1",
           "address": "Room 301, Building 5, Kexue Lane", "description": "Lives alone, fell in the kitchen",
           "photo_urls": ["https://img.example.org/kitchen.jpg"], "reporter_name": "Neighbour Chen",
           "reporter_phone": "13911112222"}
SECRETS = ("113.4567", "23.1234", "Room 301", "Lives alone", "kitchen.jpg", "13911112222", "Neighbour Chen")


@pytest.fixture
def sensitive_world(world) -> dict:
    """The tickets world plus a sensitive category (``elderly_help``, urban) and a second channel."""
    with session_scope() as s:
        world["tokens"]["channel2"] = create_token(s, name="video-ai", role="channel")
        s.add(Category(code="elderly_help", major_code="care", major_name="Care", name="Elderly help",
                       department_id=world["departments"]["urban"], accept_limit=1, accept_unit="hours",
                       resolve_limit=1, resolve_unit="calendar_days", sensitive=True))
    return world


@pytest.fixture
def mode(monkeypatch):
    """Set ``ONEMAP_SENSITIVE_PUBLIC`` for the test."""
    def set_mode(value: str) -> None:
        monkeypatch.setenv("ONEMAP_SENSITIVE_PUBLIC", value)
        get_settings.cache_clear()
    yield set_mode
    monkeypatch.delenv("ONEMAP_SENSITIVE_PUBLIC", raising=False)
    get_settings.cache_clear()


def _create(client, token, body) -> int:
    r = client.post("/api/tickets", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["ticket"]["id"]


def _public_bodies(client, tid: int, headers: dict) -> dict[str, str]:
    """Every public read that could carry the ticket, as text."""
    box = f"{LON - 0.001},{LAT - 0.001},{LON + 0.001},{LAT + 0.001}"
    out = {}
    for name, url in (("list", "/api/tickets"), ("bbox", f"/api/tickets?bbox={box}"),
                      ("one", f"/api/tickets/{tid}"), ("o311", "/open311/v2/requests.json"),
                      ("o311x", "/open311/v2/requests.xml"), ("o311box", f"/open311/v2/requests.json?bbox={box}"),
                      ("o311one", f"/open311/v2/requests/{tid}.json"),
                      ("o311onex", f"/open311/v2/requests/{tid}.xml"),
                      ("kpis", "/api/map/kpis"), ("grids", "/api/map/grids")):
        r = client.get(url, headers=headers)
        assert r.status_code in (200, 404), (name, r.text)
        out[name] = (r.status_code, r.text)
    return out


def test_sensitive_tickets_are_omitted_for_the_public(client, sensitive_world, mode):
    mode("omit")
    tk = sensitive_world["tokens"]
    tid = _create(client, tk["channel"], ELDERLY)
    pothole = _create(client, tk["channel"], {**ELDERLY, "category": "pothole", "external_id": "12345-P1",
                                              "lon": 113.415, "lat": 23.095, "address": None, "photo_urls": [],
                                              "description": "Pothole", "reporter_phone": None,
                                              "reporter_name": None})
    for who in (None, "citizen", "channel2"):
        headers = auth(tk[who]) if who else {}
        bodies = _public_bodies(client, tid, headers)
        for name, (_, text) in bodies.items():
            assert not any(s in text for s in SECRETS), (who, name, text[:300])
        assert bodies["one"][0] == 404 and bodies["o311one"][0] == 404 and bodies["o311onex"][0] == 404
        items = client.get("/api/tickets", headers=headers).json()["items"]
        assert [t["id"] for t in items] == [pothole]
        xml = ET.fromstring(bodies["o311x"][1].encode())
        assert [e.text for e in xml.findall("request/service_request_id")] == [str(pothole)]
    # aggregates by grid count it (and carry only grid polygons, no ticket point)
    assert client.get("/api/map/kpis").json()["received"] == 2
    grids = client.get("/api/map/grids").json()
    assert sum(f["properties"]["received"] for f in grids["features"]) == 2
    assert {f["geometry"]["type"] for f in grids["features"]} <= {"MultiPolygon", "Polygon"}
    # staff of another department see the ticket (staff) but not its reporter
    other = client.get(f"/api/tickets/{tid}", headers=auth(tk["handler_water"])).json()
    assert other["lon"] == pytest.approx(LON) and "reporter_phone" not in other and "13911112222" not in str(other)
    # staff see it in full; reporter contact only where the department rule allows (urban ticket)
    for who in ("dispatcher", "leadership", "handler", "grid_worker", "admin"):
        one = client.get(f"/api/tickets/{tid}", headers=auth(tk[who])).json()
        assert one["lon"] == pytest.approx(LON) and one["address"] == ELDERLY["address"], who
        assert one["reporter_phone"] == "13911112222", who
        assert tid in [t["id"] for t in client.get("/api/tickets", headers=auth(tk[who])).json()["items"]]


def test_a_citizen_sees_their_own_sensitive_report(client, sensitive_world, mode):
    mode("omit")
    tk = sensitive_world["tokens"]
    tid = _create(client, tk["citizen"], {**ELDERLY, "external_id": None})
    own = client.get(f"/api/tickets/{tid}", headers=auth(tk["citizen"])).json()
    assert own["lon"] == pytest.approx(LON) and own["reporter_phone"] == "13911112222"
    assert [t["id"] for t in client.get("/api/tickets?mine=true", headers=auth(tk["citizen"])).json()["items"]] \
        == [tid]
    assert client.get(f"/api/tickets/{tid}", headers=auth(tk["citizen2"])).status_code == 404


def test_sensitive_tickets_are_redacted_for_the_public(client, sensitive_world, mode):
    mode("redacted")
    tk = sensitive_world["tokens"]
    tid = _create(client, tk["channel"], ELDERLY)
    for headers in ({}, auth(tk["citizen2"])):
        bodies = _public_bodies(client, tid, headers)
        for name, (_, text) in bodies.items():
            assert not any(s in text for s in SECRETS), (name, text[:300])
        one = client.get(f"/api/tickets/{tid}", headers=headers).json()
        assert one["redacted"] is True and one["category"] == "elderly_help" and one["status"] == "reported"
        assert (one["lon"], one["lat"], one["address"], one["description"], one["photo_urls"], one["grid"]) == (
            None, None, None, "", [], None)
        assert [t["id"] for t in client.get("/api/tickets", headers=headers).json()["items"]] == [tid]
        # a location filter cannot find it, or the box would tell where it is
        box = f"{LON - 0.001},{LAT - 0.001},{LON + 0.001},{LAT + 0.001}"
        assert client.get(f"/api/tickets?bbox={box}", headers=headers).json()["items"] == []
        o311 = client.get("/open311/v2/requests.json").json()
        assert [(r["service_request_id"], r["lat"], r["long"], r["address"], r["media_url"], r["description"])
                for r in o311] == [(str(tid), None, None, None, None, "")]
        assert client.get(f"/open311/v2/requests.json?bbox={box}").json() == []
        xml = ET.fromstring(client.get(f"/open311/v2/requests/{tid}.xml").content)
        assert xml.find("request/lat").text is None and xml.find("request/address").text is None
    staff = client.get(f"/api/tickets/{tid}", headers=auth(tk["dispatcher"])).json()
    assert staff["lon"] == pytest.approx(LON) and "redacted" not in staff


def test_map_layers_leave_sensitive_tickets_out_for_the_public(client, sensitive_world, mode):
    mode("redacted")  # even when the API shows them redacted, map points/bins/queue/popups never show them
    tk = sensitive_world["tokens"]
    tid = _create(client, tk["channel"], ELDERLY)
    with session_scope() as s:
        staff = principal_for_token(s, tk["dispatcher"])
        citizen = principal_for_token(s, tk["citizen"])
        w = mapdata.Window.last(1)
        box = (113.40, 23.08, 113.48, 23.16)
        for viewer, n in ((None, 0), (citizen, 0), (staff, 1)):
            pts, _ = mapdata.tickets_in_view(s, w, bbox=box, viewer=viewer)
            assert len(pts) == n
            assert int(mapdata.density_bins(s, w, cell_m=500, viewer=viewer)["n"].sum()) == n
            assert len(mapdata.dispatch_queue(s, viewer=viewer)) == n
            assert (mapdata.ticket_brief(s, tid, viewer=viewer) is not None) == bool(n)
        # aggregates per grid count it for everyone
        assert int(mapdata.grid_stats(s, w)["received"].sum()) == 1


def test_reporter_contact_follows_the_department(client, sensitive_world):
    tk = sensitive_world["tokens"]
    a = _create(client, tk["channel"], {"category": "pothole", "lon": 113.415, "lat": 23.095, "channel": "hotline",
                                        "external_id": "A1", "reporter_phone": "13800000001"})  # urban
    b = _create(client, tk["channel"], {"category": "manhole_missing", "lon": 113.425, "lat": 23.105,
                                        "channel": "hotline", "external_id": "B1",
                                        "reporter_phone": "13800000002"})  # water
    c = _create(client, tk["citizen"], {"category": "noise", "lon": 113.435, "lat": 23.115,
                                        "reporter_phone": "13800000003"})  # env, the citizen's own

    def phone(who: str, tid: int) -> str | None:
        body = client.get(f"/api/tickets/{tid}", headers=auth(tk[who])).json()
        listed = next(t for t in client.get("/api/tickets", headers=auth(tk[who])).json()["items"]
                      if t["id"] == tid)
        assert body.get("reporter_phone") == listed.get("reporter_phone")
        if body.get("reporter_phone") is None:
            assert "reporters" not in body and "1380000000" not in str(body)
        return body.get("reporter_phone")

    assert (phone("handler", a), phone("handler", b)) == ("13800000001", None)
    assert (phone("handler_water", a), phone("handler_water", b)) == (None, "13800000002")
    assert (phone("grid_worker", a), phone("grid_worker", b)) == ("13800000001", None)  # an urban worker
    for who in ("dispatcher", "leadership", "admin"):
        assert (phone(who, a), phone(who, b), phone(who, c)) == ("13800000001", "13800000002", "13800000003")
    assert (phone("citizen", c), phone("citizen2", c), phone("citizen", a)) == ("13800000003", None, None)
    mine = client.get(f"/api/tickets/{c}", headers=auth(tk["citizen"])).json()
    assert [r["phone"] for r in mine["reporters"]] == ["13800000003"]
    # a second citizen's duplicate report merges into c: the first citizen never sees it
    r = client.post("/api/tickets", headers=auth(tk["citizen2"]),
                    json={"category": "noise", "lon": 113.4351, "lat": 23.1151, "reporter_phone": "13800000009"})
    assert r.json()["outcome"] == "merged" and "13800000009" not in r.text and "13800000003" not in r.text
    mine = client.get(f"/api/tickets/{c}", headers=auth(tk["citizen"])).json()
    assert [r["phone"] for r in mine["reporters"]] == ["13800000003"]
    # Open311 never returns contact; the Open311 e-mail stays with those who see the contact
    r = client.post("/open311/v2/requests.json", data={
        "api_key": tk["channel"], "service_code": "pothole", "lat": "23.096", "long": "113.416",
        "phone": "13800000004", "email": "wang@example.org"})
    oid = int(r.json()[0]["service_request_id"])
    for fmt in ("json", "xml"):
        text = client.get(f"/open311/v2/requests.{fmt}").text
        assert "1380000000" not in text and "wang@example.org" not in text
    assert client.get(f"/api/tickets/{oid}", headers=auth(tk["handler"])).json()["attrs"]["email"] == \
        "wang@example.org"
    other = client.get(f"/api/tickets/{oid}", headers=auth(tk["handler_water"])).json()
    assert "email" not in other["attrs"] and "wang@example.org" not in str(other)
