"""A real live HLS stream on loopback for the video tests: Debian ffmpeg writing segments, a CORS file server.

``live_hls()`` starts ``ffmpeg`` (lavfi test pattern, H.264 baseline in MPEG-TS
segments of 1 s, a sliding 6-segment live playlist) writing into a temporary
folder, and a threaded HTTP server on 127.0.0.1 that serves the folder with
``Access-Control-Allow-Origin: *`` (as a camera gateway or media server does:
hls.js fetches the playlist and segments with XHR from the app's origin).
It yields the playlist URL once two segments exist; both processes end with
the block. A missing ffmpeg fails (never skips).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FFMPEG = "/usr/bin/ffmpeg"


class _CorsHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


@contextmanager
def live_hls(*, size: str = "320x180", fps: int = 15) -> Iterator[str]:
    """URL of a live ``.m3u8`` playlist served on loopback while the block runs."""
    if not Path(FFMPEG).exists():
        raise AssertionError(f"{FFMPEG} is missing: apt-get install ffmpeg")
    folder = Path(tempfile.mkdtemp(prefix="onemap-hls-"))
    ff = subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
         "-pix_fmt", "yuv420p", "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0",
         "-f", "hls", "-hls_time", "1", "-hls_list_size", "6", "-hls_flags", "delete_segments+omit_endlist",
         str(folder / "live.m3u8")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_CorsHandler, directory=str(folder)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while len(list(folder.glob("*.ts"))) < 2:
            if ff.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ffmpeg produced no HLS segments: {ff.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{httpd.server_address[1]}/live.m3u8"
    finally:
        httpd.shutdown()
        httpd.server_close()
        ff.terminate()
        try:
            ff.wait(timeout=5)
        except subprocess.TimeoutExpired:
            ff.kill()
        shutil.rmtree(folder, ignore_errors=True)
