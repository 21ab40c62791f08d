"""One owner per rule: every path that uses a rule calls its one owner and agrees with it.

Points on shared grid edges and corners are the hard case of point-in-grid:
the rule (``spatial.locate``) gives them to the lowest grid id. Intake, bulk
import, file import, camera registration, flood warnings and GPS fixes must
agree with it; ticket state sets, "now in UTC" and bbox parsing have one owner
each too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa

from spatial import clock, locate
from spatial.api import deps
from spatial.api import open311 as open311_api
from spatial.errors import ValidationError
from spatial.io import files as io_files
from spatial.maps import mapdata
from spatial.models import TICKET_STATES
from spatial.sensors import cameras, flood_warnings
from spatial.tickets import bulk as bulk_module
from spatial.tickets import deadlines, dispatch, lifecycle
from spatial.tickets.bulk import bulk_intake
from spatial.tickets.intake import TicketCreate, intake
from spatial.tickets.intake import locate as locate_one
from tests.district import STEP, X0, Y0

#: Shared edges, a corner shared by four grids, interior points and one outside the district (EPSG:4326).
POINTS = [(X0 + STEP, Y0 + STEP / 2), (X0 + STEP / 2, Y0 + STEP), (X0 + STEP, Y0 + STEP),
          (X0 + 2 * STEP, Y0 + 3 * STEP), (X0 + STEP / 3, Y0 + STEP / 3), (X0 + 0.011, Y0 + 0.071)]
INSIDE = POINTS[:-1]


def _grid_codes(session, ids) -> list[str | None]:
    codes = dict(session.execute(sa.text("SELECT id, code FROM admin_unit WHERE level = 4")).all())
    return [None if i is None or pd.isna(i) else codes[int(i)] for i in ids]


def _expected(session) -> list[str | None]:
    return _grid_codes(session, [locate.grid_at(session, x, y) for x, y in INSIDE])


def test_the_rule_itself_gives_shared_edges_to_the_lowest_grid_id(session, district):
    ids = [locate.grid_at(session, x, y) for x, y in INSIDE]
    for (x, y), gid in zip(INSIDE, ids, strict=True):
        touching = session.scalars(sa.text(
            "SELECT id FROM admin_unit WHERE level = 4 AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
        ), {"x": x, "y": y}).all()
        assert gid == min(touching)
    assert len(set(ids)) >= 2  # the edge and corner points are not all in one grid
    assert all(locate.inside_district(session, x, y) for x, y in POINTS)
    assert not locate.inside_district(session, X0 - 0.01, Y0)


def test_intake_single_and_batch_locate_identically(session, district):
    want = _expected(session)
    assert _grid_codes(session, [locate_one(session, x, y).grid_id for x, y in INSIDE]) == want
    lon, lat = np.array([p[0] for p in INSIDE]), np.array([p[1] for p in INSIDE])
    assert _grid_codes(session, list(locate.locate_points(session, lon, lat)["grid_id"])) == want
    got = []
    for i, (x, y) in enumerate(INSIDE):
        res = intake(session, TicketCreate(category="noise", lon=x, lat=y, channel="hotline", external_id=f"E{i}",
                                           dedupe=False), actor="t", role="channel")
        got.append(res.ticket.grid_id)
    assert _grid_codes(session, got) == want


def test_bulk_and_file_import_locate_like_intake(session, district, tmp_path):
    want = _expected(session)
    rows = pd.DataFrame({"category": "noise", "lon": [p[0] for p in INSIDE], "lat": [p[1] for p in INSIDE],
                         "channel": "hotline", "external_id": [f"B{i}" for i in range(len(INSIDE))]})
    bulk_intake(session, rows, actor="t", role="admin")
    ids = [session.scalar(sa.text("SELECT grid_id FROM ticket WHERE external_id = :e"), {"e": f"B{i}"})
           for i in range(len(INSIDE))]
    assert _grid_codes(session, ids) == want
    gdf = gpd.GeoDataFrame({"code": [f"A{i}" for i in range(len(INSIDE))], "asset_type": "hydrant"},
                           geometry=shapely.points(INSIDE), crs=4326)
    gdf.to_file(tmp_path / "assets.gpkg")
    io_files.import_file(tmp_path / "assets.gpkg", "asset", session=session)
    ids = [session.scalar(sa.text("SELECT grid_id FROM asset WHERE code = :c"), {"c": f"A{i}"})
           for i in range(len(INSIDE))]
    assert _grid_codes(session, ids) == want


def test_cameras_and_flood_warnings_locate_like_intake(session, district):
    want = _expected(session)
    cams = [cameras.register_camera(session, f"C{i}", name=f"cam {i}", lon=x, lat=y)
            for i, (x, y) in enumerate(INSIDE)]
    assert _grid_codes(session, [c.grid_id for c in cams]) == want
    warnings = gpd.GeoDataFrame(
        {"kind": "road", "feature_id": range(len(INSIDE)), "name": [f"r{i}" for i in range(len(INSIDE))],
         "level": "red", "max_depth_m": 0.6, "first_exceed_s": 600.0}, geometry=shapely.points(INSIDE), crs=4326)
    flood_warnings.publish_forecast_warnings(session, warnings, run_id="rule-test", actor="t", issue_tickets=False)
    ids = [session.scalar(sa.text("SELECT grid_id FROM alert WHERE source_kind = 'flood' AND data->>'name' = :n"),
                          {"n": f"r{i}"}) for i in range(len(INSIDE))]
    assert _grid_codes(session, ids) == want


def test_ticket_state_sets_have_one_owner():
    assert set(lifecycle.FINAL_STATES) | set(lifecycle.UNFINISHED_STATES) == set(TICKET_STATES)
    assert not set(lifecycle.FINAL_STATES) & set(lifecycle.UNFINISHED_STATES)
    assert set(lifecycle.OPEN_STATES) <= set(lifecycle.UNFINISHED_STATES)
    assert set(lifecycle.QUEUE_STATES) <= set(lifecycle.OPEN_STATES)
    assert mapdata.OPEN_STATES is lifecycle.UNFINISHED_STATES
    assert mapdata.DONE_STATES is lifecycle.FINAL_STATES
    assert mapdata.QUEUE_STATES is lifecycle.QUEUE_STATES
    assert dispatch.DISPATCHABLE is lifecycle.QUEUE_STATES
    assert open311_api.CLOSED_STATES is lifecycle.FINAL_STATES
    assert [open311_api.open311_status(s) for s in TICKET_STATES] == [
        "closed" if s in lifecycle.FINAL_STATES else "open" for s in TICKET_STATES]


def test_now_in_utc_has_one_owner():
    t = datetime(2026, 10, 1, 12, tzinfo=timezone(timedelta(hours=8)))
    assert clock.utc_now(t) == datetime(2026, 10, 1, 4, tzinfo=UTC) and clock.utc_now(t).tzinfo is UTC
    assert abs(clock.utc_now() - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ValidationError):
        clock.utc_now(datetime(2026, 10, 1, 12))
    assert mapdata.Window.last(1, now=t).now == clock.utc_now(t)


@pytest.mark.parametrize("raw", ["1,2,3", "a,b,c,d", "nan,1,2,3", "1,2,3,inf"])
def test_bbox_parsing_has_one_owner(raw):
    assert deps.parse_bbox("113.4,23.08,113.48,23.16") == (113.4, 23.08, 113.48, 23.16)
    assert deps.parse_bbox(None) is None
    with pytest.raises(ValidationError):
        deps.parse_bbox(raw)


def test_deadlines_have_one_owner_for_one_and_many_start_times():
    rng = np.random.default_rng(11)
    starts = pd.Series(pd.to_datetime(rng.integers(1_790_000_000, 1_800_000_000, 300), unit="s", utc=True))
    amount = pd.Series(rng.choice([0.5, 1, 2, 3, 5, 2.5], 300))
    unit = pd.Series(rng.choice(["hours", "calendar_days", "working_days"], 300))
    hol = [datetime(2026, 10, d).date() for d in range(1, 8)] + [datetime(2027, 1, 1).date()]
    got = deadlines.due_at_many(starts, amount, unit, "Asia/Shanghai", holidays=hol)
    for s, a, u, g in zip(starts, amount, unit, got, strict=True):
        want = deadlines.due_at(s.to_pydatetime(), float(a), u, tz="Asia/Shanghai", holidays=hol)
        assert g.to_pydatetime() == want, (s, a, u)
    assert bulk_module.due_at_many is deadlines.due_at_many and io_files.due_at_many is deadlines.due_at_many


def test_sql_paths_call_the_rule_functions_and_share_the_open_states(session, district):
    """onemap_intake() (the single-ticket path) calls the rule functions instead of its own copies."""
    intake_src = session.scalar(sa.text("SELECT prosrc FROM pg_proc WHERE proname = 'onemap_intake'"))
    assert "onemap_locate(pt)" in intake_src and "onemap_duplicate_of(" in intake_src
    assert "ST_Intersects" not in intake_src and "ST_DWithin" not in intake_src
    dup_src = session.scalar(sa.text("SELECT prosrc FROM pg_proc WHERE proname = 'onemap_duplicate_of'"))
    assert f"t.status IN {lifecycle.sql_list(lifecycle.OPEN_STATES)}".replace(",", ", ") in dup_src
    # the SQL rule and its batch form agree on every test point, inside and outside
    rows = session.execute(sa.text("SELECT l.* FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) AS p(x, y), "
                                   "onemap_locate(ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)) l"),
                           {"x": [p[0] for p in POINTS], "y": [p[1] for p in POINTS]}).all()
    batch = locate.locate_points(session, np.array([p[0] for p in POINTS]), np.array([p[1] for p in POINTS]))
    assert [bool(r.inside) for r in rows] == batch["inside"].tolist()
    for col in ("grid_id", "community_id", "street_id"):
        assert [getattr(r, col) for r in rows] == [None if pd.isna(v) else int(v) for v in batch[col]]
