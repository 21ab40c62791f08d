"""Ticket intake benchmark: single tickets through the service (and over HTTP) vs the bulk COPY path.

Builds a separate database ``onemap_bench_intake`` on the project cluster with
the demo district (``data.load.load_demo``: Voronoi streets, communities and
``--grids`` grid cells, the demo catalog) and ``--existing`` tickets of
history, VACUUM ANALYZE'd. Then measures, each ticket with grid/community/
street point-in-polygon, catalog deadlines and its ``reported`` event:

1. **bulk**: ``spatial.tickets.bulk.bulk_intake`` of ``--bulk`` rows
   (vectorised validation, deadlines and STRtree point-in-polygon, then COPY
   of tickets and events, one transaction) -> rows/s;
2. **single, service**: ``spatial.tickets.intake.intake`` with the duplicate check
   (advisory lock + GiST ``ST_DWithin``; since migration 0006 the whole path
   is one ``onemap_intake()`` call), one transaction and commit per ticket,
   from 1, 2 and 4 client processes -> tickets/s, per-ticket latency
   p50/p95/p99 and CPU per ticket (client process and its database backend);
3. **single, HTTP**: ``POST /api/tickets`` with a bearer token against
   ``onemap serve``-equivalent uvicorn (1 worker process) from 4 client
   processes -> requests/s and latency.

Run: ``.venv/bin/python bench/bench_intake.py [--existing 200000] [--bulk 100000] [--single 4000] [--reuse]``
Prints a Markdown table (copied into docs/tickets.md).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DB = "onemap_bench_intake"
RUN = format(int(time.time()) % 10**8, "x")  # external ids unique per run (re-runs with --reuse)


def _url() -> str:
    from spatial.settings import get_settings

    return get_settings().sqlalchemy_url(DB)


def _use_bench_db() -> None:
    from spatial.settings import get_settings

    os.environ.update(get_settings().role_env(DB))
    os.environ["ONEMAP_SLA_SWEEP_SECONDS"] = "0"

    get_settings.cache_clear()


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (lon, lat, category) inside the district, EPSG:4326."""
    import shapely
    import sqlalchemy as sa

    from spatial.db.engine import session_scope

    with session_scope() as s:
        wkb = s.execute(sa.text("SELECT ST_AsBinary(ST_Union(geom)) FROM admin_unit WHERE level = 1")).scalar_one()
        cats = s.execute(sa.text("SELECT code FROM category WHERE active AND NOT auto_dispatch")).scalars().all()
    poly = shapely.from_wkb(bytes(wkb))
    x0, y0, x1, y1 = poly.bounds
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    while sum(len(x) for x in xs) < n:
        x = rng.uniform(x0, x1, 2 * n)
        y = rng.uniform(y0, y1, 2 * n)
        keep = shapely.contains_xy(poly, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
    lon = np.concatenate(xs)[:n]
    lat = np.concatenate(ys)[:n]
    return lon, lat, rng.choice(np.array(cats), n)


def _district(grids: int, seed: int = 7) -> list[dict]:
    """A 10 km x 10 km district (EPSG:4326) of 5 streets, 40 communities and ``grids`` Voronoi grid cells."""
    import shapely
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    fwd = Transformer.from_crs(4326, 32649, always_xy=True)
    back = Transformer.from_crs(32649, 4326, always_xy=True)
    cx, cy = fwd.transform(113.45, 23.10)
    box = shapely.box(cx - 5000, cy - 5000, cx + 5000, cy + 5000)

    def cells(n: int) -> list:
        pts = shapely.multipoints(np.c_[rng.uniform(cx - 5000, cx + 5000, n), rng.uniform(cy - 5000, cy + 5000, n)])
        return [c.intersection(box) for c in shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=box))]

    def to4326(g):
        return shapely.transform(g, lambda xy: np.c_[back.transform(xy[:, 0], xy[:, 1])])

    grid_cells = cells(grids)
    street_seeds = shapely.points(np.c_[rng.uniform(cx - 5000, cx + 5000, 5), rng.uniform(cy - 5000, cy + 5000, 5)])
    comm_seeds = shapely.points(np.c_[rng.uniform(cx - 5000, cx + 5000, 40), rng.uniform(cy - 5000, cy + 5000, 40)])
    cents = shapely.centroid(np.array(grid_cells))
    comm_of = np.array([int(np.argmin(shapely.distance(comm_seeds, c))) for c in cents])
    comm_cents = [shapely.centroid(shapely.union_all([g for g, k in zip(grid_cells, comm_of, strict=True) if k == j]))
                  for j in range(40)]
    street_of = np.array([int(np.argmin(shapely.distance(street_seeds, c))) for c in comm_cents])
    units = [{"code": "D", "name": "Bench district", "level": 1, "parent": None, "geom": to4326(box)}]
    for s_ in range(5):
        members = [g for g, k in zip(grid_cells, comm_of, strict=True) if street_of[k] == s_]
        if members:
            units.append({"code": f"S{s_}", "name": f"Street {s_}", "level": 2, "parent": "D",
                          "geom": to4326(shapely.union_all(members))})
    for j in range(40):
        members = [g for g, k in zip(grid_cells, comm_of, strict=True) if k == j]
        if members:
            units.append({"code": f"C{j}", "name": f"Community {j}", "level": 3, "parent": f"S{street_of[j]}",
                          "geom": to4326(shapely.union_all(members))})
    for i, g in enumerate(grid_cells):
        units.append({"code": f"G{i}", "name": f"Grid {i}", "level": 4, "parent": f"C{comm_of[i]}",
                      "geom": to4326(g)})
    return units


