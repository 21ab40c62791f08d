"""Deadline sweep with a frozen clock, and the monthly scores."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from spatial.models import Ticket, TicketEvent
from spatial.tickets import lifecycle, scoring, sla
from spatial.tickets.intake import TicketCreate, intake
from tests.tickets.conftest import T0


def _new(session, category="pothole", lon=113.415, lat=23.095, now=T0, **kw):
    data = TicketCreate(category=category, lon=lon, lat=lat, channel="hotline", dedupe=False, **kw)
    return intake(session, data, actor="hl", role="channel", now=now).ticket


def _events(session, tid, kind):
    return session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == tid, TicketEvent.kind == kind)
                           .order_by(TicketEvent.id)).all()


def test_sweep_marks_overdue_and_escalates_once(session, district):
    # noise: accept 24 h, resolve 3 working days (Mon 10:00 -> Thu 10:00 local)
    a = _new(session, category="noise")                     # never accepted
    b = _new(session, category="noise", lon=113.45)        # accepted in time, never resolved
    c = _new(session, category="noise", lon=113.47)        # resolved in time
    lifecycle.transition(session, b.id, "accepted", actor="d", role="dispatcher", now=T0 + timedelta(hours=1))
    lifecycle.transition(session, c.id, "accepted", actor="d", role="dispatcher", now=T0 + timedelta(hours=1))
    lifecycle.transition(session, c.id, "dispatched", actor="d", role="dispatcher", now=T0 + timedelta(hours=2))
    lifecycle.transition(session, c.id, "resolved", actor="w", role="grid_worker", now=T0 + timedelta(hours=3))

    before = sla.sweep(session, now=T0 + timedelta(hours=23))
    assert (before["accept_overdue"], before["escalated_street"]) == (0, 0)

    day2 = sla.sweep(session, now=T0 + timedelta(hours=25))
    assert (day2["accept_overdue"], day2["resolve_overdue"], day2["escalated_street"],
            day2["escalated_district"]) == (1, 0, 1, 0)
    for t in (a, b, c):
        session.refresh(t)
    assert (a.accept_overdue, a.escalation_level, b.escalation_level, c.escalation_level) == (True, 1, 0, 0)
    esc = _events(session, a.id, "escalated")[0]
    assert esc.data["level"] == 1 and esc.data["to"] == "street" and esc.data["deadline"] == "accept"
    assert esc.data["street_id"] == district["streets"]["S0"] and esc.actor == sla.ACTOR

    again = sla.sweep(session, now=T0 + timedelta(hours=26))  # idempotent
    assert again["accept_overdue"] == again["escalated_street"] == again["escalated_district"] == 0

    # 24 h past the accept deadline (its own limit again): district
    d3 = sla.sweep(session, now=T0 + timedelta(hours=48, minutes=1))
    assert d3["escalated_district"] == 1
    session.refresh(a)
    assert a.escalation_level == 2 and _events(session, a.id, "escalated")[1].data["to"] == "district"

    # Thursday 10:00 local is the resolve deadline: b (and a) become resolve-overdue; c resolved in time
    thu = sla.sweep(session, now=T0 + timedelta(days=3, minutes=1))
    assert thu["resolve_overdue"] == 2 and thu["escalated_street"] == 1  # b: level 0 -> 1
    session.refresh(b)
    session.refresh(c)
    assert (b.resolve_overdue, b.escalation_level, c.resolve_overdue) == (True, 1, False)
    assert _events(session, b.id, "escalated")[0].data["deadline"] == "resolve"
    # resolve limit was 3 days: district level 3 days after the deadline
    assert sla.sweep(session, now=T0 + timedelta(days=5))["escalated_district"] == 0
    assert sla.sweep(session, now=T0 + timedelta(days=6, minutes=1))["escalated_district"] == 1
    assert len(_events(session, a.id, "overdue")) == 2 and len(_events(session, a.id, "escalated")) == 2
    # terminal tickets are never touched
    lifecycle.transition(session, b.id, "rejected", actor="d", role="dispatcher", note="n", now=T0 + timedelta(days=7))
    assert sla.sweep(session, now=T0 + timedelta(days=30))["escalated_district"] == 0


def test_scores_per_department_and_street(session, district):
    # urban (pothole): 2 tickets, one accepted and resolved in time and rated 5, one accepted late
    p1 = _new(session, category="pothole")
    p2 = _new(session, category="pothole", lon=113.47, lat=23.15)
    for to, role, h in (("accepted", "dispatcher", 1), ("dispatched", "dispatcher", 2), ("resolved", "grid_worker", 6),
                        ("verified", "dispatcher", 7), ("closed", "dispatcher", 8)):
        lifecycle.transition(session, p1.id, to, actor="x", role=role, now=T0 + timedelta(hours=h))
    lifecycle.rate(session, p1.id, 5, actor="c", role="citizen")
    lifecycle.transition(session, p2.id, "accepted", actor="d", role="dispatcher", now=T0 + timedelta(hours=30))
    # env (noise): one ticket, accepted in time, resolved late, rated 2
    n1 = _new(session, category="noise", lon=113.45)
    lifecycle.transition(session, n1.id, "accepted", actor="d", role="dispatcher", now=T0 + timedelta(hours=2))
    lifecycle.transition(session, n1.id, "dispatched", actor="d", role="dispatcher", now=T0 + timedelta(hours=3))
    lifecycle.transition(session, n1.id, "resolved", actor="w", role="grid_worker", now=T0 + timedelta(days=4))
    lifecycle.transition(session, n1.id, "verified", actor="d", role="dispatcher", now=T0 + timedelta(days=4))
    lifecycle.transition(session, n1.id, "closed", actor="d", role="dispatcher", now=T0 + timedelta(days=4))
    lifecycle.rate(session, n1.id, 2, actor="c", role="citizen")
    # a ticket of another month does not count
    _new(session, category="noise", lon=113.46, reported_at=T0 - timedelta(days=10), now=T0)

    df = scoring.monthly_scores(session, month=date(2026, 10, 1), by="department").set_index("code")
    u, e = df.loc["urban"], df.loc["env"]
    assert (u.intake, u.overdue, u.rated) == (2, 1, 1)
    assert (u.on_time_accept_rate, u.on_time_resolve_rate, u.satisfaction) == (0.5, 1.0, 5.0)
    assert math.isclose(u.avg_resolve_hours, 6.0)
    assert math.isclose(u.score, 100 * (40 * 1.0 + 30 * 0.5 + 30 * 1.0) / 100)
    assert (e.intake, e.on_time_accept_rate, e.on_time_resolve_rate, e.overdue) == (1, 1.0, 0.0, 1)
    assert math.isclose(e.score, 30 * 1.0 + 30 * 0.25)
    assert (u["rank"], e["rank"]) == (1, 2)
    assert df.loc["water"].intake == 0 and math.isnan(df.loc["water"].score)
    assert df.loc["water"]["rank"] is __import__("pandas").NA
    st = scoring.monthly_scores(session, month=date(2026, 10, 31), by="street").set_index("code")
    assert (st.loc["S0"].intake, st.loc["S1"].intake) == (1, 2)
    recs = scoring.to_records(df.reset_index())
    assert recs[0]["code"] == "urban" and recs[-1]["score"] is None
    assert scoring.monthly_scores(session, month=date(2026, 9, 1)).set_index("code").loc["env"].intake == 1


def test_month_bounds_use_local_time(session, district):
    # 2026-10-31T20:00Z is 1 November 04:00 in Shanghai: counted in November
    late = datetime(2026, 10, 31, 20, 0, tzinfo=T0.tzinfo)
    _new(session, category="noise", reported_at=late, now=late)
    oct_ = scoring.monthly_scores(session, month=date(2026, 10, 1)).set_index("code")
    nov = scoring.monthly_scores(session, month=date(2026, 11, 1)).set_index("code")
    assert (oct_.loc["env"].intake, nov.loc["env"].intake) == (0, 1)
    assert session.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one() == 1
