"""Live updates benchmark: commit-to-paint latency, server cost per open session, the wall's frame rate.

Builds ``onemap_bench_live`` (demo district, ``--tickets`` tickets; ``--reuse``
keeps it), starts the one server (uvicorn, as ``onemap serve``) and opens
``--sessions`` dispatcher pages (20) in one headless Debian Chromium
(SwiftShader software WebGL, every non-local host blocked). Then a writer
commits ``--rate`` changes per second (50) for ``--seconds`` (20): each change
moves one on-duty worker to a unique longitude (``UPDATE worker``, one
transaction each, as the GPS intake does), every 10th also inserts a ticket.

* **Commit-to-paint**: in every page a ``requestAnimationFrame`` loop watches
  the deck ``workers`` layer and records (epoch ms) when a worker's new
  longitude is there, i.e. the frame that draws it; the writer records the
  epoch time right after each COMMIT. Latency = seen - committed, over every
  change x every page. Baseline in the same run: a bare ``LISTEN`` connection in
  this process (commit -> notification received), the floor of the transport.
* **Server cost per session**: the server process's RSS and CPU time (psutil) with
  no page, with all pages idle (10 s), and during the writer; per session =
  difference / sessions.
* **Wall frame rate**: ``/wall`` at 1920x1080 in one page (the others closed),
  frames per second while the camera orbits (a new view every frame, as in a tour
  flight), with all layers and, as the floor, with no layer.

Results: ``bench/results_live.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil
import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_app import start_server
from spatial.db import migrate
from spatial.db.engine import drop_database, get_engine
from spatial.settings import get_settings
from tests.app.conftest import ARGS, CHROMIUM, FIND_DECK, LAYERS_LOADED, block_external
from tests.conftest import role_env

DB = "onemap_bench_live"
OUT = Path(__file__).with_name("results_live.json")

#: Installed in each page: records (epoch ms) when each worker's longitude first shows in the deck layer.
WATCH = """() => { window.__seen = []; const last = new Map();
  const tick = () => { const d = window._dv && window._dv.deckGL;
    const L = d && d.props.layers.find(l => l.id === 'workers');
    if (L && L.props.data && L.props.data !== window.__lastData) { window.__lastData = L.props.data;
      const t = performance.timeOrigin + performance.now(); const data = L.props.data;
      for (let i = 0; i < data.length; i++) { const r = data[i];
        if (last.get(r.id) !== r.lon) { last.set(r.id, r.lon); window.__seen.push([r.id, r.lon, t]) } } }
    requestAnimationFrame(tick) };
  requestAnimationFrame(tick); return true }"""

FPS = """async ([keep, ms]) => { const d = _dv.deckGL; const all = d.props.layers;
  if (keep !== null) d.setProps({layers: all.filter(l => keep.includes(l.id))});
  await new Promise(r => setTimeout(r, 300)); let n = 0; d.setProps({onAfterRender: () => { n++ }});
  const v0 = d.getViewports()[0]; const t0 = performance.now(); let i = 0;
  while (performance.now() - t0 < ms) { i++;
    d.setProps({initialViewState: {longitude: v0.longitude, latitude: v0.latitude, zoom: v0.zoom, pitch: v0.pitch,
                                   bearing: v0.bearing + i * 0.5}});
    await new Promise(r => requestAnimationFrame(r)) }
  const dt = performance.now() - t0; d.setProps({layers: all, onAfterRender: null});
  return {frames: n, seconds: dt / 1000, fps: n / dt * 1000} }"""


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))] if xs else float("nan")


def save(result: dict) -> None:
    """Write what is measured so far (a slow machine may not reach the end)."""
    OUT.write_text(json.dumps(result, indent=2, default=float))


def build(url: str, tickets: int) -> None:
    from data.load import load_demo

    drop_database(get_settings().owner_url_for(url))
    migrate.upgrade(url)
    load_demo(tickets=tickets, url=url, replace=True)


def writer(url: str, *, rate: float, seconds: float, workers: list[tuple[int, float, float]],
           commits: list[tuple[int, float, float]]) -> None:
    """``rate`` committed changes per second; records (worker id, lon, epoch s after COMMIT)."""
    eng = get_engine(url)
    n = int(rate * seconds)
    t0 = time.perf_counter()
    with eng.connect() as conn:
        for k in range(n):
            wid, lon0, lat0 = workers[k % len(workers)]
            lon = round(lon0 + 1e-6 * (k + 1), 7)
            conn.execute(sa.text("UPDATE worker SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326), "
                                 "position_at = now() WHERE id = :i"), {"x": lon, "y": lat0, "i": wid})
            if k % 10 == 0:
                conn.execute(sa.text(
                    "INSERT INTO ticket (category_id, status, channel, geom, grid_id, community_id, street_id, "
                    "department_id, accept_due_at, resolve_due_at, description) SELECT category_id, 'reported', "
                    "'api', geom, grid_id, community_id, street_id, department_id, now() + interval '1 day', "
                    "now() + interval '3 days', 'bench' FROM ticket ORDER BY id LIMIT 1"))
            conn.commit()
            commits.append((wid, lon, time.time()))
            wait = t0 + (k + 1) / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)


def notify_floor(url: str, n: int = 200) -> list[float]:
    """Commit -> notification received by a bare LISTEN connection (ms): the transport's floor."""
    info = url.replace("postgresql+psycopg://", "postgresql://")
    out = []
    eng = get_engine(url)
    with psycopg.connect(info, autocommit=True) as lst, eng.connect() as conn:
        lst.execute("LISTEN onemap_live")
        wid = conn.scalar(sa.text("SELECT id FROM worker WHERE on_duty AND geom IS NOT NULL ORDER BY id LIMIT 1"))
        for _ in range(n):
            conn.execute(sa.text("UPDATE worker SET position_at = now() WHERE id = :i"), {"i": wid})
            conn.commit()
            t = time.perf_counter()
            for _note in lst.notifies(timeout=5, stop_after=1):
                out.append((time.perf_counter() - t) * 1000)
    return out


