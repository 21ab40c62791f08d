"""Open311 GeoReport v2 over HTTP in JSON and XML, with the spec's error format."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa

from spatial.db.engine import session_scope

BASE = "/open311/v2"


def _xml(r):
    assert r.headers["content-type"] == "text/xml; charset=utf-8"
    assert r.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(r.content)


def _post(client, fmt, token, **fields):
    form = {"api_key": token, "service_code": "pothole", "lat": "23.095", "long": "113.415",
            "description": "Pothole on Kexue Avenue", "first_name": "Wang", "last_name": "Wu",
            "phone": "13900000000", "email": "wang@example.org", "media_url": "https://img.example.org/1.jpg"}
    form.update(fields)
    return client.post(f"{BASE}/requests.{fmt}", data={k: v for k, v in form.items() if v is not None})


def test_services_and_definitions(client, world):
    js = client.get(f"{BASE}/services.json")
    assert js.status_code == 200 and js.headers["content-type"].startswith("application/json")
    codes = {s["service_code"] for s in js.json()}
    assert codes == {"pothole", "manhole_missing", "illegal_parking", "noise", "waterlogging"}
    one = next(s for s in js.json() if s["service_code"] == "pothole")
    assert one == {"service_code": "pothole", "service_name": "Pothole", "description": "Pothole",
                   "metadata": True, "type": "realtime", "keywords": "", "group": "Roads and facilities"}
    root = _xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == 5
    assert root.find("service/metadata").text in ("true", "false")
    d = client.get(f"{BASE}/services/pothole.json").json()
    assert d["service_code"] == "pothole" and d["attributes"][0]["code"] == "priority"
    dx = _xml(client.get(f"{BASE}/services/pothole.xml"))
    assert dx.tag == "service_definition" and len(dx.findall("attributes/attribute/values/value")) == 5
    r = client.get(f"{BASE}/services/unicorn.json")
    assert r.status_code == 404 and r.json()[0]["code"] == 404 and "unicorn" in r.json()[0]["description"]
    rx = client.get(f"{BASE}/services/unicorn.xml")
    assert rx.status_code == 404 and _xml(rx).find("error/code").text == "404"
    assert client.get(f"{BASE}/services.yaml").status_code == 404
    disc = client.get(f"{BASE}/discovery.json").json()
    assert disc["endpoints"][0]["url"].endswith("/open311/v2/")
    assert _xml(client.get(f"{BASE}/discovery.xml")).find("endpoints/endpoint/formats/format") is not None


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_and_get_requests(client, world, fmt):
    tk = world["tokens"]
    r = _post(client, fmt, tk["citizen"])
    assert r.status_code == 201, r.text
    if fmt == "json":
        sid = r.json()[0]["service_request_id"]
        assert r.json()[0]["service_notice"]
    else:
        sid = _xml(r).find("request/service_request_id").text
    # duplicate report from another citizen: merged, 200, same id
    r2 = _post(client, fmt, tk["citizen2"], long="113.4152")
    assert r2.status_code == 200
    sid2 = r2.json()[0]["service_request_id"] if fmt == "json" else _xml(r2).find("request/service_request_id").text
    assert sid2 == sid
    one = client.get(f"{BASE}/requests/{sid}.{fmt}")
    assert one.status_code == 200
    if fmt == "json":
        req = one.json()
        assert isinstance(req, list) and len(req) == 1
        req = req[0]
        assert (req["status"], req["status_notes"], req["service_code"], req["lat"], req["long"]) == (
            "open", "reported", "pothole", pytest.approx(23.095), pytest.approx(113.415))
        assert req["agency_responsible"] == "Urban Management Bureau"
        assert req["media_url"] == "https://img.example.org/1.jpg"
        assert req["requested_datetime"].endswith("Z") and req["expected_datetime"]
        assert {"address", "address_id", "zipcode", "service_notice"} <= set(req)
    else:
        root = _xml(one)
        assert root.tag == "service_requests" and root.find("request/status").text == "open"
        assert root.find("request/zipcode").text is None  # empty element for a missing value
    body = one.text
    for secret in ("13900000000", "Wang", "wang@example.org"):
        assert secret not in body
    with session_scope() as s:
        phone, ch, acct = s.execute(sa.text("SELECT reporter_phone, channel, reporter_account FROM ticket")).one()
    assert (phone, ch) == ("13900000000", "open311") and acct.startswith("alice#")


def test_request_search_filters(client, world):
    tk = world["tokens"]
    ids = []
    for code, lon in (("pothole", "113.41"), ("noise", "113.45"), ("pothole", "113.47")):
        r = _post(client, "json", tk["channel"], service_code=code, long=lon)
        ids.append(r.json()[0]["service_request_id"])
    h = {"Authorization": f"Bearer {tk['dispatcher']}"}
    for to in ("accepted", "rejected"):
        client.post(f"/api/tickets/{ids[2]}/transitions", json={"to": to, "note": "not ours"}, headers=h)

    def q(**params):
        r = client.get(f"{BASE}/requests.json", params=params)
        assert r.status_code == 200, r.text
        return sorted(x["service_request_id"] for x in r.json())

    assert q() == sorted(ids)
    assert q(service_code="pothole") == sorted([ids[0], ids[2]])
    assert q(service_code="pothole,noise", status="open") == sorted(ids[:2])
    assert q(status="closed") == [ids[2]]
    assert q(service_request_id=f"{ids[1]},{ids[2]}", status="open") == sorted(ids[1:])  # id overrides filters
    assert q(start_date="2000-01-01T00:00:00Z", end_date="2000-02-01T00:00:00Z") == []
    assert q(jurisdiction_id="onemap.example.org", service_code="") == sorted(ids)  # empty == absent
    assert q(page_size="2", page="2") and len(q(page_size="2")) == 2
    xml = _xml(client.get(f"{BASE}/requests.xml", params={"status": "closed"}))
    assert [e.text for e in xml.findall("request/service_request_id")] == [ids[2]]
    assert xml.find("request/status").text == "closed"
    bad = client.get(f"{BASE}/requests.json", params={"start_date": "2026-01-01T00:00:00Z",
                                                       "end_date": "2026-06-01T00:00:00Z"})
    assert bad.status_code == 400 and "90 days" in bad.json()[0]["description"]
    assert client.get(f"{BASE}/requests.json", params={"status": "pending"}).status_code == 400
    assert client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"}).status_code == 400
    assert client.get(f"{BASE}/requests/99999.json").status_code == 404
    assert client.get(f"{BASE}/requests/abc.xml").status_code == 404


def test_post_errors_follow_the_spec(client, world):
    tk = world["tokens"]
    cases = [
        ({"api_key": None}, 403), ({"api_key": "om_wrong"}, 403), ({}, 201),
        ({"service_code": None}, 400), ({"service_code": "unicorn"}, 404),
        ({"lat": None, "address_string": "1 Kexue Ave"}, 400), ({"long": "east"}, 400),
        ({"long": "114.9"}, 400), ({"media_url": "file:///etc/passwd"}, 400),
        ({"attribute[priority]": "9"}, 400),
    ]
    for fields, status in cases:
        for fmt in ("json", "xml"):
            r = _post(client, fmt, tk["channel"], **fields) if "api_key" not in fields else \
                _post(client, fmt, fields["api_key"], **{k: v for k, v in fields.items() if k != "api_key"})
            if status == 201:
                assert r.status_code in (200, 201)
                continue
            assert r.status_code == status, (fields, fmt, r.text)
            if fmt == "json":
                err = r.json()
                assert isinstance(err, list) and err[0]["code"] == status and err[0]["description"]
            else:
                root = _xml(r)
                assert root.tag == "errors" and root.find("error/code").text == str(status)
    assert _post(client, "json", tk["leadership"]).status_code == 403
    with session_scope() as s:
        assert s.execute(sa.text("SELECT count(*) FROM ticket")).scalar_one() == 1


def test_post_with_an_idempotency_key_is_safe_to_retry(client, world):
    citizen, channel = world["tokens"]["citizen"], world["tokens"]["channel"]
    key = {"Idempotency-Key": "7c1e0c2a-retry"}
    first = client.post(f"{BASE}/requests.json", headers=key, data={
        "api_key": citizen, "service_code": "noise", "lat": "23.15", "long": "113.47", "description": "drums"})
    again = client.post(f"{BASE}/requests.json", headers=key, data={
        "api_key": citizen, "service_code": "noise", "lat": "23.15", "long": "113.47", "description": "drums"})
    assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
    assert again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]
    assert again.json()[0]["service_notice"] == "This request was already received."
    # the same key from another client is another request (keys are scoped to the api_key)
    other = client.post(f"{BASE}/requests.json", headers=key, data={
        "api_key": channel, "service_code": "pothole", "lat": "23.09", "long": "113.41"})
    assert other.status_code == 201 and other.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]
    with session_scope() as s:
        n = s.execute(sa.text("SELECT count(*) FROM ticket_reporter WHERE channel = 'open311'")).scalar_one()
    assert n == 2
    bad = client.post(f"{BASE}/requests.json", headers={"Idempotency-Key": "x" * 101},
                      data={"api_key": citizen, "service_code": "noise", "lat": "23.15", "long": "113.47"})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()[0]["description"]


def test_ordinary_phone_numbers_are_accepted(client, world):
    for phone in ("+44 (0)20 7946 0000", "020-7946.0000", "(020) 7946 0000"):
        r = _post(client, "json", world["tokens"]["channel"], phone=phone, lat="23.0951", long="113.4151",
                  service_code="noise")
        assert r.status_code in (200, 201), r.text
    r = _post(client, "json", world["tokens"]["channel"], phone="call me maybe")
    assert r.status_code == 400


def test_errors_name_the_open311_arguments(client, world):
    r = _post(client, "json", world["tokens"]["channel"], media_url="x" * 5000, first_name="y" * 300)
    assert r.status_code == 400
    text = r.json()[0]["description"]
    assert "first_name/last_name" in text and "reporter_name" not in text and "photo_urls" not in text
    r = _post(client, "json", world["tokens"]["channel"], phone="not a phone")
    assert r.json()[0]["description"].startswith("phone:")


@pytest.mark.parametrize("path", ["/nothing.json", "/requests/1/notes.json", "/tokens/abc.xml"])
def test_unknown_paths_answer_open311_errors(client, world, path):
    r = client.get(BASE + path)
    assert r.status_code == 404
    if path.endswith(".xml"):
        assert _xml(r).find("error/code").text == "404"
    else:
        assert r.json()[0]["code"] == 404 and "no Open311 resource" in r.json()[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_servicerequestupdates_round_trips_a_status_change(client, world, fmt):
    """FixMyStreet pulls status changes: a dispatcher's transition shows up as a request_update."""
    tk = world["tokens"]
    sid = _post(client, "json", tk["channel"]).json()[0]["service_request_id"]
    r = client.post(f"/api/tickets/{sid}/transitions", json={"to": "accepted", "note": "on our list"},
                    headers={"Authorization": f"Bearer {tk['dispatcher']}"})
    assert r.status_code == 200, r.text
    got = client.get(f"{BASE}/servicerequestupdates.{fmt}")
    assert got.status_code == 200, got.text
    if fmt == "json":
        mine = [u for u in got.json() if u["service_request_id"] == sid]
        assert [u["status"] for u in mine] == ["open", "investigating"]
        assert mine[-1]["description"] == "on our list" and mine[-1]["external_status_code"] == "accepted"
    else:
        root = _xml(got)
        assert root.tag == "service_requests_updates"
        mine = [u for u in root.findall("request_update") if u.find("service_request_id").text == sid]
        assert [u.find("status").text for u in mine] == ["open", "investigating"]
    bad = client.get(f"{BASE}/servicerequestupdates.json?start_date=2026-01-01T00:00:00Z&end_date=2025-01-01T00:00:00Z")
    assert bad.status_code == 400


