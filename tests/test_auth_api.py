"""Sign-in, roles, data scope, audit and protection through the real HTTP API (in-process, real PostGIS).

* the endpoint x role matrix: for every route of the API and every role (and
  no credentials), the expected status class comes from the route's declared
  rule (``require_roles`` / ``current_principal`` / public) plus the
  service-level rules listed in :data:`SERVICE_RULES`; the observed status is
  compared and the whole table written to ``docs/auth_matrix.md``;
* a street-scoped dispatcher sees and assigns only their street's tickets, a
  forged request for another street's ticket is refused (404);
* CSRF double submit, cookie flags, lock-out and admin reset, token scopes and
  expiry, rate limits, security headers, CORS closed by default;
* the audit trail: one write of each kind, each found with actor, IP and before/after.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from spatial import accounts
from spatial.api import deps
from spatial.api.main import ROUTERS, create_api
from spatial.auth import ROLES, create_token, revoke_token
from spatial.cli.main import main as cli_main
from spatial.clock import utc_now
from spatial.db.engine import session_scope
from spatial.models import Worker
from spatial.settings import get_settings
from tests.district import seed_small_district

PASSWORD = "a-long-test-password"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "auth_matrix.md"
#: Columns of the matrix: every token role, the planner (a person, signed in), and nobody.
COLUMNS = (*ROLES, "planner", "anonymous")


def _client(**env) -> TestClient:
    return TestClient(create_api(background=False), base_url="http://testserver")


def _sign_in(client: TestClient, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password, "next": "/app"},
                       follow_redirects=False)


@pytest.fixture
def world(committed) -> dict:
    """Small district (streets S0 west, S1 east), a worker, one ticket per street, a token per role, people."""
    out: dict = {}
    with session_scope() as s:
        ids = seed_small_district(s)
        water = ids["departments"]["water"]
        worker = Worker(code="W-1", name="Worker One", department_id=water, on_duty=True,
                        geom="SRID=4326;POINT(113.41 23.09)", position_at=utc_now())
        s.add(worker)
        s.flush()
        out["worker"] = worker.id
        out["streets"] = ids["streets"]
        out["tokens"] = {role: create_token(s, name=f"t-{role}", role=role,
                                            department_id=water if role in ("handler", "grid_worker") else None,
                                            worker_id=worker.id if role == "grid_worker" else None)
                         for role in ROLES}
        accounts.create_user(s, "plan", ["planner"], password=PASSWORD)
        accounts.create_user(s, "west-desk", ["dispatcher"], password=PASSWORD, street="S0")
        accounts.create_user(s, "boss", ["admin"], password=PASSWORD)
    client = _client()
    tickets = {}
    for street, lon in (("S0", 113.41), ("S1", 113.47)):
        r = client.post("/api/tickets", json={"category": "waterlogging", "lon": lon, "lat": 23.09,
                                              "channel": "hotline", "description": f"water in {street}"},
                        headers={"Authorization": f"Bearer {out['tokens']['channel']}"})
        assert r.status_code == 201, r.text
        tickets[street] = r.json()["ticket"]["id"]
    out["tickets"] = tickets
    out["client"] = client
    return out


# --- the endpoint x role matrix ---------------------------------------------------------------------

def _rule(route: APIRoute) -> frozenset[str] | str:
    """The route's declared access rule: a role set (require_roles), "signed" (any principal) or "public"."""
    found: list = []

    def walk(dep) -> None:
        call = dep.call
        if getattr(call, "allowed_roles", None) is not None:
            found.append(call.allowed_roles)
        elif call is deps.current_principal:
            found.append("signed")
        for sub in dep.dependencies:
            walk(sub)

    walk(route.dependant)
    roles = [f for f in found if not isinstance(f, str)]
    return roles[0] if roles else ("signed" if found else "public")


#: Rules that live in the services, not in the route's dependencies: (method, path) -> role -> expected.
#: "ok" = passes the access check (any status but 401/403), else the exact status.
SERVICE_RULES: dict[tuple[str, str], dict[str, str]] = {
    # Open311 takes its key as a form field: no key is 403 (GeoReport v2), intake roles only
    ("POST", "/open311/v2/requests.{fmt}"): {"anonymous": "403", "leadership": "403", "planner": "403",
                                             "wall": "403"},
    # a ticket's history: staff, or the citizen/channel who reported it (these did not; the wall is not staff)
    ("GET", "/api/tickets/{ticket_id}/events"): {"citizen": "403", "wall": "403"},
    # camera video: the stream roles only (spatial.privacy.STREAM_ROLES: staff, channels, the wall)
    ("GET", "/api/cameras/{camera_id}/video"): {"citizen": "403"},
}


