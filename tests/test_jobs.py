"""The server's periodic jobs run inside the one process, each in its own transaction."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from app import create_server, demo_jobs
from spatial.api import jobs
from spatial.settings import get_settings


def test_jobs_follow_settings(monkeypatch):
    for var in ("SLA_SWEEP_SECONDS", "SENSOR_CHECK_SECONDS", "RETENTION_SWEEP_SECONDS", "DEMO_SIMULATE_SECONDS",
                "FLOOD_WATCH_SECONDS", "NOTIFY_SECONDS"):
        monkeypatch.setenv(f"ONEMAP_{var}", "0")
    monkeypatch.setenv("ONEMAP_DEMO_SIMULATE_SECONDS", "5")
    get_settings.cache_clear()
    try:
        assert [j.name for j in jobs.scheduled_jobs()] == []
        assert [j.name for j in jobs.scheduled_jobs(demo_jobs())] == ["demo_positions"]
    finally:
        get_settings.cache_clear()


def test_every_job_runs_in_the_server(committed, monkeypatch):
    for var in ("SLA_SWEEP_SECONDS", "SENSOR_CHECK_SECONDS", "RETENTION_SWEEP_SECONDS", "DEMO_SIMULATE_SECONDS",
                "FLOOD_WATCH_SECONDS", "NOTIFY_SECONDS"):
        monkeypatch.setenv(f"ONEMAP_{var}", "1")
    get_settings.cache_clear()
    try:
        app = create_server(with_panel=False, background=True)
        names = ("sla", "sensors", "retention", "demo_positions", "notify")
        with TestClient(app):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and getattr(app.state, "flood_warmup", None) is None:
                time.sleep(0.1)
            assert app.state.flood_warmup, "the flood kernels were not warmed up"
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not all(
                    getattr(app.state, f"{n}_last", None) is not None for n in names):
                time.sleep(0.1)
        missing = [n for n in names if getattr(app.state, f"{n}_last", None) is None]
        assert not missing, f"jobs that never completed: {missing}"
    finally:
        get_settings.cache_clear()
