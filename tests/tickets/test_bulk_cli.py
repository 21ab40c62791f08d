"""Bulk intake (COPY path), its vectorised deadlines, and the ticket CLI commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from spatial.cli import main as cli
from spatial.db.engine import session_scope
from spatial.errors import ValidationError
from spatial.locate import locate_points as locate_many
from spatial.models import Ticket, TicketEvent
from spatial.tickets.bulk import bulk_intake
from spatial.tickets.deadlines import due_at, due_at_many
from spatial.tickets.intake import locate
from tests.district import seed_small_district
from tests.tickets.conftest import T0


def _rows(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "category": rng.choice(["pothole", "noise", "illegal_parking"], n),
        "lon": rng.uniform(113.401, 113.479, n), "lat": rng.uniform(23.081, 23.159, n),
        "external_id": [f"H{seed}-{i}" for i in range(n)],
        "description": ["imported", None] * (n // 2) + [None] * (n % 2),
        "reporter_phone": "12345", "reported_at": "2026-10-05 09:30:00",
    })


def test_vectorised_deadlines_match_due_at():
    rng = np.random.default_rng(7)
    offsets = pd.to_timedelta(rng.uniform(-20, 20, 400), unit="D")
    starts = pd.Series(pd.to_datetime(T0 + offsets), dtype="datetime64[us, UTC]")
    amount = pd.Series(rng.choice([0.5, 1, 2, 3, 5, 2.5], 400))
    unit = pd.Series(rng.choice(["hours", "calendar_days", "working_days"], 400))
    got = due_at_many(starts, amount, unit, "Asia/Shanghai")
    for s, a, u, g in zip(starts, amount, unit, got, strict=True):
        assert g.to_pydatetime() == due_at(s.to_pydatetime(), float(a), u, tz="Asia/Shanghai"), (s, a, u)


def test_vectorised_locate_matches_sql(session, district):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(113.39, 113.49, 300), rng.uniform(23.07, 23.17, 300)
    lon[:4], lat[:4] = [113.42, 113.44, 113.40, 113.46], [23.10, 23.12, 23.08, 23.16]  # shared edges, corners
    many = locate_many(session, lon, lat)
    for i in range(300):
        one = locate(session, float(lon[i]), float(lat[i]))
        got = many.iloc[i]
        assert bool(got.inside) == one.inside, i
        for col in ("grid_id", "community_id", "street_id"):
            want = getattr(one, col)
            assert (None if pd.isna(got[col]) else int(got[col])) == want, (i, col)


def test_bulk_intake_locates_and_is_idempotent(session, district):
    df = _rows(300)
    out = bulk_intake(session, df, actor="import", role="admin", now=T0)
    assert (out["created"], out["existing"], out["rejected"]) == (300, 0, [])
    again = bulk_intake(session, df, actor="import", role="admin", now=T0)
    assert (again["created"], again["existing"]) == (0, 300)
    t = session.scalars(sa.select(Ticket).where(Ticket.external_id == "H1-0")).one()
    assert t.grid_id is not None and t.street_id is not None and t.community_id is not None
    assert t.created_at == datetime(2026, 10, 5, 1, 30, tzinfo=UTC)  # local 09:30 in Shanghai
    cat_limit = {"pothole": timedelta(hours=24), "noise": timedelta(hours=24), "illegal_parking": timedelta(hours=1)}
    assert t.accept_due_at == t.created_at + cat_limit[t.category.code]
    n_ev = session.execute(sa.select(sa.func.count()).select_from(TicketEvent)
                           .where(TicketEvent.kind == "reported")).scalar_one()
    assert n_ev == 300
    rep = session.execute(sa.text(
        "SELECT r.channel, r.external_id, r.phone, r.account, r.reported_at, ST_Equals(r.geom, t.geom) "
        "FROM ticket_reporter r JOIN ticket t ON t.id = r.ticket_id WHERE t.id = :i"), {"i": t.id}).one()
    assert tuple(rep) == ("hotline", "H1-0", "12345", "import", t.created_at, True)
    ev = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == t.id)).one()
    assert ev.data == {"channel": "hotline", "grid_id": t.grid_id, "bulk": True} and ev.actor == "import"
    same = session.execute(sa.text(
        "SELECT count(*) FROM ticket t JOIN admin_unit g ON g.id = t.grid_id "
        "WHERE ST_Intersects(g.geom, t.geom)")).scalar_one()
    assert same == 300


def test_bulk_intake_rejects_bad_rows(session, district):
    df = _rows(5)
    df.loc[1, "lon"] = 114.9
    df.loc[2, "category"] = "unicorn"
    df.loc[3, "external_id"] = df.loc[4, "external_id"]
    with pytest.raises(ValidationError, match="3 of 5 rows are invalid"):
        bulk_intake(session, df, actor="import", role="admin", now=T0)
    assert session.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one() == 0
    out = bulk_intake(session, df, actor="import", role="admin", now=T0, skip_invalid=True)
    assert out["created"] == 2
    assert {r["row"]: r["reason"] for r in out["rejected"]} == {
        1: "outside the district", 2: "unknown category", 4: "external_id repeated in the file"}
    with pytest.raises(ValidationError, match="needs columns"):
        bulk_intake(session, pd.DataFrame({"lon": [1.0]}), actor="import", role="admin")


def test_cli_token_sweep_score_show_import(committed, capsys, tmp_path):
    with session_scope() as s:
        seed_small_district(s)
    assert cli.main(["token", "create", "--name", "hotline-gw", "--role", "channel"]) == 0
    token = capsys.readouterr().out.splitlines()[0]
    assert token.startswith("om_") and len(token) > 40
    with session_scope() as s:
        stored = s.execute(sa.text("SELECT token_hash FROM api_token")).scalar_one()
    assert token not in stored and len(stored) == 64
    assert cli.main(["token", "create", "--name", "h", "--role", "handler", "--department", "nope"]) == 2
    assert "no department" in capsys.readouterr().err
    assert cli.main(["token", "create", "--name", "h", "--role", "handler", "--department", "urban"]) == 0
    capsys.readouterr()
    assert cli.main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "hotline-gw" in listing and "om_" not in listing

    csv = tmp_path / "hotline.csv"
    _rows(20).to_csv(csv, index=False)
    assert cli.main(["ticket", "import", str(csv)]) == 0
    assert json.loads(capsys.readouterr().out)["created"] == 20

    assert cli.main(["sla", "sweep", "--now", "2026-10-20T10:00:00+08:00"]) == 0
    sweep = json.loads(capsys.readouterr().out)
    assert sweep["accept_overdue"] == 20 and sweep["escalated_street"] == 20
    assert cli.main(["sla", "sweep", "--now", "2026-10-20T10:00:00"]) == 2  # no zone: clear error

    assert cli.main(["score", "--month", "2026-10", "--by", "street", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert sum(r["intake"] for r in rows) == 20 and {r["code"] for r in rows} == {"S0", "S1"}
    assert cli.main(["score", "--month", "2026-10"]) == 0
    assert "Scores for 2026-10 by department" in capsys.readouterr().out
    assert cli.main(["score", "--month", "Oct"]) == 2

    with session_scope() as s:
        tid = s.execute(sa.text("SELECT min(id) FROM ticket")).scalar_one()
    assert cli.main(["ticket", "show", str(tid)]) == 0
    shown = capsys.readouterr().out
    assert "escalated" in shown and "overdue" in shown and "reported" in shown
    assert cli.main(["ticket", "show", "999999"]) == 2


def test_bulk_reference_checks_keep_integrity(owner_session):
    """The fast path needs a superuser (``session_replication_role``): the owner of the managed cluster."""
    from spatial.tickets import bulk as ticket_import

    session = owner_session
    seed_small_district(session)

    calls = []
    real = ticket_import._checked_references

    def spy(s, good):
        calls.append(real(s, good))
        return calls[-1]

    ticket_import._checked_references = spy
    try:
        bulk_intake(session, _rows(50, seed=5), actor="import", role="admin", now=T0)
        # a user INSERT trigger on ticket switches the fast path off (its triggers must fire)
        session.execute(sa.text(
            "CREATE FUNCTION pg_temp.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "NEW.attrs := NEW.attrs || '{\"seen\": true}'; RETURN NEW; END $$"))
        session.execute(sa.text("CREATE TRIGGER t_touch BEFORE INSERT ON ticket FOR EACH ROW "
                                "EXECUTE FUNCTION pg_temp.touch()"))
        bulk_intake(session, _rows(10, seed=6), actor="import", role="admin", now=T0)
    finally:
        ticket_import._checked_references = real
    # the fast path needs no must-fire INSERT trigger: the live-update (0019) and notification (0016)
    # triggers on the ticket tables must fire, so it is off in a full schema, and off again with t_touch
    session.execute(sa.text("DROP TRIGGER t_touch ON ticket"))
    must_fire = session.execute(ticket_import._USER_INSERT_TRIGGERS).scalar_one()
    session.execute(sa.text("CREATE TRIGGER t_touch BEFORE INSERT ON ticket FOR EACH ROW "
                            "EXECUTE FUNCTION pg_temp.touch()"))
    assert calls == [must_fire == 0, False]
    seen = session.execute(sa.text("SELECT count(*) FROM ticket WHERE attrs ? 'seen'")).scalar_one()
    assert seen == 10
    assert session.execute(sa.text("SHOW session_replication_role")).scalar_one() == "origin"
    dangling = session.execute(sa.text(
        "SELECT count(*) FROM ticket t WHERE NOT EXISTS (SELECT 1 FROM category c WHERE c.id = t.category_id) "
        "OR (t.grid_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM admin_unit a WHERE a.id = t.grid_id)) "
        "OR NOT EXISTS (SELECT 1 FROM ticket_event e WHERE e.ticket_id = t.id)")).scalar_one()
    assert dangling == 0
