"""Browser test of emergency command: declare an incident from a ticket in the dispatcher view, see its
zone and the resources nearby, dispatch three departments in one click; leadership sees it live."""

from __future__ import annotations

import os

import sqlalchemy as sa
from playwright.sync_api import expect

from tests.app.conftest import LAYERS_LOADED, click_layer_object, open_view

SHOTS = os.environ.get("ONEMAP_SCREENSHOT_DIR")


def test_declare_from_ticket_and_dispatch_three_departments(app_server, page, engine):
    page.set_default_navigation_timeout(120_000)  # the first page of a fresh server on a busy machine
    open_view(page, f"{app_server}/app?role=dispatcher")
    ticket_id = page.evaluate("() => _dv.deckGL.props.layers.find(l => l.id === 'tickets').props.data[0].id")
    click_layer_object(page, "tickets", 0)
    declare = page.get_by_role("button", name="Declare incident")
    expect(declare).to_be_enabled(timeout=30_000)
    page.get_by_label("Incident type").select_option(label="Gas leak 燃气泄漏")
    declare.click()
    # zone, impact and resources in one transaction: seconds on a busy 2-core machine
    page.get_by_text("about", exact=False).filter(has_text="people").first.wait_for(timeout=60_000)
    page.wait_for_function("() => ['incident_zone', 'resources'].every(id => "
                           "_dv.deckGL.props.layers.some(l => l.id === id))", timeout=20_000)
    page.wait_for_function(LAYERS_LOADED, timeout=30_000)
    expect(page.get_by_text("Nearest available", exact=True)).to_be_visible()
    with engine.connect() as conn:
        inc = conn.execute(sa.text("SELECT id, type_code, zone IS NOT NULL FROM incident WHERE source_kind = 'ticket' "
                                   "AND source_id = :t AND status = 'open'"), {"t": ticket_id}).one()
    assert inc[1] == "gas_leak" and inc[2]

    page.get_by_role("button", name="Dispatch 3 departments").click()
    page.get_by_text("3 tasks dispatched").wait_for(timeout=30_000)
    with engine.connect() as conn:
        depts = conn.execute(sa.text("SELECT d.code FROM incident_task t JOIN department d ON d.id = t.department_id "
                                     "WHERE t.incident_id = :i ORDER BY d.code"), {"i": inc[0]}).scalars().all()
    assert depts == ["safety", "traffic", "urban"]
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "dispatcher_incident.png"))

    open_view(page, f"{app_server}/app?role=leadership")
    page.wait_for_function("() => _dv.deckGL.props.layers.some(l => l.id === 'incidents')", timeout=30_000)
    page.get_by_text("Live incidents (1)").wait_for(timeout=15_000)
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "leadership_incidents.png"))
