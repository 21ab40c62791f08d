"""The transition table: every allowed move works, every other move and role is refused and writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from spatial.errors import Conflict, Forbidden, ValidationError
from spatial.models import TICKET_STATES, TicketEvent, Worker
from spatial.tickets import lifecycle
from tests.tickets.conftest import T0, add_workers, put_ticket

ALL_ROLES = ("citizen", "channel", "grid_worker", "dispatcher", "handler", "leadership", "admin", "system")


def _args(to: str, into: int) -> dict:
    return {"note": "reason" if to in lifecycle.NOTE_REQUIRED else None,
            "data": {"into": into} if to == "merged" else None}


def _events(session, tid) -> int:
    return session.execute(sa.select(sa.func.count()).where(TicketEvent.ticket_id == tid)).scalar_one()


def test_every_allowed_transition(session, district):
    target = put_ticket(session, district, status="accepted", lon=113.42)
    for (frm, to), roles in lifecycle.TRANSITIONS.items():
        for role in sorted(roles):
            t = put_ticket(session, district, status=frm)
            got = lifecycle.transition(session, t.id, to, actor=f"{role}-1", role=role, now=T0, **_args(to, target.id))
            assert (got.status, got.version) == (to, 2), (frm, to, role)
            ev = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t.id)).one()
            assert (ev.kind, ev.from_status, ev.to_status, ev.actor, ev.actor_role) == (
                "transition", frm, to, f"{role}-1", role)
            stamp = {"accepted": "accepted_at", "dispatched": "dispatched_at", "resolved": "resolved_at",
                     "closed": "closed_at"}.get(to)
            if stamp:
                assert getattr(got, stamp) == T0
            if to == "merged":
                assert got.merged_into_id == target.id


def test_every_forbidden_transition_and_role(session, district):
    target = put_ticket(session, district, status="accepted", lon=113.42)
    refused = 0
    for frm in TICKET_STATES:
        t = put_ticket(session, district, status=frm)
        for to in TICKET_STATES:
            allowed = lifecycle.TRANSITIONS.get((frm, to), frozenset())
            for role in ALL_ROLES:
                if role in allowed:
                    continue
                expected = Forbidden if allowed else Conflict
                with pytest.raises(expected), session.begin_nested():
                    lifecycle.transition(session, t.id, to, actor="x", role=role, now=T0, **_args(to, target.id))
                refused += 1
        session.refresh(t)
        assert (t.status, t.version, _events(session, t.id)) == (frm, 1, 0)
    assert refused > 700


def test_notes_merge_target_and_versions(session, district):
    t = put_ticket(session, district)
    with pytest.raises(ValidationError, match="note"):
        lifecycle.transition(session, t.id, "rejected", actor="d", role="dispatcher")
    with pytest.raises(ValidationError, match="into"):
        lifecycle.transition(session, t.id, "merged", actor="d", role="dispatcher")
    closed = put_ticket(session, district, status="closed")
    with pytest.raises(Conflict, match="open ticket"):
        lifecycle.transition(session, t.id, "merged", actor="d", role="dispatcher", data={"into": closed.id})
    lifecycle.transition(session, t.id, "accepted", actor="d", role="dispatcher", expected_version=1)
    with pytest.raises(Conflict, match="changed meanwhile"):
        lifecycle.transition(session, t.id, "dispatched", actor="d", role="dispatcher", expected_version=1)
    with pytest.raises(Conflict, match="already accepted"):
        lifecycle.transition(session, t.id, "accepted", actor="d", role="dispatcher")


def test_late_accept_and_resolve_are_flagged(session, district):
    t = put_ticket(session, district, accept_due_at=T0, resolve_due_at=T0 + timedelta(days=1))
    lifecycle.transition(session, t.id, "accepted", actor="d", role="dispatcher", now=T0 + timedelta(minutes=1))
    lifecycle.transition(session, t.id, "dispatched", actor="d", role="dispatcher", now=T0 + timedelta(hours=1))
    lifecycle.transition(session, t.id, "resolved", actor="w", role="grid_worker", now=T0 + timedelta(hours=2))
    assert t.accept_overdue and not t.resolve_overdue


def test_worker_released_when_leaving_work(session, district):
    workers = add_workers(session, district)
    wid = workers["W-urban-0"]
    session.execute(sa.update(Worker).where(Worker.id == wid).values(workload=2))
    t = put_ticket(session, district, status="in_progress", assigned_worker_id=wid)
    lifecycle.transition(session, t.id, "resolved", actor="w", role="grid_worker")
    assert session.get(Worker, wid, populate_existing=True).workload == 1
    t2 = put_ticket(session, district, status="dispatched", assigned_worker_id=wid)
    lifecycle.transition(session, t2.id, "in_progress", actor="w", role="grid_worker")  # still working
    assert session.get(Worker, wid, populate_existing=True).workload == 1
    session.execute(sa.update(Worker).where(Worker.id == wid).values(workload=0))
    lifecycle.transition(session, t2.id, "accepted", actor="d", role="dispatcher")  # recalled
    assert session.get(Worker, wid, populate_existing=True).workload == 0  # never below zero


def test_rating_rules(session, district):
    t = put_ticket(session, district, status="verified")
    with pytest.raises(Conflict, match="only closed"):
        lifecycle.rate(session, t.id, 5, actor="c", role="citizen")
    lifecycle.transition(session, t.id, "closed", actor="d", role="dispatcher")
    for bad in (0, 6, 2.5, True):
        with pytest.raises(ValidationError):
            lifecycle.rate(session, t.id, bad, actor="c", role="citizen")
    with pytest.raises(Forbidden):
        lifecycle.rate(session, t.id, 3, actor="w", role="grid_worker")
    lifecycle.rate(session, t.id, 2, actor="c", role="citizen", comment="slow")
    assert (t.rating, t.rating_comment) == (2, "slow")
    with pytest.raises(Conflict, match="already rated"):
        lifecycle.rate(session, t.id, 5, actor="c", role="citizen")
    # reopen after close clears the resolution times; the history keeps them
    lifecycle.transition(session, t.id, "reopened", actor="d", role="dispatcher", note="citizen complaint")
    assert t.closed_at is None and t.resolved_at is None and t.status == "reopened"
