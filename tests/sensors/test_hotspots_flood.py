"""Hotspots (Poisson baseline) and flood forecast warnings -> alerts, messages, tickets."""

from __future__ import annotations

import math
from datetime import timedelta

import geopandas as gpd
import pytest
import sqlalchemy as sa
from shapely.geometry import LineString, box

from spatial.errors import ValidationError
from spatial.models import Alert, PublishedMessage, Ticket
from spatial.sensors import flood_warnings as flood_alerts
from spatial.sensors import hotspots
from tests.sensors.conftest import T0


def test_poisson_sf_matches_direct_sum():
    for lam in (0.0625, 0.5, 1.0, 3.7, 20.0):
        for k in (0, 1, 2, 5, 9, 30):
            direct = 1 - sum(math.exp(-lam) * lam ** i / math.factorial(i) for i in range(k))
            assert hotspots.poisson_sf(k, lam) == pytest.approx(max(direct, 0), rel=1e-9, abs=1e-15)
    assert 0 < hotspots.poisson_sf(60, 1.0) < 1e-60  # far tail without cancellation


def _tickets(session, district, *, cat: str, grid: str, when, n: int) -> None:
    row, col = int(grid[1]), int(grid[2])
    lon, lat = 113.40 + 0.02 * col + 0.01, 23.08 + 0.02 * row + 0.01
    session.execute(sa.insert(Ticket), [dict(
        channel="hotline", category_id=district["categories"][cat], grid_id=district["grids"][grid],
        geom=f"SRID=4326;POINT({lon} {lat})", created_at=when + timedelta(minutes=7 * i), status="closed",
    ) for i in range(n)])


def test_hotspot_flags_a_burst_over_a_quiet_baseline(session, district):
    now = T0
    monday = hotspots._week_start(now, "Asia/Shanghai")
    for w in range(1, 9):  # eight quiet weeks: 1 pothole a week in G11, 4 noise a week in G22
        _tickets(session, district, cat="pothole", grid="G11", when=monday - timedelta(weeks=w, hours=-30), n=1)
        _tickets(session, district, cat="noise", grid="G22", when=monday - timedelta(weeks=w, hours=-30), n=4)
    _tickets(session, district, cat="pothole", grid="G11", when=monday + timedelta(hours=1), n=9)
    _tickets(session, district, cat="noise", grid="G22", when=monday + timedelta(hours=1), n=5)
    _tickets(session, district, cat="noise", grid="G33", when=monday + timedelta(hours=1), n=2)  # below min_count
    table = hotspots.weekly_table(session, weeks=1, now=now + timedelta(hours=5))
    assert len(table) == 3
    hs = hotspots.hotspots(session, weeks=1, now=now + timedelta(hours=5))
    assert list(zip(hs["category"], hs["grid_code"], hs["count"], strict=True)) == [("pothole", "G11", 9)]
    r = hotspots.to_records(hs)[0]
    assert r["baseline"] == 1.0 and r["ratio"] == 9.0 and r["p_value"] < 1e-5 and r["week"] == str(monday.date())
    with pytest.raises(ValidationError):
        hotspots.hotspots(session, weeks=0)


def _warnings(rows, crs="EPSG:4326"):
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    return gdf.to_crs(crs)


def test_forecast_warnings_become_alerts_messages_and_tickets(session, district, cameras):
    road = {"kind": "road", "feature_id": "R1", "name": "黄埔东路", "name_en": "Huangpu East Road",
            "max_depth_m": 0.62, "first_exceed_s": 1800.0, "level": "red",
            "geometry": LineString([(113.401, 23.1003), (113.419, 23.1003)])}
    grid = {"kind": "grid", "feature_id": "G11", "name": "Grid 1-1", "name_en": None, "max_depth_m": 0.2,
            "first_exceed_s": 2400.0, "level": "yellow", "geometry": box(113.42, 23.10, 113.44, 23.12)}
    # warnings come in the forecast's CRS (UTM 49N); they are stored in EPSG:4326
    run1 = flood_alerts.publish_forecast_warnings(session, _warnings([road, grid], "EPSG:32649"), run_id="run-1",
                                                  actor="planner")
    assert run1["created"] == 2 and run1["tickets"] == 1 and run1["messages"] == 4
    msgs = session.scalars(sa.select(PublishedMessage.text).where(PublishedMessage.channel == "public")
                           .order_by(PublishedMessage.id)).all()
    assert msgs[0].startswith("黄埔东路 内涝红色预警，请绕行")
    assert "Huangpu East Road waterlogging red warning, please detour" in msgs[0]
    a = session.scalars(sa.select(Alert).where(Alert.source_id == "road:R1")).one()
    assert a.grid_id == district["grids"]["G10"] and a.data["run_id"] == "run-1"
    assert session.scalar(sa.select(sa.func.ST_GeometryType(Alert.geom)).where(Alert.id == a.id)) == \
        "ST_LineString"
    t = session.get(Ticket, a.ticket_id)
    assert t.category.code == "waterlogging" and t.department_id == district["departments"]["water"]
    g = session.scalars(sa.select(Alert).where(Alert.source_id == "grid:G11")).one()
    assert g.grid_id == district["grids"]["G11"] and g.ticket_id is None
    # same run again: nothing new
    again = flood_alerts.publish_forecast_warnings(session, _warnings([road, grid]), run_id="run-1", actor="p")
    assert again["created"] == again["messages"] == again["tickets"] == 0 and again["unchanged"] == 2
    # next run: grid escalates to orange (message + ticket), road de-escalates quietly; then road vanishes
    run2 = flood_alerts.publish_forecast_warnings(
        session, _warnings([{**road, "level": "yellow"}, {**grid, "level": "orange"}]), run_id="run-2", actor="p")
    assert (run2["escalated"], run2["deescalated"], run2["tickets"], run2["messages"]) == (1, 1, 1, 2)
    run3 = flood_alerts.publish_forecast_warnings(session, _warnings([{**grid, "level": "orange"}]),
                                                  run_id="run-3", actor="p")
    assert run3["cleared"] == 1
    session.refresh(a)
    assert a.state == "cleared" and a.cleared_at is not None
    assert session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
    with pytest.raises(ValidationError, match="lack columns"):
        flood_alerts.publish_forecast_warnings(session, gpd.GeoDataFrame({"x": []}), run_id="r", actor="p")
