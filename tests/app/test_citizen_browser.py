"""The citizen page in real Chromium with a phone's viewport: report with a photo, follow the tracking link and
see the status change after the ticket is resolved; the same report by keyboard only (address path too)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.auth import create_token
from tests.app.conftest import block_external
from tests.citizen.images import jpeg

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
MAP_READY = """() => { const d = window.__onemapDeck; if (!d || !d.layerManager) return false;
  const ls = d.layerManager.getLayers(); return ls.length > 0 && ls.every(l => l.isLoaded) }"""


@pytest.fixture
def phone(browser):
    """A phone-sized page (390x844, touch); requests leaving 127.0.0.1 and page errors fail the test."""
    contexts = []

    def make(locale: str):
        ctx = browser.new_context(locale=locale, **PHONE)
        contexts.append(ctx)
        pg = ctx.new_page()
        pg.external, pg.errors = [], []
        block_external(pg, pg.external)
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        return pg

    yield make
    for ctx in contexts:
        for pg in ctx.pages:
            assert not pg.external, f"non-local requests: {pg.external}"
            assert not pg.errors, f"page errors: {pg.errors}"
        ctx.close()


@pytest.fixture(scope="module")
def admin_token(app_server, engine) -> str:
    with Session(engine) as s:
        token = create_token(s, name="citizen-test-admin", role="admin")
        s.commit()
    return token


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def _resolve(base: str, token: str, ticket_id: int) -> None:
    for to in ("accepted", "in_progress", "resolved"):
        r = httpx.post(f"{base}/api/tickets/{ticket_id}/transitions", json={"to": to},
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200, r.text


def test_citizen_reports_with_a_photo_and_follows_it(app_server, phone, admin_token, engine):
    page = phone("en-GB")
    _open(page, f"{app_server}/report")
    page.wait_for_function(MAP_READY, timeout=60_000)
    codes = page.eval_on_selector_all("#category option", "os => os.map(o => o.value).filter(Boolean)")
    with engine.connect() as c:
        sensitive = set(c.scalars(sa.text("SELECT code FROM category WHERE sensitive")))
    assert codes and not sensitive & set(codes)
    page.select_option("#category", "pothole" if "pothole" in codes else codes[0])
    page.locator("#map").tap()  # a finger on the map drops the pin there
    page.wait_for_function("() => document.getElementById('pin-status').textContent.startsWith('Place chosen')")
    page.set_input_files("#photos", files=[{"name": "pothole.jpg", "mimeType": "image/jpeg",
                                            "buffer": jpeg(gps=True, size=(1600, 1200))}])
    page.wait_for_selector("#photo-list img")
    page.wait_for_function("() => document.querySelector('#photo-list img').naturalWidth > 0")
    page.fill("#description", "Deep pothole in front of the school gate")
    page.fill("#email", "resident@example.org")
    page.screenshot(path=str(SHOTS / "citizen_report.png"), full_page=True)
    page.click("#submit")
    page.wait_for_selector("#done:not([hidden])")
    link = page.get_attribute("#track-link", "href")
    assert link.startswith(f"{app_server}/report/track#") and len(link.split("#")[1]) >= 32
    assert page.evaluate("document.activeElement.id") == "done"
    with engine.connect() as c:
        ticket_id, channel, photos = c.execute(sa.text(
            "SELECT id, channel, photo_urls FROM ticket ORDER BY id DESC LIMIT 1")).one()
    assert channel == "citizen_app" and len(photos) == 1 and "/media/" in photos[0]
    assert f"#{ticket_id}" in page.text_content("#done-text")

    page.goto(link)
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#track-status") == "Reported"
    page.wait_for_function("() => document.querySelector('#track-photos img')?.naturalWidth > 0")
    _resolve(app_server, admin_token, ticket_id)
    page.click("#track-refresh")
    page.wait_for_function("() => document.getElementById('track-status').textContent === 'Resolved'")
    history = page.eval_on_selector_all("#track-history li", "ls => ls.map(l => l.textContent)")
    assert [h.split(" — ")[1] for h in history] == ["Reported", "Accepted", "Being handled", "Resolved"]
    assert "Resolved" in page.text_content("#track-messages")
    page.screenshot(path=str(SHOTS / "citizen_track.png"), full_page=True)


def _tab_to(page, selector: str, limit: int = 40) -> int:
    """Press Tab until ``selector`` has the focus; returns how many presses it took."""
    for n in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return n
    raise AssertionError(f"{selector} never got the focus by Tab")


def test_keyboard_only_report_by_map_and_by_address(app_server, phone, engine):
    page = phone("zh-CN")
    _open(page, f"{app_server}/report")
    page.wait_for_function(MAP_READY, timeout=60_000)
    assert page.text_content("#submit") == "提交"
    # every field has a label a screen reader announces
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id || e.name)""")
    assert unlabelled == []
    _tab_to(page, "#category")
    page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("#category", "s => s.value") != ""
    _tab_to(page, "#map")
    for key in ("ArrowRight", "ArrowUp", "+"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    assert page.text_content("#pin-status").startswith("已选位置")
    _tab_to(page, "#description")
    page.keyboard.type("路灯不亮")
    _tab_to(page, "#submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#done:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "done"
    first = page.get_attribute("#track-link", "href")

    # the address-only path: no map at all
    _open(page, f"{app_server}/report")
    _tab_to(page, "#category")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    _tab_to(page, "input[name=where][value=map]")
    page.keyboard.press("ArrowDown")  # radio group: the arrow moves to "by address"
    assert page.is_visible("#address-q") and not page.is_visible("#map")
    _tab_to(page, "#address-q")
    with engine.connect() as c:  # a road of the demo district, as a resident would type it
        road = c.scalar(sa.text("SELECT name FROM road WHERE name IS NOT NULL ORDER BY id LIMIT 1"))
    page.keyboard.type(road)
    page.keyboard.press("Enter")
    page.wait_for_selector("#address-options input[type=radio]")
    assert page.evaluate("document.activeElement.name") == "address-pick"
    page.keyboard.press("Space")
    assert page.text_content("#pin-status").startswith("已选位置")
    _tab_to(page, "#submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#done:not([hidden])")
    assert page.get_attribute("#track-link", "href") != first

