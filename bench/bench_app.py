"""One-map benchmark: first paint and click-to-candidates with 1M tickets in the database.

Usage::

    .venv/bin/python bench/bench_app.py --tickets 1000000 --runs 7          # build the bench DB, measure
    .venv/bin/python bench/bench_app.py --tickets 1000000 --runs 7 --reuse  # keep an existing bench DB

Steps: (1) a separate database ``onemap_bench_app`` gets the demo district
(``data.load.load_demo``, 20k tickets with full history) plus synthetic
tickets up to ``--tickets``, written by COPY, spread over the last 365 days
(older ones closed, about 12 % of the last 30 days still open); (2) the one
server (``uvicorn app:create_server``) starts against it; (3) headless
Debian Chromium (SwiftShader, every non-local host blocked) measures

* first paint: navigation -> every deck.gl layer ``isLoaded`` for the
  leadership and dispatcher views, with a cold browser cache (new context)
  and a warm one;
* click-to-candidates: mouse click on a ticket in the dispatcher map -> the
  candidate list with its "Assign" buttons is in the DOM (Playwright
  locator wait), plus the server-side time the app reports;

and (4) the PostGIS aggregates behind the views, in-process. Prints a JSON
summary and writes it to ``bench/results_app.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy.engine import make_url  # noqa: E402

from spatial.db import migrate  # noqa: E402
from spatial.db.copy import copy_frame, hex_ewkb  # noqa: E402
from spatial.db.engine import drop_database, ensure_database, get_engine, session_scope  # noqa: E402
from spatial.maps import mapdata  # noqa: E402
from spatial.settings import get_settings  # noqa: E402
from tests.app.conftest import (  # noqa: E402
    ARGS,
    CHROMIUM,
    FIND_DECK,
    LAYERS_LOADED,
    ROLE_USERS,
    block_external,
    sign_in,
)

DB = "onemap_bench_app"
CHUNK = 200_000


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def synthetic_tickets(templates: pd.DataFrame, n: int, *, now: datetime, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` tickets resampled from ``templates`` (location, grid, category) over the last 365 days."""
    idx = rng.integers(0, len(templates), n)
    t = templates.iloc[idx].reset_index(drop=True)
    lon = t["lon"].to_numpy() + rng.uniform(-0.0015, 0.0015, n)
    lat = t["lat"].to_numpy() + rng.uniform(-0.0015, 0.0015, n)
    age_s = rng.uniform(0, 365 * 86400, n)
    created = pd.Timestamp(now) - pd.to_timedelta(age_s, unit="s")
    recent = age_s < 30 * 86400
    u = rng.random(n)
    status = np.where(u < 0.95, "closed", np.where(u < 0.98, "rejected", "merged")).astype(object)
    states = np.array(["reported", "accepted", "dispatched", "in_progress", "resolved", "closed"], dtype=object)
    probs = np.array([0.02, 0.02, 0.04, 0.02, 0.02, 0.88])
    status[recent] = rng.choice(states, size=int(recent.sum()), p=probs)
    hours = rng.lognormal(np.log(48), 0.8, n)
    closed = created + pd.to_timedelta(hours, unit="h")
    done = status == "closed"
    # a closed ticket cannot be closed in the future
    closed_at = pd.Series(closed).where(done & (closed < pd.Timestamp(now)), pd.NaT)
    status[done & closed_at.isna().to_numpy()] = "in_progress"
    resolved_at = closed_at - pd.Timedelta(hours=2)
    rating = np.where(closed_at.notna() & (rng.random(n) < 0.6), rng.integers(1, 6, n), np.nan)
    accepted = created + pd.Timedelta(hours=1)
    df = pd.DataFrame({
        "channel": "hotline", "category_id": t["category_id"].to_numpy(), "department_id": t["department_id"],
        "grid_id": t["grid_id"], "community_id": t["community_id"], "street_id": t["street_id"],
        "geom": hex_ewkb(shapely.points(lon, lat)), "status": status, "priority": 3,
        "created_at": created, "updated_at": created, "accepted_at": pd.Series(accepted).where(status != "reported"),
        "closed_at": closed_at, "resolved_at": resolved_at, "accept_due_at": created + pd.Timedelta(hours=24),
        "resolve_due_at": created + pd.Timedelta(days=5), "rating": pd.array(rating, dtype="Int64"),
    })
    return df


def build_db(url: str, tickets: int, *, seed: int = 7) -> dict:
    from data.load import load_demo

    t0 = time.perf_counter()
    drop_database(url)
    ensure_database(url)
    migrate.upgrade(url)
    demo = load_demo(tickets=20_000, url=url, replace=True)
    t_demo = time.perf_counter() - t0
    now = datetime.now(UTC)
    with session_scope(url) as s:
        res = s.execute(sa.text(
            "SELECT category_id, department_id, grid_id, community_id, street_id, ST_X(geom) AS lon, "
            "ST_Y(geom) AS lat FROM ticket WHERE grid_id IS NOT NULL"))
        templates = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    rng = np.random.default_rng(seed)
    todo = tickets - demo["rows"]["ticket"]
    t1 = time.perf_counter()
    written = 0
    while written < todo:
        n = min(CHUNK, todo - written)
        df = synthetic_tickets(templates, n, now=now, rng=rng)
        with session_scope(url) as s:
            copy_frame(s, "ticket", df)
        written += n
        log(f"  COPY {written:,}/{todo:,} tickets ({written / (time.perf_counter() - t1):,.0f} rows/s)")
    t_copy = time.perf_counter() - t1
    with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE ticket"))
    return {"demo_s": round(t_demo, 1), "copy_s": round(t_copy, 1), "copy_rows_per_s": round(todo / t_copy),
            "tickets": tickets}


