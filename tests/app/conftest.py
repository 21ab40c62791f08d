"""Fixtures for the one-map browser tests: a real server on a free port and air-gapped Chromium.

``app_server`` loads a small demo district (committed, ``data.load``) into
the test database, starts ``uvicorn app:create_server`` in a
subprocess against it and yields its base URL; the tables are truncated
afterwards. ``page`` is a Playwright page in Debian's ``/usr/bin/chromium``
(never ``playwright install``) in which every request to a host other than
127.0.0.1 is aborted and recorded: any such request, or any JavaScript page
error, fails the test. Missing Chromium fails, never skips.

The app needs a signed-in person (issue 13). ``app_server`` loads the demo
accounts (``data.accounts``, one per role, password
:data:`DEMO_PASSWORD`); :func:`open_view` signs the page in as the demo
account of the ``?role=`` in its URL (``/app?role=dispatcher`` signs in as
``dispatcher``) unless it already is, so ``open_view(page, f"{app_server}/app?role=X")``
lands on view X as before. :func:`sign_in` does it explicitly (any user
name), :func:`sign_out` ends it. API calls keep using bearer tokens.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from tests.conftest import truncate_all

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
        "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
#: Finds the DeckGL view among the Bokeh views and keeps it as window._dv.
FIND_DECK = """() => { if (!window.Bokeh || !Bokeh.index) return false; const st = [...Bokeh.index.roots];
  while (st.length) { const v = st.pop(); if (v.deckGL) { window._dv = v; return true }
    for (const c of (v.child_views || [])) st.push(c) } return false }"""
LAYERS_LOADED = """() => { const d = window._dv && window._dv.deckGL; if (!d || !d.layerManager) return false;
  const ls = d.layerManager.getLayers(); return ls.length > 0 && ls.every(l => l.isLoaded) }"""
REPO = Path(__file__).resolve().parents[2]
DEMO_TICKETS = 3000
#: The demo accounts' password (``data.accounts``).
DEMO_PASSWORD = "onemap-demo"
#: The demo account ``open_view`` signs in as for each ``?role=`` of an app URL.
ROLE_USERS = {"leadership": "leadership", "dispatcher": "dispatcher", "planner": "planner", "audit": "admin"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(db_url: str, *, port: int | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``uvicorn app:create_server`` on 127.0.0.1 (``port`` or a free one) with ``env``; yields its base URL."""
    port = port or free_port()
    full_env = {**os.environ, "ONEMAP_DATABASE_URL": db_url, "ONEMAP_SLA_SWEEP_SECONDS": "0",
                "ONEMAP_DEMO_PASSWORD": DEMO_PASSWORD, **(env or {})}
    (REPO / ".onemap").mkdir(exist_ok=True)
    log = open(REPO / ".onemap" / f"test_app_server_{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:create_server", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"server did not start: {Path(log.name).read_text()[-3000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def load_app_demo(db_url: str, engine: sa.Engine) -> None:
    """The small demo district (with its demo accounts) and fresh GPS fixes, committed."""
    from data.load import load_demo

    truncate_all(engine)
    load_demo(tickets=DEMO_TICKETS, url=db_url, replace=True)
    with engine.begin() as conn:  # fresh GPS fixes so the dispatcher has candidates
        conn.execute(sa.text("UPDATE worker SET position_at = now() WHERE on_duty AND geom IS NOT NULL"))


@pytest.fixture(scope="module")
def app_server(db_url: str, engine: sa.Engine) -> Iterator[str]:
    """Base URL of a running OneMap server with a small demo district and its demo accounts loaded (committed)."""
    load_app_demo(db_url, engine)
    try:
        with running_server(db_url) as base:
            yield base
    finally:
        truncate_all(engine)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def block_external(page, external: list[str]) -> None:
    """Abort every request that leaves 127.0.0.1 (data:/blob: pass) and record its URL in ``external``."""

    def route(r):
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            external.append(url)
            r.abort()

    page.route("**/*", route)


@pytest.fixture
def page(browser):
    """A 1600x1000 page; non-local requests are blocked and fail the test, as do page errors."""
    external: list[str] = []
    errors: list[str] = []
    pg = browser.new_page(viewport={"width": 1600, "height": 1000})
    block_external(pg, external)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert not external, f"non-local requests: {external}"
    assert not errors, f"page errors: {errors}"


def sign_in(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign ``page``'s browser context in as ``username`` (a form POST to ``/login``; cookies land in the context).

    Raises AssertionError when the server refuses (wrong password, locked, disabled).
    """
    r = page.request.post(f"{base}/login", form={"username": username, "password": password, "next": "/account"},
                          headers={"Origin": base}, max_redirects=0)
    assert r.status == 303, f"sign-in as {username!r} refused: {r.status} {r.text()[:300]}"
    page._onemap_user = username


def sign_out(page, base: str) -> None:
    """End the page's sign-in session (the same POST the header's button sends)."""
    csrf = next((c["value"] for c in page.context.cookies() if c["name"] == "onemap_csrf"), "")
    page.request.post(f"{base}/logout", form={"csrf": csrf}, headers={"Origin": base})
    page._onemap_user = None


def open_view(page, url: str, *, timeout_ms: int = 60_000, user: str | None = None) -> float:
    """Navigate and wait until every deck layer is loaded; returns seconds taken.

    Signs in first as ``user``, or as the demo account of the URL's ``?role=``
    (:data:`ROLE_USERS`), unless the page is already signed in as that account.
    """
    parts = urlsplit(url)
    role = parse_qs(parts.query).get("role", ["leadership"])[0]
    user = user or ROLE_USERS.get(role, role)
    if getattr(page, "_onemap_user", None) != user:
        sign_in(page, f"{parts.scheme}://{parts.netloc}", user)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(FIND_DECK, timeout=timeout_ms)
    page.wait_for_function(LAYERS_LOADED, timeout=timeout_ms)
    return time.perf_counter() - t0


def canvas_stats(page) -> tuple[int, float]:
    """(distinct colours, fraction of non-white pixels) of the deck canvas from a real screenshot."""
    box = page.evaluate("() => { const r = _dv.deckGL.getCanvas().getBoundingClientRect();"
                        " return {x: r.left, y: r.top, width: r.width, height: r.height} }")
    png = page.screenshot(clip=box)
    arr = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((200, 200)))
    px = arr.reshape(-1, 3)
    non_white = float((px.min(axis=1) < 235).mean())
    return len(np.unique(px, axis=0)), non_white


def click_layer_object(page, layer_id: str, index: int, *, attempts: int = 6, done: str | None = None,
                       timeout_ms: int = 4000) -> None:
    """Click object ``index`` of deck layer ``layer_id`` where deck projects it, retrying missed clicks.

    Under SwiftShader a click is sometimes not recognised (long software
    frames); we retry until ``done`` (a JS predicate) holds or the Python
    side saw the click (``clickState`` set).
    """
    js = """([id, i]) => { const d = _dv.deckGL; const L = d.props.layers.find(l => l.id === id);
      const data = Array.isArray(L.props.data) ? L.props.data : L.props.data.features;
      const rec = data[i]; let pos;
      if (rec.lon !== undefined) { pos = [rec.lon, rec.lat] }
      else { const c = rec.geometry.coordinates[0]; const ring = rec.geometry.type === 'MultiPolygon' ? c[0] : c;
             let x = 0, y = 0; for (const p of ring) { x += p[0]; y += p[1] } pos = [x / ring.length, y / ring.length] }
      const [x, y] = d.getViewports()[0].project(pos); const r = d.getCanvas().getBoundingClientRect();
      return {x: x + r.left, y: y + r.top} }"""
    check = done or "() => Object.keys(_dv.model.clickState || {}).length > 0"
    for _ in range(attempts):
        pt = page.evaluate(js, [layer_id, index])
        page.mouse.move(pt["x"], pt["y"])
        page.mouse.click(pt["x"], pt["y"])
        try:
            page.wait_for_function(check, timeout=timeout_ms)
            return
        except Exception:  # playwright TimeoutError: retry the click
            continue
    raise AssertionError(f"click on {layer_id}[{index}] was never registered")
