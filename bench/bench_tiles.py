"""Basemap tile benchmark: the Shanghai Lujiazui OSM layers, every tile over their extent at z12-z16.

    .venv/bin/python bench/bench_tiles.py [--runs 5] [--reuse]

Builds ``onemap_bench_tiles`` (migrated, the five Shanghai GeoJSON layers imported with
``--clip-to-data``), starts the one server (uvicorn, as ``onemap serve``) and requests each tile
over HTTP with one keep-alive client, per run:

* **uncached**: right after the basemap generation is bumped (every tile rendered by PostGIS);
* **cached**: the same tiles again (in-process cache);
* **304**: the same tiles with ``If-None-Match``;
* **labels**: the label tile set (``/tiles/labels``) of each tile, uncached then cached.

Baselines measured in the same run, side by side: ``GET /health`` (the HTTP floor), the empty
tile 16/0/0 uncached (routing + generation read + an ``ST_AsMVT`` that finds nothing) and a
``SELECT 1`` round trip in process. In process it also times ``spatial.maps.tiles.render_tile``
(the SQL alone). Results: ``bench/results_tiles.json``; figures in docs/app.md (Basemap).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import start_server  # noqa: E402
from spatial.db import migrate  # noqa: E402
from spatial.db.engine import drop_database, get_engine, session_scope  # noqa: E402
from spatial.io import basemap  # noqa: E402
from spatial.maps import tiles  # noqa: E402
from spatial.settings import get_settings  # noqa: E402
from tests.conftest import role_env  # noqa: E402

DB = "onemap_bench_tiles"
DATA = Path("/work/shared/data/02_osm_roads_buildings")
LAYERS = [DATA / f"shanghai_lujiazui_{t}.geojson" for t in ("roads", "buildings", "water", "landuse", "pois")]
ZOOMS = range(12, 17)
BUMP = "UPDATE basemap_state SET generation = nextval('basemap_generation_seq') WHERE id = 1"


def tile_range(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int, int]]:
    """Every z/x/y tile touching lon/lat ``bounds`` (W, S, E, N)."""
    n = 2 ** z

    def xy(lon: float, lat: float) -> tuple[int, int]:
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)

    x0, y0 = xy(bounds[0], bounds[3])
    x1, y1 = xy(bounds[2], bounds[1])
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def pct(values: list[float]) -> dict:
    a = np.asarray(values)
    return {"n": len(values), "p50": round(float(np.percentile(a, 50)), 2),
            "p99": round(float(np.percentile(a, 99)), 2), "max": round(float(a.max()), 2)}


def build(url: str) -> dict:
    drop_database(get_settings().owner_url_for(url))
    migrate.upgrade(url)  # creates the database as the owner
    res = basemap.import_osm(LAYERS, clip_to_data=True, url=url)
    with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE road, building, water, landuse, poi, address"))
    return {t: c["stored"] for t, c in res["themes"].items()}


def timed_get(client: httpx.Client, path: str, headers: dict | None = None) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = client.get(path, headers=headers)
    return (time.perf_counter() - t0) * 1000, r


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="keep the database of an earlier run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results_tiles.json"))
    args = ap.parse_args()
    url = get_settings().sqlalchemy_url(DB)
    os.environ.update(role_env(DB))  # app, owner and read-only URLs of the bench database
    get_settings.cache_clear()
    result: dict = {"load_avg_start": os.getloadavg()[0]}
    if not args.reuse:
        result["rows"] = build(url)
    with session_scope(url) as s:
        ext = s.execute(sa.text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                "(SELECT ST_Extent(geom) AS e FROM road) q")).one()
    todo = [t for z in ZOOMS for t in tile_range(tuple(ext), z)]
    result["tiles_per_run"] = {z: sum(1 for t in todo if t[0] == z) for z in ZOOMS}

    # in process: the SQL alone, and the SELECT 1 floor
    sql_ms, one_ms = [], []
    engine = get_engine(url)
    for _ in range(args.runs):
        with engine.connect() as conn:
            for _ in range(len(todo)):
                t0 = time.perf_counter()
                conn.execute(sa.text("SELECT 1")).scalar_one()
                one_ms.append((time.perf_counter() - t0) * 1000)
        with session_scope(url) as s:
            for z, x, y in todo:
                t0 = time.perf_counter()
                tiles.render_tile(s, z, x, y)
                sql_ms.append((time.perf_counter() - t0) * 1000)

    proc, base = start_server(url)
    out: dict[str, list[float]] = {k: [] for k in ("uncached", "cached", "not_modified", "health", "empty_uncached",
                                                   "labels_uncached", "labels_cached")}
    by_zoom: dict[int, list[float]] = {z: [] for z in ZOOMS}
    label_zoom: dict[int, list[float]] = {z: [] for z in ZOOMS}
    sizes: dict[int, list[int]] = {z: [] for z in ZOOMS}
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(3):  # warm up the connection, the plans and the worker threads
                client.get("/health")
                client.get("/tiles/basemap/14/13721/6694.mvt")
            for _ in range(args.runs):
                with engine.begin() as conn:
                    conn.execute(sa.text(BUMP))
                etags = {}
                for z, x, y in todo:
                    ms, r = timed_get(client, f"/tiles/basemap/{z}/{x}/{y}.mvt")
                    assert r.status_code == 200, r.text
                    out["uncached"].append(ms)
                    by_zoom[z].append(ms)
                    sizes[z].append(len(r.content))
                    etags[(z, x, y)] = r.headers["etag"]
                    ms, _ = timed_get(client, "/health")
                    out["health"].append(ms)
                    ms, r = timed_get(client, f"/tiles/labels/{z}/{x}/{y}.mvt")  # the label tile set
                    assert r.status_code == 200, r.text
                    out["labels_uncached"].append(ms)
                    label_zoom[z].append(ms)
                for z, x, y in todo:
                    ms, r = timed_get(client, f"/tiles/labels/{z}/{x}/{y}.mvt")
                    out["labels_cached"].append(ms)
                    ms, r = timed_get(client, f"/tiles/basemap/{z}/{x}/{y}.mvt")
                    out["cached"].append(ms)
                    ms, r = timed_get(client, f"/tiles/basemap/{z}/{x}/{y}.mvt",
                                      headers={"If-None-Match": etags[(z, x, y)]})
                    assert r.status_code == 304
                    out["not_modified"].append(ms)
            # the empty tile, uncached each time: bump before every request
            for _ in range(len(todo)):
                with engine.begin() as conn:
                    conn.execute(sa.text(BUMP))
                ms, r = timed_get(client, "/tiles/basemap/16/0/0.mvt")
                assert r.status_code == 200 and r.content == b""
                out["empty_uncached"].append(ms)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    result["http_ms"] = {k: pct(v) for k, v in out.items()}
    result["uncached_by_zoom_ms"] = {z: pct(v) for z, v in by_zoom.items()}
    result["labels_uncached_by_zoom_ms"] = {z: pct(v) for z, v in label_zoom.items()}
    result["tile_kb_by_zoom"] = {z: {"median": round(statistics.median(v) / 1024, 1),
                                     "max": round(max(v) / 1024, 1)} for z, v in sizes.items()}
    result["in_process_ms"] = {"render_tile_sql": pct(sql_ms), "select_1": pct(one_ms)}
    h = result["http_ms"]
    result["ratios_p50"] = {
        "uncached / empty tile": round(h["uncached"]["p50"] / h["empty_uncached"]["p50"], 2),
        "uncached / health": round(h["uncached"]["p50"] / h["health"]["p50"], 2),
        "labels uncached / basemap uncached": round(h["labels_uncached"]["p50"] / h["uncached"]["p50"], 2),
        "cached / health": round(h["cached"]["p50"] / h["health"]["p50"], 2),
        "render_tile_sql / select_1": round(result["in_process_ms"]["render_tile_sql"]["p50"]
                                            / result["in_process_ms"]["select_1"]["p50"], 1),
    }
    result["load_avg_end"] = os.getloadavg()[0]
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