def build(existing: int, grids: int) -> dict:
    import pandas as pd
    import shapely
    import sqlalchemy as sa

    from spatial.db import migrate
    from spatial.db.engine import drop_database, get_engine, session_scope
    from spatial.models import AdminUnit, Category, Department
    from spatial.tickets.bulk import bulk_intake
    from tests.district import CATEGORIES, DEPARTMENTS

    url = _url()
    drop_database(url)
    migrate.upgrade(url)
    t0 = time.perf_counter()
    with session_scope() as s:
        ids: dict[str, int] = {}
        for u in _district(grids):
            g = u["geom"]
            g = g if g.geom_type == "MultiPolygon" else shapely.multipolygons([g])
            row = AdminUnit(code=u["code"], name=u["name"], level=u["level"], parent_id=ids.get(u["parent"]),
                            geom=f"SRID=4326;{g.wkt}")
            s.add(row)
            s.flush()
            ids[u["code"]] = row.id
        depts = {}
        for code, name in DEPARTMENTS:
            d = Department(code=code, name=name)
            s.add(d)
            s.flush()
            depts[code] = d.id
        for code, mcode, mname, name, dept, (al, au), (rl, ru), skill, spot, _auto in CATEGORIES:
            s.add(Category(code=code, major_code=mcode, major_name=mname, name=name, department_id=depts[dept],
                           accept_limit=al, accept_unit=au, resolve_limit=rl, resolve_unit=ru, skill=skill,
                           on_the_spot=spot, auto_dispatch=False))
    now = pd.Timestamp.now(tz="UTC")
    done = 0
    while done < existing:
        n = min(100_000, existing - done)
        lon, lat, cat = _points(n, seed=10_000 + done)
        rng = np.random.default_rng(done)
        when = now - pd.to_timedelta(rng.uniform(0, 90 * 86400, n), unit="s")
        df = pd.DataFrame({"category": cat, "lon": lon, "lat": lat, "external_id": [f"E{done + i}" for i in range(n)],
                           "reported_at": when.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "description": "history"})
        with session_scope() as s:
            bulk_intake(s, df, actor="bench-history", role="admin", channel="hotline")
        done += n
    eng = get_engine(url)
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        # history: everything older than 3 days is closed, the rest is open
        c.execute(sa.text("UPDATE ticket SET status = 'closed', closed_at = created_at + interval '2 days' "
                          "WHERE created_at < now() - interval '3 days'"))
        c.execute(sa.text("VACUUM ANALYZE"))
        n = c.execute(sa.text("SELECT count(*) FROM ticket")).scalar_one()
        g = c.execute(sa.text("SELECT count(*) FROM admin_unit WHERE level = 4")).scalar_one()
    return {"build_s": time.perf_counter() - t0, "tickets": n, "grids": g}


