"""The one-round-trip intake (onemap_intake, migration 0006): catalog cache, ORM object, pending changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from geoalchemy2.shape import to_shape

from spatial.db.engine import session_scope
from spatial.errors import NotFound
from spatial.models import Category, Ticket
from spatial.tickets.intake import TicketCreate, intake
from tests.district import seed_small_district
from tests.tickets.conftest import T0


def report(**kw) -> TicketCreate:
    base = {"category": "pothole", "lon": 113.415, "lat": 23.095, "channel": "hotline"}
    return TicketCreate(**{**base, **kw})


def test_returned_ticket_is_a_persistent_orm_object(session, district):
    r = intake(session, report(attrs={"k": [1, 2]}, photo_urls=["https://x/a.jpg"]), actor="hl", role="channel",
               now=T0)
    t = r.ticket
    assert sa.inspect(t).persistent and session.get(Ticket, t.id) is t
    assert not session.dirty and not sa.inspect(t).modified
    assert t.attrs == {"k": [1, 2]} and t.photo_urls == ["https://x/a.jpg"] and t.version == 1
    assert to_shape(t.geom).coords[0] == pytest.approx((113.415, 23.095))
    assert t.category.code == "pothole"  # relationship loads lazily
    t.priority = 1  # and the object takes part in the unit of work
    session.flush()
    assert session.execute(sa.select(Ticket.priority).where(Ticket.id == t.id)).scalar_one() == 1


def test_merge_and_existing_refresh_the_object_in_the_session(session, district):
    first = intake(session, report(external_id="A"), actor="hl", role="channel", now=T0).ticket
    session.execute(sa.update(Ticket).where(Ticket.id == first.id).values(priority=2))  # behind the ORM's back
    merged = intake(session, report(lon=113.4152, external_id="B"), actor="hl", role="channel", now=T0)
    assert merged.outcome == "merged" and merged.ticket is first and first.priority == 2
    again = intake(session, report(external_id="A"), actor="hl", role="channel", now=T0)
    assert again.outcome == "existing" and again.ticket is first


def test_pending_orm_changes_are_flushed_first(session, district):
    cat = session.get(Category, district["categories"]["noise"])
    cat.active = False  # not flushed yet: intake must see it
    with pytest.raises(NotFound):
        intake(session, report(category="noise"), actor="a", role="channel", now=T0)


def test_catalog_changes_committed_elsewhere_are_seen(committed):
    with session_scope() as s:
        seed_small_district(s)
    with session_scope() as s:  # caches the catalog row
        t = intake(s, report(), actor="a", role="channel", now=T0).ticket
        assert t.accept_due_at == T0 + timedelta(hours=24)
    with session_scope() as s:
        s.execute(sa.update(Category).where(Category.code == "pothole").values(accept_limit=2, priority=1))
    with session_scope() as s:
        t = intake(s, report(lon=113.43), actor="a", role="channel", now=T0).ticket
        assert (t.accept_due_at, t.priority) == (T0 + timedelta(hours=2), 1)
    with session_scope() as s:
        s.execute(sa.update(Category).where(Category.code == "pothole").values(active=False))
    with session_scope() as s, pytest.raises(NotFound):
        intake(s, report(lon=113.44), actor="a", role="channel", now=T0)
    with session_scope() as s:
        s.execute(sa.update(Category).where(Category.code == "pothole").values(active=True))
    with session_scope() as s:
        assert intake(s, report(lon=113.44), actor="a", role="channel", now=T0).outcome == "created"