def fresh_positions(url: str) -> None:
    """Fresh fixes for on-duty workers and room under their caps, so clicked tickets have candidates."""
    with get_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE worker SET position_at = now(), max_workload = greatest(max_workload, "
                             "workload + 5) WHERE on_duty AND geom IS NOT NULL"))


def query_times(url: str, runs: int = 5) -> dict:
    """Median milliseconds of the aggregates behind the views (in-process, warm)."""
    out: dict = {}
    w = mapdata.Window.last(30)
    w365 = mapdata.Window.last(365)
    cases = {
        "grid_stats_30d": lambda s: mapdata.grid_stats(s, w),
        "kpis_30d": lambda s: mapdata.kpis(s, w),
        "trend_30d": lambda s: mapdata.trend(s, w),
        "hotspots_30d": lambda s: mapdata.hotspots(s, w),
        "department_stats_30d": lambda s: mapdata.department_stats(s, w),
        "hex_bins_400m_30d": lambda s: mapdata.density_bins(s, w, cell_m=400),
        "grid_stats_365d": lambda s: mapdata.grid_stats(s, w365),
        "hex_bins_400m_365d": lambda s: mapdata.density_bins(s, w365, cell_m=400),
        "dispatch_queue_500": lambda s: mapdata.dispatch_queue(s, limit=500),
    }
    with session_scope(url) as s:
        b = mapdata.district_bounds(s)
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        cases["points_in_view_z15_365d"] = lambda s: mapdata.tickets_in_view(
            s, w365, bbox=(cx - 0.01, cy - 0.007, cx + 0.01, cy + 0.007), limit=5000)
        for name, fn in cases.items():
            fn(s)
            ts = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn(s)
                ts.append((time.perf_counter() - t0) * 1000)
            out[name] = round(statistics.median(ts), 1)
    return out


def free_port() -> int:
    with socket.socket() as sck:
        sck.bind(("127.0.0.1", 0))
        return sck.getsockname()[1]


def start_server(url: str, *, app: str = "app:create_server", factory: bool = True,
                 health: str = "/health") -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    env = {**os.environ, **get_settings().role_env(make_url(url).database), "ONEMAP_SLA_SWEEP_SECONDS": "0"}
    (REPO / ".onemap").mkdir(exist_ok=True)
    logf = open(REPO / ".onemap" / f"bench_app_server_{port}.log", "w")  # noqa: SIM115
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--log-level",
           "warning"] + (["--factory"] if factory else [])
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=logf, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}{health}", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


NAV = """() => { const n = performance.getEntriesByType('navigation')[0];
  return {ttfb: n.responseStart / 1000, dom: n.domContentLoadedEventEnd / 1000} }"""


def _sign_in_for(ctx, url: str) -> None:
    """Sign the browser context in as the demo account of the URL's ``?role=`` (cookies shared by its pages)."""
    parts = urlsplit(url)
    role = parse_qs(parts.query).get("role", ["leadership"])[0]
    page = ctx.new_page()
    sign_in(page, f"{parts.scheme}://{parts.netloc}", ROLE_USERS.get(role, role))
    page.close()


def first_paint(browser, url: str, *, runs: int, external: list[str]) -> dict:
    """Seconds from navigation to every deck layer loaded; also time to first byte (server builds the
    session's document) and DOMContentLoaded (scripts parsed)."""
    cold, warm, ttfb, dom = [], [], [], []
    for _ in range(runs):
        ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
        _sign_in_for(ctx, url)  # the app needs a signed-in person (issue 13)
        for bucket in (cold, warm):  # first load cold cache, then the same context again (warm)
            page = ctx.new_page()
            block_external(page, external)
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_function(FIND_DECK, timeout=120_000, polling=20)
            page.wait_for_function(LAYERS_LOADED, timeout=120_000, polling=20)
            bucket.append(time.perf_counter() - t0)
            nav = page.evaluate(NAV)
            ttfb.append(nav["ttfb"])
            dom.append(nav["dom"])
            page.close()
        ctx.close()
    return {"cold_p50_s": round(statistics.median(cold), 2), "cold_max_s": round(max(cold), 2),
            "warm_p50_s": round(statistics.median(warm), 2), "warm_max_s": round(max(warm), 2),
            "ttfb_p50_s": round(statistics.median(ttfb), 2), "dom_loaded_p50_s": round(statistics.median(dom), 2),
            "cold_s": [round(x, 2) for x in cold], "warm_s": [round(x, 2) for x in warm]}


