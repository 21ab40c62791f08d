"""Dispatch benchmark: nearest available workers through the service, vs in-memory peers; GPS ingest.

Builds (or reuses) a separate database ``onemap_bench`` on the same cluster with
100k workers and 1M tickets (synthetic, near Guangzhou: a 30 km x 30 km district
with 25 demand hotspots, 12 departments, 24 categories, half of them needing one
of 8 skills), loaded with COPY and VACUUM ANALYZE'd. Then:

1. ``spatial.tickets.dispatch.candidates(session, ticket_id, k=5)`` for N random tickets
   (p50/p95/p99 in ms, one session, like a dispatcher clicking tickets), plus k=1;
2. the same questions answered in memory with shapely ``STRtree`` (per query and
   vectorised) and geopandas ``sjoin_nearest``, on the same eligible workers
   (the in-memory side gets the filters applied in advance: one tree per
   department and skill, built from a snapshot; it has no freshness or
   transactional guarantee, and STRtree/sjoin_nearest give only the nearest 1);
3. optionally (``--indexes``) the raw KNN SQL under alternative index designs;
4. GPS ingest through ``spatial.workers.positions.ingest_fixes`` in batches of 1,000
   (fixes/s, committed per batch) on 20k dedicated workers.

Run: ``.venv/bin/python bench/bench_dispatch.py [--queries 2000] [--rebuild] [--indexes]``
Prints a Markdown table (copied into docs/dispatch.md).
"""

from __future__ import annotations

import argparse
import io
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.db import migrate
from spatial.db.engine import get_engine
from spatial.settings import get_settings
from spatial.tickets import dispatch
from spatial.workers import positions

REF = datetime(2026, 5, 12, 2, 0, tzinfo=UTC)
X0, Y0, SPAN = 113.30, 23.00, 0.30  # ~30 km x 33 km
N_DEPT, N_CAT, N_SKILL, N_HOT = 12, 24, 8, 25
GPS_DEPT = "bench_gps"


def _copy(session: Session, table: str, df: pd.DataFrame) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, header=False, na_rep="\\N")
    buf.seek(0)
    cols = ", ".join(df.columns)
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
        while chunk := buf.read(1 << 20):
            cp.write(chunk)


def _points(rng: np.random.Generator, n: int, hot_share: float) -> tuple[np.ndarray, np.ndarray]:
    hot = rng.uniform([X0 + 0.02, Y0 + 0.02], [X0 + SPAN - 0.02, Y0 + SPAN - 0.02], size=(N_HOT, 2))
    is_hot = rng.random(n) < hot_share
    which = rng.integers(0, N_HOT, n)
    x = np.where(is_hot, hot[which, 0] + rng.normal(0, 0.008, n), rng.uniform(X0, X0 + SPAN, n))
    y = np.where(is_hot, hot[which, 1] + rng.normal(0, 0.008, n), rng.uniform(Y0, Y0 + SPAN, n))
    return np.clip(x, X0, X0 + SPAN), np.clip(y, Y0, Y0 + SPAN)


def _ewkt(x: np.ndarray, y: np.ndarray) -> list[str]:
    return [f"SRID=4326;POINT({a:.7f} {b:.7f})" for a, b in zip(x, y, strict=True)]


