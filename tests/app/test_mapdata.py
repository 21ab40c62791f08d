"""spatial.maps.mapdata against real PostGIS (rolled-back session, small district)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spatial.errors import ValidationError
from spatial.maps import mapdata
from tests.app._seed import add_ticket, add_worker, grid_centre

NOW = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def seeded(session, district):
    d = district
    day = timedelta(days=1)
    # G00: 3 received in window (1 closed on time rated 5, 1 open overdue, 1 open fresh)
    add_ticket(session, d, grid="G00", category="pothole", status="closed", created=NOW - 6 * day,
               closed=NOW - 2 * day, rating=5)
    add_ticket(session, d, grid="G00", category="pothole", status="accepted", created=NOW - 8 * day,
               resolve_due=NOW - day, dx=0.001)
    add_ticket(session, d, grid="G00", category="noise", status="reported", created=NOW - timedelta(hours=2),
               dx=0.002)
    # G33: one closed late rated 2, one old ticket outside the window
    add_ticket(session, d, grid="G33", category="noise", status="closed", created=NOW - 5 * day,
               closed=NOW - day, on_time=False, rating=2, resolve_due=NOW - 3 * day)
    add_ticket(session, d, grid="G33", category="noise", status="closed", created=NOW - 60 * day,
               closed=NOW - 50 * day, rating=1)
    return d


def test_grid_stats_counts(session, seeded):
    w = mapdata.Window(since=NOW - timedelta(days=30), until=NOW, now=NOW)
    g = mapdata.grid_stats(session, w).set_index("code")
    assert len(g) == 16 and g.crs.to_epsg() == 4326
    assert g.loc["G00", "received"] == 3 and g.loc["G00", "open"] == 2 and g.loc["G00", "overdue"] == 1
    assert g.loc["G00", "closed"] == 1 and g.loc["G00", "on_time_pct"] == 100.0
    assert g.loc["G33", "received"] == 1 and g.loc["G33", "closed"] == 1 and g.loc["G33", "on_time_pct"] == 0.0
    assert g.loc["G11", "received"] == 0 and g.loc["G11", "open"] == 0
    assert g.loc["G00", "street"] == "Street 0" and g.loc["G33", "street"] == "Street 1"
    only_noise = mapdata.grid_stats(session, w, categories=["noise"]).set_index("code")
    assert only_noise.loc["G00", "received"] == 1
    street1 = mapdata.grid_stats(session, w, street_id=seeded["streets"]["S1"])
    assert len(street1) == 8 and set(street1["street"]) == {"Street 1"}


def test_kpis_trend_hotspots_streets(session, seeded):
    w = mapdata.Window(since=NOW - timedelta(days=30), until=NOW, now=NOW)
    k = mapdata.kpis(session, w)
    assert k["received"] == 4 and k["closed"] == 2 and k["on_time_rate"] == 0.5
    assert k["open"] == 2 and k["overdue"] == 1 and k["satisfaction"] == 3.5
    assert mapdata.kpis(session, w, grid_id=seeded["grids"]["G33"])["received"] == 1
    t = mapdata.trend(session, w, tz="UTC")
    assert t["received"].sum() == 4 and t["closed"].sum() == 2 and len(t) in (30, 31)
    h = mapdata.hotspots(session, w, limit=5)
    assert list(h["code"])[:2] == ["G00", "G33"] and h.loc[0, "received"] == 3 and h.loc[0, "overdue"] == 1
    s = mapdata.street_stats(session, w)
    assert s.loc[0, "street"] == "Street 0" and s.loc[0, "overdue"] == 1
    dep = mapdata.department_stats(session, w)
    assert set(dep.columns) >= {"rank", "code", "received", "on_time_pct", "overdue"}
    assert dep.set_index("code").loc["urban", "received"] == 4


def test_density_bins_hex_and_square(session, seeded):
    w = mapdata.Window(since=NOW - timedelta(days=30), until=NOW, now=NOW)
    hexes = mapdata.density_bins(session, w, cell_m=1000)
    assert hexes["n"].sum() == 4 and hexes.crs.to_epsg() == 4326
    # the three G00 tickets lie within ~200 m of each other: one hexagon of 1 km holds them
    assert hexes["n"].max() == 3
    top = hexes.iloc[hexes["n"].argmax()].geometry
    lon, lat = grid_centre("G00", 0.001)
    assert abs(top.x - lon) < 0.006 and abs(top.y - lat) < 0.006, "bin centre near its points"
    squares = mapdata.density_bins(session, w, cell_m=5000, hexagon=False)
    assert squares["n"].sum() == 4
    with pytest.raises(ValidationError):
        mapdata.density_bins(session, w, cell_m=1)


def test_tickets_in_view_bbox_and_limit(session, seeded):
    w = mapdata.Window(since=NOW - timedelta(days=30), until=NOW, now=NOW)
    lon, lat = grid_centre("G00")
    bbox = (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
    gdf, truncated = mapdata.tickets_in_view(session, w, bbox=bbox)
    assert len(gdf) == 3 and not truncated and set(gdf["status"]) == {"closed", "accepted", "reported"}
    gdf, truncated = mapdata.tickets_in_view(session, w, bbox=bbox, limit=2)
    assert len(gdf) == 2 and truncated
    gdf, _ = mapdata.tickets_in_view(session, w, bbox=bbox, open_only=True)
    assert len(gdf) == 2 and gdf["overdue"].sum() == 1
    with pytest.raises(ValidationError):
        mapdata.tickets_in_view(session, w, bbox=(1, 1, 0, 0))


def test_dispatch_queue_sorted_by_deadline(session, seeded):
    q = mapdata.dispatch_queue(session, now=NOW)
    assert list(q["status"]) == ["accepted", "reported"], "overdue accepted ticket first"
    assert bool(q.loc[0, "overdue"]) and q.loc[0, "due_in_min"] == -24 * 60
    assert q.loc[1, "due_in_min"] == 22 * 60
    assert mapdata.ticket_brief(session, int(q.loc[0, "id"]))["category"] == "pothole"
    assert mapdata.ticket_brief(session, 10**9) is None


def test_context_layers(session, seeded):
    add_worker(session, seeded, code="w1", grid="G00", at=NOW)
    assert list(mapdata.workers(session)["code"]) == ["w1"]
    streets = mapdata.admin_units(session, level=2)
    assert len(streets) == 2
    grids = mapdata.admin_units(session, level=4, parent_id=None)
    assert len(grids) == 16 and grids["street_id"].notna().all()
    assert mapdata.district_bounds(session) == pytest.approx((113.40, 23.08, 113.48, 23.16))
    assert len(mapdata.cameras(session)) == 0 and len(mapdata.sensors(session)) == 0
    assert len(mapdata.categories(session)) == 5
