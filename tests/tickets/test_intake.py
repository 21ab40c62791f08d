"""Intake: validation, location, catalog deadlines, idempotency, duplicates, concurrency."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from psycopg import ClientCursor
from pydantic import ValidationError as PydanticError

from spatial.db.copy import driver_connection
from spatial.db.engine import new_session, session_scope
from spatial.errors import NotFound, OutsideDistrict, ValidationError
from spatial.models import Category, Ticket, TicketEvent, TicketReporter
from spatial.tickets import lifecycle
from spatial.tickets.intake import TicketCreate, intake, locate
from tests.district import seed_small_district
from tests.tickets.conftest import T0


def report(**kw) -> TicketCreate:
    base = {"category": "pothole", "lon": 113.415, "lat": 23.095, "channel": "hotline"}
    return TicketCreate(**{**base, **kw})


def test_intake_locates_and_applies_the_catalog(session, district):
    r = intake(session, report(lon=113.455, lat=23.135, description=" hole "), actor="hl", role="channel", now=T0)
    t = r.ticket
    assert r.outcome == "created"
    assert (t.grid_id, t.community_id, t.street_id) == (
        district["grids"]["G22"], district["communities"]["C11"], district["streets"]["S1"])
    assert t.department_id == district["departments"]["urban"] and t.priority == 3
    assert t.description == "hole" and t.created_by == "hl" and t.status == "reported"
    # Monday 10:00 local: accept in 24 h, resolve in 5 working days -> next Monday 10:00 local
    assert t.accept_due_at == T0 + timedelta(hours=24)
    assert t.resolve_due_at == T0 + timedelta(days=7)
    ev = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t.id)).one()
    assert (ev.kind, ev.to_status, ev.actor, ev.actor_role) == ("reported", "reported", "hl", "channel")
    # Friday 17:00 local + 5 working days -> the Friday after
    fri = datetime(2026, 10, 9, 9, 0, tzinfo=UTC)
    t2 = intake(session, report(lon=113.47, reported_at=fri), actor="hl", role="channel", now=fri).ticket
    assert t2.resolve_due_at == fri + timedelta(days=7)
    loc = locate(session, 113.401, 23.159)
    assert loc.inside and loc.grid_id == district["grids"]["G30"]
    assert not locate(session, 113.5, 23.1).inside


def test_validation(session, district):
    with pytest.raises(OutsideDistrict):
        intake(session, report(lon=113.39), actor="a", role="channel")
    with pytest.raises(NotFound, match="unknown category"):
        intake(session, report(category="unicorn"), actor="a", role="channel")
    session.execute(sa.update(Category).where(Category.code == "noise").values(active=False))
    with pytest.raises(NotFound):
        intake(session, report(category="noise"), actor="a", role="channel")
    with pytest.raises(ValidationError, match="future"):
        intake(session, report(reported_at=T0 + timedelta(hours=1)), actor="a", role="channel", now=T0)
    with pytest.raises(ValidationError, match="year"):
        intake(session, report(reported_at=T0 - timedelta(days=400)), actor="a", role="channel", now=T0)
    for bad in ({"photo_urls": ["ftp://x/y.jpg"]}, {"photo_urls": ["https://x"] * 11}, {"lon": float("nan")},
                {"reporter_phone": "call me"}, {"priority": 9}, {"channel": "fax"}, {"external_id": ""},
                {"reported_at": datetime(2026, 10, 1)}):
        with pytest.raises(PydanticError):
            report(**bad)
    with pytest.raises(ValidationError) as info:
        TicketCreate.parse({"category": "pothole", "lon": "east", "lat": 23.1, "channel": "hotline"})
    assert "lon" in info.value.message
    assert session.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one() == 0


def test_idempotent_on_external_id(session, district):
    a = intake(session, report(external_id="H-1"), actor="hl", role="channel", now=T0)
    b = intake(session, report(external_id="H-1", description="resent"), actor="hl", role="channel", now=T0)
    assert (a.outcome, b.outcome, b.ticket.id) == ("created", "existing", a.ticket.id)
    # same id from another channel is another report (here: a duplicate, merged)
    c = intake(session, report(external_id="H-1", channel="citizen_app"), actor="app", role="citizen", now=T0)
    assert c.outcome == "merged"
    d = intake(session, report(external_id="H-1", channel="citizen_app"), actor="app", role="citizen", now=T0)
    assert (d.outcome, d.ticket.id) == ("existing", a.ticket.id)  # a merged report is idempotent too


def test_duplicates_merge_with_radius_window_and_override(session, district):
    first = intake(session, report(), actor="hl", role="channel", now=T0).ticket
    # ~55 m away (default radius 100 m), 1 h later: merged, reporter added, report kept as event
    near = intake(session, report(lon=113.4155, reporter_name="Li", reporter_phone="139 0000 0000",
                                  description="same hole"), actor="app", role="citizen",
                  now=T0 + timedelta(hours=1))
    assert (near.outcome, near.ticket.id) == ("merged", first.id)
    reps = session.scalars(sa.select(TicketReporter).where(TicketReporter.ticket_id == first.id)
                           .order_by(TicketReporter.id)).all()
    assert [(r.channel, r.account) for r in reps] == [("hotline", "hl"), ("hotline", "app")]
    assert (reps[1].name, reps[1].phone, reps[1].description) == ("Li", "139 0000 0000", "same hole")
    kinds = session.scalars(sa.select(TicketEvent.kind).where(TicketEvent.ticket_id == first.id)
                            .order_by(TicketEvent.id)).all()
    assert kinds == ["reported", "duplicate_report"]
    # outside the radius (~205 m), other category, after the window, or overridden: new tickets
    assert intake(session, report(lon=113.417), actor="a", role="channel", now=T0).outcome == "created"
    assert intake(session, report(category="noise"), actor="a", role="channel", now=T0).outcome == "created"
    later = intake(session, report(), actor="a", role="channel", now=T0 + timedelta(hours=25))
    assert later.outcome == "created"
    forced = intake(session, report(dedupe=False), actor="d", role="dispatcher", now=T0 + timedelta(hours=2))
    assert forced.outcome == "created"
    # a per-category radius from the catalog
    session.execute(sa.update(Category).where(Category.code == "noise").values(duplicate_radius_m=300))
    far = intake(session, report(category="noise", lon=113.417), actor="a", role="channel", now=T0)
    assert far.outcome == "merged"
    # radii beyond the lock lattice take a category-wide lock and still merge (~1.2 km here)
    session.execute(sa.update(Category).where(Category.code == "noise").values(duplicate_radius_m=1500))
    assert intake(session, report(category="noise", lon=113.427), actor="a", role="channel", now=T0).outcome == "merged"
    # a radius of 0 switches merging off for the category
    session.execute(sa.update(Category).where(Category.code == "noise").values(duplicate_radius_m=0))
    assert intake(session, report(category="noise"), actor="a", role="channel", now=T0).outcome == "created"
    # closed tickets do not absorb new reports
    for to, role in (("accepted", "dispatcher"), ("rejected", "dispatcher")):
        lifecycle.transition(session, later.ticket.id, to, actor="d", role=role, note="n", now=T0)
    for tid in (first.id, forced.ticket.id):
        lifecycle.transition(session, tid, "rejected", actor="d", role="dispatcher", note="n", now=T0)
    again = intake(session, report(), actor="a", role="channel", now=T0 + timedelta(hours=26))
    assert again.outcome == "created"


def test_auto_dispatch_category_is_accepted_by_the_system(session, district):
    r = intake(session, report(category="waterlogging"), actor="sensor-gw", role="channel", now=T0)
    assert r.ticket.status in ("accepted", "dispatched")
    ev = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == r.ticket.id,
                                                      TicketEvent.kind == "transition",
                                                      TicketEvent.to_status == "accepted")).one()
    assert ev.actor == "system:auto-dispatch" and ev.actor_role == "system"


def _race(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as exc:  # reported by the assertions
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out


def test_concurrent_duplicates_make_one_ticket(committed):
    with session_scope() as s:
        seed_small_district(s)

    def one(i):
        with session_scope() as s:
            r = intake(s, report(lon=113.415 + 0.0001 * i, external_id=f"race-{i}"), actor=f"c{i}", role="channel")
            return r.outcome

    outcomes = _race(6, one)
    assert sorted(outcomes) == ["created"] + ["merged"] * 5, outcomes
    with session_scope() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one() == 1
        assert s.execute(sa.select(sa.func.count()).select_from(TicketReporter)).scalar_one() == 6


def test_concurrent_same_external_id_is_one_ticket(committed):
    with session_scope() as s:
        seed_small_district(s)

    def one(i):
        with session_scope() as s:  # far apart and no dedupe: only the unique constraint protects us
            return intake(s, report(lon=113.41 + 0.01 * i, external_id="same", dedupe=False), actor="hl",
                          role="channel").outcome

    outcomes = _race(5, one)
    assert sorted(outcomes) == ["created"] + ["existing"] * 4, outcomes
    with session_scope() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one() == 1


def test_concurrent_same_external_id_merged_or_created_is_stored_once(committed):
    """One external id claimed at once by reports at two open tickets and at two free places (different
    duplicate-lock cells): without the external-id lock two could merge and one create."""
    with session_scope() as s:
        seed_small_district(s)
        for i, lon in enumerate((113.41, 113.45)):
            intake(s, report(lon=lon, external_id=f"open-{i}"), actor="hl", role="channel")

    places = (113.41, 113.45, 113.43, 113.47)
    connected = threading.Barrier(8)

    def one(i):
        with session_scope() as s:
            s.execute(sa.text("SELECT 1"))  # connected first, so the intakes really overlap
            connected.wait()
            r = intake(s, report(lon=places[i % 4] + 0.00001 * i, external_id="retry-1"), actor="hl", role="channel")
            return r.outcome, r.ticket.id

    outcomes = _race(8, one)
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert [o for o, _ in outcomes].count("existing") == 7, outcomes
    assert len({tid for _, tid in outcomes}) == 1, outcomes
    with session_scope() as s:
        reporters = s.execute(sa.select(sa.func.count()).where(TicketReporter.external_id == "retry-1")).scalar_one()
        tickets = s.execute(sa.select(sa.func.count()).where(Ticket.external_id == "retry-1")).scalar_one()
    assert reporters == 1 and tickets <= 1, (reporters, tickets)


def test_concurrent_transitions_no_lost_update(committed):
    with session_scope() as s:
        seed_small_district(s)
        tid = intake(s, report(), actor="hl", role="channel").ticket.id

    def one(i):
        s = new_session()
        try:
            lifecycle.transition(s, tid, "accepted", actor=f"desk-{i}", role="dispatcher", expected_version=1)
            s.commit()
            return "ok"
        except Exception as exc:
            s.rollback()
            return type(exc).__name__
        finally:
            s.close()

    outcomes = _race(6, one)
    assert sorted(outcomes) == ["Conflict"] * 5 + ["ok"], outcomes
    with session_scope() as s:
        t = s.get(Ticket, tid)
        assert (t.status, t.version) == ("accepted", 2)
        n = s.execute(sa.select(sa.func.count()).where(TicketEvent.ticket_id == tid,
                                                       TicketEvent.kind == "transition")).scalar_one()
        assert n == 1

    # without expected_version the row lock serialises: exactly one moves reported->accepted->..., others 409
    def two(i):
        s = new_session()
        try:
            lifecycle.transition(s, tid, "dispatched", actor=f"desk-{i}", role="dispatcher")
            s.commit()
            return "ok"
        except Exception as exc:
            s.rollback()
            return type(exc).__name__
        finally:
            s.close()

    assert sorted(_race(4, two)) == ["Conflict"] * 3 + ["ok"]
    with session_scope() as s:
        assert s.get(Ticket, tid).version == 3


def test_duplicate_search_uses_the_open_ticket_index(session, district):
    """The rule's SQL function (onemap_duplicate_of) runs a generic plan: it must still use the partial index."""
    from spatial.tickets import duplicates

    intake(session, report(), actor="a", role="channel", now=T0)
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    session.execute(sa.text("SET LOCAL plan_cache_mode = force_generic_plan"))
    src = session.scalar(sa.text("SELECT prosrc FROM pg_proc WHERE proname = 'onemap_duplicate_of'"))
    body = src[src.index("RETURN (") + len("RETURN ("): src.rindex(");")]
    for i, name in enumerate(("p_cat", "pt", "p_since", "p_deg", "p_radius"), start=1):
        body = re.sub(rf"\b{name}\b", f"${i}", body)
    params = duplicates.search_params(category_id=district["categories"]["pothole"], lon=113.415, lat=23.095,
                                      at=T0, radius_m=100, window_h=24)
    with ClientCursor(driver_connection(session)) as cur:  # simple protocol: $n stay the statement's own
        cur.execute("PREPARE dup_rule(bigint, geometry, timestamptz, float8, float8) AS " + body)
        cur.execute("EXPLAIN EXECUTE dup_rule(%(cat)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), "
                    "%(since)s, %(deg)s, %(radius)s)", params)
        plan = "\n".join(r[0] for r in cur.fetchall())
        cur.execute("DEALLOCATE dup_rule")
    assert "ix_ticket_geom_open" in plan, plan
    assert session.scalar(sa.text(duplicates.DUPLICATE_SUBQUERY), params) is not None
