"""Live updates in a real Chromium: committed changes reach open pages without a reload.

A ticket created through the HTTP API appears in an open dispatcher's queue
and on its map; a worker's new GPS fix moves its dot.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from spatial.auth import create_token
from spatial.db.engine import session_scope
from tests.app.conftest import open_view

pytestmark = pytest.mark.browser


def _token(role: str) -> str:
    with session_scope() as s:
        return create_token(s, name=f"live-{role}", role=role)


#: The ticket ids in the dispatcher's queue table (its Bokeh model's data: the table renders visible rows only).
_QUEUE_JS = """() => { const st = [...Bokeh.index.roots]; while (st.length) { const v = st.pop();
    if (v.model && v.model.source && v.model.columns && 'id' in v.model.source.data)
      return Array.from(v.model.source.data.id).map(Number);
    for (const c of (v.child_views || [])) st.push(c) } return [] }"""


def test_new_ticket_appears_on_open_dispatcher(app_server, page, engine):
    open_view(page, f"{app_server}/app?role=dispatcher")
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM admin_unit "
            "WHERE level = 4 ORDER BY id LIMIT 1")).one()
    r = httpx.post(f"{app_server}/api/tickets", headers={"Authorization": f"Bearer {_token('dispatcher')}"},
                   json={"category": "pothole", "lon": lon, "lat": lat, "channel": "hotline",
                         "description": "live test", "priority": 1, "dedupe": False}, timeout=30)
    assert r.status_code == 201, r.text
    tid = r.json()["ticket"]["id"]
    assert r.json()["ticket"]["status"] == "reported"  # waits for dispatch (pothole: no auto-dispatch)
    page.wait_for_function(
        "(id) => { const L = _dv.deckGL.props.layers.find(l => l.id === 'tickets');"
        " return L && L.props.data.some(r => r.id === id) }", arg=tid, timeout=5_000)
    page.wait_for_function(f"() => ({_QUEUE_JS})().includes({tid})", timeout=5_000)


def test_worker_fix_moves_its_dot(app_server, page):
    open_view(page, f"{app_server}/app?role=dispatcher")
    w = page.evaluate("() => { const L = _dv.deckGL.props.layers.find(l => l.id === 'workers');"
                      " const d = L.props.data; return {id: d[0].id, lon: d[0].lon, lat: d[0].lat} }")
    new_lon = w["lon"] + 0.0005  # ~50 m east
    fix = {"worker_id": w["id"], "lon": new_lon, "lat": w["lat"], "fixed_at": datetime.now(UTC).isoformat()}
    r = httpx.post(f"{app_server}/api/workers/positions", json={"fixes": [fix]},
                   headers={"Authorization": f"Bearer {_token('dispatcher')}"}, timeout=30)
    assert r.status_code == 200 and r.json()["trusted"] == 1, r.text
    page.wait_for_function(
        "([id, lon]) => { const L = _dv.deckGL.props.layers.find(l => l.id === 'workers');"
        " const d = L.props.data.find(r => r.id === id); return d && Math.abs(d.lon - lon) < 1e-6 }",
        arg=[w["id"], new_lon], timeout=5_000)
