"""run_forecast outputs: independent of output times; boundaries, outlets and gauges."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import from_origin

from flood_model import run_forecast
from flood_model.errors import InputError
from flood_model.grid import DemGrid
from flood_model.solver import LocalInertialSolver

CRS = "EPSG:32650"
X0, Y0, DX = 400000.0, 2500000.0, 5.0
NY, NX, SLOPE, N = 30, 4, 0.02, 0.02
RAIN_MM_H, T = 80.0, 900.0


def _plane() -> DemGrid:
    """A plane falling south (row NY-1 lowest), NY x NX cells of DX m."""
    z = np.tile((NY - np.arange(NY) - 0.5)[:, None] * DX * SLOPE, (1, NX)) + 5.0
    return DemGrid(z, from_origin(X0, Y0, DX, DX), CRS)


def _run(**kw):
    kw = {"boundaries": {"south": "open"}, "dtype": np.float64, **kw}
    return run_forecast(_plane(), RAIN_MM_H, duration_s=T, **kw)


def test_output_times_do_not_change_the_run():
    plain = _run(record_interval_s=T)
    busy = _run(record_interval_s=7.0, snapshot_times=[33.3, 100.0, 451.7, T])
    assert plain.info["steps"] == busy.info["steps"]
    assert busy.info["outflow_m3"] == pytest.approx(plain.info["outflow_m3"], rel=1e-12)
    np.testing.assert_allclose(busy.max_depth, plain.max_depth, rtol=1e-6, atol=0)  # float32 products
    assert np.isfinite(busy.snapshots[T]).all()
    # and the same as driving the solver directly with its own step
    s = LocalInertialSolver(_plane().z, dx=DX, manning=0.03, boundaries={"south": "open"})
    out = 0.0
    while s.t < T - 1e-9:
        out += s.step(min(s.stable_dt(), T - s.t), source=RAIN_MM_H / 3.6e6).outflow
    assert plain.info["outflow_m3"] == pytest.approx(out, rel=1e-9)
    np.testing.assert_allclose(busy.snapshots[T], s.h.astype(np.float32), rtol=1e-6, atol=1e-9)


def test_snapshot_is_interpolated_in_time_not_a_forced_step():
    res = _run(record_interval_s=T, snapshot_times=[450.0])
    bal = res.balance
    assert not np.isclose(bal["t_s"], 450.0, atol=1e-9).any()  # no step was shortened to land on it
    i = int(np.searchsorted(bal["t_s"].to_numpy(), 450.0))
    lo, hi = bal["storage_m3"].iloc[i - 1], bal["storage_m3"].iloc[i]
    snap = float(np.nansum(res.snapshots[450.0])) * DX * DX
    assert min(lo, hi) - 1e-6 <= snap <= max(lo, hi) + 1e-6


def test_outlets_give_discharge_series_and_volumes():
    half = np.zeros((NY, NX), bool)
    half[-1, :2] = True  # western half of the south edge
    res = _run(outlets={"all south": "south", "west half": half}, record_interval_s=30.0)
    vol = res.info["outlet_volume_m3"]
    assert vol["all south"] == pytest.approx(res.info["outflow_m3"], rel=1e-12)
    assert vol["west half"] == pytest.approx(vol["all south"] / 2, rel=1e-6)  # symmetric plane
    tab = res.outlets[res.outlets["outlet"] == "all south"]
    q_eq = RAIN_MM_H / 3.6e6 * NY * NX * DX * DX  # i * A [m3/s]
    assert tab["discharge_m3_s"].iloc[-1] == pytest.approx(q_eq, rel=0.02)  # at equilibrium by 900 s
    assert tab["volume_m3"].iloc[-1] == pytest.approx(vol["all south"], rel=1e-12)
    # the series integrates to the volume
    assert float((tab["discharge_m3_s"] * np.diff(tab["t_s"], prepend=0.0)).sum()) == pytest.approx(
        vol["all south"], rel=1e-9)


def test_outlet_mask_opens_a_closed_edge_and_is_the_only_exit():
    gap = np.zeros((NY, NX), bool)
    gap[-1, 1] = True  # a culvert in a closed south wall
    res = _run(boundaries="closed", outlets={"culvert": gap})
    assert res.info["outflow_m3"] > 0.3 * res.info["rain_m3"]
    assert res.info["outlet_volume_m3"]["culvert"] == pytest.approx(res.info["outflow_m3"], rel=1e-12)
    with pytest.raises(InputError, match="no open boundary face"):
        _run(boundaries="closed", outlets={"x": "north"})


def test_boundary_options_reach_the_solver():
    free = _run()
    backed_up = _run(boundary_stage=float(_plane().z[-1, 0]) + 0.05)  # a river 5 cm above the outlet bed
    assert backed_up.info["outflow_m3"] < free.info["outflow_m3"]
    steep = _run(edge_slope=0.2)
    assert steep.info["outflow_m3"] != free.info["outflow_m3"]
    only = np.zeros((NY, NX), bool)
    only[-1, 0] = True
    masked = _run(boundaries="closed", open_mask=only)
    assert 0 < masked.info["outflow_m3"] < free.info["outflow_m3"]


def test_gauges_give_depth_and_discharge_at_points():
    x = X0 + 2.5 * DX
    y_low, y_top = Y0 - (NY - 0.5) * DX, Y0 - 0.5 * DX
    res = _run(gauges={"low": (x, y_low), "top": (x, y_top)}, record_interval_s=60.0, snapshot_times=[T])
    g = res.gauges
    low = g[g["gauge"] == "low"].set_index("t_s")
    top = g[g["gauge"] == "top"].set_index("t_s")
    assert low["depth_m"].iloc[-1] == pytest.approx(float(res.snapshots[T][NY - 1, 2]), rel=1e-5)
    assert low["unit_discharge_m2_s"].iloc[-1] > 5 * top["unit_discharge_m2_s"].iloc[-1] > 0
    assert low.index[0] == 0.0 and low["depth_m"].iloc[0] == 0.0 and low.index[-1] == T
    with pytest.raises(InputError, match="outside the DEM"):
        _run(gauges={"far": (X0 - 100.0, Y0)})
