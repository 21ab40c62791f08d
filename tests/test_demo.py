"""The demo district: deterministic, nested, plausible, and loadable well within a minute.

A small configuration is generated and loaded into its own database
(``<test db>_demo``) so the shared test database keeps its clean tables; one
test loads the full default demo (about 20-30 s on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import rasterio
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from data import demo, load
from data.simulate import step_positions
from spatial.db import migrate
from spatial.db.engine import drop_database, get_engine
from spatial.settings import get_settings

NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
SMALL = {"tickets": 600, "grids": 36, "communities": 8, "workers": 40, "assets": 60, "cameras": 12, "sensors": 12,
         "buildings": 300, "days": 20}


def _frames_equal(a: demo.DemoData, b: demo.DemoData) -> None:
    assert a.frames.keys() == b.frames.keys()
    for name in a.frames:
        fa, fb = a.frames[name].copy(), b.frames[name].copy()
        for f in (fa, fb):
            if "geom" in f:
                f["geom"] = [g.wkb_hex if g is not None else None for g in f["geom"]]
            for c in f.columns:
                if f[c].dtype == object:
                    f[c] = f[c].map(repr)
        pd.testing.assert_frame_equal(fa, fb, obj=name)
    np.testing.assert_array_equal(a.dem.elevation, b.dem.elevation)


def test_same_seed_same_district_other_seed_differs():
    a = demo.generate(seed=7, now=NOW, **SMALL)
    b = demo.generate(seed=7, now=NOW, **SMALL)
    _frames_equal(a, b)
    from data._geometry import outline

    assert not outline(np.random.default_rng(7)).equals(outline(np.random.default_rng(8)))


@pytest.fixture(scope="module")
def demo_db(db_url, tmp_path_factory):
    """A separate database holding the small demo; ONEMAP_HOME points at a temp dir for the DEM."""
    url = make_url(db_url).set(database=make_url(db_url).database + "_demo").render_as_string(hide_password=False)
    drop_database(url)
    migrate.upgrade(url)
    home = tmp_path_factory.mktemp("onemap_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONEMAP_HOME", str(home))
        get_settings.cache_clear()
        summary = load.load_demo(seed=3, url=url, now=NOW, **SMALL)
        yield url, summary, home
    get_settings.cache_clear()
    get_engine(url).dispose()
    drop_database(url)


def _q(url: str, sql: str, **params):
    with get_engine(url).connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_small_demo_counts_and_hierarchy(demo_db):
    url, summary, _ = demo_db
    rows = summary["rows"]
    assert rows["ticket"] == SMALL["tickets"] and rows["worker"] == SMALL["workers"]
    assert rows["asset"] == SMALL["assets"] and rows["camera"] == SMALL["cameras"]
    assert rows["sensor"] == SMALL["sensors"] and rows["department"] == 9 and rows["category"] == 28
    levels = dict(_q(url, "SELECT level, count(*) FROM admin_unit GROUP BY level"))
    assert levels[1] == 1 and levels[2] == 4 and levels[3] == SMALL["communities"] and levels[4] >= SMALL["grids"]
    # every child lies in its parent and the children tile the parent (areas in m2)
    leak = _q(url, "SELECT max(ST_Area(ST_Difference(c.geom, p.geom)::geography)) FROM admin_unit c "
                   "JOIN admin_unit p ON p.id = c.parent_id")[0][0]
    assert leak < 0.01
    gap = _q(url, "SELECT max(abs(ST_Area(p.geom::geography) - s.a) / ST_Area(p.geom::geography)) FROM admin_unit p "
                  "JOIN (SELECT parent_id, sum(ST_Area(geom::geography)) a FROM admin_unit GROUP BY parent_id) s "
                  "ON s.parent_id = p.id")[0][0]
    assert gap < 1e-6
    assert _q(url, "SELECT count(*) FROM admin_unit WHERE level > 1 AND parent_id IS NULL")[0][0] == 0
    assert _q(url, "SELECT count(*) FROM admin_unit WHERE NOT ST_IsValid(geom)")[0][0] == 0
    # personal data (spatial.privacy): elderly help is sensitive, the door sensors at their homes private
    assert _q(url, "SELECT code FROM category WHERE sensitive") == [("elderly_help",)]
    private = _q(url, "SELECT DISTINCT sensor_type FROM sensor WHERE private")
    assert private == [("door",)] and _q(url, "SELECT count(*) FROM sensor WHERE private")[0][0] > 0


def test_small_demo_points_carry_their_grid(demo_db):
    url, _, _ = demo_db
    for table in ("ticket", "asset", "camera", "sensor"):
        bad = _q(url, f"SELECT count(*) FROM {table} t LEFT JOIN admin_unit g ON g.id = t.grid_id "
                      "WHERE g.id IS NULL OR g.level <> 4 OR NOT ST_Contains(g.geom, t.geom)")[0][0]
        assert bad == 0, table
    bad = _q(url, "SELECT count(*) FROM ticket t JOIN admin_unit g ON g.id = t.grid_id "
                  "WHERE t.community_id <> g.parent_id OR t.street_id <> (SELECT parent_id FROM admin_unit "
                  "WHERE id = g.parent_id)")[0][0]
    assert bad == 0


def test_small_demo_ticket_lifecycles_are_consistent(demo_db):
    url, _, _ = demo_db
    checks = {
        "closed without closed_at": "status = 'closed' AND closed_at IS NULL",
        "rating on an open ticket": "rating IS NOT NULL AND status <> 'closed'",
        "dispatched without a worker": "status IN ('dispatched','in_progress','resolved','verified','closed') "
                                       "AND assigned_worker_id IS NULL",
        "timestamps out of order": "accepted_at < created_at OR dispatched_at < accepted_at "
                                   "OR resolved_at < dispatched_at OR closed_at < resolved_at",
        "in the future": "created_at > :now OR updated_at > :now",
        "deadline before report": "accept_due_at <= created_at OR resolve_due_at <= created_at",
        "merged without target": "status = 'merged' AND merged_into_id IS NULL",
        "department differs from catalog": "department_id <> (SELECT department_id FROM category c "
                                           "WHERE c.id = category_id)",
    }
    for what, cond in checks.items():
        assert _q(url, f"SELECT count(*) FROM ticket WHERE {cond}", now=NOW)[0][0] == 0, what
    # one event per transition; version counts them; chain from/to is continuous
    bad = _q(url, "SELECT count(*) FROM ticket t WHERE t.version <> 1 + (SELECT count(*) FROM ticket_event e "
                  "WHERE e.ticket_id = t.id AND e.kind = 'transition') OR t.status <> (SELECT e.to_status "
                  "FROM ticket_event e WHERE e.ticket_id = t.id AND e.kind IN ('reported', 'transition') "
                  "ORDER BY e.at DESC, e.id DESC LIMIT 1)")[0][0]
    assert bad == 0
    broken = _q(url, "SELECT count(*) FROM (SELECT kind, from_status, lag(to_status) OVER (PARTITION BY ticket_id "
                     "ORDER BY at, id) AS prev FROM ticket_event WHERE kind IN ('reported', 'transition')) e "
                     "WHERE e.from_status IS DISTINCT FROM e.prev OR (e.kind = 'reported') <> (e.prev IS NULL)"
                     )[0][0]
    assert broken == 0
    # every move is one the lifecycle allows, by a role it allows
    from spatial.tickets.lifecycle import TRANSITIONS

    moves = _q(url, "SELECT DISTINCT from_status, to_status, actor_role FROM ticket_event WHERE kind = 'transition'")
    assert all(m[2] in TRANSITIONS[(m[0], m[1])] for m in moves), moves
    assert _q(url, "SELECT count(*) FROM ticket t WHERE NOT EXISTS (SELECT 1 FROM ticket_reporter r "
                   "WHERE r.ticket_id = t.id)")[0][0] == 0
    statuses = dict(_q(url, "SELECT status, count(*) FROM ticket GROUP BY status"))
    assert statuses["closed"] > 0.6 * SMALL["tickets"]
    # workloads equal the open assignments and respect the caps
    bad = _q(url, "SELECT count(*) FROM worker w WHERE w.workload > w.max_workload OR w.workload <> "
                  "(SELECT count(*) FROM ticket t WHERE t.assigned_worker_id = w.id "
                  "AND t.status IN ('dispatched','in_progress'))")[0][0]
    assert bad == 0


def test_small_demo_devices_and_workers(demo_db):
    url, _, _ = demo_db
    cams = _q(url, "SELECT code, stream_url, heading_deg FROM camera ORDER BY code")
    assert cams[0][1] == f"rtsp://demo.invalid/cam/{cams[0][0]}" and all(0 <= c[2] < 360 for c in cams)
    th = _q(url, "SELECT sensor_type, unit, thresholds FROM sensor")
    assert {t[0] for t in th} >= {"water_level", "rain_gauge", "air_quality", "noise", "smoke", "door"}
    keys = {"yellow", "orange", "red", "hysteresis", "min_duration_s", "rate_of_rise_per_h", "offline_after_s"}
    assert all(set(t[2]) == keys for t in th)
    assert _q(url, "SELECT count(*) FROM sensor_reading")[0][0] > 12 * 400
    on, fresh = _q(url, "SELECT count(*) FILTER (WHERE on_duty), count(*) FILTER (WHERE on_duty AND "
                        "position_at > CAST(:now AS timestamptz) - interval '5 minutes') FROM worker", now=NOW)[0]
    assert on == fresh and 0.4 * SMALL["workers"] < on < 0.8 * SMALL["workers"]


def test_dem_is_metric_small_and_low_where_water_collects(demo_db):
    url, summary, home = demo_db
    path = home / "demo" / "dem.tif"
    assert summary["dem"]["path"] == str(path)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32649 and src.res == (10.0, 10.0) and src.width * src.height < 1_000_000
        z = src.read(1)

        def elev(table: str, where: str = "true") -> np.ndarray:
            pts = _q(url, f"SELECT ST_X(ST_Transform(geom, 32649)), ST_Y(ST_Transform(geom, 32649)) FROM {table} "
                          f"WHERE {where}")
            return np.array([v[0] for v in src.sample(pts)])

        flooded = elev("ticket", "category_id = (SELECT id FROM category WHERE code = 'waterlogging')")
        everything = elev("ticket")
        gauges = elev("sensor", "sensor_type = 'water_level'")
    assert np.median(flooded) < np.median(everything) - 0.5
    assert np.median(gauges) < np.median(z)


def test_fill_depressions_fills_a_pit_and_drains_flats():
    from data._dem import fill_depressions

    z = np.full((7, 7), 5.0)
    z[1:-1, 1:-1] = 6.0
    z[3, 3] = 4.0  # a pit in a plateau
    f = fill_depressions(z)
    assert f[3, 3] == 6.0 and np.array_equal(f[z != 4.0], z[z != 4.0])
    fe = fill_depressions(z, eps=1e-3)
    assert fe[3, 3] > 6.0 and np.all(fe >= z)
    # with eps every interior cell has a strictly lower neighbour (a way out)
    for r in range(1, 6):
        for c in range(1, 6):
            assert fe[r - 1:r + 2, c - 1:c + 2].min() < fe[r, c]


def test_dem_has_no_pits_outside_the_designed_basins_and_underpasses():
    """A flood forecast ponds water only where the generator meant it to (and along roads/channels)."""
    from data import _dem, _geometry

    lay = _geometry.layout(np.random.default_rng(42))
    dem = _dem.make_dem(np.random.default_rng([42, 1]), lay)
    z = dem.elevation.astype(np.float64)
    assert z.shape == (644, 745) and dem.cell_size == 10.0 and dem.crs == "EPSG:32649"
    designed = _dem.designed_depressions(lay, dem.transform, z.shape)
    fill = _dem.fill_depressions(z) - z
    assert fill[~designed].max() == 0.0  # not one closed depression outside them
    assert 0.5 < fill[designed].max() < 3.0  # the designed ones are real but bounded
    assert designed.mean() < 0.05  # DEM build time is a benchmark figure (docs/data.md), not a test


def test_step_positions_moves_on_duty_workers_inside_the_district(demo_db):
    url, _, _ = demo_db
    with Session(get_engine(url)) as s:
        before = dict(s.execute(sa.text("SELECT id, ST_AsText(geom) FROM worker WHERE on_duty")).all())
        fixes = s.scalar(sa.text("SELECT count(*) FROM worker_position"))
        later = datetime(2026, 6, 15, 9, 31, tzinfo=UTC)
        n = step_positions(s, now=later, rng=np.random.default_rng(0))
        after = s.execute(sa.text("SELECT id, ST_AsText(geom), position_at FROM worker WHERE on_duty")).all()
        assert n == len(before) == len(after)
        moved = sum(1 for r in after if r[1] != before[r[0]])
        assert moved > 0.8 * n and all(r[2] == later for r in after)
        assert s.scalar(sa.text("SELECT count(*) FROM worker w, admin_unit d WHERE w.on_duty AND d.level = 1 "
                                "AND NOT ST_Intersects(d.geom, w.geom)")) == 0
        assert s.scalar(sa.text("SELECT count(*) FROM worker_position")) == fixes + n
        s.rollback()


def test_is_loaded_reports_yes_or_no(demo_db, db_url):
    url, _, _ = demo_db
    env = {**os.environ, "ONEMAP_DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-m", "data.load", "--is-loaded"], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout == "yes\n"
    out = subprocess.run([sys.executable, "-m", "data.load", "--is-loaded"],
                         env={**os.environ, "ONEMAP_DATABASE_URL": db_url}, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout == "no\n"


def test_full_default_demo_loads_in_under_a_minute(db_url, tmp_path, monkeypatch):
    """The documented demo (20,000 tickets) through the CLI path, timed."""
    url = make_url(db_url).set(database=make_url(db_url).database + "_fulldemo").render_as_string(
        hide_password=False)
    drop_database(url)
    migrate.upgrade(url)
    monkeypatch.setenv("ONEMAP_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        t0 = time.perf_counter()
        summary = load.load_demo(url=url)
        took = time.perf_counter() - t0
        rows = summary["rows"]
        assert rows["ticket"] == 20_000 and rows["worker"] == 300 and rows["asset"] == 1000
        assert rows["camera"] == 100 and rows["sensor"] == 50 and summary["grids"] >= 200
        assert rows["building"] >= 2000 and rows["road"] >= 100
        assert load.is_loaded(url)
        print(f"full demo loaded in {took:.1f} s")
    finally:
        get_engine(url).dispose()
        monkeypatch.undo()
        get_settings.cache_clear()
        drop_database(url)