def test_since_is_iso_8601_not_a_unix_time(client, world):
    r = client.get("/api/tickets?since=12")
    assert r.status_code == 422 and "ISO 8601" in r.json()["message"]
    assert client.get("/api/tickets?since=2026-01-01T00:00:00Z").status_code == 200


def _add_addresses(rows) -> dict[str, int]:
    """Address points as the OSM import writes them; returns ids by label."""
    from spatial.models import Address

    out = {}
    with session_scope() as s:
        for osm_id, street, number, name, lon, lat in rows:
            a = Address(source="osm", osm_id=osm_id, street=street, housenumber=number, name=name,
                        geom=f"SRID=4326;POINT({lon} {lat})")
            s.add(a)
            s.flush()
            out[f"{street} {number}"] = a.id
    return out


def test_address_only_reports_are_located_by_the_local_geocoder(client, world):
    """Issue 19: a report with address_string or address_id and no lat/long was refused (400 'cannot locate')."""
    ids = _add_addresses([("n1", "Kexue Avenue", "12", None, 113.412, 23.093),
                          ("n2", "Kexue Avenue", "14", None, 113.413, 23.093),
                          ("n3", "Huangpu East Road", "10", None, 113.441, 23.112),
                          ("n4", "黄埔东路", "10", "黄埔东路10号", 113.442, 23.113)])
    tk = world["tokens"]["channel"]
    cases = [("12 Kexue Ave", "Kexue Avenue 12", "pothole"), ("kexue avenue no. 14", "Kexue Avenue 14", "noise"),
             ("Huangpu East Rd, 10", "Huangpu East Road 10", "illegal_parking"),
             ("黄埔东路10号", "黄埔东路 10", "manhole_missing")]
    for text, label, code in cases:
        for fmt in ("json", "xml"):  # the second report of a place is merged into the first (200), same place
            r = _post(client, fmt, tk, lat=None, long=None, address_string=text, service_code=code,
                      description=f"{text} {fmt}")
            assert r.status_code == (201 if fmt == "json" else 200), (text, r.text)
            rid = r.json()[0]["service_request_id"] if fmt == "json" else \
                _xml(r).find("request/service_request_id").text
            with session_scope() as s:
                lon, lat, address = s.execute(sa.text(
                    "SELECT ST_X(t.geom), ST_Y(t.geom), t.address FROM ticket t WHERE t.id = :id"),
                    {"id": int(rid)}).one()
                want = s.execute(sa.text("SELECT ST_X(geom), ST_Y(geom) FROM address WHERE id = :id"),
                                 {"id": ids[label]}).one()
            assert (lon, lat) == pytest.approx(want) and address in (f"{text} json", text), (text, address)
    r = _post(client, "json", tk, lat=None, long=None, address_id=str(ids["Kexue Avenue 14"]),
              service_code="waterlogging", description="by id")
    assert r.status_code == 201, r.text
    r = _post(client, "json", tk, lat=None, long=None, address_id="n3", service_code="waterlogging",
              description="by OSM id")
    assert r.status_code == 201, r.text
    with session_scope() as s:
        located = s.execute(sa.text("SELECT ST_X(geom), address FROM ticket WHERE category_id = :c ORDER BY id"),
                            {"c": world["categories"]["waterlogging"]}).all()
    assert [round(x, 3) for x, _ in located] == [113.413, 113.441]
    assert [a for _, a in located] == ["Kexue Avenue 14", "Huangpu East Road 10"]
    for fields in ({"address_string": "Nonexistent Boulevard 999"}, {"address_id": "n999"}, {"address_id": "77"}):
        r = _post(client, "json", tk, lat=None, long=None, **fields)
        assert r.status_code == 400 and "send lat and long" in r.json()[0]["description"], (fields, r.text)