def _expected(route: APIRoute, method: str, column: str) -> str:
    special = SERVICE_RULES.get((method, route.path), {})
    if column in special:
        return special[column]
    rule = _rule(route)
    if rule == "public":
        return "ok"
    if column == "anonymous":
        return "401"
    if rule == "signed":
        return "ok"
    return "ok" if column in rule else "403"


def _path(route: APIRoute, world: dict) -> str:
    values = {"ticket_id": world["tickets"]["S0"], "worker_id": world["worker"], "fmt": "json", "code": "pothole",
              "request_id": str(world["tickets"]["S0"]), "run_id": "nope", "z": 0, "x": 0, "y": 0,
              "path": "nothing-here"}
    # ids of other routes (camera, incident, media, ...): 1, a row that may not exist (404 is not a 5xx)
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: str(values.get(m.group(1), 1)), route.path)


def _observed(client: TestClient, method: str, url: str, column: str, world: dict, csrf: str | None) -> int:
    headers = {}
    if column in world["tokens"]:
        headers["Authorization"] = f"Bearer {world['tokens'][column]}"
    elif column == "planner" and csrf:
        headers["X-CSRF-Token"] = csrf
    if method == "GET":
        return client.get(url, headers=headers, follow_redirects=False).status_code
    if url.startswith("/open311/"):
        form = {"service_code": "pothole", "lat": "23.09", "long": "113.41"}
        if column in world["tokens"]:
            form["api_key"] = world["tokens"][column]
        return client.post(url, data=form, headers=headers).status_code
    return client.request(method, url, json={}, headers=headers).status_code


def test_endpoint_role_matrix(world):
    """Every API route x every role and no credentials: expected vs observed, written to docs/auth_matrix.md."""
    person = _client()
    assert _sign_in(person, "plan").status_code == 303
    csrf = person.cookies.get(deps.CSRF_COOKIE)
    rows, wrong = [], []
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    for route in sorted(routes, key=lambda r: (r.path, sorted(r.methods))):
        if route.path in ("/login", "/logout", "/account", "/account/password") or route.path.startswith("/auth/"):
            continue  # the sign-in pages: tested on their own below
        for method in sorted(route.methods - {"HEAD"}):
            if route.path == "/open311/v2/{path:path}" and method != "GET":
                continue
            url = _path(route, world)
            cells = []
            for column in COLUMNS:
                client = person if column == "planner" else world["client"]
                if column != "planner":
                    client.cookies.clear()
                expected = _expected(route, method, column)
                got = _observed(client, method, url, column, world, csrf)
                match = (got not in (401, 403)) if expected == "ok" else (str(got) == expected)
                assert got < 500, f"{method} {route.path} as {column}: {got}"
                if not match:
                    wrong.append(f"{method} {route.path} as {column}: expected {expected}, observed {got}")
                cells.append(f"{expected}/{got}" + ("" if match else " **MISMATCH**"))
            rows.append(f"| `{method} {route.path}` | " + " | ".join(cells) + " |")
    DOCS.write_text(
        "# Endpoint x role access matrix (generated)\n\n"
        "Written by `tests/test_auth_api.py::test_endpoint_role_matrix` against the real API and PostGIS.\n"
        "Each cell is `expected/observed`: `ok` means the access check lets the caller through (any answer but\n"
        "401/403: 2xx, or 404/409/422 from the request itself), a number is the exact status expected.\n"
        "Expected values come from the route's declared rule (`require_roles`, `current_principal`, public) and\n"
        "the service-level rules listed in the test (`SERVICE_RULES`). Token roles call with a bearer token;\n"
        "`planner` (a person-only role) calls with a sign-in session cookie and its CSRF header.\n\n"
        "| endpoint | " + " | ".join(COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS) + "\n" + "\n".join(rows) + "\n",
        encoding="utf-8")
    assert not wrong, "\n".join(wrong)
    assert len(rows) >= 30


# --- data scope -------------------------------------------------------------------------------------

