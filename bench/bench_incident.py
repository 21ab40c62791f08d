"""Emergency command benchmark: impact analysis p50/p99, and 5-candidate travel-time ranking pgRouting vs
the pure-Python graph OneMap used before (bench/_baseline_routing.py), on two districts:

* ``demo``: the demo district (3,000 tickets; its synthetic roads noded at crossings);
* ``shanghai``: the same district moved into Shanghai Lujiazui with the real OSM roads and
  buildings imported by ``onemap osm import`` (bench/basemap_shanghai.py's build).

    .venv/bin/python bench/bench_incident.py [--n 40] [--reuse] [--only demo|shanghai] [--json out.json]

For each district: ``n`` ticket locations; impact = zone + :func:`spatial.incidents.impact.analyse`
for a 200 m buffer and a 180 s road isochrone (the waterlogging template): the whole "declare"
computation, nothing written;
routing = the 5 nearest on-duty workers (KNN) to each ticket ranked by road travel time, with
pgRouting (``Router.travel_times``, one ``pgr_dijkstraCost``) and with the Python graph (cached;
its one-off build time reported apart), side by side in the same run; and how often the two
rankings agree. Times are milliseconds of wall clock on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _baseline_routing as baseline  # noqa: E402
from spatial.db import migrate  # noqa: E402
from spatial.db.engine import drop_database, session_scope  # noqa: E402
from spatial.incidents import impact, zone  # noqa: E402
from spatial.settings import get_settings  # noqa: E402
from spatial.workers import network, routing  # noqa: E402
from tests.conftest import role_env  # noqa: E402

#: The isochrone band of the waterlogging template, seconds.
ISO_BAND_S = 180.0
DBS = {"demo": "onemap_bench_incident_demo", "shanghai": "onemap_bench_incident_shanghai"}


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def _stats(xs: list[float]) -> dict:
    return {"n": len(xs), "p50_ms": round(_pct(xs, 50), 1), "p99_ms": round(_pct(xs, 99), 1),
            "max_ms": round(max(xs), 1) if xs else None}


def build(name: str, url: str) -> None:
    if name == "shanghai":
        from bench.basemap_shanghai import build as build_shanghai

        build_shanghai(url)
        return
    from data.load import load_demo

    drop_database(get_settings().owner_url_for(url))
    migrate.upgrade(url)
    load_demo(tickets=3000, url=url, replace=True)


def run(name: str, url: str, n: int, seed: int = 7) -> dict:
    out: dict = {"district": name}
    with session_scope(url) as s:
        out["roads"] = s.execute(sa.text("SELECT count(*) FROM road")).scalar()
        out["buildings"] = s.execute(sa.text("SELECT count(*) FROM building")).scalar()
        t0 = time.perf_counter()
        s.execute(sa.text("UPDATE road_network_state SET built_generation = NULL"))
        built = network.build(s)
        out["network"] = {**built, "build_s": round(time.perf_counter() - t0, 2)}
    with session_scope(url) as s:
        pts = s.execute(sa.text("SELECT ST_X(geom), ST_Y(geom) FROM ticket ORDER BY md5(id::text || :seed) LIMIT :n"),
                        {"seed": str(seed), "n": n}).all()
        # warm-up (plans, profile cache)
        e = f"SRID=4326;POINT({pts[0][0]} {pts[0][1]})"
        impact.analyse(s, zone.buffer_zone(s, e, 200.0))
        for kind in ("buffer", "isochrone"):
            times, people, buildings = [], [], []
            for x, y in pts:
                e = f"SRID=4326;POINT({x} {y})"
                t = time.perf_counter()
                z = zone.buffer_zone(s, e, 200.0) if kind == "buffer" else zone.isochrone_zone(s, e, ISO_BAND_S)[0]
                r = impact.analyse(s, z)
                times.append((time.perf_counter() - t) * 1000)
                people.append(r["buildings"]["people"])
                buildings.append(r["buildings"]["count"])
            out[f"impact_{kind}"] = {**_stats(times), "buildings_mean": round(statistics.mean(buildings), 1),
                                     "people_mean": round(statistics.mean(people))}
        s.rollback()

    with session_scope(url) as s:
        since = s.execute(sa.text("SELECT max(position_at) - interval '1 day' FROM worker")).scalar()
        t = time.perf_counter()
        py_net = baseline.load_network(s)
        out["python_graph_build_s"] = round(time.perf_counter() - t, 2)
        router = routing.network_for(s)
        pg_ms, py_ms, agree, reach_pg, reach_py = [], [], 0, 0, 0
        for x, y in pts:
            rows = s.execute(sa.text(
                "SELECT ST_X(geom), ST_Y(geom) FROM worker WHERE on_duty AND geom IS NOT NULL "
                "AND position_at >= :since ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326) LIMIT 5"),
                {"x": x, "y": y, "since": since}).all()
            src = [(r[0], r[1]) for r in rows]
            t = time.perf_counter()
            a = router.travel_times((x, y), src)
            pg_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            b = py_net.travel_times((x, y), src)
            py_ms.append((time.perf_counter() - t) * 1000)
            reach_pg += sum(v is not None for v in a)
            reach_py += sum(v is not None for v in b)

            def order(v):
                return sorted(range(len(v)), key=lambda i: (v[i] is None, v[i] or 0.0))

            agree += order(a) == order(b)
        out["routing_5"] = {"pgrouting": _stats(pg_ms), "python_graph": _stats(py_ms),
                            "ratio_p50_pgrouting_over_python": round(_pct(pg_ms, 50) / max(_pct(py_ms, 50), 1e-9), 2),
                            "same_ranking": f"{agree}/{len(pts)}",
                            "reached": {"pgrouting": reach_pg, "python_graph": reach_py, "of": 5 * len(pts)}}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--reuse", action="store_true", help="use the benchmark databases as they are")
    ap.add_argument("--only", choices=list(DBS))
    ap.add_argument("--json")
    args = ap.parse_args()
    results = []
    for name, db in DBS.items():
        if args.only and name != args.only:
            continue
        url = get_settings().sqlalchemy_url(db)
        os.environ.update(role_env(db))
        get_settings.cache_clear()
        if not args.reuse:
            t = time.perf_counter()
            build(name, url)
            print(f"{name}: built in {time.perf_counter() - t:.0f} s", flush=True)
        res = run(name, url, args.n)
        print(json.dumps(res, indent=2), flush=True)
        results.append(res)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
