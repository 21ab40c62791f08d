"""History as it happened: MyLA311 2017 imported with its lifecycle times, scores and hotspots as of a date,
replace of an imported history, append-only events, and live intake's one-year limit."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from spatial.cli import main as cli
from spatial.db.engine import get_engine, session_scope
from spatial.errors import ValidationError
from spatial.maps.mapdata import Window
from spatial.settings import REPO_ROOT, get_settings
from spatial.tickets.bulk import bulk_intake
from spatial.tickets.scoring import monthly_scores
from tests.district import seed_small_district

LA_FILE = ("04_complaints_311", "la_myla311_2017_subset.csv")
CATALOGS = REPO_ROOT / "data" / "catalogs"
MAPPING = CATALOGS / "los_angeles_311.yaml"
PROFILE = REPO_ROOT / "data" / "profiles" / "los_angeles_central.yaml"
ROWS = 700  # first rows of the file: 2017-12-31, mostly closed in January 2018


def la_extract(tmp_path, rows: int = ROWS):
    """The first ``rows`` requests of the shared MyLA311 file (read in place, written to tmp)."""
    src = get_settings().shared_data_dir.joinpath(*LA_FILE)
    df = pd.read_csv(src, dtype=str, keep_default_na=False, nrows=rows)
    path = tmp_path / "la_extract.csv"
    df.to_csv(path, index=False)
    return path, df


def la_recipe(path, capsys) -> None:
    """docs/districts_history.md's recipe up to the history import, on ``path``: only onemap commands."""
    for argv in (["district", "extent", str(path), "--code", "LA", "--name", "Los Angeles (311 extent)",
                  "--margin", "1000"],
                 ["district", "init", str(PROFILE)],
                 ["grids", "generate", "--shape", "square", "--size", "1000m"],
                 ["import", "department", str(CATALOGS / "los_angeles_departments.csv"), "--mode", "upsert"],
                 ["import", "category", str(CATALOGS / "los_angeles_categories.csv"), "--mode", "upsert"]):
        assert cli.main(argv) == 0, argv
    capsys.readouterr()


