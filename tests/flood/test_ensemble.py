"""Ensembles on a real Dask cluster: a scheduler and two workers as separate processes on loopback (issue 15)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import box

from flood_model.ensemble import perturb_rainfall, run_ensemble
from flood_model.forecast import run_forecast
from flood_model.grid import DemGrid
from flood_model.rainfall import Hyetograph

REPO = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster():
    """``dask scheduler`` and two ``dask worker`` processes (one thread each) on loopback."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    addr = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for _ in range(2):
        procs.append(subprocess.Popen([str(DASK), "worker", addr, "--nthreads", "1", "--nworkers", "1",
                                       "--host", "127.0.0.1", "--no-dashboard"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    from distributed import Client

    try:
        client = Client(addr, timeout="30s")
        client.wait_for_workers(2, timeout=60)
        yield addr, client
        client.close()
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def _bowl_grid() -> DemGrid:
    """40 x 40 cells of 10 m, a plane with a bowl (EPSG:32650)."""
    y, x = np.mgrid[0:40, 0:40]
    z = 5.0 - 0.002 * x * 10 - 1.0 * np.exp(-((x - 20) ** 2 + (y - 20) ** 2) / 40.0)
    return DemGrid(z.astype(float), from_origin(400000, 2500400, 10, 10), CRS.from_epsg(32650))


def test_members_run_on_two_worker_processes_and_give_probability_maps(dask_cluster):
    addr, _client = dask_cluster
    grid = _bowl_grid()
    rain = Hyetograph([0, 600, 1200], [60.0, 120.0], label="test storm")
    members = perturb_rainfall(rain, 4, sigma_member=0.5, seed=3)
    assert perturb_rainfall(rain, 4, sigma_member=0.5, seed=3)[2].intensity_mm_h.tolist() == \
        members[2].intensity_mm_h.tolist()
    grids = gpd.GeoDataFrame({"id": [1, 2], "name": ["bowl", "corner"]},
                             geometry=[box(400150, 2500150, 400250, 2500250), box(400000, 2500300, 400060, 2500400)],
                             crs="EPSG:32650")
    kw = {"duration_s": 1800.0, "boundaries": "open"}
    res = run_ensemble(grid, members, scheduler=addr, grids=grids, **kw)
    assert res.members == 4 and len(res.info["workers"]) == 2, res.info  # both worker processes ran members
    assert all(w.startswith("tcp://127.0.0.1:") for w in res.info["workers"])
    p15, p30 = res.probability[0.15], res.probability[0.30]
    assert np.nanmax(p15) == 1.0 and np.all(p30[np.isfinite(p30)] <= p15[np.isfinite(p15)])
    # the same members run one after another give the same maps
    seq = np.stack([run_forecast(grid, m, **kw).max_depth for m in members])
    assert np.array_equal(p15, (seq >= 0.15).mean(axis=0)) and np.array_equal(p30, (seq >= 0.30).mean(axis=0))
    w = res.warnings.set_index("name")
    assert "bowl" in w.index and w.loc["bowl", "p_yellow"] > 0
    assert "chance of yellow (>= 0.15 m) or worse" in w.loc["bowl", "text"]