def test_street_scoped_dispatcher_api(world):
    """The west street's dispatcher lists only west tickets; the east ticket is 404 to read and to assign."""
    west, east = world["tickets"]["S0"], world["tickets"]["S1"]
    c = _client()
    assert _sign_in(c, "west-desk").status_code == 303
    csrf = {"X-CSRF-Token": c.cookies.get(deps.CSRF_COOKIE)}
    ids = {t["id"] for t in c.get("/api/tickets", params={"page_size": 100}).json()["items"]}
    assert west in ids and east not in ids
    assert c.get(f"/api/tickets/{east}").status_code == 404
    forged = c.post(f"/api/tickets/{east}/assign", json={"worker_id": world["worker"]}, headers=csrf)
    assert forged.status_code == 404, forged.text
    assert c.get(f"/api/tickets/{east}/candidates").status_code == 404
    assert c.post(f"/api/tickets/{east}/transitions", json={"to": "accepted"}, headers=csrf).status_code == 404
    ok = c.post(f"/api/tickets/{west}/assign", json={"worker_id": world["worker"]}, headers=csrf)
    assert ok.status_code == 200, ok.text
    events = world["client"].get(f"/api/tickets/{west}/events",
                                 headers={"Authorization": f"Bearer {world['tokens']['admin']}"}).json()
    assert events[-1]["actor"] == "user:west-desk"  # the ticket's event names the person
    # the unscoped dispatcher (a token) sees both
    r = world["client"].get("/api/tickets", params={"page_size": 100},
                            headers={"Authorization": f"Bearer {world['tokens']['dispatcher']}"})
    assert {west, east} <= {t["id"] for t in r.json()["items"]}


# --- sessions, CSRF, lock-out, tokens -----------------------------------------------------------------

def test_session_cookie_csrf_and_sign_out(world):
    c = _client()
    r = _sign_in(c, "west-desk")
    assert r.status_code == 303 and r.headers["location"] == "/app"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(deps.SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert c.get("/api/me").json()["actor"] == "user:west-desk"
    west = world["tickets"]["S0"]
    # a cookie-authenticated write without the CSRF header is refused, with it it passes
    assert c.post(f"/api/tickets/{west}/transitions", json={"to": "accepted"}).status_code == 403
    assert c.post(f"/api/tickets/{west}/transitions", json={"to": "accepted"},
                  headers={"X-CSRF-Token": "wrong"}).status_code == 403
    # sign-out needs the CSRF secret too; afterwards the cookie is worthless
    stolen = c.cookies.get(deps.SESSION_COOKIE)
    assert c.post("/logout", data={"csrf": "nope"}).status_code == 403
    assert c.post("/logout", data={"csrf": c.cookies.get(deps.CSRF_COOKIE)}).status_code == 200
    assert _client().get("/api/me", cookies={deps.SESSION_COOKIE: stolen}).status_code == 401
    # a form from another site is refused
    assert c.post("/login", data={"username": "west-desk", "password": PASSWORD},
                  headers={"Origin": "http://evil.example"}, follow_redirects=False).status_code == 403


def test_secure_cookie_behind_trusted_https_proxy(world, monkeypatch):
    monkeypatch.setenv("ONEMAP_TRUST_PROXY", "true")
    get_settings.cache_clear()
    try:
        c = _client()
        r = c.post("/login", data={"username": "west-desk", "password": PASSWORD},
                   headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}, follow_redirects=False)
        assert r.status_code == 303
        assert all("Secure" in h for h in r.headers.get_list("set-cookie"))
        assert "strict-transport-security" in r.headers
        with session_scope() as s:
            ip = s.scalar(sa.text("SELECT host(ip) FROM audit_log WHERE action = 'sign_in' ORDER BY id DESC LIMIT 1"))
        assert ip == "203.0.113.9"
    finally:
        monkeypatch.delenv("ONEMAP_TRUST_PROXY")
        get_settings.cache_clear()


def test_lockout_and_admin_reset(world):
    c = _client()
    for _ in range(get_settings().lockout_failures):
        r = _sign_in(c, "west-desk", "wrong-password!")
        assert r.status_code == 401 and "wrong user name or password" in r.text
    locked = _sign_in(c, "west-desk")  # even the right password is refused now
    assert locked.status_code == 423 and "locked" in locked.text
    assert _sign_in(c, "nobody-here", "whatever-pass").status_code == 401  # same answer as a wrong password
    with session_scope() as s:
        temp = accounts.reset_password(s, "west-desk")
    r = _sign_in(c, "west-desk", temp)
    assert r.status_code == 303 and r.headers["location"].startswith("/account")  # must choose a new one
    csrf = c.cookies.get(deps.CSRF_COOKIE)
    r = c.post("/account/password", data={"csrf": csrf, "current": temp, "new": "short"})
    assert r.status_code == 422
    r = c.post("/account/password", data={"csrf": csrf, "current": temp, "new": "a-brand-new-password"})
    assert r.status_code == 200 and "was changed" in r.text
    assert _sign_in(_client(), "west-desk", "a-brand-new-password").status_code == 303
    with session_scope() as s:
        accounts.disable_user(s, "west-desk")
    assert _sign_in(_client(), "west-desk", "a-brand-new-password").status_code == 403
    assert c.get("/api/me").status_code == 401  # disabling ended the session


