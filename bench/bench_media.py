"""Photo upload and notification outbox benchmark.

Builds a separate database ``onemap_bench_media`` (the small test district, migrated) and measures,
side by side in one run:

1. **photo upload over HTTP**: ``POST /api/media`` of ``--photos`` camera-sized JPEGs (``--px``,
   default 4000x3000 = 12 MP, smooth content like a real photo, EXIF with GPS) from ``--clients``
   client threads against the one server (uvicorn, ``app:create_server``): type sniffing, the pixel
   check, EXIF read, public copy re-encoded without EXIF, 320 px thumbnail, three blobs written
   and fsynced, one row committed -> photos/s, MB/s, latency p50/p99. **Bound**: the same
   ``spatial.media.images.process`` calls in one process (decode + encode only, no HTTP, disk
   or database), per core;
2. **outbox fan-out in the event transaction**: INSERT of ``--events`` ticket events in one
   statement with no subscription vs with one webhook subscription (the
   ``ticket_event_notify`` trigger writes the outbox rows) -> events/s and the ratio;
3. **outbox delivery**: ``spatial.notify.delivery.drain`` of those webhook rows to a local HTTP
   receiver (claim, sign, POST, record) -> webhooks/s. **Bound**: the same number of signed POSTs
   sent straight from the same 8-thread pool to the same receiver, no database; then a quarter as
   many e-mails to a local SMTP server (aiosmtpd, in the benchmark's process) -> e-mails/s.

Run: ``.venv/bin/python bench/bench_media.py [--photos 40] [--px 4000x3000] [--clients 2] [--events 3000]``
Prints a Markdown table (copied into docs/media.md).
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DB = "onemap_bench_media"


def _use_bench_db(media_dir: str) -> None:
    from spatial.settings import get_settings

    os.environ.update(get_settings().role_env(DB))
    os.environ.update({"ONEMAP_SLA_SWEEP_SECONDS": "0", "ONEMAP_NOTIFY_SECONDS": "0",
                       "ONEMAP_SENSOR_CHECK_SECONDS": "0", "ONEMAP_RETENTION_SWEEP_SECONDS": "0",
                       "ONEMAP_FLOOD_WARMUP": "false",
                       "ONEMAP_MEDIA_DIR": media_dir})
    get_settings.cache_clear()


def build() -> None:
    from spatial.db import migrate
    from spatial.db.engine import drop_database, session_scope
    from spatial.settings import get_settings
    from tests.district import seed_small_district

    url = get_settings().sqlalchemy_url(DB)
    drop_database(url)
    migrate.upgrade(url)
    with session_scope() as s:
        seed_small_district(s)


def photo(w: int, h: int, seed: int) -> bytes:
    """A camera-like JPEG: smooth gradients with mild noise (compresses like a photo), GPS EXIF."""
    from PIL import Image

    from tests.citizen.images import jpeg  # EXIF writer of the tests

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([(xx / w) * 200, (yy / h) * 180, ((xx + yy) / (w + h)) * 160], axis=-1)
    base += rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    exif = Image.open(io.BytesIO(jpeg(gps=True, size=(8, 8)))).getexif()
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88, exif=exif)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_upload(photos: list[bytes], clients: int) -> dict:
    import httpx

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:create_server", "--factory", "--host",
                               "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                              cwd=REPO, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        lat: list[float] = []

        def one(data: bytes) -> None:
            with httpx.Client(timeout=120) as c:
                t0 = time.perf_counter()
                r = c.post(f"{base}/api/media", files={"file": ("p.jpg", data, "image/jpeg")})
                lat.append(time.perf_counter() - t0)
                assert r.status_code == 201, r.text

        one(photos[0])  # warm-up (imports, first connection)
        lat.clear()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, photos))
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=20)
    mb = sum(len(p) for p in photos) / 1e6
    return {"n": len(photos), "rate": len(photos) / wall, "mbps": mb / wall, "p50": statistics.median(lat) * 1e3,
            "p99": float(np.percentile(lat, 99)) * 1e3}


def bench_process(photos: list[bytes]) -> dict:
    from spatial.media.images import process

    t0 = time.perf_counter()
    for p in photos:
        process(p, max_bytes=15_000_000, max_pixels=40_000_000, thumb_px=320)
    wall = time.perf_counter() - t0
    return {"rate": len(photos) / wall, "ms": wall / len(photos) * 1e3}


class Receiver:
    """Webhook receiver (HTTP/1.1 keep-alive), answers 204 and counts."""

    def __init__(self) -> None:
        self.count = 0
        lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    outer.count += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


_EVENTS = """
INSERT INTO ticket_event (ticket_id, at, kind, from_status, to_status, actor, actor_role)
SELECT :tid, now(), 'transition', 'reported', 'accepted', 'bench', 'dispatcher' FROM generate_series(1, :n)
"""


def bench_outbox(events: int) -> list[dict]:
    import httpx
    import sqlalchemy as sa
    from aiosmtpd.controller import Controller

    from spatial.db.engine import session_scope
    from spatial.notify import delivery, subscriptions
    from spatial.notify.delivery import Delivery, send_webhook
    from spatial.settings import get_settings

    with session_scope() as s:
        tid = s.execute(sa.text(
            "INSERT INTO ticket (channel, category_id, geom, status) SELECT 'api', id, "
            "ST_SetSRID(ST_MakePoint(113.41, 23.09), 4326), 'accepted' FROM category LIMIT 1 RETURNING id")).scalar()
        s.execute(sa.text("DELETE FROM notification_subscription"))
    t0 = time.perf_counter()
    with session_scope() as s:
        s.execute(sa.text(_EVENTS), {"tid": tid, "n": events})
    plain = time.perf_counter() - t0

    receiver = Receiver()
    mails = []

    class Mail:
        async def handle_DATA(self, server, session, envelope):
            mails.append(len(envelope.content))
            return "250 OK"

    smtp_port = _free_port()
    smtp = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    os.environ.update({"ONEMAP_SMTP_HOST": "127.0.0.1", "ONEMAP_SMTP_PORT": str(smtp_port),
                       "ONEMAP_NOTIFY_BATCH": "500"})
    get_settings.cache_clear()
    try:
        with session_scope() as s:
            hook, secret = subscriptions.add(s, name="bench", channel="webhook", target=receiver.url)
            hook_id = hook.id
        t0 = time.perf_counter()
        with session_scope() as s:
            s.execute(sa.text(_EVENTS), {"tid": tid, "n": events})
        fanout = time.perf_counter() - t0
        t0 = time.perf_counter()
        with session_scope() as s:
            counts = delivery.drain(s, max_seconds=3600)
        hooks = time.perf_counter() - t0
        assert counts["sent"] == events and receiver.count == events, counts
        # the same number of signed POSTs straight from the same pool: no database, no outbox
        receiver.count = 0
        fake = [Delivery(i, "webhook", receiver.url, "accepted", {"ticket_id": tid, "i": i}, 1, secret)
                for i in range(events)]
        t0 = time.perf_counter()
        with httpx.Client(timeout=10, trust_env=False) as c, ThreadPoolExecutor(delivery.WEBHOOK_THREADS) as pool:
            list(pool.map(lambda d: send_webhook(c, d), fake))
        raw = time.perf_counter() - t0
        assert receiver.count == events
        # e-mails: another subscription, a quarter as many events
        n_mail = max(events // 4, 1)
        with session_scope() as s:
            subscriptions.set_active(s, hook_id, False)
            subscriptions.add(s, name="bench-mail", channel="email", target="duty@example.org")
            s.execute(sa.text(_EVENTS), {"tid": tid, "n": n_mail})
        t0 = time.perf_counter()
        with session_scope() as s:
            counts = delivery.drain(s, max_seconds=3600)
        mail = time.perf_counter() - t0
        assert counts["sent"] == n_mail and len(mails) == n_mail, counts
    finally:
        smtp.stop()
        receiver.server.shutdown()
    return [{"what": f"INSERT {events:,} ticket events, no subscription", "rate": events / plain},
            {"what": f"INSERT {events:,} ticket events + their outbox rows (1 webhook subscription, trigger)",
             "rate": events / fanout, "extra": f"{plain / fanout:.2f}x the plain INSERT"},
            {"what": f"outbox delivery: {events:,} signed webhooks (claim, POST, record)", "rate": events / hooks,
             "extra": f"{raw / hooks:.2f}x the bound below"},
            {"what": f"bound: {events:,} signed webhook POSTs from the same 8-thread pool, no database",
             "rate": events / raw, "extra": ""},
            {"what": f"outbox delivery: {n_mail:,} e-mails over one SMTP connection (aiosmtpd, same machine)",
             "rate": n_mail / mail, "extra": ""}]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=40)
    p.add_argument("--px", default="4000x3000")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--events", type=int, default=3000)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.px.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="onemap-bench-media-") as media:
        _use_bench_db(media)
        build()
        photos = [photo(w, h, seed=i) for i in range(args.photos)]
        avg_mb = sum(len(x) for x in photos) / len(photos) / 1e6
        print(f"{len(photos)} photos {w}x{h}, {avg_mb:.1f} MB each on average; {os.cpu_count()} cores", flush=True)
        bound = bench_process(photos[: max(4, len(photos) // 4)])
        up = bench_upload(photos, args.clients)
        out = bench_outbox(args.events)
    print("\n| what | rate | detail |\n| --- | ---: | --- |")
    print(f"| bound: `images.process` in one process ({w}x{h}) | {bound['rate']:.2f} photos/s | "
          f"{bound['ms']:.0f} ms per photo, one core |")
    print(f"| `POST /api/media` over HTTP, {args.clients} clients | {up['rate']:.2f} photos/s | "
          f"{up['mbps']:.1f} MB/s, p50 {up['p50']:.0f} ms, p99 {up['p99']:.0f} ms; "
          f"{up['rate'] / bound['rate']:.2f}x the one-core bound |")
    for r in out:
        print(f"| {r['what']} | {r['rate']:,.0f} /s | {r.get('extra', '')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
