"""The operational loop end to end (issue 15): forecasts arrive, runs start by themselves, warnings follow.

A real server (the FastAPI app with its periodic jobs, the flood watch every
second) on the test PostGIS database. The district is the 16-grid test district;
its DEM (EPSG:32649, 100 m) is a gentle plane with a 1.5 m deep bowl in the
middle of every grid, modelled at 200 m cells. Forecasts are GeoTIFFs in
EPSG:4326 (one band, mm/h, ``ONEMAP_INTERVAL_S`` and ``ONEMAP_ISSUED_AT`` tags).
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pyproj import Transformer
from rasterio.transform import from_origin
from sqlalchemy.orm import Session

from app import create_server
from spatial import forecasts
from spatial.auth import create_token
from spatial.flood import ops as flood_ops
from spatial.profile import parse_profile, store_profile
from spatial.settings import get_settings
from tests.district import STEP, X0, Y0, seed_small_district
from views.planner import PlannerView

T0 = "2026-07-01T08:00:00+08:00"


def _dem(path: Path) -> None:
    """Plane (0.1 % down to the east) with a 1.5 m bowl (radius ~500 m) at the centre of each grid."""
    tr = Transformer.from_crs(4326, 32649, always_xy=True)
    xs, ys = tr.transform([X0, X0 + 4 * STEP, X0, X0 + 4 * STEP], [Y0, Y0, Y0 + 4 * STEP, Y0 + 4 * STEP])
    x0, y1 = min(xs) - 600, max(ys) + 600
    nx, ny = int((max(xs) + 600 - x0) / 100), int((y1 - min(ys) + 600) / 100)
    cx, cy = np.meshgrid(x0 + 50 + 100 * np.arange(nx), y1 - 50 - 100 * np.arange(ny))
    z = 20.0 - 0.001 * (cx - x0)
    for r in range(4):
        for c in range(4):
            bx, by = tr.transform(X0 + (c + 0.5) * STEP, Y0 + (r + 0.5) * STEP)
            z -= 1.5 * np.exp(-((cx - bx) ** 2 + (cy - by) ** 2) / 500.0 ** 2)
    with rasterio.open(path, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32",
                       crs="EPSG:32649", transform=from_origin(x0, y1, 100, 100), nodata=-9999) as dst:
        dst.write(z.astype("float32"), 1)


def _forecast(path: Path | None, rain_mm_h, *, issued: str, interval_s: int = 1200) -> bytes:
    """A one-band rain forecast [mm/h] over the district (EPSG:4326, 0.005 deg); ``rain_mm_h(lon, lat)``."""
    n = 20
    lon, lat = np.meshgrid(X0 - 0.01 + 0.005 * (np.arange(n) + 0.5), Y0 + 0.09 - 0.005 * (np.arange(n) + 0.5))
    data = np.asarray(rain_mm_h(lon, lat), dtype="float32") * np.ones_like(lon, dtype="float32")
    buf = io.BytesIO()
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:4326",
                      transform=from_origin(X0 - 0.01, Y0 + 0.09, 0.005, 0.005)) as dst:
            dst.write(data, 1)
            dst.update_tags(ONEMAP_INTERVAL_S=str(interval_s), ONEMAP_ISSUED_AT=issued)
        buf.write(mem.read())
    if path is not None:
        tmp = path.with_name("." + path.name)
        tmp.write_bytes(buf.getvalue())
        tmp.replace(path)  # write + rename: the watch never sees half a file
    return buf.getvalue()


def _sw_quadrant(lon, lat):
    return np.where((lon < X0 + 2 * STEP) & (lat < Y0 + 2 * STEP), 300.0, 0.0)


def _wait_runs(client, headers, n: int, timeout: float = 120.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.get("/api/flood/runs", headers=headers).json()
        if len(runs) >= n and all(r["status"] in ("done", "failed") for r in runs):
            return runs
        time.sleep(0.3)
    raise AssertionError(f"runs did not finish: {client.get('/api/flood/runs', headers=headers).json()}")


def _active(engine) -> dict[str, str]:
    with engine.connect() as c:
        return dict(c.execute(sa.text("SELECT source_id, level FROM alert WHERE source_kind = 'flood' "
                                      "AND state = 'active'")).all())


def _messages(engine) -> int:
    with engine.connect() as c:
        return c.scalar(sa.text("SELECT count(*) FROM published_message"))


@pytest.fixture
def watch_env(committed, tmp_path, monkeypatch):
    dem = tmp_path / "dem.tif"
    _dem(dem)
    with Session(committed) as s:
        seed_small_district(s)
        store_profile(s, parse_profile({"name": "Flood watch test", "timezone": "Asia/Shanghai",
                                        "metric_crs": "EPSG:32649", "calendar": {"country": "CN"},
                                        "dem": str(dem)}))
        tokens = {"channel": create_token(s, name="met-service", role="channel"),
                  "dispatcher": create_token(s, name="duty-officer", role="dispatcher")}
        s.commit()
    inbox = tmp_path / "inbox"
    for var, val in {"FLOOD_WATCH_SECONDS": "1", "FLOOD_INBOX": str(inbox), "FLOOD_CELL_M": "200",
                     "FLOOD_SETTLE_SECONDS": "0", "FLOOD_HOT_START_MAX_S": "3600",
                     "SLA_SWEEP_SECONDS": "0", "SENSOR_CHECK_SECONDS": "0", "RETENTION_SWEEP_SECONDS": "0",
                     "FLOOD_WARMUP": "false"}.items():
        monkeypatch.setenv(f"ONEMAP_{var}", val)
    get_settings.cache_clear()
    inbox.mkdir()
    yield {"inbox": inbox, "tokens": tokens, "engine": committed}
    with Session(committed) as s:
        ids = s.scalars(sa.text("SELECT id FROM flood_run")).all()
    for rid in ids:
        shutil.rmtree(flood_ops.run_dir(rid), ignore_errors=True)
        for p in forecasts.overlay_dir().glob(f"{rid}*"):
            p.unlink()
    get_settings.cache_clear()


def test_forecasts_run_by_themselves_publish_escalate_wait_for_confirmation_and_clear(watch_env):
    env, eng = watch_env, watch_env["engine"]
    chan = {"Authorization": f"Bearer {env['tokens']['channel']}"}
    duty = {"Authorization": f"Bearer {env['tokens']['dispatcher']}"}
    app = create_server(with_panel=False, background=True)
    with TestClient(app) as client:
        # 1. heavy rain over the south-west quadrant dropped in the folder: a run starts by itself
        _forecast(env["inbox"] / "fc-0800.tif", _sw_quadrant, issued=T0)
        (a,) = _wait_runs(client, duty, 1)
        assert a["status"] == "done" and a["source"] == "folder", a
        assert a["publication"] == "published" and a["hot_start_from"] is None
        assert a["inputs"]["kind"] == "gridded" and len(a["inputs"]["files"][0]["sha256"]) == 64
        assert a["inputs"]["hot_start"].startswith("dry start")
        first = _active(eng)
        assert set(first) == {"grid:" + str(i) for i in _grid_ids(eng, ["G00", "G01", "G10", "G11"])}, first
        assert a["publish_result"]["created"] == 4 and a["publish_result"]["messages"] >= 4
        assert len(a["outputs"]["snapshots"]) >= 6  # every 10 min of 20 + 60 min
        png = client.get(a["outputs"]["snapshots"][0]["overlay_url"])
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        msgs = _messages(eng)

        # the same forecast again is refused, nothing queued
        again = client.post("/api/flood/forecasts", headers={**chan, "Content-Type": "image/tiff"},
                            content=_forecast(None, _sw_quadrant, issued=T0))
        assert again.status_code == 409 and a["run_id"] in again.json()["message"], again.text

        # 2. ten minutes later, no more rain (POSTed): hot-started from run 1, the ponds stay, nothing re-sent
        r = client.post("/api/flood/forecasts", params={"label": "dry-0810"},
                        headers={**chan, "Content-Type": "image/tiff"},
                        content=_forecast(None, lambda lo, la: 0.0, issued="2026-07-01T08:10:00+08:00"))
        assert r.status_code == 202, r.text
        runs = _wait_runs(client, duty, 2)
        b = runs[0]
        assert b["source"] == "api" and b["hot_start_from"] == a["run_id"], b
        assert b["inputs"]["hot_start_lead_s"] == 600 and b["inputs"]["hot_start_volume_m3"] > 0
        assert set(_active(eng)) == set(first)
        assert b["publish_result"]["created"] == b["publish_result"]["escalated"] == 0
        assert _messages(eng) == msgs  # escalation only when a level rises

        # 3. heavy rain everywhere: it would warn all 16 grids -> waits for a person, nothing published yet
        _forecast(env["inbox"] / "fc-0820.tif", lambda lo, la: 300.0, issued="2026-07-01T08:20:00+08:00")
        c = _wait_runs(client, duty, 3)[0]
        assert c["publication"] == "awaiting_confirmation", c
        assert c["outputs"]["grids_at_risk"] == 16 and c["publish_result"]["preview"]["created"] == 12
        assert set(_active(eng)) == set(first) and _messages(eng) == msgs
        ok = client.post(f"/api/flood/runs/{c['run_id']}/confirm", headers=duty)
        assert ok.status_code == 200 and ok.json()["publication"] == "confirmed", ok.text
        assert ok.json()["decided_by"] and len(_active(eng)) == 16
        assert client.post(f"/api/flood/runs/{c['run_id']}/confirm", headers=duty).status_code == 409
        assert client.post(f"/api/flood/runs/{c['run_id']}/confirm", headers=chan).status_code == 403
        msgs = _messages(eng)

        # 4. the next forecast, hours later, has no rain: the warnings clear ("lifted" messages)
        _forecast(env["inbox"] / "fc-1200.tif", lambda lo, la: 0.0, issued="2026-07-01T12:00:00+08:00")
        d = _wait_runs(client, duty, 4)[0]
        assert d["publication"] == "published" and d["publish_result"]["cleared"] == 16, d
        assert _active(eng) == {} and _messages(eng) > msgs

        # a bad forecast is refused with its reason, and the watch goes on
        (env["inbox"] / "notes.txt").write_text("not a forecast")
        bad = client.post("/api/flood/forecasts", headers={**chan, "Content-Type": "image/tiff"},
                          content=b"not a tiff")
        assert bad.status_code == 422 and "GeoTIFF" in bad.json()["message"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (env["inbox"] / "notes.txt").exists():
            time.sleep(0.2)
    # the planner: run history, the latest run, a time slider over its depth snapshots
    view = PlannerView()
    assert list(view.ops_table.value["run"]) == [d["run_id"], c["run_id"], b["run_id"], a["run_id"]]
    assert list(view.ops_table.value["warnings"]) == ["published", "confirmed", "published", "published"]
    assert f"latest run {d['run_id']}" in view.ops_latest.object and "16 cleared" in view.ops_latest.object
    view.select_run([3])
    assert view.ops_slider.options == [10, 20, 30, 40, 50, 60, 70, 80] and not view.ops_slider.disabled
    view.ops_slider.value = 20
    assert f"{a['run_id']}.t001200.png" in str(view.map.layers["flood"])
    view.ops_slider.value = 80
    assert f"{a['run_id']}.t004800.png" in str(view.map.layers["flood"])
    assert not view.ops_confirm.visible
    errors = list((flood_ops.flood_home() / "rejected").glob("*-notes.txt*"))
    assert any("GeoTIFF" in p.read_text() for p in errors if p.name.endswith(".error.txt"))
    for p in errors:
        p.unlink()


def _grid_ids(engine, codes: list[str]) -> list[int]:
    with engine.connect() as c:
        return list(c.scalars(sa.text("SELECT id FROM admin_unit WHERE level = 4 AND code = ANY(:c)"),
                              {"c": codes}))


def test_radar_frames_become_a_pysteps_nowcast_run(watch_env):
    """A folder of three radar frames (a rain cell moving east) -> an extrapolation nowcast -> a stored run."""
    radar = watch_env["inbox"] / "radar-0800"
    radar.mkdir()
    for k in range(3):  # the cell moves 0.01 deg (about 1 km) east per 10 minutes
        cx = X0 + 0.5 * STEP + 0.01 * k
        _forecast(radar / f"frame{k}.tif", lambda lo, la, cx=cx: 200.0 * np.exp(
            -((lo - cx) ** 2 + (la - (Y0 + 0.5 * STEP)) ** 2) / 0.005 ** 2), issued=T0, interval_s=600)
    with Session(watch_env["engine"]) as s:
        out = flood_ops.watch_once(s, publish=False)
        s.commit()
        (run,) = out["runs"]
        assert run["status"] == "done", out
        rec = flood_ops.get_run(s, run["run_id"])
    inp = rec["inputs"]
    assert inp["kind"] == "radar" and inp["rain"]["radar_frames"] == 3 and inp["rain"]["nowcast_steps"] == 6
    assert "pysteps" in inp["rain"]["method"] and inp["rain"]["mean_total_mm"] > 0
    assert [f["name"] for f in inp["files"]] == ["frame0.tif", "frame1.tif", "frame2.tif"]
    assert rec["publication"] == "none" and rec["outputs"]["max_depth_m"] > 0
    assert not radar.exists()


def test_nowcast_moves_the_rain_cell_on(tmp_path):
    from flood_model.nowcast import radar_nowcast

    y, x = np.mgrid[0:64, 0:64]
    frames = np.stack([20 * np.exp(-((x - 12 - 3 * k) ** 2 + (y - 32) ** 2) / 30.0) for k in range(3)])
    fc = radar_nowcast(frames, interval_s=300, n_steps=4)
    peaks = [int(np.argmax(f.max(axis=0))) for f in fc.frames_mm_h]
    assert peaks == pytest.approx([21, 24, 27, 30], abs=1)  # 3 cells per step, as observed
    assert list(fc.edges_s) == [0, 300, 600, 900, 1200]
    members = radar_nowcast(frames, interval_s=300, n_steps=2, n_members=3, seed=1)
    assert len(members) == 3 and all(np.isfinite(m.frames_mm_h).all() and m.frames_mm_h.min() >= 0
                                     for m in members)


def test_bad_posted_forecasts_are_refused_with_a_reason(watch_env):
    chan = {"Authorization": f"Bearer {watch_env['tokens']['channel']}"}
    with TestClient(create_server(with_panel=False, background=False)) as client:
        for body, ctype, words in ((b"t,depth\n0,abc\n", "text/csv", "hyetograph CSV"),
                                   (b"\xff\xfe\x00garbage", "text/csv", "NUL"),
                                   (b"\xff\xfegarbage", "text/csv", "hyetograph CSV"),
                                   (b"", "image/tiff", "empty"),
                                   (b"II*\x00garbage", "image/tiff", "GeoTIFF")):
            r = client.post("/api/flood/forecasts", headers={**chan, "Content-Type": ctype}, content=body)
            assert r.status_code in (400, 422) and words in r.json()["message"], (body, r.text)
        ok = client.post("/api/flood/forecasts", headers={**chan, "Content-Type": "text/csv"},
                         params={"interval_s": 300, "issued_at": T0}, content=b"mm\n5\n12\n3\n")
        assert ok.status_code == 202 and ok.json()["inputs"]["kind"] == "hyetograph", ok.text
        assert client.post("/api/flood/forecasts", content=b"mm\n5\n").status_code == 401
        assert client.get("/api/flood/runs/nope").status_code == 401
