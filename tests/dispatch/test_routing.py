"""Travel-time re-ranking over the road table (only when roads are loaded)."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from spatial.tickets import dispatch
from spatial.workers import routing
from tests.dispatch.conftest import NOW


def _road(session, code, coords, road_class=None):
    wkt = "MULTILINESTRING((" + ",".join(f"{x:.3f} {y:.3f}" for x, y in coords) + "))"
    session.execute(sa.text("INSERT INTO road (code, road_class, geom) VALUES (:c, :k, ST_GeomFromText(:g, 4326))"),
                    {"c": code, "k": road_class, "g": wkt})


def test_travel_time_reranks_past_a_river(session, worker_factory, ticket_factory):
    # worker A is 555 m north of the ticket but across a river: the bridge is 3 km east
    a = worker_factory(lon=113.44, lat=23.125)
    b = worker_factory(lon=113.446, lat=23.12)          # 614 m east, same road
    c = worker_factory(lon=113.441, lat=23.15)           # on a road that joins nothing
    t = ticket_factory(lon=113.44, lat=23.12)
    straight = dispatch.candidates(session, t, k=3, now=NOW)
    assert [x.worker_id for x in straight] == [a, b, c] and straight[0].travel_time_s is None

    xs = np.round(np.arange(113.430, 113.4701, 0.002), 3)
    _road(session, "south", [(x, 23.12) for x in xs])
    _road(session, "north", [(x, 23.125) for x in xs if x >= 113.44])
    _road(session, "bridge", [(113.47, 23.12), (113.47, 23.125)], "primary")
    _road(session, "island", [(113.440, 23.15), (113.442, 23.15)])
    routed = dispatch.candidates(session, t, k=3, now=NOW)
    assert [x.worker_id for x in routed] == [b, a, c]
    assert routed[0].travel_time_s == pytest.approx(614 / (25 / 3.6), rel=0.02)
    assert routed[1].travel_time_s > 6 * 60 and routed[2].travel_time_s is None
    assert "min by road" in routed[0].reason
    # the caller can still ask for straight-line order
    assert [x.worker_id for x in dispatch.candidates(session, t, k=3, now=NOW, use_routing=False)] == [a, b, c]


def test_access_legs_and_one_way_roads(session):
    # one road of 2 vertices, 1,024 m at 36 km/h (10 m/s)
    _road(session, "r1", [(113.0, 23.0), (113.01, 23.0)], "x")
    session.execute(sa.text("UPDATE road SET attrs = '{\"speed_kmh\": 36}'"))
    router = routing.network_for(session)
    # 1,024 m at 10 m/s, plus a ~111 m access leg at 10 km/h on the source side
    (tt,) = router.travel_times((113.0, 23.0), [(113.01, 23.001)])
    assert tt == pytest.approx(1024.0 / 10 + 111.2 / (10 / 3.6), rel=0.01)
    # one-way west to east: from the east end to the west end there is no way
    session.execute(sa.text("UPDATE road SET oneway = true"))
    router = routing.network_for(session)
    assert router.travel_times((113.0, 23.0), [(113.01, 23.0)]) == [None]
    assert router.travel_times((113.01, 23.0), [(113.0, 23.0)])[0] == pytest.approx(102.4, rel=0.01)
