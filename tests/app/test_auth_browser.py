"""Signing in, roles, data scope and single sign-on in a real Chromium against a real server (issue 13).

One server for the module, with the demo district and accounts, two waiting
tickets (one in the street-scoped dispatcher's street, one in another) and
single sign-on configured against a real OpenID Connect provider
(``tests/oidc``: the npm package ``oidc-provider``, run by node on loopback).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from spatial import accounts
from spatial.auth import Principal
from spatial.db.engine import session_scope
from spatial.tickets import intake
from tests.app.conftest import (
    DEMO_PASSWORD,
    FIND_DECK,
    REPO,
    free_port,
    load_app_demo,
    open_view,
    running_server,
    sign_in,
)
from tests.conftest import truncate_all

pytestmark = pytest.mark.browser

OIDC_DIR = REPO / "tests" / "oidc"
NODE = "/usr/bin/node"
SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def oidc_ports() -> tuple[int, int]:
    return free_port(), free_port()


@pytest.fixture(scope="module")
def provider(oidc_ports) -> Iterator[str]:
    """A real OpenID Connect provider (panva/oidc-provider) on loopback; yields its issuer URL."""
    app_port, port = oidc_ports
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("tests/oidc/node_modules is missing: run ./dev.sh setup (npm ci in tests/oidc)")
    if not Path(NODE).exists():
        pytest.fail(f"{NODE} is missing: apt-get install nodejs")
    env = {**os.environ, "OIDC_PORT": str(port), "OIDC_CLIENT_ID": "onemap", "OIDC_CLIENT_SECRET": "s3cret-test",
           "OIDC_REDIRECT_URI": f"http://127.0.0.1:{app_port}/auth/oidc/callback"}
    log = open(REPO / ".onemap" / f"test_oidc_{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([NODE, "provider.mjs"], cwd=OIDC_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"oidc-provider did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.2)
        yield issuer
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _street_point(s, code: str) -> tuple[float, float]:
    p = s.execute(sa.text("SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_PointOnSurface(geom) g FROM admin_unit "
                          "WHERE code = :c AND level = 2) q"), {"c": code}).one()
    return float(p[0]), float(p[1])


@pytest.fixture(scope="module")
def server(db_url, engine, provider, oidc_ports) -> Iterator[dict]:
    """The demo server with SSO; two waiting tickets: ``own`` in street-dispatcher's street, ``other`` elsewhere."""
    load_app_demo(db_url, engine)
    out: dict = {}
    with session_scope() as s:
        streets = s.scalars(sa.text("SELECT code FROM admin_unit WHERE level = 2 ORDER BY code")).all()
        cat = s.scalar(sa.text("SELECT code FROM category WHERE NOT auto_dispatch AND NOT sensitive ORDER BY code "
                               "LIMIT 1"))
        for key, street in (("own", streets[0]), ("other", streets[1])):
            lon, lat = _street_point(s, street)
            data = intake.TicketCreate.parse({"category": cat, "lon": lon, "lat": lat, "channel": "hotline",
                                              "description": f"auth test {key}"})
            out[key] = intake.intake(s, data, actor="hotline#test", role="channel").ticket.id
        accounts.create_user(s, "locky", ["leadership"], password=DEMO_PASSWORD)
        out["own_street"] = streets[0]
    app_port, _ = oidc_ports
    env = {"ONEMAP_OIDC_ISSUER": provider, "ONEMAP_OIDC_CLIENT_ID": "onemap",
           "ONEMAP_OIDC_CLIENT_SECRET": "s3cret-test", "ONEMAP_OIDC_SCOPE": "openid profile email roles"}
    try:
        with running_server(db_url, port=app_port, env=env) as base:
            out["base"] = base
            yield out
    finally:
        truncate_all(engine)


