"""Joint dispatch: one incident, linked tasks for three departments; escalation; closing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from spatial.errors import Conflict, ValidationError
from spatial.incidents import incidents
from spatial.models import IncidentType
from tests.incidents.conftest import NOW


@pytest.fixture
def flood_type(session, district):
    session.add(IncidentType(code="test_flood", name="Test flood", zone_kind="buffer", radius_m=150.0, level=2,
                             tasks=[
                                 {"department": "water", "title": "Pump out", "deadline_h": 1,
                                  "closing_standard": "Depth under 5 cm", "skill": "drainage"},
                                 {"department": "traffic", "title": "Divert traffic", "deadline_h": 1,
                                  "closing_standard": "Detours signed", "skill": "traffic"},
                                 {"department": "urban", "title": "Sandbags", "deadline_h": 2,
                                  "closing_standard": "Sandbag lines placed"},
                             ]))
    session.flush()
    return "test_flood"


def _workload(session, wid):
    return session.execute(sa.text("SELECT workload FROM worker WHERE id = :w"), {"w": wid}).scalar()


def test_declare_dispatch_escalate_close(session, flood_type, worker_factory, ticket_factory):
    water_far = worker_factory("water", lon=113.46, lat=23.13, skills=("drainage",))
    water_near_unskilled = worker_factory("water", lon=113.4401, lat=23.12)
    traffic = worker_factory("traffic", lon=113.445, lat=23.12, skills=("traffic",))
    urban_full = worker_factory("urban", lon=113.4402, lat=23.12, workload=5, max_workload=5)
    urban = worker_factory("urban", lon=113.45, lat=23.12)
    t = ticket_factory("waterlogging", lon=113.44, lat=23.12)

    inc = incidents.declare(session, type_code=flood_type, source_kind="ticket", source_id=t, actor="test", now=NOW)
    assert inc.status == "open" and inc.level == 2 and inc.ticket_id == t and inc.zone is not None
    with pytest.raises(Conflict, match="already has open incident"):
        incidents.declare(session, type_code=flood_type, source_kind="ticket", source_id=t, actor="test", now=NOW)

    out = incidents.dispatch(session, inc.id, actor="desk", now=NOW)
    tasks = {x["department"]: x for x in out["tasks"]}
    assert set(tasks) == {"water", "traffic", "urban"} and out["skipped"] == []
    assert tasks["water"]["lead_worker_id"] == water_far          # the skilled one, though farther
    assert tasks["traffic"]["lead_worker_id"] == traffic
    assert tasks["urban"]["lead_worker_id"] == urban              # the nearer one is at its cap
    assert tasks["water"]["deadline_at"] == NOW + timedelta(hours=1)
    assert tasks["urban"]["closing_standard"] == "Sandbag lines placed"
    assert [_workload(session, w) for w in (water_far, water_near_unskilled, traffic, urban_full, urban)] == [
        1, 0, 1, 5, 1]
    again = incidents.dispatch(session, inc.id, actor="desk", now=NOW)   # a double click creates nothing twice
    assert again["tasks"] == [] and {s["reason"] for s in again["skipped"]} == {"already dispatched"}

    # 90 min later the two 1-hour tasks are overdue: level 1 each, and the incident goes up
    assert incidents.sweep(session, now=NOW + timedelta(minutes=90)) == {"tasks_escalated": 2}
    assert incidents.sweep(session, now=NOW + timedelta(minutes=91)) == {"tasks_escalated": 0}
    view = incidents.incident_view(session, inc.id)
    assert {x["department"]: x["escalation_level"] for x in view["tasks"]} == {"water": 1, "traffic": 1, "urban": 0}
    assert view["level"] == 4 and view["overdue_level"] == 1
    # overdue by the task's own duration again: level 2 (and the 2-hour task is now overdue too)
    assert incidents.sweep(session, now=NOW + timedelta(hours=2, minutes=1)) == {"tasks_escalated": 3}
    view = incidents.incident_view(session, inc.id)
    assert {x["department"]: x["escalation_level"] for x in view["tasks"]} == {"water": 2, "traffic": 2, "urban": 1}

    with pytest.raises(ValidationError, match="closing a task needs a note"):
        incidents.update_task(session, tasks["water"]["id"], "done", actor="lead")
    r = incidents.update_task(session, tasks["water"]["id"], "in_progress", actor="lead", now=NOW)
    assert r["status"] == "in_progress" and not r["incident_closed"]
    incidents.update_task(session, tasks["water"]["id"], "done", actor="lead", note="2 cm left", now=NOW)
    incidents.update_task(session, tasks["traffic"]["id"], "done", actor="lead", note="signed", now=NOW)
    with pytest.raises(Conflict):
        incidents.update_task(session, tasks["traffic"]["id"], "in_progress", actor="lead")
    last = incidents.update_task(session, tasks["urban"]["id"], "done", actor="lead", note="placed",
                                 now=NOW + timedelta(hours=3))
    assert last["incident_closed"] and last["incident_status"] == "closed"
    assert [_workload(session, w) for w in (water_far, traffic, urban)] == [0, 0, 0]

    view = incidents.incident_view(session, inc.id)
    assert view["status"] == "closed" and view["progress"] == 1.0
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds[0] == "declared" and kinds[-1] == "closed"
    assert kinds.count("task_dispatched") == 3 and kinds.count("task_overdue") == 5 and kinds.count("task_done") == 3
    with pytest.raises(Conflict):
        incidents.dispatch(session, inc.id, actor="desk")
    # closed: the ticket may be declared again
    again = incidents.declare(session, type_code=flood_type, source_kind="ticket", source_id=t, actor="t", now=NOW)
    assert again.id != inc.id


def test_manual_escalation_and_bad_input(session, flood_type, ticket_factory):
    t = ticket_factory("waterlogging")
    inc = incidents.declare(session, type_code=flood_type, source_kind="ticket", source_id=t, actor="t", now=NOW)
    assert incidents.escalate(session, inc.id, actor="chief", note="spreading").level == 3
    incidents.escalate(session, inc.id, actor="chief")
    with pytest.raises(Conflict, match="highest level"):
        incidents.escalate(session, inc.id, actor="chief")
    with pytest.raises(ValidationError, match="no task for department"):
        incidents.dispatch(session, inc.id, departments=["env"], actor="desk")
    with pytest.raises(ValidationError, match="unknown incident type"):
        incidents.declare(session, type_code="nope", source_kind="ticket", source_id=t, actor="t")
    with pytest.raises(ValidationError, match="outside the district"):
        incidents.declare(session, type_code=flood_type, source_kind="drawn", actor="t",
                          geometry={"type": "Point", "coordinates": [0.0, 0.0]})
    with pytest.raises(ValidationError, match="not valid GeoJSON"):
        incidents.declare(session, type_code=flood_type, source_kind="drawn", actor="t", geometry={"type": "Blob"})
    # no lead free in a department: the task is still created, without a lead
    out = incidents.dispatch(session, inc.id, departments=["urban"], actor="desk", now=NOW)
    assert out["tasks"][0]["lead_worker_id"] is None


def test_drawn_polygon_incident_with_isochrone(session, district, road_factory):
    road_factory("r", [(113.44, 23.12), (113.45, 23.12)], speed_kmh=36)
    poly = {"type": "Polygon", "coordinates": [[[113.4395, 23.1195], [113.4405, 23.1195], [113.4405, 23.1205],
                                                [113.4395, 23.1205], [113.4395, 23.1195]]]}
    inc = incidents.declare(session, type_code="waterlogging", source_kind="drawn", geometry=poly, band_s=60,
                            actor="t", now=NOW)
    assert inc.zone_kind == "isochrone" and inc.attrs["zone"]["method"] == "isochrone"
    # 60 s at 10 m/s from the polygon's node: about 600 m of road, plus the roadside strip
    assert inc.attrs["zone"]["road_m"] == pytest.approx(600, rel=0.02)
