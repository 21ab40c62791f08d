"""No secret in the server's logs (issue 11): the real server (``uvicorn app:create_server --factory``)
on loopback with uvicorn's own logging at info level, requests carrying a real token in the query
string and in the Authorization header, and the captured log searched for it."""

from __future__ import annotations

import httpx

from spatial.auth import create_token
from spatial.db.engine import session_scope
from spatial.privacy import redact_secrets
from tests.district import seed_small_district
from tests.live_server import live_server


def test_redact_secrets_masks_values_not_names():
    line = '127.0.0.1:5 - "GET /open311/v2/requests.json?service_code=pothole&api_key=om_abcdefghijkl&page=2 HTTP/1.1"'
    assert redact_secrets(line) == line.replace("om_abcdefghijkl", "***")
    assert redact_secrets("/x?API%5Fkey=s3cr3t&Token=t0k&access_token=a;b=1") == \
        "/x?API%5Fkey=***&Token=***&access_token=***;b=1"
    assert redact_secrets("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact_secrets("/x?tokens=1&key=2") == "/x?tokens=1&key=2"


def test_access_log_never_contains_the_api_key(committed, db_url, tmp_path):
    with session_scope() as s:
        seed_small_district(s)
        token = create_token(s, name="open311-client", role="citizen")
    secret = token[len("om_"):]
    log_path = tmp_path / "server.log"
    with (live_server(log_path, {"ONEMAP_DATABASE_URL": db_url}) as base,
          httpx.Client(base_url=base, timeout=30) as http):
        r = http.get("/open311/v2/requests.json", params={"api_key": token, "service_code": "pothole"})
        assert r.status_code == 200, r.text
        r = http.post(f"/open311/v2/requests.json?api_key={token}",
                      data={"service_code": "pothole", "lat": "23.095", "long": "113.415"})
        assert r.status_code == 201, r.text
        r = http.get("/api/tickets", params={"token": token, "access_token": token, "mine": "true"},
                     headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["items"], r.text
    text = log_path.read_text()
    assert '"POST /open311/v2/requests.json?api_key=*** HTTP/1.1" 201' in text, text  # the lines are logged
    assert "token=***&access_token=***" in text, text
    assert secret not in text and token not in text
