"""The one-map app in a real, air-gapped Chromium against a real server and database.

Each role's view renders (non-blank canvas from a screenshot), a click on a
ticket shows candidates, assignment updates the ticket, the planner runs a
small forecast and issues warnings; no request leaves 127.0.0.1.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from tests.app.conftest import LAYERS_LOADED, canvas_stats, click_layer_object, open_view
from views.leadership import RANGE_TITLE

pytestmark = pytest.mark.browser


def test_root_redirects_and_map_api(app_server):
    r = httpx.get(f"{app_server}/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/app"
    k = httpx.get(f"{app_server}/api/map/kpis", params={"days": 30}).json()
    assert k["received"] > 0 and 0 <= k["on_time_rate"] <= 1
    fc = httpx.get(f"{app_server}/api/map/grids", params={"days": 30}).json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) > 100
    assert httpx.get(f"{app_server}/api/map/flood/nope.png").status_code == 404
    bad = httpx.get(f"{app_server}/api/map/flood/..%2Fx.png")
    assert bad.status_code in (404, 422)
    assert httpx.get(f"{app_server}/api/map/kpis", params={"days": -1}).status_code == 422


def test_leadership_renders_and_drills_down(app_server, page):
    open_view(page, f"{app_server}/app")
    colours, non_white = canvas_stats(page)
    assert colours > 20 and non_white > 0.3, (colours, non_white)
    page.get_by_text("Received", exact=True).wait_for()
    assert page.get_by_text("Whole district", exact=True).count() >= 1
    # click a grid polygon: KPIs narrow to the grid, the map to its street
    n_before = page.evaluate("() => _dv.deckGL.props.layers.find(l => l.id === 'grids').props.data.features.length")
    click_layer_object(page, "grids", 5)
    page.wait_for_function(
        "(n) => { const L = _dv.deckGL.props.layers.find(l => l.id === 'grids');"
        " return L && L.props.data.features.length < n }", arg=n_before, timeout=15_000)
    page.wait_for_function(LAYERS_LOADED, timeout=15_000)
    assert page.locator("text=›").count() >= 1 or page.get_by_text("Grid").count() >= 1


def test_leadership_overlays_camera_click(app_server, page):
    open_view(page, f"{app_server}/app")
    page.get_by_label("Cameras").check()
    page.get_by_label("Sensors").check()
    page.wait_for_function("() => ['cameras', 'sensors', 'camera_cones'].every("
                           "id => _dv.deckGL.props.layers.some(l => l.id === id))", timeout=20_000)
    page.wait_for_function(LAYERS_LOADED, timeout=20_000)
    click_layer_object(page, "cameras", 0)
    page.get_by_text("stream:").wait_for(timeout=15_000)
    assert page.locator("text=/^Camera /").count() >= 1


def test_dispatcher_click_candidates_assign(app_server, page, engine):
    open_view(page, f"{app_server}/app?role=dispatcher")
    colours, non_white = canvas_stats(page)
    assert colours > 10 and non_white > 0.02, (colours, non_white)
    ticket_id = page.evaluate("() => _dv.deckGL.props.layers.find(l => l.id === 'tickets').props.data[0].id")
    click_layer_object(page, "tickets", 0)
    assign = page.get_by_role("button", name="Assign").first
    assign.wait_for(timeout=15_000)
    # candidates are drawn: links layer present, highlighted workers
    page.wait_for_function("() => _dv.deckGL.props.layers.some(l => l.id === 'links')", timeout=15_000)
    assign.click()
    page.get_by_text("assigned to worker").wait_for(timeout=15_000)
    with engine.connect() as conn:
        status, worker = conn.execute(sa.text("SELECT status, assigned_worker_id FROM ticket WHERE id = :i"),
                                      {"i": ticket_id}).one()
    assert status == "dispatched" and worker is not None
    page.wait_for_function(
        "(id) => { const L = _dv.deckGL.props.layers.find(l => l.id === 'tickets');"
        " return L.props.data.some(r => r.id === id && r.status === 'dispatched') }", arg=ticket_id,
        timeout=15_000)


def test_planner_runs_forecast_and_issues_warnings(app_server, page, engine):
    open_view(page, f"{app_server}/app?role=planner")
    page.get_by_label("Model cell size (m)").select_option("50")
    page.get_by_label("Storm duration (min)").select_option("30")
    page.get_by_label("Return period (years)").select_option("50")
    rec = page.get_by_label("Recession after rain (min)")
    rec.fill("0")
    rec.press("Enter")
    page.get_by_role("button", name="Run forecast").click()
    page.get_by_text("finished in").wait_for(timeout=120_000)
    page.wait_for_function("() => _dv.deckGL.props.layers.some(l => l.id === 'flood')", timeout=15_000)
    page.wait_for_function(LAYERS_LOADED, timeout=30_000)
    url = page.evaluate("() => _dv.deckGL.props.layers.find(l => l.id === 'flood').props.image")
    url = url if isinstance(url, str) else page.evaluate(
        "() => _dv.model.layers.find(l => l.id === 'flood').image")
    r = httpx.get(f"{app_server}{url}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    colours, _ = canvas_stats(page)
    assert colours > 10
    issue = page.get_by_role("button", name="Issue warnings")
    assert issue.is_enabled(), "a 50-year storm puts some roads/grids at risk"
    issue.click()
    page.get_by_text("Warnings issued").wait_for(timeout=30_000)
    with engine.connect() as conn:
        n = conn.scalar(sa.text("SELECT count(*) FROM alert WHERE source_kind = 'flood'"))
    assert n > 0


def test_basemap_under_the_data(app_server, page):
    """The offline basemap: an MVTLayer first in the deck and its labels last, over the data; tiles and parser
    worker from this server only."""
    got: list[tuple[str, int]] = []
    page.on("response", lambda r: got.append((r.url, r.status)) if "/tiles/" in r.url else None)
    open_view(page, f"{app_server}/app")
    info = page.evaluate("""() => { const m = _dv.deckGL.layerManager.getLayers().find(l => l.id === 'basemap');
      const tiles = m.state.tileset.tiles.filter(t => t.isLoaded);
      const ls = _dv.deckGL.props.layers;
      return {first: ls[0].id, last: ls[ls.length - 1].id, type: m.constructor.layerName, tiles: tiles.length,
              features: tiles.reduce((n, t) => n + (Array.isArray(t.content) ? t.content.length : 0), 0)} }""")
    assert info["first"] == "basemap" and info["type"] == "MVTLayer" and info["last"] == "basemap_labels", info
    assert info["tiles"] > 0 and info["features"] > 0, info  # the demo's roads and admin outlines, parsed
    tile_urls = [u for u, _ in got if "/tiles/basemap/" in u or "/tiles/labels/" in u]
    assert any("/tiles/labels/" in u for u in tile_urls), tile_urls
    assert tile_urls and all(u.startswith(app_server) and u.endswith(".mvt") for u in tile_urls)
    assert all(status in (200, 304) for _, status in got), got


#: Sets the leadership view's date range picker through its Bokeh model (as a pick in the calendar does).
SET_RANGE = """([a, b]) => { const st = [...Bokeh.index.roots];
  while (st.length) { const v = st.pop();
    if (v.model && v.model.title === %r) { v.model.value = [a, b]; return true }
    for (const c of (v.child_views || [])) st.push(c) } return false }"""
#: Text of the KPI row (its HTML lives in shadow roots), cells separated by spaces.
KPI_TEXT = """() => { const text = (n) => n.nodeType === 3 ? n.textContent + ' '
    : [...(n.shadowRoot ? n.shadowRoot.childNodes : []), ...n.childNodes].map(text).join('');
  const find = (root) => { for (const el of root.querySelectorAll('*')) {
    if (el.classList && el.classList.contains('onemap-kpi')) return el;
    if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f } } return null };
  const k = find(document); return k ? text(k).replace(/\\s+/g, ' ').trim() : '' }"""


def _kpi(text: str, name: str) -> str:
    cells = text.split(" ")
    return cells[cells.index(name) + 1]


def test_leadership_date_range_changes_kpis(app_server, page):
    open_view(page, f"{app_server}/app")
    page.wait_for_function(f"() => ({KPI_TEXT})().includes('Received')", timeout=20_000)
    before = page.evaluate(KPI_TEXT)
    assert _kpi(before, "Received") != "0", before
    r = httpx.get(f"{app_server}/api/map/kpis", params={"since": "2020-01-01", "until": "2020-01-31"}).json()
    assert r["received"] == 0 and r["closed"] == 0  # the demo's tickets are all recent
    # a range long ago: nothing received or closed in it (open and overdue stay "now")
    assert page.evaluate(SET_RANGE % RANGE_TITLE, ["2020-01-01", "2020-01-31"])
    page.wait_for_function(f"(b) => ({KPI_TEXT})() !== b", arg=before, timeout=20_000)
    after = page.evaluate(KPI_TEXT)
    assert _kpi(after, "Received") == "0" and _kpi(after, "Closed") == "0", after
    assert _kpi(after, "Open") == _kpi(before, "Open")