def test_token_scopes_and_expiry(world):
    with session_scope() as s:
        sensors_only = create_token(s, name="gateway", role="channel", scopes=["sensors"])
        expired = create_token(s, name="old", role="dispatcher", expires_at=utc_now() - timedelta(minutes=1))
    c = world["client"]
    r = c.post("/api/tickets", json={"category": "pothole", "lon": 113.41, "lat": 23.09},
               headers={"Authorization": f"Bearer {sensors_only}"})
    assert r.status_code == 403 and "limited to sensors" in r.json()["message"]
    r = c.post("/api/sensors/readings", json={"readings": []}, headers={"Authorization": f"Bearer {sensors_only}"})
    assert r.status_code not in (401, 403)
    assert c.get("/api/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_credential_cache(world, monkeypatch):
    """With the cache on, in-process revocation and sign-out act at once; a revocation by another process
    (plain SQL here) within ``auth_cache_seconds``."""
    from spatial import authcache

    monkeypatch.setenv("ONEMAP_AUTH_CACHE_SECONDS", "1")
    get_settings.cache_clear()
    authcache.evict()
    try:
        c = world["client"]
        with session_scope() as s:
            tok = create_token(s, name="cached", role="dispatcher")
            tok_id = s.scalar(sa.text("SELECT id FROM api_token WHERE name = 'cached'"))
        me = {"Authorization": f"Bearer {tok}"}
        assert c.get("/api/me", headers=me).status_code == 200
        with session_scope() as s:  # another process revokes: the cached answer lives on for at most 1 s
            s.execute(sa.text("UPDATE api_token SET revoked_at = now() WHERE id = :i"), {"i": tok_id})
        time.sleep(1.1)
        assert c.get("/api/me", headers=me).status_code == 401
        with session_scope() as s:
            tok2 = create_token(s, name="cached2", role="dispatcher")
            tok2_id = s.scalar(sa.text("SELECT id FROM api_token WHERE name = 'cached2'"))
        me2 = {"Authorization": f"Bearer {tok2}"}
        assert c.get("/api/me", headers=me2).status_code == 200
        with session_scope() as s:  # revoked in this process: at once
            revoke_token(s, tok2_id)
        assert c.get("/api/me", headers=me2).status_code == 401
        person = _client()
        assert _sign_in(person, "west-desk").status_code == 303
        stolen = person.cookies.get(deps.SESSION_COOKIE)
        assert person.get("/api/me").status_code == 200
        assert person.post("/logout", data={"csrf": person.cookies.get(deps.CSRF_COOKIE)}).status_code == 200
        assert _client().get("/api/me", cookies={deps.SESSION_COOKIE: stolen}).status_code == 401
    finally:
        authcache.evict()
        get_settings.cache_clear()


# --- protection -------------------------------------------------------------------------------------

def test_rate_limits(world, monkeypatch):
    monkeypatch.setenv("ONEMAP_LOGIN_RATE", "3/minute")
    monkeypatch.setenv("ONEMAP_PUBLIC_RATE", "5/minute")
    get_settings.cache_clear()
    try:
        c = _client()
        codes = [_sign_in(c, "west-desk", "wrong-password!").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        public = [c.get("/api/catalog").status_code for _ in range(6)]
        assert public[:5] == [200] * 5 and public[5] == 429
        r = c.get("/api/catalog")
        assert r.json()["error"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
        # token callers are not limited by the public rate
        token = {"Authorization": f"Bearer {world['tokens']['dispatcher']}"}
        assert all(c.get("/api/catalog", headers=token).status_code == 200 for _ in range(6))
    finally:
        get_settings.cache_clear()


def test_security_headers_and_cors(world, monkeypatch):
    c = world["client"]
    r = c.get("/api/catalog")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "strict-transport-security" not in r.headers  # plain HTTP
    page = c.get("/login")
    assert "form-action 'self'" in page.headers["content-security-policy"]
    pre = c.options("/api/catalog", headers={"Origin": "http://other.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers  # CORS closed by default
    monkeypatch.setenv("ONEMAP_CORS_ORIGINS", '["http://map.example"]')
    get_settings.cache_clear()
    try:
        open_ = _client()
        r = open_.get("/api/catalog", headers={"Origin": "http://map.example"})
        assert r.headers["access-control-allow-origin"] == "http://map.example"
        r = open_.get("/api/catalog", headers={"Origin": "http://other.example"})
        assert "access-control-allow-origin" not in r.headers
    finally:
        get_settings.cache_clear()


# --- audit trail ------------------------------------------------------------------------------------

def _audit(where: str, **params) -> list[sa.Row]:
    with session_scope() as s:
        return s.execute(sa.text(f"SELECT * FROM audit_log WHERE {where} ORDER BY id"), params).all()


def test_audit_one_write_of_each_kind(world):
    """Each kind of write, by a person or a token, is in the audit trail with actor, IP and before/after."""
    c, tok = world["client"], world["tokens"]
    west = world["tickets"]["S0"]
    # token: ticket intake (insert)
    r = c.post("/api/tickets", json={"category": "pothole", "lon": 113.42, "lat": 23.10, "channel": "hotline",
                                     "description": "hole"}, headers={"Authorization": f"Bearer {tok['channel']}"})
    hole = r.json()["ticket"]["id"]
    created = _audit("table_name = 'ticket' AND action = 'insert' AND row_id = :r", r=str(hole))
    assert len(created) == 1 and created[0].actor.startswith("t-channel#") and created[0].token_id is not None
    assert created[0].after["status"] == "reported" and created[0].before is None
    assert created[0].request == "POST /api/tickets"
    # person (session): a transition
    person = _client()
    assert _sign_in(person, "boss").status_code == 303
    csrf = {"X-CSRF-Token": person.cookies.get(deps.CSRF_COOKIE)}
    r = person.post(f"/api/tickets/{hole}/transitions", json={"to": "accepted"}, headers=csrf)
    assert r.status_code == 200, r.text
    row = _audit("table_name = 'ticket' AND row_id = :r AND actor = 'user:boss'", r=str(hole))[-1]
    assert row.before["status"] == "reported" and row.after["status"] == "accepted"
    assert row.request == "POST /api/tickets/{ticket_id}/transitions" and row.user_id is not None
    # token: dispatch (assignment)
    r = c.post(f"/api/tickets/{west}/assign", json={"worker_id": world["worker"]},
               headers={"Authorization": f"Bearer {tok['dispatcher']}"})
    assert r.status_code == 200, r.text
    rows = _audit("table_name = 'ticket' AND row_id = :r AND actor LIKE 't-dispatcher#%'", r=str(west))
    after = {k: v for r in rows for k, v in r.after.items()}
    assert after["status"] == "dispatched" and after["assigned_worker_id"] == world["worker"]
    # token: worker duty
    r = c.post(f"/api/workers/{world['worker']}/duty", json={"on_duty": False},
               headers={"Authorization": f"Bearer {tok['dispatcher']}"})
    assert r.status_code == 200, r.text
    row = _audit("table_name = 'worker' AND row_id = :r", r=str(world["worker"]))[-1]
    assert row.before == {"on_duty": True} and row.after == {"on_duty": False}
    # person: own password change (the hash never reaches the trail)
    assert person.post("/account/password", data={"csrf": csrf["X-CSRF-Token"], "current": PASSWORD,
                                                  "new": "another-long-password"}).status_code == 200
    row = _audit("table_name = 'user_account' AND actor = 'user:boss'")[-1]
    assert "password_hash" not in (row.after or {}) and row.after["password_changed_at"]
    # command line (admin): account, reset, token, revoke
    assert cli_main(["user", "create", "newbie", "--role", "handler", "--department", "water"]) == 0
    assert cli_main(["user", "reset", "newbie"]) == 0
    assert cli_main(["user", "disable", "newbie"]) == 0
    rows = _audit("table_name = 'user_account' AND actor LIKE 'cli:%'")
    assert [r.action for r in rows] == ["insert", "update", "update"]
    assert rows[0].after["username"] == "newbie" and "password_hash" not in rows[0].after
    assert rows[1].after["must_change_password"] is True and rows[2].after["disabled_at"]
    assert cli_main(["token", "create", "--name", "cam-7", "--role", "channel",
                                    "--scopes", "sensors", "--expires-days", "30"]) == 0
    row = _audit("table_name = 'api_token' AND action = 'insert'")[-1]
    assert row.after["name"] == "cam-7" and row.after["scopes"] == ["sensors"] and "token_hash" not in row.after
    # sign-in events, failed ones too
    _sign_in(_client(), "boss", "not-the-password")
    kinds = {r.action for r in _audit("actor = 'user:boss' AND table_name IS NULL")}
    assert {"sign_in", "sign_in_failed"} <= kinds
    # the trail is append-only, even for the application role
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), session_scope() as s:
        s.execute(sa.text("UPDATE audit_log SET actor = 'nobody'"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), session_scope() as s:
        s.execute(sa.text("DELETE FROM audit_log"))
