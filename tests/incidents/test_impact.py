"""Impact analysis against a hand-built fixture: a 100 m buffer around P = (113.45, 23.13).

Inside: building B1 (10 x 10 m, 5 floors, residential: 500 m2 x 0.025 = 12.5 people), B2
(20 x 10 m, 9 m high = 3 floors, office: 600 m2 x 0.1 = 60 people), a school and a hospital,
one registered elderly person living alone (a private door sensor), a public water-level
sensor, 200 m of one road (the diameter), grid G22 and community C11 only, camera C1 (30 m
west, looking east) and camera C3 (150 m north, looking south, 80 m range: its cone reaches
70 m from P). Outside: B3 (500 m away), a care home 300 m away, a door sensor 300 m away,
camera C2 (150 m north looking north) and a road 500 m away.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from spatial.auth import Principal
from spatial.incidents import impact, zone

P = (113.45, 23.13)
M_LON = 102.25  # metres per 0.001 deg of longitude at 23.13 N
M_LAT = 111.2


def _at(dx_m: float, dy_m: float) -> tuple[float, float]:
    return P[0] + dx_m / M_LON * 0.001, P[1] + dy_m / M_LAT * 0.001


def _box(session, code, dx, dy, w, h, *, height=None, attrs="{}"):
    (x0, y0), (x1, y1) = _at(dx, dy), _at(dx + w, dy + h)
    session.execute(sa.text(
        "INSERT INTO building (code, height_m, attrs, geom) VALUES (:c, :h, CAST(:a AS jsonb), "
        "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)))"),
        {"c": code, "h": height, "a": attrs, "x0": x0, "y0": y0, "x1": x1, "y1": y1})


def _point(session, table, cols, values, dx, dy):
    x, y = _at(dx, dy)
    names = ", ".join(cols)
    params = ", ".join(f":v{i}" for i in range(len(values)))
    session.execute(sa.text(f"INSERT INTO {table} ({names}, geom) VALUES ({params}, ST_SetSRID(ST_MakePoint(:x, :y), "
                            "4326))"), {**{f"v{i}": v for i, v in enumerate(values)}, "x": x, "y": y})


@pytest.fixture
def fixture_zone(session, district, road_factory):
    _box(session, "B1", -5, -5, 10, 10, attrs='{"floors": 5, "use": "residential"}')
    _box(session, "B2", 20, 20, 20, 10, height=9.0, attrs='{"kind": "office"}')
    _box(session, "B3", 500, 0, 10, 10, attrs='{"floors": 20, "use": "residential"}')
    for kind, name, dx in (("school", "No. 1 Primary", 40), ("hospital", "District Hospital", -60),
                           ("nursing_home", "Sunset Care Home", 300)):
        _point(session, "poi", ["source", "kind", "name"], ["test", kind, name], dx, 0)
    cols = ["code", "sensor_type", "name", "unit", "private"]
    _point(session, "sensor", cols, ["DOOR-1", "door", "Door 1", "", True], 0, 50)
    _point(session, "sensor", cols, ["DOOR-2", "door", "Door 2", "", True], 0, 300)
    _point(session, "sensor", cols, ["WL-1", "water_level", "Gauge", "m", False], 0, -50)
    for code, dy, heading, stream in (("C1", 0, 90.0, "rtsp://cam/c1"), ("C2", 150, 0.0, "rtsp://cam/c2"),
                                      ("C3", 150, 180.0, "rtsp://cam/c3")):
        _point(session, "camera", ["code", "name", "heading_deg", "fov_deg", "range_m", "stream_url"],
               [code, f"Camera {code}", heading, 60.0, 80.0, stream], -30 if code == "C1" else 0, dy)
    road_factory("through", [_at(-500, 0), _at(500, 0)], road_class="primary", name="Through Road")
    road_factory("far", [_at(-500, 500), _at(500, 500)], road_class="primary")
    return zone.buffer_zone(session, f"SRID=4326;POINT({P[0]} {P[1]})", 100.0)


def test_impact_counts_match_the_fixture(session, fixture_zone):
    staff = Principal(actor="test:desk", role="dispatcher")
    out = impact.analyse(session, fixture_zone, viewer=staff)
    b = out["buildings"]
    assert b["count"] == 2
    assert b["floor_area_m2"] == pytest.approx(500 + 600, rel=0.02)
    assert b["people"] in (72, 73)                       # 12.5 + 60, each use rounded
    assert {u["use"]: u["people"] for u in b["by_use"]} == {"office": 60, "residential": pytest.approx(12.5, abs=1)}

    s = out["sensitive"]
    assert s["counts"] == {"school": 1, "hospital": 1, "care_home": 0, "elderly_alone": 1}
    assert [x["name"] for x in s["school"]] == ["No. 1 Primary"]
    assert [x["code"] for x in s["elderly_alone"]] == ["DOOR-1"]

    assert out["roads"]["count"] == 1 and out["roads"]["items"][0]["code"] == "through"
    assert out["roads"]["length_m"] == pytest.approx(200, rel=0.03)
    assert [(u["code"], u["level"]) for u in out["grids"]["items"] + out["communities"]["items"]] == [
        ("G22", "grid"), ("C11", "community")]
    assert sorted(c["code"] for c in out["cameras"]["items"]) == ["C1", "C3"]
    assert {c["stream_url"] for c in out["cameras"]["items"]} == {"rtsp://cam/c1", "rtsp://cam/c3"}
    assert [x["code"] for x in out["sensors"]["items"]] == ["WL-1"]      # private door sensors are not listed here
    assert out["ms"] < 1000


def test_the_public_gets_counts_not_households_nor_streams(session, fixture_zone):
    out = impact.analyse(session, fixture_zone, viewer=None)
    assert out["sensitive"]["counts"]["elderly_alone"] == 1
    assert "elderly_alone" not in {k for k in out["sensitive"] if k != "counts"}
    assert all(c["stream_url"] is None for c in out["cameras"]["items"])


def test_closed_road_gets_a_detour(session, fixture_zone, road_factory):
    # a bypass 300 m north: west end -> north-west -> north-east -> east end, 36 km/h
    w, e = _at(-500, 0), _at(500, 0)
    road_factory("bypass", [w, _at(-500, 300), _at(500, 300), e], speed_kmh=36)
    out = impact.analyse(session, fixture_zone)
    through = next(r for r in out["roads"]["items"] if r["code"] == "through")
    # the closed stretch's ends are the road's vertices outside the zone: its two ends, 1 km apart;
    # around: 300 + 1000 + 300 m at 10 m/s
    assert through["detour_s"] == pytest.approx(160.0, rel=0.03)
