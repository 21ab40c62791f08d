"""The input boundary: the outside probe's requests (issue 11) answer a short 4xx, never a 5xx.

Each probe below once answered 500 or accepted what it should not. Every
answer must be a 4xx with the API's ``{"error", "message"}`` body (Open311:
its own error list), short, never echoing the input, and write nothing.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from spatial.api.boundary import DEFAULT_BODY_LIMIT
from spatial.api.main import create_api
from spatial.auth import create_token
from spatial.db.engine import session_scope
from spatial.models import Worker
from tests.district import seed_small_district

BIG = 2**63
NAN_JSON = '{"category": "pothole", "lon": NaN, "lat": 23.1, "channel": "app"}'


@pytest.fixture
def api(committed):
    with session_scope() as s:
        ids = seed_small_district(s)
        dept = next(iter(ids["departments"].values()))
        worker = Worker(code="W-1", name="Worker One", department_id=dept, on_duty=True)
        s.add(worker)
        s.flush()
        token = create_token(s, name="probe-admin", role="admin")
        channel = create_token(s, name="probe-channel", role="channel")
    client = TestClient(create_api(background=False), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token}"
    return client, {"admin": token, "channel": channel}


def _fix(**kw) -> dict:
    return {"fixes": [{"worker_id": 1, "lon": 113.41, "lat": 23.09, "fixed_at": "2026-07-01T08:00:00+08:00", **kw}]}


def _reading(**kw) -> dict:
    return {"readings": [{"sensor": "WL-001", "t": "2026-07-01T08:00:00+08:00", "value": 0.1, **kw}]}


def _detection(**kw) -> dict:
    return {"detections": [{"camera": "CAM-001", "t": "2026-07-01T08:00:00+08:00", "class": "illegal_parking",
                            "confidence": 0.9, **kw}]}


def _ticket(**kw) -> dict:
    return {"category": "pothole", "lon": 113.41, "lat": 23.09, "channel": "app", **kw}


PROBES = [
    # NUL in query parameters and text fields
    ("GET", "/api/tickets?grid=%00", None),
    ("GET", "/api/sensors?type=%00", None),
    ("GET", "/open311/v2/requests.json?service_code=%00", None),
    ("GET", "/api/alerts?source_kind=%00", None),
    ("POST", "/api/tickets", _ticket(description="pot\u0000hole")),
    ("POST", "/api/tickets", _ticket(attrs={"note": "x\u0000"})),
    ("POST", "/api/tickets", '{"category": "pothole", "lon": 113.41, "lat": 23.09, "channel": "app", '
                             '"description": "\\ud800"}'),
    # NaN / Infinity / overflowing numbers inside JSON
    ("POST", "/api/tickets", NAN_JSON),
    ("POST", "/api/tickets", '{"category": "pothole", "lon": 113.41, "lat": 23.09, "channel": "app", '
                             '"attrs": {"x": Infinity}}'),
    ("POST", "/api/tickets", '{"category": "pothole", "lon": 1e400, "lat": 23.09, "channel": "app"}'),
    ("POST", "/api/tickets", "[" * 5000 + "]" * 5000),
    # integers beyond their column
    ("GET", f"/api/tickets/{BIG}", None),
    ("GET", f"/api/tickets/{BIG}/events", None),
    ("GET", f"/api/tickets/{BIG}/candidates", None),
    ("POST", f"/api/tickets/{BIG}/assign", {"worker_id": 1}),
    ("POST", "/api/tickets/1/assign", {"worker_id": 2**40}),
    ("POST", f"/api/workers/{2**40}/duty", {"on_duty": True}),
    ("GET", "/api/workers?department=-2511760602009", None),
    ("GET", "/api/tickets?page=99999999999999999999", None),
    ("GET", "/open311/v2/requests.json?page=99999999999999999999", None),
    ("GET", "/api/tickets/1/candidates?max_age_s=1.6e308", None),
    ("POST", "/api/workers/positions", _fix(worker_id=2**40)),
    ("POST", "/api/workers/positions", _fix(worker_id=-2217165781330578898944)),
    ("POST", "/api/cameras/detections", _detection(camera_id=2**70)),
    # times out of range
    ("POST", "/api/workers/positions", _fix(fixed_at="0001-01-01T00:00:00+14:00")),
    ("POST", "/api/workers/positions", _fix(fixed_at=1e20)),
    ("POST", "/api/sensors/readings", _reading(t="0001-01-01T00:00:00+14:00")),
    ("POST", "/api/sensors/readings", _reading(t=1e20)),
    ("GET", "/api/tickets?since=0001-01-01T00:00:00%2B14:00", None),
    ("GET", "/api/messages?since=9999-12-31T23:59:59-14:00", None),
    # detections: class too long, data not an object
    ("POST", "/api/cameras/detections", _detection(**{"class": "x" * 100})),
    ("POST", "/api/cameras/detections", _detection(data="a string")),
]


@pytest.mark.parametrize(("method", "path", "body"), PROBES, ids=[f"{m} {p[:50]}" for m, p, _ in PROBES])
def test_probe_answers_a_short_4xx(api, method, path, body):
    client, _ = api
    kw: dict = {}
    if isinstance(body, str):
        kw = {"content": body.encode("utf-8", "surrogatepass"), "headers": {"content-type": "application/json"}}
    elif body is not None:
        kw = {"json": body}
    r = client.request(method, path, **kw)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert len(r.content) < 2000
    out = r.json()
    if path.startswith("/open311"):
        assert out[0]["code"] == r.status_code and out[0]["description"]
    else:
        assert set(out) >= {"error", "message"} and out["message"]


def test_nothing_is_written_by_refused_requests(api):
    client, _ = api
    for method, path, body in PROBES:
        if method == "POST":
            client.request(method, path, json=body) if not isinstance(body, str) else client.request(
                method, path, content=body.encode("utf-8", "surrogatepass"),
                headers={"content-type": "application/json"})
    with session_scope() as s:
        assert s.scalar(sa.text("SELECT count(*) FROM ticket")) == 0
        assert s.scalar(sa.text("SELECT count(*) FROM worker_position")) == 0


def test_bodies_beyond_the_limit_get_413_without_being_read(api):
    client, _ = api
    big = b'{"category": "pothole", "description": "' + b"x" * (DEFAULT_BODY_LIMIT + 10) + b'"}'
    r = client.post("/api/tickets", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    # the batch endpoints have their own, larger limit, and refuse beyond it too
    r = client.post("/api/workers/positions", content=b"[" + b" " * 6_000_000 + b"]",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    # a streamed body (no Content-Length) is cut off at the limit as well
    def chunks():
        for _ in range(30):
            yield b"x" * 100_000
    r = client.post("/api/tickets/1/transitions", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_422_bodies_never_echo_the_input(api):
    client, _ = api
    r = client.post("/api/tickets/1/transitions", json={"to": "x" * 900_000, "note": 5})
    assert r.status_code == 422
    assert len(r.content) < 2000 and "xxxxxxxxxx" not in r.text


def test_unknown_host_is_refused_and_foreign_websocket_origin_closed(api):
    client, _ = api
    assert client.get("/health").status_code == 200
    r = client.get("/health", headers={"host": "evil.example"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_host"
    with pytest.raises(WebSocketDisconnect) as exc, \
            client.websocket_connect("/app/ws", headers={"origin": "http://evil.example"}):
        pass
    assert exc.value.code == 1008