def _history_import(path, capsys, *extra) -> dict:
    assert cli.main(["ticket", "import", str(path), "--history", "--columns", str(MAPPING), "--skip-invalid",
                     *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_la_history_scores_hotspots_and_replace(committed, capsys, tmp_path):
    path, src = la_extract(tmp_path)
    la_recipe(path, capsys)
    with session_scope() as s:  # the district is the data's extent plus 1 km, cut into 1 km grids
        levels = dict(s.execute(sa.text("SELECT level, count(*) FROM admin_unit GROUP BY level")).all())
        assert levels[1] == 1 and levels[4] >= 9 and set(levels) == {1, 4}
    out = _history_import(path, capsys)
    no_coords = int((src["Latitude"].str.strip() == "").sum())
    assert out["created"] + len([r for r in out["rejected"]]) >= ROWS - 100 and out["created"] > 400
    assert no_coords > 0 and any(r["reason"] == "lon/lat missing or not numbers" for r in out["rejected"])

    eng = get_engine()
    with eng.connect() as c:
        stats = c.execute(sa.text(
            "SELECT count(*) FILTER (WHERE status = 'closed') AS closed, "
            "count(*) FILTER (WHERE status = 'closed' AND closed_at IS NULL) AS closed_without_time, "
            "count(*) FILTER (WHERE status = 'rejected') AS rejected, "
            "count(*) FILTER (WHERE created_at < '2018-01-02' AND created_at < now() - interval '1 year') AS old "
            "FROM ticket")).mappings().one()
        assert stats["closed"] > 400 and stats["closed_without_time"] == 0 and stats["old"] == out["created"]
        assert stats["rejected"] > 0
        # one ticket against its source row: times kept (LA local -> UTC), status honoured
        row = src[(src["Status"] == "Closed") & (src["Latitude"] != "")].iloc[0]
        t = c.execute(sa.text("SELECT t.*, c.code AS cat FROM ticket t JOIN category c ON c.id = t.category_id "
                              "WHERE external_id = :x"), {"x": row["SRNumber"]}).mappings().one()
        la = "America/Los_Angeles"
        fmt = "%m/%d/%Y %I:%M:%S %p"
        assert t["created_at"] == pd.Timestamp(datetime.strptime(row["CreatedDate"], fmt), tz=la).tz_convert(UTC)
        assert t["closed_at"] == pd.Timestamp(datetime.strptime(row["ClosedDate"], fmt), tz=la).tz_convert(UTC)
        assert t["resolved_at"] == t["closed_at"] and t["status"] == "closed" and t["cat"] == "homeless_encampment"
        ev = c.execute(sa.text("SELECT kind, from_status, to_status, at, actor FROM ticket_event "
                               "WHERE ticket_id = :i ORDER BY id"), {"i": t["id"]}).all()
        assert [(e.kind, e.from_status, e.to_status) for e in ev] == [
            ("reported", None, "reported"), ("transition", "reported", "resolved"),
            ("transition", "resolved", "closed")]
        assert [e.at for e in ev] == [t["created_at"], t["closed_at"], t["closed_at"]]
        assert {e.actor for e in ev} == {"import:la_extract.csv"} and t["version"] == 3
        # every ticket's events are in time order, one per state
        unordered = c.execute(sa.text(
            "SELECT count(*) FROM (SELECT at < lag(at) OVER (PARTITION BY ticket_id ORDER BY id) AS back "
            "FROM ticket_event) e WHERE back")).scalar_one()
        assert unordered == 0
        events = c.execute(sa.text("SELECT count(*) FROM ticket_event")).scalar_one()

    assert cli.main(["scores", "--as-of", "2017-12-31", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["month"] == "2017-12" and scores["as_of"] == "2017-12-31"
    bos = next(r for r in scores["rows"] if r["code"] == "BOS")
    assert bos["intake"] > 0 and sum(r["closed"] for r in scores["rows"]) > 0
    assert max(r["on_time_resolve_rate"] or 0 for r in scores["rows"]) > 0
    assert cli.main(["score", "--month", "2017-12", "--json"]) == 0  # as it stands today: more closed
    later = json.loads(capsys.readouterr().out)
    assert sum(r["closed"] for r in later["rows"]) > sum(r["closed"] for r in scores["rows"])
    assert cli.main(["hotspots", "--as-of", "2017-12-31", "--weeks", "2", "--min-count", "3", "--json"]) == 0
    hot = json.loads(capsys.readouterr().out)  # weeks before the extract are empty: its week stands out
    assert hot and {str(r["week"])[:10] for r in hot} == {"2017-12-25"}

    # the same file again: skipped as existing; with --replace twice: exactly one copy each time,
    # also after the SLA sweep flagged and escalated the tickets still open (bookkeeping, not work)
    assert _history_import(path, capsys)["created"] == 0
    assert cli.main(["sla", "sweep"]) == 0
    assert json.loads(capsys.readouterr().out)["escalated_street"] > 0
    for _ in range(2):
        again = _history_import(path, capsys, "--replace")
        assert again["replaced"] == out["created"] and again["created"] == out["created"]
        with eng.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM ticket")).scalar_one() == out["created"]
            assert c.execute(sa.text("SELECT count(*) FROM ticket_event")).scalar_one() == events
            assert c.execute(sa.text("SELECT count(*) FROM ticket_reporter")).scalar_one() == out["created"]

    # the table import path: --mode replace twice leaves exactly one copy of its file
    export = tmp_path / "tickets.csv"
    assert cli.main(["export", "ticket", str(export)]) == 0
    capsys.readouterr()
    for _ in range(2):
        assert cli.main(["import", "ticket", str(export), "--mode", "replace"]) == 0
        capsys.readouterr()
        with eng.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM ticket")).scalar_one() == out["created"]
            assert c.execute(sa.text("SELECT count(DISTINCT ticket_id) FROM ticket_event")).scalar_one() \
                == out["created"]
    # outside the purge function even the owner may not delete imported events
    owner = get_engine(get_settings().owner_url_for(eng.url.render_as_string(hide_password=False)))
    with owner.connect() as c, pytest.raises(DBAPIError, match="append-only"):
        c.execute(sa.text("DELETE FROM ticket_event WHERE actor LIKE 'import:%'"))


def test_events_stay_append_only_and_live_history_is_not_purged(session, district):
    rows = [{"category": "pothole", "lon": 113.41, "lat": 23.09, "external_id": "H1",
             "reported_at": "2020-03-02 08:00", "accepted_at": "2020-03-02 09:00", "closed_at": "2020-03-04 10:00",
             "rating": 4}]
    out = bulk_intake(session, rows, actor="h.csv", role="admin", history=True)
    assert out["created"] == 1
    tid = session.execute(sa.text("SELECT id FROM ticket WHERE external_id = 'H1'")).scalar_one()
    kinds = session.execute(sa.text("SELECT kind, to_status FROM ticket_event WHERE ticket_id = :i ORDER BY id"),
                            {"i": tid}).all()
    assert [tuple(k) for k in kinds] == [("reported", "reported"), ("transition", "accepted"),
                                         ("transition", "resolved"), ("transition", "closed"), ("rated", None)]
    for stmt in ("UPDATE ticket_event SET note = 'x' WHERE ticket_id = :i",
                 "DELETE FROM ticket_event WHERE ticket_id = :i"):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(sa.text(stmt), {"i": tid})
    # the app role may raise the purge flag by hand, but it is not the owner: still refused
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(sa.text("SELECT set_config('onemap.purge_imported', 'on', true)"))
        session.execute(sa.text("DELETE FROM ticket_event WHERE ticket_id = :i"), {"i": tid})
    # a ticket worked on after its import is live history: the purge refuses it and deletes nothing
    session.execute(sa.text("INSERT INTO ticket_event (ticket_id, at, kind, actor, actor_role) "
                            "VALUES (:i, now(), 'note', 'desk#1', 'dispatcher')"), {"i": tid})
    with pytest.raises(DBAPIError, match="not an import"), session.begin_nested():
        session.execute(sa.text("SELECT onemap_purge_imported_tickets(ARRAY[:i]::bigint[])"), {"i": tid})
    assert session.execute(sa.text("SELECT count(*) FROM ticket_event WHERE ticket_id = :i"),
                           {"i": tid}).scalar_one() == 6


def test_old_reports_are_history_not_live_intake(session, district):
    old = [{"category": "noise", "lon": 113.42, "lat": 23.10, "external_id": "OLD1", "reported_at": "2017-12-30 22:00"}]
    with pytest.raises(ValidationError, match="more than a year ago"):
        bulk_intake(session, old, actor="cli:x", role="admin")
    with pytest.raises(ValidationError, match="describe history"):
        bulk_intake(session, [dict(old[0], status="closed", closed_at="2018-01-02 10:00")], actor="x", role="admin")
    assert bulk_intake(session, old, actor="x", role="admin", history=True)["created"] == 1
    status = session.execute(sa.text("SELECT status FROM ticket WHERE external_id = 'OLD1'")).scalar_one()
    assert status == "reported"


@pytest.mark.parametrize(("extra", "reason"), [
    ({"status": "closed", "closed_at": "2017-12-29 10:00"}, "closed_at is before reported_at"),
    ({"status": "closed"}, "status closed needs closed_at"),
    ({"status": "accepted", "accepted_at": "2018-01-01 09:00", "resolved_at": "2018-01-02 09:00"},
     "resolved_at is given but status is accepted"),
    ({"accepted_at": "2018-01-03 09:00", "resolved_at": "2018-01-02 09:00"}, "resolved_at is before accepted_at"),
    ({"status": "resolved", "resolved_at": "2018-01-02 09:00", "rating": 5}, "rating is given but status is resolved"),
    ({"status": "in_progress"}, "status in_progress cannot be imported as history"),
    ({"closed_at": "2999-01-01 10:00"}, "closed_at is in the future"),
    ({"closed_at": "yesterday"}, "closed_at is not a time"),
])
def test_inconsistent_history_rows_are_row_errors(session, district, extra, reason):
    row = {"category": "noise", "lon": 113.42, "lat": 23.10, "external_id": "X", "reported_at": "2017-12-30 22:00"}
    with pytest.raises(ValidationError) as err:
        bulk_intake(session, [dict(row, **extra)], actor="x", role="admin", history=True)
    assert err.value.details["rejected"][0]["reason"].startswith(reason)


def test_history_scores_as_of_see_the_times(session):
    """Scores as of a day count what was closed and on time by then (history times, not sweep flags)."""
    seed_small_district(session)
    rows = [{"category": "pothole", "lon": 113.41, "lat": 23.09, "external_id": f"S{i}",
             "reported_at": "2020-03-02 08:00", "accepted_at": "2020-03-02 09:00",
             "closed_at": f"2020-03-{3 + 3 * i:02d} 10:00"} for i in range(4)]  # closed 3rd, 6th, 9th, 12th
    bulk_intake(session, rows, actor="s.csv", role="admin", history=True)
    def urban(as_of):
        df = monthly_scores(session, month=date(2020, 3, 1), as_of=as_of)
        return df[df["code"] == "urban"].iloc[0]

    early = urban(date(2020, 3, 4))  # one closed, due (5 working days) not yet passed for the rest
    assert early["closed"] == 1 and early["on_time_resolve_rate"] == 1.0 and early["on_time_accept_rate"] == 1.0
    late = urban(date(2020, 3, 31))  # 3rd, 6th in time; 9th, 12th after the 9 March 08:00 deadline
    assert late["closed"] == 4 and late["on_time_resolve_rate"] == 0.5 and late["overdue"] == 2


def test_map_window_between_local_days():
    w = Window.between(date(2017, 12, 27), date(2017, 12, 31), tz="America/Los_Angeles")
    assert (w.since, w.until) == (datetime(2017, 12, 27, 8, tzinfo=UTC), datetime(2018, 1, 1, 8, tzinfo=UTC))
    with pytest.raises(ValidationError, match="before it starts"):
        Window.between(date(2017, 12, 31), date(2017, 12, 1))
