"""Bulk import rate of :func:`spatial.io.files.import_file` (rows/s), by phase and format.

Usage::

    .venv/bin/python bench/bench_import.py [--rows 200000] [--keep-db]

Creates the database ``onemap_bench_import`` on the configured server, loads
the demo district's admin units and catalog (1,000 demo tickets), writes
``--rows`` synthetic assets and tickets inside the district as CSV and
GeoPackage, then imports each file into the asset/ticket table (which has its
GiST/btree indexes) and reports read, check (client side) and database
(COPY to staging, checks, INSERT ... SELECT with the point-in-grid join)
times and the end-to-end rate. Target (DESIGN.md): >= 30,000 rows/s bulk.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from data import load
from data.catalog import CATEGORIES
from spatial.db import migrate
from spatial.db.engine import drop_database, get_engine, session_scope
from spatial.io.files import load_frame
from spatial.io.read import prepare_frame, read_source
from spatial.settings import get_settings


def _points_in(poly: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    shapely.prepare(poly)
    out = np.empty((0, 2))
    while len(out) < n:
        xy = np.column_stack([rng.uniform(minx, maxx, 2 * n), rng.uniform(miny, maxy, 2 * n)])
        out = np.vstack([out, xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]])
    return out[:n]


def make_files(folder: Path, district: shapely.Geometry, n: int) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    xy = _points_in(district, n, rng)
    assets = pd.DataFrame({
        "code": [f"BA{i:07d}" for i in range(n)],
        "asset_type": rng.choice(["manhole_cover", "street_light", "trash_bin", "fire_hydrant"], n),
        "name": [f"Bench asset {i}" for i in range(n)],
        "department": rng.choice(["urban", "water", "safety"], n),
        "status": "ok", "material": rng.choice(["iron", "steel", "composite"], n),
        "lon": xy[:, 0], "lat": xy[:, 1]})
    files = {"asset.csv": folder / "asset.csv", "asset.gpkg": folder / "asset.gpkg"}
    assets.to_csv(files["asset.csv"], index=False, float_format="%.9f")
    gpd.GeoDataFrame(assets.drop(columns=["lon", "lat"]), geometry=shapely.points(xy), crs=4326).to_file(
        files["asset.gpkg"], engine="pyogrio")
    codes = [c.code for c in CATEGORIES if c.resolve[1] != "working_days"]
    t0 = pd.Timestamp("2026-05-01T00:00:00Z")
    tickets = pd.DataFrame({
        "channel": "hotline", "external_id": [f"B-{i:07d}" for i in range(n)],
        "category": rng.choice(codes, n), "description": "bench", "lon": xy[:, 0], "lat": xy[:, 1],
        "created_at": [(t0 + pd.Timedelta(seconds=int(s))).isoformat() for s in rng.integers(0, 30 * 86400, n)]})
    files["ticket.csv"] = folder / "ticket.csv"
    tickets.to_csv(files["ticket.csv"], index=False, float_format="%.9f")
    return files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--keep-db", action="store_true")
    args = p.parse_args()
    url = make_url(get_settings().sqlalchemy_url()).set(database="onemap_bench_import").render_as_string(
        hide_password=False)
    drop_database(url)
    migrate.upgrade(url)
    load.load_demo(url=url, tickets=1000)
    with get_engine(url).connect() as conn:
        wkb = conn.scalar(sa.text("SELECT ST_AsBinary(geom) FROM admin_unit WHERE level = 1"))
    district = shapely.from_wkb(bytes(wkb))
    print(f"rows: {args.rows:,}; load average before: {os.getloadavg()[0]:.1f} (2 cores)")
    print(f"{'file':<12} {'read s':>7} {'check s':>8} {'db s':>7} {'total s':>8} {'rows/s':>9} {'db rows/s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp), district, args.rows)
        for name, path in files.items():
            table = name.split(".")[0]
            with get_engine(url).begin() as conn:
                conn.execute(sa.text(f"TRUNCATE {table} RESTART IDENTITY CASCADE"))
            t0 = time.perf_counter()
            gdf = read_source(path, table=table)
            t1 = time.perf_counter()
            frame = prepare_frame(gdf, table)
            t2 = time.perf_counter()
            with session_scope(url) as s:
                n = load_frame(s, frame, table, mode="append", source=path.name)
            t3 = time.perf_counter()
            assert n == args.rows
            print(f"{name:<12} {t1 - t0:7.2f} {t2 - t1:8.2f} {t3 - t2:7.2f} {t3 - t0:8.2f} "
                  f"{n / (t3 - t0):9,.0f} {n / (t3 - t2):10,.0f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    get_engine(url).dispose()
    if not args.keep_db:
        drop_database(url)


if __name__ == "__main__":
    main()