#: Where ticket i is drawn, and which ticket deck.gl picks there (points overlap in dense areas).
PROJECT = """(i) => { const d = _dv.deckGL; const L = d.props.layers.find(l => l.id === 'tickets');
  const rec = L.props.data[i]; const [x, y] = d.getViewports()[0].project([rec.lon, rec.lat]);
  const p = d.pickObject({x, y, radius: 1}); const id = p && p.layer.id === 'tickets' ? p.object.id : rec.id;
  const r = d.getCanvas().getBoundingClientRect(); return {x: x + r.left, y: y + r.top, id: id} }"""


def click_to_candidates(browser, base: str, *, runs: int, external: list[str]) -> dict:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    block_external(page, external)
    sign_in(page, base, "dispatcher")
    page.goto(f"{base}/app?role=dispatcher")
    page.wait_for_function(FIND_DECK, timeout=120_000)
    page.wait_for_function(LAYERS_LOADED, timeout=120_000)
    times, server_ms, misses = [], [], 0
    for i in range(runs):
        pt = page.evaluate(PROJECT, i * 7)
        ok = False
        for _attempt in range(6):
            page.mouse.move(pt["x"], pt["y"])
            t0 = time.perf_counter()
            page.mouse.click(pt["x"], pt["y"])
            try:
                page.locator(f"text=#{pt['id']}").first.wait_for(timeout=5000)
                page.get_by_role("button", name="Assign").or_(
                    page.get_by_text("No available worker")).first.wait_for(timeout=5000)
                times.append(time.perf_counter() - t0)
                ok = True
                break
            except Exception:
                misses += 1  # click not recognised under SwiftShader: retry
        if not ok:
            raise RuntimeError(f"ticket {pt['id']} never showed candidates")
        txt = page.locator("text=candidates in").first.inner_text()
        with contextlib.suppress(IndexError, ValueError):
            server_ms.append(float(txt.split("candidates in")[1].split("ms")[0]))
        page.wait_for_function(LAYERS_LOADED, timeout=60_000)
    page.close()
    ms = [t * 1000 for t in times]
    return {"p50_ms": round(statistics.median(ms)), "max_ms": round(max(ms)), "runs_ms": [round(x) for x in ms],
            "server_p50_ms": round(statistics.median(server_ms), 1) if server_ms else None,
            "missed_clicks_retried": misses}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--reuse", action="store_true", help="keep the bench database if it holds enough tickets")
    args = ap.parse_args()
    url = get_settings().sqlalchemy_url(DB)
    os.environ.update(get_settings().role_env(DB))
    get_settings.cache_clear()
    result: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "runs": args.runs,
                    "load_average_start": os.getloadavg()}
    have = 0
    if args.reuse:
        try:
            with get_engine(url).connect() as conn:
                have = conn.scalar(sa.text("SELECT count(*) FROM ticket"))
        except Exception:
            have = 0
    if have < args.tickets:
        log(f"building {DB} with {args.tickets:,} tickets")
        result["build"] = build_db(url, args.tickets)
    with get_engine(url).connect() as conn:
        result["tickets_in_db"] = conn.scalar(sa.text("SELECT count(*) FROM ticket"))
        result["open_tickets"] = conn.scalar(sa.text(f"SELECT count(*) FROM ticket WHERE status IN "
                                                     f"{tuple(mapdata.OPEN_STATES)}"))
    fresh_positions(url)
    log("query times")
    result["queries_ms"] = query_times(url)
    log(json.dumps(result["queries_ms"]))
    proc, base = start_server(url)
    bproc, bbase = start_server(url, app="bench._baseline_app:api", factory=False, health="/app")
    external: list[str] = []
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            first_paint(browser, f"{base}/app", runs=1, external=external)  # server warm-up
            first_paint(browser, f"{bbase}/app", runs=1, external=external)
            log("first paint: baseline (bare Panel page, one deck layer)")
            result["first_paint_baseline"] = first_paint(browser, f"{bbase}/app", runs=args.runs,
                                                         external=external)
            log(json.dumps(result["first_paint_baseline"]))
            log("first paint: leadership")
            result["first_paint_leadership"] = first_paint(browser, f"{base}/app", runs=args.runs,
                                                           external=external)
            log(json.dumps(result["first_paint_leadership"]))
            log("first paint: dispatcher")
            result["first_paint_dispatcher"] = first_paint(browser, f"{base}/app?role=dispatcher",
                                                           runs=args.runs, external=external)
            log(json.dumps(result["first_paint_dispatcher"]))
            fresh_positions(url)
            log("click to candidates")
            result["click_to_candidates"] = click_to_candidates(browser, base, runs=args.runs, external=external)
            log(json.dumps(result["click_to_candidates"]))
            browser.close()
    finally:
        for pr in (proc, bproc):
            pr.terminate()
            pr.wait(timeout=10)
    result["external_requests"] = external
    result["load_average_end"] = os.getloadavg()
    out = json.dumps(result, indent=2, default=str)
    print(out)
    (REPO / "bench" / "results_app.json").write_text(out + "\n")
    return 0 if not external else 1


if __name__ == "__main__":
    sys.exit(main())
