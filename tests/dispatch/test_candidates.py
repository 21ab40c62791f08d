"""Candidates: nearest equals a brute-force haversine oracle; filters; empty answers."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spatial.errors import NotFound, ValidationError
from spatial.tickets import dispatch
from spatial.workers.positions import haversine_m
from tests.dispatch.conftest import NOW, add_worker

LON = st.floats(113.35, 113.53)
LAT = st.floats(23.03, 23.21)
WORKER = st.tuples(LON, LAT, st.booleans(), st.sampled_from([30.0, 30.0, 30.0, 900.0]),
                   st.integers(0, 3), st.sampled_from(["urban", "urban", "water"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ticket=st.tuples(LON, LAT), workers=st.lists(WORKER, min_size=0, max_size=40), k=st.integers(1, 8))
def test_nearest_matches_haversine_oracle(session, district, ticket, workers, k):
    """Same workers, same order and same metres as brute force over the eligible set."""
    sp = session.begin_nested()
    try:
        cat = district["categories"]["noise"]  # env, no skill required
        env = district["departments"]["env"]
        ids = []
        for lon, lat, duty, age, wl, _ in workers:
            ids.append(add_worker(session, dept=env, lon=lon, lat=lat, on_duty=duty, age_s=age, workload=wl,
                                  max_workload=2))
        # a decoy from another department right on the ticket
        add_worker(session, dept=district["departments"]["urban"], lon=ticket[0], lat=ticket[1])
        tid = session.execute(sa.text(
            "INSERT INTO ticket (channel, category_id, department_id, geom, status) VALUES "
            "('hotline', :c, :d, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 'accepted') RETURNING id"),
            {"c": cat, "d": env, "x": ticket[0], "y": ticket[1]}).scalar_one()
        got = dispatch.candidates(session, tid, k=k, max_age_s=600, now=NOW)

        eligible = [(i, w) for i, w in zip(ids, workers, strict=True) if w[2] and w[3] <= 600 and w[4] < 2]
        d = np.array([haversine_m(ticket[0], ticket[1], w[0], w[1]) for _, w in eligible])
        order = np.argsort(d, kind="stable")
        want = [(eligible[j][0], d[j]) for j in order[:k]]
        assert len(got) == len(want)
        for c, (_, dist) in zip(got, want, strict=True):
            # same metric (sphere): distances agree to a millimetre, rank by rank
            assert c.distance_m == pytest.approx(dist, abs=0.01, rel=1e-6)
            assert c.fix_age_s == pytest.approx(30.0)
        for c in got:
            i = ids.index(c.worker_id)
            assert c.distance_m == pytest.approx(haversine_m(ticket[0], ticket[1], *workers[i][:2]), rel=1e-6,
                                                 abs=0.01)
        assert [c.distance_m for c in got] == sorted(c.distance_m for c in got)
    finally:
        sp.rollback()


def test_filters_duty_department_freshness_workload(session, worker_factory, ticket_factory):
    near = worker_factory("urban", lon=113.4401, lat=23.1201, skills=("road_repair",))
    worker_factory("urban", lon=113.44, lat=23.12, on_duty=False, skills=("road_repair",))
    worker_factory("urban", lon=113.44, lat=23.12, age_s=3600, skills=("road_repair",))
    worker_factory("urban", lon=113.44, lat=23.12, workload=5, max_workload=5, skills=("road_repair",))
    worker_factory("water", lon=113.44, lat=23.12, skills=("road_repair",))
    worker_factory("urban", lon=None, skills=("road_repair",))
    far = worker_factory("urban", lon=113.47, lat=23.15, workload=2, skills=("road_repair",))
    t = ticket_factory("pothole", lon=113.44, lat=23.12)

    got = dispatch.candidates(session, t, k=5, max_age_s=600, now=NOW)
    assert [c.worker_id for c in got] == [near, far]
    assert got[0].distance_m < 20
    assert got[1].workload == 2 and got[1].max_workload == 5
    assert "m away" in got[0].reason and "GPS fix 30 s old" in got[0].reason and "0/5 open jobs" in got[0].reason
    assert got[0].skill_match and got[0].travel_time_s is None
    # a wider freshness window lets the stale worker back in
    assert len(dispatch.candidates(session, t, k=5, max_age_s=7200, now=NOW)) == 3


def test_skill_required_then_department_fallback(session, worker_factory, ticket_factory):
    unskilled = worker_factory("urban", lon=113.4401, lat=23.1201)
    skilled = worker_factory("urban", lon=113.47, lat=23.15, skills=("road_repair", "paint"))
    t = ticket_factory("pothole")
    assert [c.worker_id for c in dispatch.candidates(session, t, now=NOW)] == [skilled]
    session.execute(sa.text("UPDATE worker SET on_duty = false WHERE id = :w"), {"w": skilled})
    got = dispatch.candidates(session, t, now=NOW)
    assert [c.worker_id for c in got] == [unskilled]
    assert not got[0].skill_match and "lacks skill 'road_repair'" in got[0].reason


def test_ticket_department_overrides_category(session, worker_factory, ticket_factory, district):
    w = worker_factory("traffic", skills=("road_repair",))
    t = ticket_factory("pothole", department=district["departments"]["traffic"])
    assert [c.worker_id for c in dispatch.candidates(session, t, now=NOW)] == [w]


def test_nobody_available_gives_empty_list_and_a_reason(session, worker_factory, ticket_factory):
    t = ticket_factory("noise")
    assert dispatch.candidates(session, t, now=NOW) == []
    info = dispatch.availability(session, t, now=NOW)
    assert info["workers"] == 0 and "No worker is registered" in info["message"]

    worker_factory("env", on_duty=False)
    assert "Nobody in Ecology and Environment Bureau is on duty" in dispatch.availability(
        session, t, now=NOW)["message"]

    worker_factory("env", age_s=3600)
    worker_factory("env", age_s=3600)
    worker_factory("env", workload=3, max_workload=3)
    worker_factory("env", lon=None)
    assert dispatch.candidates(session, t, now=NOW) == []
    info = dispatch.availability(session, t, max_age_s=600, now=NOW)
    assert (info["on_duty"], info["stale"], info["at_cap"], info["no_position"], info["available"]) == (4, 2, 1, 1, 0)
    assert info["message"] == ("No available worker in Ecology and Environment Bureau: 4 on duty, "
                               "2 with a GPS fix older than 10 min; 1 without any GPS fix; "
                               "1 at their workload cap.")


def test_unknown_ticket_and_bad_k(session, district, ticket_factory):
    with pytest.raises(NotFound):
        dispatch.candidates(session, 10**12)
    t = ticket_factory()
    with pytest.raises(ValidationError):
        dispatch.candidates(session, t, k=0)
    with pytest.raises(ValidationError):
        dispatch.candidates(session, t, max_age_s=0)


def test_knn_uses_the_partial_index(session, district):
    for opt in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):  # tiny table: make costs irrelevant
        session.execute(sa.text(f"SET LOCAL {opt} = off"))
    plan = "\n".join(r[0] for r in dispatch._fetch(session, "EXPLAIN " + dispatch._KNN_SKILL_SQL, {
        "lon": 113.44, "lat": 23.12, "dept": 1, "since": NOW, "now": NOW, "k": 5, "skill": "x"}))
    assert "ix_worker_avail_geog" in plan