def proc_stats(p: psutil.Process) -> tuple[float, float]:
    """(RSS MB including children, CPU seconds user+system) of the server."""
    procs = [p, *p.children(recursive=True)]
    rss = sum(q.memory_info().rss for q in procs) / 2**20
    cpu = sum(sum(q.cpu_times()[:2]) for q in procs)
    return rss, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--tickets", type=int, default=3000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--batch", type=int, default=5, help="pages loaded at a time")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    url = get_settings().sqlalchemy_url(DB)
    os.environ.update(role_env(DB))
    if not args.reuse:
        build(url, args.tickets)
    with get_engine(url).begin() as conn:
        conn.execute(sa.text("UPDATE worker SET position_at = now() WHERE on_duty AND geom IS NOT NULL"))
        workers = [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM worker WHERE on_duty AND geom IS NOT NULL ORDER BY id LIMIT 50"))]
    result: dict = {"sessions": args.sessions, "rate": args.rate, "seconds": args.seconds,
                    "load_avg_start": os.getloadavg()}
    floor = notify_floor(url)
    result["notify_floor_ms"] = {"p50": pct(floor, 50), "p99": pct(floor, 99), "n": len(floor)}
    save(result)
    proc, base = start_server(url)
    server = psutil.Process(proc.pid)
    external: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            time.sleep(2)
            rss0, _ = proc_stats(server)
            pages = []
            for k in range(0, args.sessions, args.batch):  # a batch at a time, each retried once if it failed
                batch = []
                for _ in range(min(args.batch, args.sessions - k)):
                    pg = browser.new_page(viewport={"width": 1280, "height": 800})
                    block_external(pg, external)
                    pg.goto(f"{base}/app?role=dispatcher", wait_until="commit")
                    batch.append(pg)
                for pg in batch:
                    for attempt in range(2):
                        try:
                            pg.wait_for_function(FIND_DECK, timeout=120_000, polling=200)
                            pg.wait_for_function(LAYERS_LOADED, timeout=120_000, polling=200)
                            break
                        except Exception:
                            if attempt:
                                raise
                            result["page_retries"] = result.get("page_retries", 0) + 1
                            pg.reload()
                    pg.evaluate(WATCH)
                    pages.append(pg)
            save(result)
            time.sleep(3)
            rss1, cpu1 = proc_stats(server)
            time.sleep(10)
            _, cpu_idle = proc_stats(server)
            commits: list[tuple[int, float, float]] = []
            t = threading.Thread(target=writer, args=(url,), kwargs={
                "rate": args.rate, "seconds": args.seconds, "workers": workers, "commits": commits})
            t0 = time.perf_counter()
            t.start()
            t.join()
            wall_s = time.perf_counter() - t0
            time.sleep(5)  # let the last changes arrive
            rss2, cpu2 = proc_stats(server)
            done = {(w, lon): at for w, lon, at in commits}
            lat: list[float] = []
            missing = 0
            for pg in pages:
                seen = {(int(i), round(float(lon), 7)): t for i, lon, t in pg.evaluate("() => window.__seen")}
                for key, at in done.items():
                    if key in seen:
                        lat.append(seen[key] - at * 1000)
                    else:
                        missing += 1
            # a change superseded by the next one of the same worker within one batch is never drawn:
            # coalescing, not loss; the last change of every worker must be seen everywhere
            last = {}
            for w, lon, _at in commits:
                last[w] = (w, lon)
            final_missing = sum(1 for pg in pages for key in last.values()
                                if key not in {(int(i), round(float(lon), 7)) for i, lon, _ in
                                               pg.evaluate("() => window.__seen")})
            result["commit_to_paint_ms"] = {
                "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99), "max": max(lat) if lat else None,
                "samples": len(lat), "changes": len(commits), "achieved_rate": len(commits) / wall_s,
                "not_drawn_superseded": missing, "final_positions_missing": final_missing}
            result["server"] = {
                "rss_mb_no_session": rss0, "rss_mb_sessions": rss1, "rss_mb_after_load": rss2,
                "rss_mb_per_session": (rss1 - rss0) / args.sessions,
                "cpu_pct_idle_sessions": (cpu_idle - cpu1) / 10 * 100,
                "cpu_pct_under_load": (cpu2 - cpu_idle) / (wall_s + 5) * 100,
                "cpu_ms_per_change_per_session": (cpu2 - cpu_idle) * 1000 / max(1, len(commits)) / args.sessions}
            save(result)
            for pg in pages:
                pg.close()
            wall = browser.new_page(viewport={"width": 1920, "height": 1080})
            block_external(wall, external)
            wall.goto(f"{base}/wall")
            wall.wait_for_function(FIND_DECK, timeout=180_000, polling=100)
            wall.wait_for_function(LAYERS_LOADED, timeout=180_000, polling=100)
            time.sleep(2)
            full = wall.evaluate(FPS, [None, 10_000])
            empty = wall.evaluate(FPS, [[], 5_000])
            result["wall_fps_1920x1080"] = {"all_layers": full, "no_layer_floor": empty,
                                            "layers": wall.evaluate("() => _dv.deckGL.props.layers.map(l => l.id)")}
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    result["load_avg_end"] = os.getloadavg()
    result["external_requests"] = len(external)
    OUT.write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result, indent=2, default=float))
    c = result["commit_to_paint_ms"]
    print(f"commit-to-paint p50 {c['p50']:.0f} ms, p99 {c['p99']:.0f} ms over {c['samples']} (change x page); "
          f"NOTIFY floor p50 {result['notify_floor_ms']['p50']:.1f} ms")
    return 0 if not external else 1


if __name__ == "__main__":
    sys.exit(main())
