"""Assignment: atomic, audited, and safe under concurrent dispatchers (separate connections)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.errors import Conflict, Forbidden, NotFound, ValidationError
from spatial.models import Ticket, TicketEvent
from spatial.tickets import dispatch
from tests.dispatch.conftest import NOW, add_ticket, add_worker
from tests.district import seed_small_district


def workload(session, w):
    return session.execute(sa.text("SELECT workload FROM worker WHERE id = :w"), {"w": w}).scalar_one()


def test_assign_dispatches_and_records(session, worker_factory, ticket_factory):
    w = worker_factory(lon=113.441, lat=23.12, skills=("road_repair",))
    t = ticket_factory(status="reported")
    ticket = dispatch.assign(session, t, w, actor="alice", role="dispatcher", now=NOW)
    assert ticket.status == "dispatched" and ticket.assigned_worker_id == w and ticket.dispatched_at == NOW
    assert workload(session, w) == 1
    events = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t).order_by(TicketEvent.id)).all()
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [
        ("reported", "accepted", "alice"), ("accepted", "dispatched", "alice")]
    assert events[-1].data["worker_id"] == w and 90 < events[-1].data["distance_m"] < 115
    assert events[-1].data["fix_age_s"] == 30.0
    # a second assignment of the same ticket is refused
    w2 = worker_factory()
    with pytest.raises(Conflict, match="already dispatched"):
        dispatch.assign(session, t, w2, actor="bob", role="dispatcher", now=NOW)
    assert workload(session, w2) == 0


def test_assign_refusals_write_nothing(session, worker_factory, ticket_factory):
    t = ticket_factory()
    full = worker_factory(workload=2, max_workload=2)
    off = worker_factory(on_duty=False)
    other = worker_factory("water")
    ok = worker_factory()
    with pytest.raises(dispatch.WorkerUnavailable, match="2/2 open jobs"):
        dispatch.assign(session, t, full, actor="a", role="dispatcher", now=NOW)
    with pytest.raises(dispatch.WorkerUnavailable, match="off duty"):
        dispatch.assign(session, t, off, actor="a", role="dispatcher", now=NOW)
    with pytest.raises(ValidationError, match="department"):
        dispatch.assign(session, t, other, actor="a", role="dispatcher", now=NOW)
    with pytest.raises(NotFound):
        dispatch.assign(session, t, 10**8, actor="a", role="dispatcher", now=NOW)
    with pytest.raises(NotFound):
        dispatch.assign(session, 10**12, ok, actor="a", role="dispatcher", now=NOW)
    with pytest.raises(Forbidden):
        dispatch.assign(session, t, ok, actor="c", role="citizen", now=NOW)
    assert workload(session, ok) == 0
    ticket = session.get(Ticket, t)
    assert ticket.status == "accepted" and ticket.assigned_worker_id is None
    closed = ticket_factory(status="closed")
    with pytest.raises(Conflict, match="closed"):
        dispatch.assign(session, closed, ok, actor="a", role="dispatcher", now=NOW)


def test_recall_releases_and_redispatch(session, worker_factory, ticket_factory):
    from spatial.tickets import lifecycle

    a, b = worker_factory(), worker_factory()
    t = ticket_factory()
    dispatch.assign(session, t, a, actor="d", role="dispatcher", now=NOW)
    lifecycle.transition(session, t, "accepted", actor="d", role="dispatcher", now=NOW)
    assert workload(session, a) == 0
    assert dispatch.assign(session, t, b, actor="d", role="dispatcher", now=NOW).assigned_worker_id == b
    assert workload(session, b) == 1


def test_auto_dispatch_picks_nearest_skilled(session, worker_factory, ticket_factory):
    far = worker_factory("traffic", lon=113.46, lat=23.14, skills=("traffic",))
    worker_factory("traffic", lon=113.4401, lat=23.12)  # nearer but lacks the skill
    near = worker_factory("traffic", lon=113.443, lat=23.12, skills=("traffic",))
    t = ticket_factory("illegal_parking")
    ticket = dispatch.auto_dispatch(session, t, now=NOW)
    assert ticket is not None and ticket.assigned_worker_id == near
    ev = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t, TicketEvent.to_status ==
                                                      "dispatched")).one()
    assert ev.actor == "system:auto-dispatch" and ev.actor_role == "system" and "auto-dispatch" in ev.note
    assert workload(session, far) == 0


def test_auto_dispatch_pending_when_nobody_or_only_unskilled(session, worker_factory, ticket_factory):
    worker_factory("traffic", lon=113.4401, lat=23.12)  # no 'traffic' skill
    worker_factory("traffic", skills=("traffic",), age_s=7200)
    t = ticket_factory("illegal_parking")
    assert dispatch.auto_dispatch(session, t, now=NOW) is None
    ev = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t)).one()
    assert ev.kind == "dispatch_pending" and ev.data["stale"] == 1 and ev.data["lacking_skill"] == 1
    assert "No available worker in Traffic Police" in ev.note
    assert session.get(Ticket, t).status == "accepted"


# ---- concurrency: separate connections, committed data --------------------------------------------

@pytest.fixture
def world(committed):
    with Session(committed) as s:
        d = seed_small_district(s)
        s.commit()
    return d


def _race(engine, jobs, hold_s=0.2):
    """Run ``jobs`` (ticket_id, worker_id) in threads, each in its own session; returns outcomes."""
    barrier = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    def run(i, tid, wid):
        with Session(engine) as s:
            barrier.wait()
            try:
                dispatch.assign(s, tid, wid, actor=f"dispatcher{i}", role="dispatcher", now=NOW)
                time.sleep(hold_s)  # keep the locks a while, so every other racer overlaps
                s.commit()
                out[i] = "ok"
            except Conflict as exc:
                s.rollback()
                out[i] = exc

    threads = [threading.Thread(target=run, args=(i, t, w)) for i, (t, w) in enumerate(jobs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    return out


def test_two_dispatchers_same_ticket_exactly_one_wins(committed, world):
    with Session(committed) as s:
        w1 = add_worker(s, dept=world["departments"]["urban"])
        w2 = add_worker(s, dept=world["departments"]["urban"])
        t = add_ticket(s, category=world["categories"]["pothole"])
        s.commit()
    out = _race(committed, [(t, w1), (t, w2)])
    assert sorted(map(str, out)).count("ok") == 1
    loser = next(o for o in out if o != "ok")
    assert isinstance(loser, Conflict) and "already dispatched" in loser.message
    with Session(committed) as s:
        loads = s.execute(sa.text("SELECT sum(workload) FROM worker")).scalar_one()
        n_disp = s.execute(sa.text("SELECT count(*) FROM ticket_event WHERE to_status = 'dispatched'")).scalar_one()
    assert loads == 1 and n_disp == 1


def test_many_tickets_one_worker_respects_the_cap(committed, world):
    cap, n = 3, 6
    with Session(committed) as s:
        w = add_worker(s, dept=world["departments"]["urban"], max_workload=cap)
        tickets = [add_ticket(s, category=world["categories"]["pothole"]) for _ in range(n)]
        s.commit()
    out = _race(committed, [(t, w) for t in tickets], hold_s=0.05)
    assert out.count("ok") == cap
    assert all(isinstance(o, dispatch.WorkerUnavailable) for o in out if o != "ok")
    with Session(committed) as s:
        assert s.execute(sa.text("SELECT workload FROM worker WHERE id = :w"), {"w": w}).scalar_one() == cap
        assert s.execute(sa.text("SELECT count(*) FROM ticket WHERE status = 'dispatched'")).scalar_one() == cap


def test_intake_of_an_auto_dispatch_category_dispatches(session, worker_factory):
    from spatial.tickets import intake as tickets

    w = worker_factory("traffic", lon=113.4402, lat=23.1201, skills=("traffic",))
    res = tickets.intake(session, tickets.TicketCreate(category="illegal_parking", lon=113.44, lat=23.12,
                                                       channel="hotline", reported_at=NOW),
                         actor="hotline", role="channel", now=NOW)
    assert res.outcome == "created"
    assert res.ticket.status == "dispatched" and res.ticket.assigned_worker_id == w
    assert workload(session, w) == 1
