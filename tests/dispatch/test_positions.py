"""GPS ingest: history + latest trusted fix, duplicates, out-of-order and implausible fixes, retention."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from spatial.errors import NotFound, ValidationError
from spatial.workers import positions
from tests.dispatch.conftest import NOW


def latest(session, w):
    return session.execute(sa.text(
        "SELECT ST_X(geom), ST_Y(geom), position_at, position_accuracy_m FROM worker WHERE id = :w"),
        {"w": w}).one()


def history(session, w):
    return session.execute(sa.text(
        "SELECT fixed_at, flag FROM worker_position WHERE worker_id = :w ORDER BY fixed_at"), {"w": w}).all()


def fix(w, s, lon=113.44, lat=23.12, acc=5.0):
    return {"worker_id": w, "fixed_at": NOW + timedelta(seconds=s), "lon": lon, "lat": lat, "accuracy_m": acc}


def test_batch_stores_history_and_moves_latest(session, worker_factory):
    a, b = worker_factory(lon=None), worker_factory(lon=None)
    out = positions.ingest_fixes(session, [fix(a, -20, 113.441), fix(a, -10, 113.442), fix(b, -5, 113.45)],
                                 now=NOW)
    assert out["received"] == 3 and out["stored"] == 3 and out["trusted"] == 3 and out["workers_moved"] == 2
    x, _, at, acc = latest(session, a)
    assert x == pytest.approx(113.442) and at == NOW - timedelta(seconds=10) and acc == 5.0
    assert len(history(session, a)) == 2


def test_duplicates_and_out_of_order(session, worker_factory):
    w = worker_factory(lon=None)
    positions.ingest_fixes(session, [fix(w, -10, 113.442)], now=NOW)
    out = positions.ingest_fixes(session, [fix(w, -10, 113.442), fix(w, -10, 113.442), fix(w, -30, 113.441)],
                                 now=NOW)
    assert out["duplicates"] == 2 and out["stored"] == 1 and out["flagged"]["out_of_order"] == 1
    assert out["workers_moved"] == 0
    assert latest(session, w)[0] == pytest.approx(113.442)
    assert [f for _, f in history(session, w)] == ["out_of_order", None]


def test_implausible_fixes_are_flagged_not_trusted(session, worker_factory):
    w = worker_factory(lon=113.44, lat=23.12, age_s=60)
    out = positions.ingest_fixes(session, [
        fix(w, -50, 113.46, 23.12),            # ~2 km in 10 s: too fast
        fix(w, -40, 113.60, 23.12),            # outside the district
        fix(w, 600, 113.44, 23.12),            # 10 minutes in the future
        fix(w, -3600, 113.44, 23.12),          # older than the latest fix: out of order
        fix(w, -30, 113.4405, 23.1205),        # ~70 m in 30 s: fine
    ], now=NOW)
    assert out["flagged"] == {"too_fast": 1, "outside_district": 1, "future": 1, "out_of_order": 1, "stale": 0}
    assert out["trusted"] == 1
    x, y, at, _ = latest(session, w)
    assert (x, y, at) == (pytest.approx(113.4405), pytest.approx(23.1205), NOW - timedelta(seconds=30))


def test_stale_fix_is_history_only(session, worker_factory):
    w = worker_factory(lon=None)
    out = positions.ingest_fixes(session, [fix(w, -3600)], now=NOW, max_age_s=600)
    assert out["flagged"]["stale"] == 1 and out["workers_moved"] == 0
    assert latest(session, w)[2] is None


def test_speed_check_allows_for_accuracy(session, worker_factory):
    w = worker_factory(lon=113.44, lat=23.12, age_s=10)
    # ~330 m in 5 s is 240 km/h, but a 300 m accuracy radius makes it plausible
    out = positions.ingest_fixes(session, [fix(w, -5, 113.4432, 23.12, acc=300.0)], now=NOW)
    assert out["trusted"] == 1
    out = positions.ingest_fixes(session, [fix(w, -1, 113.4600, 23.12, acc=5.0)], now=NOW)
    assert out["flagged"]["too_fast"] == 1
    # a slower limit flags what 120 km/h allows
    w2 = worker_factory(lon=113.44, lat=23.12, age_s=60)
    out = positions.ingest_fixes(session, [fix(w2, 0, 113.446, 23.12)], now=NOW, max_speed_kmh=20)
    assert out["flagged"]["too_fast"] == 1


def test_dataframe_input_and_iso_strings(session, worker_factory):
    w = worker_factory(lon=None)
    df = pd.DataFrame({"worker_id": [w, w], "fixed_at": pd.to_datetime([NOW - timedelta(seconds=9),
                                                                         NOW - timedelta(seconds=3)]),
                       "lon": [113.44, 113.4401], "lat": [23.12, 23.12], "accuracy_m": [None, 8.0]})
    assert positions.ingest_fixes(session, df, now=NOW)["trusted"] == 2
    iso = (NOW + timedelta(seconds=1)).astimezone().isoformat()
    assert positions.ingest_fixes(session, [{"worker_id": w, "fixed_at": iso, "lon": 113.4402,
                                             "lat": 23.12}], now=NOW)["workers_moved"] == 1


@pytest.mark.parametrize("bad", [
    {"fixed_at": "2026-05-12T02:00:00", "lon": 113.44, "lat": 23.12},   # naive time
    {"fixed_at": "yesterday", "lon": 113.44, "lat": 23.12},
    {"fixed_at": "2026-05-12T02:00:00Z", "lon": 200.0, "lat": 23.12},
    {"fixed_at": "2026-05-12T02:00:00Z", "lat": 23.12},
    {"fixed_at": "2026-05-12T02:00:00Z", "lon": 113.44, "lat": 23.12, "accuracy_m": -1},
])
def test_bad_input_writes_nothing(session, worker_factory, bad):
    w = worker_factory(lon=None)
    good = fix(w, -5)
    with pytest.raises(ValidationError):
        positions.ingest_fixes(session, [good, {"worker_id": w, **bad}], now=NOW)
    assert history(session, w) == []


def test_unknown_worker_writes_nothing(session, worker_factory):
    w = worker_factory(lon=None)
    with pytest.raises(ValidationError, match="unknown worker"):
        positions.ingest_fixes(session, [fix(w, -5), fix(10**8, -5)], now=NOW)
    assert history(session, w) == []


def test_prune_keeps_recent_history_and_latest(session, worker_factory):
    w = worker_factory(lon=None)
    positions.ingest_fixes(session, [fix(w, -40 * 86400), fix(w, -86400), fix(w, -5)], now=NOW,
                           max_age_s=10**8)
    assert positions.prune_positions(session, older_than_days=30, now=NOW) == 1
    assert len(history(session, w)) == 2
    assert latest(session, w)[2] == NOW - timedelta(seconds=5)
    with pytest.raises(ValidationError):
        positions.prune_positions(session, older_than_days=-1)


def test_set_duty(session, worker_factory):
    w = worker_factory(on_duty=False)
    assert positions.set_duty(session, w, on_duty=True) == {"worker_id": w, "on_duty": True}
    with pytest.raises(NotFound):
        positions.set_duty(session, 10**8, on_duty=True)
