"""Retention of reporters' personal data (issue 11): old final tickets lose the reporter's contact with a
``reporter_pruned`` event; recent or unfinished tickets keep it; both retention jobs run at server start."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from app import create_server
from spatial.cli import main as cli
from spatial.clock import utc_now
from spatial.db.engine import session_scope
from spatial.models import TicketEvent, TicketReporter, WorkerPosition
from spatial.settings import get_settings
from spatial.tickets.retention import prune_reporters
from tests.district import seed_small_district
from tests.tickets.conftest import T0, add_workers, put_ticket

CONTACT = {"reporter_name": "Zhang San", "reporter_phone": "13800000000", "reporter_account": "alice#1",
           "attrs": {"email": "z@example.org", "device_id": "dev-1", "source": "open311"}}


def _ticket(session, district, status: str, age_days: float, now=T0):
    t = put_ticket(session, district, status=status, updated_at=now - timedelta(days=age_days),
                   closed_at=now - timedelta(days=age_days) if status == "closed" else None, **CONTACT)
    session.add(TicketReporter(ticket_id=t.id, channel="api", name="Zhang San", phone="13800000000",
                               account="alice#1"))
    session.add(TicketReporter(ticket_id=t.id, channel="hotline", name="Li Si", phone="13900000000"))
    session.flush()
    return t


def _contact(session, tid: int) -> tuple:
    t = session.execute(sa.text("SELECT reporter_name, reporter_phone, reporter_account, attrs FROM ticket "
                                "WHERE id = :t"), {"t": tid}).one()
    reps = session.execute(sa.select(TicketReporter.name, TicketReporter.phone, TicketReporter.account)
                           .where(TicketReporter.ticket_id == tid)).all()
    return tuple(t[:3]), t[3], {tuple(r) for r in reps}


def test_prune_blanks_old_final_tickets_only(session, district):
    old_closed = _ticket(session, district, "closed", 400)
    old_rejected = _ticket(session, district, "rejected", 366)
    recent_closed = _ticket(session, district, "closed", 300)
    old_open = _ticket(session, district, "in_progress", 800)
    out = prune_reporters(session, now=T0)  # default retention: 365 days
    assert (out["tickets"], out["reporters"], out["events"]) == (2, 4, 2)
    for t in (old_closed, old_rejected):
        fields, attrs, reps = _contact(session, t.id)
        assert fields == (None, None, None) and reps == {(None, None, None)}
        assert attrs == {"source": "open311"}  # e-mail and device id go, the rest stays
        ev = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t.id,
                                                          TicketEvent.kind == "reporter_pruned")).one()
        assert (ev.actor, ev.actor_role, ev.at) == ("system:retention", "system", T0)
        assert ev.data == {"retention_days": 365, "status": t.status, "reporters": 2}
    for t in (recent_closed, old_open):
        fields, attrs, reps = _contact(session, t.id)
        assert fields == ("Zhang San", "13800000000", "alice#1") and attrs["email"] == "z@example.org"
        assert reps == {("Zhang San", "13800000000", "alice#1"), ("Li Si", "13900000000", None)}
        assert not session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t.id)).all()
    assert prune_reporters(session, now=T0)["tickets"] == 0  # idempotent: nothing left to blank
    assert prune_reporters(session, now=T0, older_than_days=30)["tickets"] == 1  # the recent closed one


def test_both_retention_jobs_run_at_server_start(committed, monkeypatch, capsys):
    now = utc_now()
    with session_scope() as s:
        d = seed_small_district(s)
        workers = add_workers(s, d)
        tid = _ticket(s, d, "closed", 400, now=now).id
        s.add(WorkerPosition(worker_id=workers["W-urban-0"], fixed_at=now - timedelta(days=90),
                             geom="SRID=4326;POINT(113.41 23.09)"))
    for var, value in (("RETENTION_SWEEP_SECONDS", "3600"), ("SLA_SWEEP_SECONDS", "0"),
                       ("SENSOR_CHECK_SECONDS", "0"), ("DEMO_SIMULATE_SECONDS", "0"), ("FLOOD_WARMUP", "0")):
        monkeypatch.setenv(f"ONEMAP_{var}", value)
    get_settings.cache_clear()
    try:
        app = create_server(with_panel=False, background=True)
        with TestClient(app):  # the period is an hour: only the start-up run can do this
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (getattr(app.state, "retention_last", None) is not None
                                                       and getattr(app.state, "reporter_retention_last", None)):
                time.sleep(0.05)
        assert app.state.retention_last == 1
        assert app.state.reporter_retention_last["tickets"] == 1
    finally:
        get_settings.cache_clear()
    with session_scope() as s:
        assert _contact(s, tid)[0] == (None, None, None)
        assert s.scalar(sa.select(sa.func.count()).select_from(WorkerPosition)) == 0
        # by hand: the CLI command
        d2 = {"categories": dict(s.execute(sa.text("SELECT code, id FROM category")).all()),
              "grids": dict(s.execute(sa.text("SELECT code, id FROM admin_unit WHERE level = 4")).all())}
        tid2 = _ticket(s, d2, "merged", 40, now=now).id
    assert cli.main(["ticket", "prune-reporters", "--days", "30"]) == 0
    assert json.loads(capsys.readouterr().out)["tickets"] == 1
    with session_scope() as s:
        assert _contact(s, tid2)[0] == (None, None, None)