def _existing() -> dict | None:
    import sqlalchemy as sa

    from spatial.db.engine import get_engine

    try:
        with get_engine(_url()).connect() as c:
            n = c.execute(sa.text("SELECT count(*) FROM ticket")).scalar_one()
            g = c.execute(sa.text("SELECT count(*) FROM admin_unit WHERE level = 4")).scalar_one()
            c.execute(sa.text("UPDATE ticket SET status = 'closed' WHERE created_at < now() - interval '3 days' "
                              "OR external_id LIKE 'S%' OR external_id LIKE 'H%'"))
            c.commit()
    except Exception:
        return None
    return {"build_s": 0.0, "tickets": n, "grids": g} if n else None


def bench_bulk(n: int) -> dict:
    import pandas as pd
    import sqlalchemy as sa

    from spatial.db.engine import session_scope
    from spatial.tickets.bulk import bulk_intake

    lon, lat, cat = _points(n, seed=1)
    df = pd.DataFrame({"category": cat, "lon": lon, "lat": lat, "external_id": [f"B{RUN}-{i}" for i in range(n)],
                       "description": "bulk import row", "reporter_phone": "12345"})
    t0 = time.perf_counter()
    with session_scope() as s:
        backend = s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        cpu0, srv0 = time.process_time(), _proc_cpu(backend)
        out = bulk_intake(s, df, actor="bench", role="admin", channel="hotline")
    dt = time.perf_counter() - t0
    client_us, server_us = (time.process_time() - cpu0) / n * 1e6, (_proc_cpu(backend) - srv0) / n * 1e6
    with session_scope() as s:  # keep the open-ticket density realistic for the single-ticket runs
        s.execute(sa.text("UPDATE ticket SET status = 'closed' WHERE channel = 'hotline' AND external_id LIKE 'B%'"))
    if out["created"] != n:
        raise RuntimeError(f"bulk created {out['created']} of {n} rows")
    return {"rows": n, "created": out["created"], "seconds": dt, "rows_per_s": n / dt, "client_us": client_us,
            "server_us": server_us}


def _single_worker(args: tuple[int, int, int, str]) -> list[float]:
    proc, n, seed, _mode = args
    _use_bench_db()
    import sqlalchemy as sa

    from spatial.db.engine import session_scope
    from spatial.tickets.intake import TicketCreate, intake

    lon, lat, cat = _points(n, seed=seed)
    lat_ms = []
    outcomes: dict[str, int] = {}
    with session_scope() as s:  # one process reuses one pooled connection: its backend's CPU is ours
        backend = s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    cpu0, srv0 = time.process_time(), _proc_cpu(backend)
    for i in range(n):
        data = TicketCreate(category=str(cat[i]), lon=float(lon[i]), lat=float(lat[i]), channel="api",
                            description="single", external_id=f"S{RUN}-{seed}-{proc}-{i}")
        t0 = time.perf_counter()
        with session_scope() as s:
            r = intake(s, data, actor="bench", role="channel")
        lat_ms.append((time.perf_counter() - t0) * 1000)
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    CPU[proc] = ((time.process_time() - cpu0) / n * 1000, (_proc_cpu(backend) - srv0) / n * 1000)
    if outcomes.get("existing"):
        raise RuntimeError(f"{outcomes['existing']} external ids were already stored: not a fresh intake")
    return [*lat_ms, -outcomes.get("merged", 0), *CPU[proc]]


CPU: dict[int, tuple[float, float]] = {}


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a local process, from /proc (the database backend)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def bench_single(n: int, procs: int, seed: int) -> dict:
    per = n // procs
    ctx = mp.get_context("spawn")
    with ctx.Pool(procs, initializer=_use_bench_db) as pool:
        pool.map(_noop, range(procs))  # warm the interpreters before timing
        t0 = time.perf_counter()
        res = pool.map(_single_worker, [(p, per, seed + p, "service") for p in range(procs)])
        dt = time.perf_counter() - t0
    merged = -sum(r[-3] for r in res)
    lat = np.concatenate([r[:-3] for r in res])
    client_ms = float(np.mean([r[-2] for r in res]))
    server_ms = float(np.mean([r[-1] for r in res]))
    return {"procs": procs, "tickets": per * procs, "seconds": dt, "per_s": per * procs / dt, "merged": merged,
            "client_cpu_ms": client_ms, "server_cpu_ms": server_ms,
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99))}


