"""The one server (``uvicorn app:create_server --factory``) in a child process on a free loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Periodic jobs off: the tests drive the data themselves.
QUIET_JOBS = {"ONEMAP_FLOOD_WARMUP": "0", "ONEMAP_SLA_SWEEP_SECONDS": "0", "ONEMAP_SENSOR_CHECK_SECONDS": "0",
              "ONEMAP_RETENTION_SWEEP_SECONDS": "0", "ONEMAP_DEMO_SIMULATE_SECONDS": "0"}


@contextmanager
def live_server(log_path: Path, env: dict[str, str] | None = None, *, log_level: str = "info") -> Iterator[str]:
    """Run the server with ``env`` added to this process's (jobs off) and yield its base URL; stop it after."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **QUIET_JOBS, **(env or {})}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:create_server", "--factory",
                                 "--host", "127.0.0.1", "--port", "0", "--log-level", log_level],
                                cwd=REPO, env=full, stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        deadline = time.monotonic() + 90
        while port is None and time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            m = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log_path.read_text())
            port = int(m.group(1)) if m else time.sleep(0.2)
        assert port, log_path.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