def test_ids_beyond_the_column_are_open311_404s(client, world):
    """Issue 19: ids beyond PostgreSQL's bigint answered a plain-text 500."""
    for fmt in ("json", "xml"):
        r = client.get(f"{BASE}/requests/{2**63}.{fmt}")
        assert r.status_code == 404, r.text
        code = r.json()[0]["code"] if fmt == "json" else int(_xml(r).find("error/code").text)
        assert code == 404
    r = client.get(f"{BASE}/requests.json", params={"page": "99999999999999999999"})
    assert r.status_code == 400 and r.json()[0]["code"] == 400


def test_openapi_describes_open311_and_the_ticket_bodies(client):
    """Issue 19: the OpenAPI document lacked the Open311 form, filters, formats and errors, and /api/tickets bodies."""
    paths = client.get("/openapi.json").json()["paths"]
    post = paths["/open311/v2/requests.{fmt}"]["post"]
    form = post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    fields = {"api_key", "service_code", "lat", "long", "address_string", "address_id", "phone"}
    assert fields <= set(form["properties"])
    for status in ("201", "400", "403", "404"):
        assert {"application/json", "text/xml"} <= set(post["responses"][status]["content"]), status
    get = paths["/open311/v2/requests.{fmt}"]["get"]
    filters = {"service_code", "start_date", "end_date", "status", "page", "bbox"}
    assert filters <= {p["name"] for p in get["parameters"]}
    assert "/open311/v2/servicerequestupdates.{fmt}" in paths
    body = paths["/api/tickets"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"category", "lon", "lat"} <= set(body["properties"]) and body["required"]