def _noop(_):
    return None


def _http_worker(args: tuple[int, int, int, str, str]) -> list[float]:
    proc, n, seed, base, token = args
    _use_bench_db()
    import httpx

    lon, lat, cat = _points(n, seed=seed)
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        for i in range(n):
            body = {"category": str(cat[i]), "lon": float(lon[i]), "lat": float(lat[i]), "channel": "api",
                    "external_id": f"H{RUN}-{seed}-{proc}-{i}", "description": "over http"}
            t0 = time.perf_counter()
            r = c.post("/api/tickets", json=body)
            out.append((time.perf_counter() - t0) * 1000)
            if r.status_code not in (200, 201):
                raise RuntimeError(r.text)
    return out


def bench_http(n: int, procs: int, workers: int = 1) -> dict:
    from spatial.auth import create_token
    from spatial.db.engine import session_scope

    with session_scope() as s:
        token = create_token(s, name="bench-http", role="channel")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from spatial.settings import get_settings

    env = {**os.environ, **get_settings().role_env(DB), "ONEMAP_SLA_SWEEP_SECONDS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:create_server", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers)],
        cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        per = n // procs
        ctx = mp.get_context("spawn")
        with ctx.Pool(procs, initializer=_use_bench_db) as pool:
            pool.map(_noop, range(procs))
            t0 = time.perf_counter()
            res = pool.map(_http_worker, [(p, per, 900 + p, base, token) for p in range(procs)])
            dt = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(10)
    lat = np.concatenate(res)
    return {"procs": procs, "tickets": per * procs, "seconds": dt, "per_s": per * procs / dt,
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--existing", type=int, default=200_000, help="history tickets in the table first")
    p.add_argument("--grids", type=int, default=1000)
    p.add_argument("--bulk", type=int, default=100_000)
    p.add_argument("--single", type=int, default=4000)
    p.add_argument("--http", type=int, default=2000)
    p.add_argument("--procs", default="1,2,4")
    p.add_argument("--http-workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--reuse", action="store_true", help="keep the database of a previous run (no rebuild)")
    args = p.parse_args(argv)
    _use_bench_db()
    info = _existing() if args.reuse else None
    info = info or build(args.existing, args.grids)
    print(f"database {DB}: {info['tickets']:,} tickets, {info['grids']} grids (built in {info['build_s']:.0f} s)",
          flush=True)
    rows = []
    if args.bulk:
        b = bench_bulk(args.bulk)
        rows.append(f"| bulk_intake (STRtree PIP + COPY tickets, events, reporters), 1 txn | {b['rows']:,} | 1 | "
                    f"{b['rows_per_s']:,.0f} rows/s | {b['seconds']:.2f} s total | | |")
        print(rows[-1], f"(CPU per row: client {b['client_us']:.0f} us, database {b['server_us']:.0f} us; "
              f"load {os.getloadavg()[0]:.1f})", flush=True)
    for procs in (int(x) for x in args.procs.split(",") if args.single):
        r = bench_single(args.single, procs, seed=100 * procs)
        rows.append(f"| intake() single ticket + dup check, 1 txn each | {r['tickets']:,} | {procs} | "
                    f"{r['per_s']:,.0f} tickets/s | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} |")
        print(rows[-1], f"(merged as duplicates: {r['merged']}; CPU per ticket: client {r['client_cpu_ms']:.2f} ms, "
              f"database {r['server_cpu_ms']:.2f} ms; load {os.getloadavg()[0]:.1f})", flush=True)
    if args.http:
        h = bench_http(args.http, 4, args.http_workers)
        rows.append(f"| POST /api/tickets over HTTP (uvicorn, {args.http_workers} worker(s)) | {h['tickets']:,} | "
                    f"{h['procs']} | "
                    f"{h['per_s']:,.0f} req/s | {h['p50']:.2f} | {h['p95']:.2f} | {h['p99']:.2f} |")
        print(rows[-1], flush=True)
    print()
    print("| path | n | client procs | throughput | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