def build(url: str, *, workers: int, tickets: int, seed: int = 7) -> None:
    """(Re)create the synthetic data set."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with Session(get_engine(url)) as s:
        names = s.scalars(sa.text("SELECT tablename FROM pg_tables WHERE schemaname='public' "
                                  "AND tablename NOT IN ('spatial_ref_sys','alembic_version')")).all()
        s.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        s.execute(sa.text(
            "INSERT INTO admin_unit (code, name, level, geom) VALUES ('BENCH', 'Bench district', 1, "
            f"ST_Multi(ST_MakeEnvelope({X0}, {Y0}, {X0 + SPAN}, {Y0 + SPAN}, 4326)))"))
        for d in range(N_DEPT):
            s.execute(sa.text("INSERT INTO department (id, code, name) VALUES (:i, :c, :n)"),
                      {"i": d + 1, "c": f"d{d}", "n": f"Department {d}"})
        s.execute(sa.text("INSERT INTO department (id, code, name) VALUES (:i, :c, 'GPS bench')"),
                  {"i": N_DEPT + 1, "c": GPS_DEPT})
        for c in range(N_CAT):
            s.execute(sa.text(
                "INSERT INTO category (id, code, major_code, major_name, name, department_id, skill) "
                "VALUES (:i, :c, 'm', 'Major', :n, :d, :k)"),
                {"i": c + 1, "c": f"c{c}", "n": f"Category {c}", "d": c % N_DEPT + 1,
                 "k": f"s{c % N_SKILL}" if c % 2 else None})
        # workers: 40 % on duty, 90 % of those with a fix < 60 s old (else 1-5 h), workload 0..5 of 5
        x, y = _points(rng, workers, 0.7)
        on = rng.random(workers) < 0.4
        age = np.where(rng.random(workers) < 0.9, rng.uniform(0, 60, workers), rng.uniform(3600, 18000, workers))
        skills = ["{" + ",".join(f"s{k}" for k in np.flatnonzero(rng.random(N_SKILL) < 0.35)) + "}"
                  for _ in range(workers)]
        wdf = pd.DataFrame({
            "code": [f"W{i:06d}" for i in range(workers)], "name": [f"Worker {i}" for i in range(workers)],
            "department_id": rng.integers(1, N_DEPT + 1, workers), "on_duty": on,
            "workload": rng.integers(0, 6, workers), "max_workload": 5, "skills": skills,
            "geom": _ewkt(x, y), "position_at": [(REF - timedelta(seconds=float(a))).isoformat() for a in age],
            "position_accuracy_m": 10.0})
        _copy(s, "worker", wdf)
        g = 20_000
        gx, gy = _points(rng, g, 0.7)
        _copy(s, "worker", pd.DataFrame({
            "code": [f"G{i:06d}" for i in range(g)], "name": [f"GPS {i}" for i in range(g)],
            "department_id": N_DEPT + 1, "on_duty": False, "workload": 0, "max_workload": 5, "skills": "{}",
            "geom": _ewkt(gx, gy), "position_at": None, "position_accuracy_m": None}))
        s.commit()
        print(f"workers loaded in {time.perf_counter() - t0:.1f} s", flush=True)
        t1 = time.perf_counter()
        chunk = 250_000
        for start in range(0, tickets, chunk):
            n = min(chunk, tickets - start)
            tx, ty = _points(rng, n, 0.72)
            cat = rng.integers(1, N_CAT + 1, n)
            created = REF - pd.to_timedelta(rng.uniform(0, 365 * 86400, n), unit="s")
            _copy(s, "ticket", pd.DataFrame({
                "channel": "hotline", "category_id": cat, "department_id": (cat - 1) % N_DEPT + 1,
                "geom": _ewkt(tx, ty), "status": np.where(rng.random(n) < 0.1, "accepted", "closed"),
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "updated_at": created.strftime("%Y-%m-%dT%H:%M:%S+00:00")}))
            s.commit()
        print(f"{tickets:,} tickets loaded in {time.perf_counter() - t1:.1f} s "
              f"({tickets / (time.perf_counter() - t1):,.0f} rows/s with all ticket indexes)", flush=True)
    with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    print(f"data set built in {time.perf_counter() - t0:.1f} s", flush=True)


def _pct(ms: list[float]) -> tuple[float, float, float]:
    a = np.asarray(ms)
    return tuple(float(np.percentile(a, p)) for p in (50, 95, 99))  # type: ignore[return-value]


def bench_service(url: str, ticket_ids: np.ndarray, *, k: int) -> tuple[tuple, list]:
    """Per-call latency of dispatch.candidates (ms) and the results."""
    out, ms = [], []
    with Session(get_engine(url)) as s:
        for tid in ticket_ids[:50]:  # warm-up
            dispatch.candidates(s, int(tid), k=k, now=REF)
        for tid in ticket_ids:
            t = time.perf_counter()
            out.append(dispatch.candidates(s, int(tid), k=k, now=REF))
            ms.append((time.perf_counter() - t) * 1e3)
        s.rollback()
    return _pct(ms), out


def bench_memory(url: str, ticket_ids: np.ndarray, db_nearest: list) -> list[tuple]:
    """shapely STRtree and geopandas sjoin_nearest on the same eligible workers (nearest 1)."""
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    rows: list[tuple] = []
    eng = get_engine(url)
    t0 = time.perf_counter()
    w = pd.read_sql(sa.text(
        "SELECT id, department_id, skills, ST_X(geom) x, ST_Y(geom) y FROM worker WHERE on_duty "
        "AND workload < max_workload AND position_at >= :since AND geom IS NOT NULL"), eng,
        params={"since": REF - timedelta(seconds=get_settings().position_max_age_s)})
    t = pd.read_sql(sa.text(
        "SELECT t.id, COALESCE(t.department_id, c.department_id) dept, c.skill, ST_X(t.geom) x, ST_Y(t.geom) y "
        "FROM ticket t JOIN category c ON c.id = t.category_id WHERE t.id = ANY(:ids)"), eng,
        params={"ids": [int(i) for i in ticket_ids]}).set_index("id").loc[ticket_ids].reset_index()
    load_ms = (time.perf_counter() - t0) * 1e3
    tr = Transformer.from_crs(4326, get_settings().metric_srid, always_xy=True)
    w["mx"], w["my"] = tr.transform(w.x.to_numpy(), w.y.to_numpy())
    t["mx"], t["my"] = tr.transform(t.x.to_numpy(), t.y.to_numpy())
    t1 = time.perf_counter()
    groups: dict = {}
    for (dept, skill), _ in t.groupby(["dept", t.skill.fillna("")]):
        sel = w[(w.department_id == dept) & (w.skills.map(lambda s, k=skill: not k or k in s))]
        groups[(dept, skill)] = (sel.id.to_numpy(), shapely.STRtree(shapely.points(sel.mx, sel.my)), sel)
    build_ms = (time.perf_counter() - t1) * 1e3
    rows.append(("snapshot of eligible workers + tickets from PostGIS", f"{len(w):,} workers", load_ms))
    rows.append((f"build {len(groups)} STRtrees (one per department x skill)", "", build_ms))

    keys = list(zip(t.dept, t.skill.fillna(""), strict=True))
    by_key: dict = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    pts = shapely.points(t.mx, t.my)
    ms, agree, nonempty = [], 0, 0
    for i, key in enumerate(keys):
        ids, tree, _ = groups[key]
        s = time.perf_counter()
        idx = tree.query_nearest(pts[i], all_matches=False)
        ms.append((time.perf_counter() - s) * 1e3)
        got = int(ids[idx[0]]) if len(idx) else None
        if db_nearest[i] and db_nearest[i][0].skill_match:
            nonempty += 1
            agree += got == db_nearest[i][0].worker_id
    p = _pct(ms)
    rows.append(("shapely STRtree.query_nearest, one query (nearest 1)", f"p50 {p[0]:.3f} / p95 {p[1]:.3f} / "
                 f"p99 {p[2]:.3f} ms", sum(ms)))
    rows.append(("  same nearest worker as the service (k=1)", f"{agree}/{nonempty}", None))
    s = time.perf_counter()
    for key, idx in by_key.items():
        ids, tree, _ = groups[key]
        tree.query_nearest(pts[np.asarray(idx)], all_matches=False)
    rows.append((f"shapely STRtree.query_nearest, vectorised batch of {len(keys)}", "",
                 (time.perf_counter() - s) * 1e3))
    s = time.perf_counter()
    crs = get_settings().metric_srid
    for key, idx in by_key.items():
        sel = groups[key][2]
        left = gpd.GeoDataFrame({"tid": t.id.to_numpy()[np.asarray(idx)]}, geometry=pts[np.asarray(idx)], crs=crs)
        right = gpd.GeoDataFrame({"wid": sel.id.to_numpy()}, geometry=shapely.points(sel.mx, sel.my), crs=crs)
        gpd.sjoin_nearest(left, right, distance_col="d")
    rows.append((f"geopandas.sjoin_nearest, batch of {len(keys)} (per group, incl. frame build)", "",
                 (time.perf_counter() - s) * 1e3))
    ms = []
    for i, key in enumerate(keys[:300]):
        sel = groups[key][2]
        s = time.perf_counter()
        left = gpd.GeoDataFrame({"tid": [t.id.iat[i]]}, geometry=[pts[i]], crs=crs)
        right = gpd.GeoDataFrame({"wid": sel.id.to_numpy()}, geometry=shapely.points(sel.mx, sel.my), crs=crs)
        gpd.sjoin_nearest(left, right)
        ms.append((time.perf_counter() - s) * 1e3)
    p = _pct(ms)
    rows.append(("geopandas.sjoin_nearest, one query (300 queries, incl. frame build)",
                 f"p50 {p[0]:.2f} / p95 {p[1]:.2f} / p99 {p[2]:.2f} ms", sum(ms)))
    return rows


INDEX_VARIANTS = {
    "partial gist (geog) WHERE on_duty AND workload < max_workload [chosen]":
        "CREATE INDEX bench_ix ON worker USING gist (geog) WHERE on_duty AND workload < max_workload",
    "partial btree_gist (department_id, geog) WHERE on_duty AND workload < max_workload":
        "CREATE INDEX bench_ix ON worker USING gist (department_id, geog) WHERE on_duty AND workload < max_workload",
    "partial gist (geog) WHERE on_duty":
        "CREATE INDEX bench_ix ON worker USING gist (geog) WHERE on_duty",
    "partial gist (geom) WHERE on_duty (0001), geometry KNN (degrees; wrong order)":
        "CREATE INDEX bench_ix ON worker USING gist (geom) WHERE on_duty",
    "no spatial index": None,
}


def bench_indexes(url: str, ticket_ids: np.ndarray) -> list[tuple]:
    """Raw KNN SQL (k=5, all filters) under alternative indexes."""
    eng = get_engine(url)
    rows = []
    with eng.connect() as c:
        tix = c.execute(sa.text(
            "SELECT ST_X(t.geom), ST_Y(t.geom), COALESCE(t.department_id, c.department_id), c.skill FROM ticket t "
            "JOIN category c ON c.id = t.category_id WHERE t.id = ANY(:ids)"), {"ids": [int(i) for i in ticket_ids]}
        ).all()
    with eng.connect() as c:
        c.execute(sa.text("DROP INDEX IF EXISTS ix_worker_avail_geog"))
        c.commit()
        try:
            for name, ddl in INDEX_VARIANTS.items():
                c.execute(sa.text("DROP INDEX IF EXISTS bench_ix"))
                if ddl:
                    t0 = time.perf_counter()
                    c.execute(sa.text(ddl))
                    build = (time.perf_counter() - t0) * 1e3
                else:
                    build = 0.0
                c.execute(sa.text("ANALYZE worker"))
                c.commit()
                order = "w.geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326)" if "geometry KNN" in name else \
                    "w.geog <-> CAST(ST_SetSRID(ST_MakePoint(:x, :y), 4326) AS geography)"
                sql = ("SELECT w.id FROM worker w WHERE w.on_duty AND w.workload < w.max_workload "
                       "AND w.department_id = :d AND w.position_at >= :since {} "
                       f"ORDER BY {order} LIMIT 5")
                qs = {False: sa.text(sql.format("")),
                      True: sa.text(sql.format("AND w.skills @> ARRAY[CAST(:k AS text)]"))}
                since = REF - timedelta(seconds=600)
                ms, bufs, exe = [], [], []
                for i, (x, y, d, k) in enumerate(tix):
                    p = {"x": x, "y": y, "d": d, "k": k, "since": since}
                    q = qs[k is not None]
                    t = time.perf_counter()
                    c.execute(q, p).all()
                    if i >= 20:
                        ms.append((time.perf_counter() - t) * 1e3)
                    if i < 300:  # load-independent: shared buffers touched, server execution time
                        plan = c.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + q.text), p).scalar()
                        bufs.append(plan[0]["Plan"].get("Shared Hit Blocks", 0)
                                    + plan[0]["Plan"].get("Shared Read Blocks", 0))
                        exe.append(plan[0]["Execution Time"])
                c.rollback()
                p = _pct(ms)
                rows.append((name, f"p50 {p[0]:.3f} / p95 {p[1]:.3f} / p99 {p[2]:.3f} ms; server exec p50 "
                             f"{np.median(exe):.3f} ms, {np.median(bufs):.0f} buffers/query", build))
        finally:
            c.rollback()
            c.execute(sa.text("DROP INDEX IF EXISTS bench_ix"))
            c.execute(sa.text(
                "CREATE INDEX IF NOT EXISTS ix_worker_avail_geog ON worker USING gist (geog) "
                "WHERE on_duty AND workload < max_workload"))
            c.execute(sa.text("ANALYZE worker"))
            c.commit()
    return rows


def bench_ingest(url: str, *, batches: int = 20, size: int = 1000, seed: int = 3) -> tuple[float, dict]:
    """GPS fixes/s through positions.ingest_fixes, one commit per batch of ``size``."""
    rng = np.random.default_rng(seed)
    eng = get_engine(url)
    with Session(eng) as s:
        ws = pd.read_sql(sa.text(
            "SELECT w.id, ST_X(w.geom) x, ST_Y(w.geom) y FROM worker w JOIN department d ON d.id = w.department_id "
            "WHERE d.code = :c ORDER BY w.id"), s.connection(), params={"c": GPS_DEPT})
        s.execute(sa.text("DELETE FROM worker_position WHERE worker_id = ANY(:ids)"), {"ids": ws.id.tolist()})
        s.execute(sa.text("UPDATE worker SET position_at = NULL WHERE id = ANY(:ids)"), {"ids": ws.id.tolist()})
        s.commit()
    total: dict = {}
    elapsed = 0.0
    for b in range(batches):
        pick = rng.choice(len(ws), size, replace=False)
        at = REF + timedelta(seconds=10 * b)
        fixes = pd.DataFrame({"worker_id": ws.id.to_numpy()[pick], "fixed_at": at - timedelta(seconds=2),
                              "lon": ws.x.to_numpy()[pick] + rng.normal(0, 2e-5, size),
                              "lat": ws.y.to_numpy()[pick] + rng.normal(0, 2e-5, size), "accuracy_m": 8.0})
        with Session(eng) as s:
            t = time.perf_counter()
            c = positions.ingest_fixes(s, fixes, now=at)
            s.commit()
            elapsed += time.perf_counter() - t
        for key in ("stored", "trusted", "workers_moved"):
            total[key] = total.get(key, 0) + c[key]
    return batches * size / elapsed, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="onemap_bench")
    ap.add_argument("--workers", type=int, default=100_000)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--rebuild", action="store_true", help="regenerate the data set even if present")
    ap.add_argument("--indexes", action="store_true", help="also time the KNN SQL under other index designs")
    args = ap.parse_args()
    url = get_settings().sqlalchemy_url(args.db)
    migrate.upgrade(url)
    with get_engine(url).connect() as c:
        have = c.execute(sa.text("SELECT (SELECT count(*) FROM worker), (SELECT count(*) FROM ticket)")).one()
    if args.rebuild or have[0] < args.workers or have[1] < args.tickets:
        build(url, workers=args.workers, tickets=args.tickets)
    with get_engine(url).connect() as c:
        n_w, n_t, lo, hi = c.execute(sa.text(
            "SELECT (SELECT count(*) FROM worker), count(*), min(id), max(id) FROM ticket")).one()
    rng = np.random.default_rng(11)
    ids = rng.integers(lo, hi + 1, args.queries)
    print(f"\n{n_w:,} workers (incl. 20k GPS-bench workers), {n_t:,} tickets; {args.queries:,} random tickets\n")
    p5, res5 = bench_service(url, ids, k=5)
    p1, res1 = bench_service(url, ids, k=1)
    empty = sum(1 for r in res5 if not r)
    fallback = sum(1 for r in res5 if r and not r[0].skill_match)
    lines = ["| measurement | result | total ms |", "|---|---|---|",
             f"| dispatch.candidates k=5 (service, one session) | p50 {p5[0]:.3f} / p95 {p5[1]:.3f} / "
             f"p99 {p5[2]:.3f} ms | |",
             f"| dispatch.candidates k=1 (service) | p50 {p1[0]:.3f} / p95 {p1[1]:.3f} / p99 {p1[2]:.3f} ms | |",
             f"| tickets with nobody available / skill fallback | {empty} / {fallback} of {len(ids)} | |"]
    for name, val, ms in bench_memory(url, ids, res1):
        lines.append(f"| {name} | {val} | {'' if ms is None else f'{ms:,.1f}'} |")
    if args.indexes:
        for name, val, ms in bench_indexes(url, ids):
            lines.append(f"| raw KNN SQL k=5: {name} | {val} | build {ms:,.0f} |")
    rate, counts = bench_ingest(url)
    lines.append(f"| GPS ingest, 20 batches of 1,000 fixes (ingest_fixes + commit) | {rate:,.0f} fixes/s | "
                 f"stored {counts['stored']:,}, moved {counts['workers_moved']:,} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
