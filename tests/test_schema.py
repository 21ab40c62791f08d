"""The schema: migrations up and down, indexes, append-only history."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from spatial.db import migrate
from spatial.db.engine import drop_database, ensure_database
from spatial.models import Ticket, TicketEvent

EXPECTED_TABLES = {
    "admin_unit", "department", "category", "asset", "camera", "sensor", "sensor_reading", "worker",
    "worker_position", "ticket", "ticket_event", "ticket_reporter", "road", "building",
}


def test_upgrade_creates_tables_and_gist_indexes(engine):
    insp = sa.inspect(engine)
    assert set(insp.get_table_names()) >= EXPECTED_TABLES
    with engine.connect() as conn:
        gist = set(conn.scalars(sa.text(
            "SELECT indexname FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'")).all())
        srids = dict(conn.execute(sa.text(
            "SELECT f_table_name || '.' || f_geometry_column, srid FROM geometry_columns")).all())
    assert {"ix_admin_unit_geom", "ix_ticket_geom", "ix_worker_avail_geog", "ix_asset_geom"} <= gist
    assert set(srids.values()) == {4326}


def test_downgrade_to_base_and_back(db_url):
    url = make_url(db_url).set(database=make_url(db_url).database + "_roundtrip").render_as_string(
        hide_password=False)
    drop_database(url)
    ensure_database(url)
    try:
        migrate.upgrade(url)
        assert migrate.current(url) == migrate.head()
        migrate.downgrade(url, "base")
        assert migrate.current(url) is None
        eng = sa.create_engine(url)
        with eng.connect() as conn:
            left = set(conn.scalars(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public'")).all())
        eng.dispose()
        assert left & EXPECTED_TABLES == set()
        migrate.upgrade(url)
        assert migrate.current(url) == migrate.head()
    finally:
        drop_database(url)


def test_ticket_event_is_append_only(session, district):
    t = Ticket(channel="api", category_id=district["categories"]["pothole"],
               geom="SRID=4326;POINT(113.41 23.09)", grid_id=district["grids"]["G00"])
    session.add(t)
    session.flush()
    ev = TicketEvent(ticket_id=t.id, kind="reported", to_status="reported", actor="test")
    session.add(ev)
    session.flush()
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("UPDATE ticket_event SET note='x' WHERE id=:i"), {"i": ev.id})
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("DELETE FROM ticket_event WHERE id=:i"), {"i": ev.id})