def _login_form(page, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def test_sign_in_wrong_password_and_sign_out(server, page):
    base = server["base"]
    page.goto(f"{base}/app?role=dispatcher")
    assert "/login" in page.url  # nobody signed in: the app is not served
    _login_form(page, "dispatcher", "not-the-password")
    page.get_by_role("alert").wait_for()
    assert "wrong user name or password" in page.get_by_role("alert").inner_text()
    _login_form(page, "dispatcher", DEMO_PASSWORD)
    page.wait_for_url(f"{base}/app?role=dispatcher")
    page.wait_for_function(FIND_DECK, timeout=60_000)
    page.locator(".om-user").wait_for()
    assert page.locator(".om-user").inner_text() == "Dispatcher"
    page.screenshot(path=str(SHOTS / "auth_signed_in.png"))
    page.click(".om-signout")
    page.get_by_text("You are signed out").wait_for()
    page.goto(f"{base}/app")
    assert "/login" in page.url


def test_lock_out_after_failures(server, page):
    base = server["base"]
    page.goto(f"{base}/login")
    for _ in range(5):
        _login_form(page, "locky", "wrong-password-x")
        page.get_by_role("alert").wait_for()
    _login_form(page, "locky", DEMO_PASSWORD)  # the right password, too late
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "locked" in alert.inner_text()
    page.screenshot(path=str(SHOTS / "auth_locked.png"))
    with session_scope() as s:  # an admin's reset unlocks
        accounts.reset_password(s, "locky", "a-new-password-1")
    _login_form(page, "locky", "a-new-password-1")
    page.get_by_text("choose a new one").wait_for()  # the reset password must be changed first


@pytest.mark.parametrize(("user", "asked", "lands", "links"), [
    ("leadership", "dispatcher", "Leadership", ["Leadership"]),
    ("dispatcher", "planner", "Dispatcher", ["Dispatcher"]),
    ("planner", "audit", "Planner", ["Planner"]),
    ("chief", "planner", "Planner", ["Leadership", "Dispatcher", "Planner"]),
    ("admin", "audit", "Audit", ["Leadership", "Dispatcher", "Planner", "Audit"]),
])
def test_each_role_sees_only_its_views(server, page, user, asked, lands, links):
    """The URL may only pick among the person's own views; the header offers only those."""
    base = server["base"]
    sign_in(page, base, user)
    page.goto(f"{base}/app?role={asked}")
    page.locator(".om-user").wait_for(timeout=60_000)
    assert page.title().endswith(f" - {lands}")
    header = page.locator(".om-user").locator("xpath=..")
    shown = [a.inner_text() for a in header.locator("a").all() if a.inner_text() != "Account"]
    assert shown == links
    if lands == "Audit":  # the admin reads the trail: the sign-ins of this module are in it
        page.get_by_text("sign_in", exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=str(SHOTS / "auth_audit_view.png"))
    if user == "dispatcher":  # no button of another role's view: the planner's "Issue" is not there
        assert page.get_by_role("button", name="Issue warnings").count() == 0


def test_role_without_view(server, page):
    sign_in(page, server["base"], "citizen")
    page.goto(f"{server['base']}/app")
    page.get_by_text("have no view in the one-map app").wait_for(timeout=30_000)


def test_street_dispatcher_sees_and_assigns_only_own_street(server, page):
    base, own, other = server["base"], server["own"], server["other"]
    open_view(page, f"{base}/app?role=dispatcher", user="street-dispatcher")
    rows = page.locator(".tabulator-row")
    rows.first.wait_for(timeout=30_000)
    cells = page.locator(".tabulator-row .tabulator-cell[tabulator-field='id']").all_inner_texts()
    ids = {int(t.replace(',', '')) for t in cells}
    assert own in ids and other not in ids
    page.screenshot(path=str(SHOTS / "auth_street_dispatcher.png"))
    # a forged request from the same signed-in browser (with its CSRF token): refused, nothing written
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "onemap_csrf")
    r = page.request.post(f"{base}/api/tickets/{other}/assign", data={"worker_id": 1},
                          headers={"X-CSRF-Token": csrf, "Origin": base})
    assert r.status == 404
    assert page.request.get(f"{base}/api/tickets/{other}").status == 404
    with session_scope() as s:
        status = s.scalar(sa.text("SELECT status FROM ticket WHERE id = :t"), {"t": other})
        assert status == "reported"
    # the view's own action refuses it too (the check is in the server-side view, not only in the list)
    from views.dispatcher import DispatcherView  # noqa: F401  (the class the page runs)

    with session_scope() as s:
        from spatial.tickets.queries import check_in_scope

        me = Principal(actor="user:street-dispatcher", role="dispatcher",
                       admin_unit_id=s.scalar(sa.text("SELECT id FROM admin_unit WHERE code = :c AND level = 2"),
                                              {"c": server["own_street"]}))
        with pytest.raises(Exception, match="does not exist"):
            check_in_scope(s, me, other)


def test_single_sign_on_with_a_real_provider(server, page):
    base = server["base"]
    page.goto(f"{base}/app?role=dispatcher")
    page.get_by_text("Sign in with single sign-on").click()
    page.wait_for_selector("#login")  # the provider's own sign-in page (another origin on loopback)
    assert page.url.startswith("http://127.0.0.1:") and "/interaction/" in page.url
    page.fill("#login", "sso-dispatcher")
    page.fill("#password", "sso-pass-1")
    page.click("#submit")
    page.wait_for_url(f"{base}/app?role=dispatcher", timeout=30_000)
    page.wait_for_function(FIND_DECK, timeout=60_000)
    assert page.locator(".om-user").inner_text() == "SSO Dispatcher"
    with session_scope() as s:
        row = s.execute(sa.text("SELECT username, roles, oidc_subject, password_hash FROM user_account "
                                "WHERE oidc_subject = 'sso-dispatcher'")).one()
    assert row.roles == ["dispatcher"] and row.password_hash is None
    page.screenshot(path=str(SHOTS / "auth_sso.png"))


def test_single_sign_on_without_a_role_is_refused(server, page):
    base = server["base"]
    page.goto(f"{base}/login")
    page.get_by_text("Sign in with single sign-on").click()
    page.wait_for_selector("#login")
    page.fill("#login", "sso-nobody")
    page.fill("#password", "sso-pass-3")
    page.click("#submit")
    page.get_by_text("grants you no OneMap role").wait_for(timeout=30_000)
    with session_scope() as s:
        assert s.scalar(sa.text("SELECT count(*) FROM user_account WHERE oidc_subject = 'sso-nobody'")) == 0
