"""The road-network isochrone (pgr_drivingDistance) against a small graph checked by hand.

Graph (lat 23.12, lon step 0.001 deg = 102.263 m on the sphere, lat step 0.001 deg = 111.195 m)::

    F (113.441, 23.122)
    |  one-way F -> E (11.12 s), so E cannot reach F
    E (113.441, 23.121)
    |  11.12 s
    A ---- B ---- C ---- D        A..D: 113.440..113.443 at 23.120, 36 km/h: 10.226 s per step
                  |
                  G (113.442, 23.119)   C-G at 3.6 km/h: 111.2 s

From A with a 25 s band: A 0, B 10.226, C 20.453, E 21.346 (B + 11.12); D would be 30.68 s,
F is unreachable (one-way), G 131.6 s. The reached road: A-B and B-C and B-E whole (102.263 * 2
+ 111.195), C-D for (25 - 20.453) / 10.226 = 44.5 % (45.47 m) and C-G for 4.547 s at 1 m/s
(4.55 m): 365.8 m in all.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from spatial.incidents import zone
from spatial.workers import network

LON_M = 102.263   # metres per 0.001 deg of longitude at 23.12 N (sphere)
LAT_M = 111.195   # metres per 0.001 deg of latitude


@pytest.fixture
def graph(session, road_factory):
    road_factory("main", [(113.440, 23.120), (113.441, 23.120), (113.442, 23.120), (113.443, 23.120)],
                 speed_kmh=36)
    road_factory("north", [(113.441, 23.120), (113.441, 23.121)], speed_kmh=36)
    road_factory("oneway", [(113.441, 23.122), (113.441, 23.121)], speed_kmh=36, oneway=True)
    road_factory("slow", [(113.442, 23.120), (113.442, 23.119)], speed_kmh=3.6)
    assert network.ensure(session)
    return {name: session.execute(sa.text(
        "SELECT id FROM road_vertex WHERE ST_Equals(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
        {"x": x, "y": y}).scalar_one()
        for name, (x, y) in {"A": (113.440, 23.120), "B": (113.441, 23.120), "C": (113.442, 23.120),
                             "D": (113.443, 23.120), "E": (113.441, 23.121), "F": (113.441, 23.122),
                             "G": (113.442, 23.119)}.items()}


def test_reached_nodes_and_costs(session, graph):
    got = {r.node: r.agg_cost for r in zone.reached_nodes(session, "SRID=4326;POINT(113.44 23.12)", 25.0)}
    step, north = LON_M / 10.0, LAT_M / 10.0
    want = {graph["A"]: 0.0, graph["B"]: step, graph["C"]: 2 * step, graph["E"]: step + north}
    assert set(got) == set(want)          # D (30.7 s), F (one-way) and G (131.6 s) are out
    for node, cost in want.items():
        assert got[node] == pytest.approx(cost, abs=0.02)
    # a longer band reaches D, still not F
    got = {r.node for r in zone.reached_nodes(session, "SRID=4326;POINT(113.44 23.12)", 31.0)}
    assert graph["D"] in got and graph["F"] not in got


def test_isochrone_zone_cuts_edges_where_the_budget_ends(session, graph):
    ewkt, facts = zone.isochrone_zone(session, "SRID=4326;POINT(113.44 23.12)", 25.0)
    assert facts["method"] == "isochrone" and facts["nodes_reached"] == 4
    step = LON_M / 10.0
    partial_cd = (25.0 - 2 * step) / step * LON_M
    partial_cg = (25.0 - 2 * step) * 1.0
    assert facts["road_m"] == pytest.approx(2 * LON_M + LAT_M + partial_cd + partial_cg, rel=0.01)

    def inside(lon, lat):
        return session.execute(sa.text("SELECT ST_Intersects(ST_GeomFromEWKT(:z), ST_SetSRID(ST_MakePoint(:x, :y), "
                                       "4326))"), {"z": ewkt, "x": lon, "y": lat}).scalar()

    end = 113.442 + partial_cd / LON_M * 0.001          # where the C-D edge is cut
    assert inside(end + 0.0002, 23.12)                    # 20 m beyond the cut: within the 40 m roadside strip
    assert not inside(113.443, 23.12)                     # D: 57 m beyond the cut
    assert not inside(113.441, 23.122)                    # F: only reachable against the one-way
    assert inside(113.441, 23.121)                        # E


def test_no_roads_falls_back_to_a_buffer(session, district):
    ewkt, facts = zone.isochrone_zone(session, "SRID=4326;POINT(113.44 23.12)", 60.0)
    assert facts["method"] == "buffer_fallback" and facts["radius_m"] == pytest.approx(60 * 20 / 3.6)
    assert ewkt.startswith("SRID=4326;MULTIPOLYGON")
