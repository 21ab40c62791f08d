"""The citizen API: same intake as every channel, duplicates shown before sending, tracking link, rating."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from spatial.db.engine import session_scope
from spatial.models import CitizenReport, Ticket
from tests.tickets.conftest import auth

HERE = {"category": "pothole", "lon": 113.415, "lat": 23.095}


def track(client, token: str, lang: str = "en") -> dict:
    r = client.get(f"/api/citizen/track?lang={lang}", headers={"X-Tracking-Token": token})
    assert r.status_code == 200, r.text
    return r.json()


def move(client, world, ticket_id: int, *states: str) -> None:
    for to in states:
        r = client.post(f"/api/tickets/{ticket_id}/transitions", json={"to": to, "note": "ok"},
                        headers=auth(world["tokens"]["admin"]))
        assert r.status_code == 200, r.text


def test_setup_lists_only_public_categories_and_the_district(world, client):
    with session_scope() as s:
        s.execute(sa.text("UPDATE category SET sensitive = true WHERE code = 'noise'"))
    body = client.get("/api/citizen/setup").json()
    codes = {c["code"] for c in body["categories"]}
    assert "pothole" in codes and "noise" not in codes
    assert body["bounds"] == pytest.approx([113.40, 23.08, 113.48, 23.16])
    r = client.post("/api/citizen/reports", json={**HERE, "category": "noise"})
    assert r.status_code == 422 and "12345" in r.json()["message"]


def test_report_track_and_rate_through_the_one_intake(world, client):
    r = client.post("/api/citizen/reports", json={**HERE, "description": "deep hole", "phone": "+86 138 0000 0000",
                                                  "email": "alice@example.org", "lang": "en"},
                    headers={"Idempotency-Key": "draft-0001"})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["outcome"] == "created" and d["tracking_path"] == f"/report/track#{d['token']}"
    assert len(d["token"]) >= 32
    with session_scope() as s:
        t = s.get(Ticket, d["ticket_id"])
        assert t.channel == "citizen_app" and t.grid_id is not None and t.resolve_due_at is not None
        assert t.reporter_phone == "+86 138 0000 0000" and t.reporter_account.startswith("citizen:web:")
        rep = s.scalars(sa.select(CitizenReport)).one()
        assert rep.token_hash != d["token"] and len(rep.token_hash) == 64  # only the hash is stored
    # a retry with the same key answers the same ticket (a new link), never a second ticket
    again = client.post("/api/citizen/reports", json={**HERE, "description": "deep hole"},
                        headers={"Idempotency-Key": "draft-0001"})
    assert again.status_code == 200 and again.json()["ticket_id"] == d["ticket_id"]
    assert again.json()["outcome"] == "existing" and again.json()["token"] != d["token"]
    v = track(client, d["token"])
    assert v["status"] == "reported" and v["status_text"] == "Reported" and not v["can_rate"]
    assert [h["status"] for h in v["history"]] == ["reported"]
    move(client, world, d["ticket_id"], "accepted", "in_progress", "resolved", "verified", "closed")
    v = track(client, d["token"])
    assert v["status"] == "closed" and v["can_rate"]
    assert [h["status"] for h in v["history"]][-1] == "closed"
    assert "actor" not in str(v["history"]) and "ok" not in [h["text"] for h in v["history"]]
    assert [m["status"] for m in v["messages"]] == ["closed", "verified", "resolved", "in_progress", "accepted"]
    assert v["messages"][0]["text"] == f"Closed: ticket #{d['ticket_id']} is now closed"
    assert client.post("/api/citizen/track/rating", json={"rating": 6},
                       headers={"X-Tracking-Token": d["token"]}).status_code == 422
    ok = client.post("/api/citizen/track/rating", json={"rating": 4, "comment": "quick"},
                     headers={"X-Tracking-Token": d["token"]})
    assert ok.status_code == 200
    assert track(client, d["token"])["rating"] == 4
    twice = client.post("/api/citizen/track/rating", json={"rating": 5}, headers={"X-Tracking-Token": d["token"]})
    assert twice.status_code == 409
    assert client.get("/api/citizen/track", headers={"X-Tracking-Token": "nope"}).status_code == 404
    assert client.get("/api/citizen/track").status_code == 404


def test_nearby_reports_use_the_duplicate_rule_and_a_second_report_joins(world, client):
    first = client.post("/api/citizen/reports", json=HERE).json()
    near = client.get("/api/citizen/nearby", params={**HERE, "lon": 113.4152, "lang": "en"}).json()
    assert near["would_merge_into"] == first["ticket_id"]
    assert near["reports"][0]["id"] == first["ticket_id"] and near["reports"][0]["distance_m"] < 30
    far = client.get("/api/citizen/nearby", params={**HERE, "lon": 113.45}).json()
    assert far["would_merge_into"] is None and far["reports"] == []
    second = client.post("/api/citizen/reports", json={**HERE, "lon": 113.4152})
    assert second.status_code == 200 and second.json()["outcome"] == "merged"
    assert second.json()["ticket_id"] == first["ticket_id"]
    v = track(client, second.json()["token"])
    assert v["ticket_id"] == first["ticket_id"]


def test_address_only_path_finds_places(world, client):
    with session_scope() as s:
        s.execute(sa.text("INSERT INTO address (source, street, housenumber, name, geom) VALUES "
                          "('test', 'Huangpu East Road', '88', NULL, ST_SetSRID(ST_MakePoint(113.43, 23.11), 4326))"))
    hits = client.get("/api/citizen/geocode", params={"q": "huangpu east 88"}).json()
    assert hits == []  # words must appear together
    hits = client.get("/api/citizen/geocode", params={"q": "Huangpu East"}).json()
    assert hits[0]["label"] == "Huangpu East Road 88" and hits[0]["lon"] == 113.43
    assert client.get("/api/citizen/geocode", params={"q": "Community 1"}).json()[0]["kind"] == "area"
    assert client.get("/api/citizen/geocode", params={"q": "x"}).status_code == 422
    assert client.get("/api/citizen/geocode", params={"q": "100%_"}).json() == []


def test_bad_reports_are_refused_and_write_nothing(world, client):
    cases = [({**HERE, "lon": 120.0}, 422), ({**HERE, "category": "unknown"}, 404), ({"lon": 113.41}, 422),
             ({**HERE, "email": "not-an-address"}, 422), ({**HERE, "phone": "call me"}, 422),
             ({**HERE, "media": "abc"}, 422), ({**HERE, "extra": 1}, 422)]
    for body, status in cases:
        r = client.post("/api/citizen/reports", json=body)
        assert r.status_code == status, (body, r.text)
    with session_scope() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(CitizenReport)) == 0


def test_retention_blanks_the_email_a_citizen_left(world, client):
    from datetime import timedelta

    from spatial.clock import utc_now
    from spatial.tickets.retention import prune_reporters

    d = client.post("/api/citizen/reports", json={**HERE, "email": "alice@example.org"}).json()
    move(client, world, d["ticket_id"], "accepted", "in_progress", "resolved", "verified", "closed")
    with session_scope() as s:
        assert prune_reporters(s, now=utc_now() + timedelta(days=400))["citizen_emails"] == 1
        assert s.scalar(sa.select(CitizenReport.email)) is None
    assert track(client, d["token"])["status"] == "closed"  # the link still works
