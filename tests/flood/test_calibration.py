"""Skill scores and calibration: synthetic observations made by the model itself are fitted back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from affine import Affine

from flood_model import Hyetograph, run_forecast
from flood_model.calibration import calibrate, skill
from flood_model.errors import InputError
from flood_model.grid import DemGrid

DX = 20.0


def _case():
    """A 12x12 slope (0.5 %) at 20 m draining into a 0.6 m basin in the south-west, closed edges."""
    ny = nx = 12
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 10.0 + 0.005 * DX * (xx + (ny - 1 - yy))
    z -= 0.6 * np.exp(-(((xx - 2) ** 2 + (yy - 9) ** 2) / 4.0))
    grid = DemGrid(z, Affine(DX, 0, 0, 0, -DX, ny * DX), "EPSG:32650")
    rain = Hyetograph(np.arange(0, 1201, 300.0), [30.0, 90.0, 50.0, 20.0], label="event")
    gauges = {"WL-basin": (2.5 * DX, (ny - 9.5) * DX), "WL-mid": (6.5 * DX, (ny - 6.5) * DX),
              "WL-low": (3.5 * DX, (ny - 10.5) * DX)}
    kw = dict(dem=grid, duration_s=2400.0, gauges=gauges, boundaries="closed", record_interval_s=60.0,
              dtype=np.float64)
    return rain, kw


def test_skill_scores_a_perfect_and_a_shifted_series():
    t = np.arange(0, 600, 60.0)
    obs = pd.DataFrame({"t_s": t, "gauge": "A", "depth_m": np.sin(t / 600 * np.pi)})
    same = skill(obs, obs).iloc[0]
    assert same.nse == pytest.approx(1.0) and same.mae_m == 0 and same.peak_timing_error_s == 0
    late = obs.assign(t_s=obs.t_s + 120)
    s = skill(late, obs).iloc[0]
    assert s.peak_timing_error_s == 120 and s.nse < 0.9 and s.mae_m > 0
    with pytest.raises(InputError, match="need columns"):
        skill(obs.rename(columns={"depth_m": "level"}), obs)


def test_calibration_recovers_known_parameters_from_synthetic_observations():
    """Truth rain x1.3, n 0.05, sewer 15 mm/h; start 1.0 / 0.03 / 40 mm/h. Tolerances: rain 1 %,
    sewer 0.5 mm/h, Manning 2 %, NSE at the optimum > 0.9999, at most 40 runs (measured: exact to
    1e-6 in 32 runs)."""
    rain, kw = _case()
    truth = {"rain_factor": 1.3, "manning": 0.05, "drainage_mm_h": 15.0}
    obs_run = run_forecast(kw["dem"], Hyetograph(rain.edges_s, rain.intensity_mm_h * 1.3),
                           **{k: v for k, v in kw.items() if k != "dem"}, manning=0.05, drainage_mm_h=15.0)
    obs = obs_run.gauges[["t_s", "gauge", "depth_m"]]
    assert obs.groupby("gauge").depth_m.max().min() > 0.005  # every gauge gets wet
    res = calibrate(rain, obs, parameters={"rain_factor": (0.5, 2.0), "manning": (0.01, 0.1),
                                           "drainage_mm_h": (0.0, 60.0)},
                    x0={"rain_factor": 1.0, "manning": 0.03, "drainage_mm_h": 40.0}, forecast_kwargs=kw,
                    max_evaluations=30)
    p = res.parameters
    assert p["rain_factor"] == pytest.approx(truth["rain_factor"], rel=0.01)
    assert p["drainage_mm_h"] == pytest.approx(truth["drainage_mm_h"], abs=0.5)
    assert p["manning"] == pytest.approx(truth["manning"], rel=0.02)
    assert (res.skill.nse > 0.9999).all() and res.evaluations <= 40


def test_calibration_recovers_pipe_roughness_with_a_network():
    """A ponded cell drains through a long 0.2 m pipe (pipe-controlled, not weir-controlled): its depth
    series made with pipe n x 1.6 is fitted back from x 1.0 within 3 %."""
    from flood_model.network import PipeNetwork
    from tests.flood.test_drainage import _buildings, _centre, _one_cell_pond

    grid, obst, net = _one_cell_pond()
    net = PipeNetwork(net.junctions, net.outfalls, [
        type(net.conduits[0])("P1", "MH1", "OUT", roughness=0.013, geom1=0.2, length=300.0)])
    kw = dict(dem=grid, duration_s=600.0, network=net, buildings=_buildings(obst), boundaries="closed",
              initial_depth=np.where(obst, 0.0, 0.5), gauges={"pond": _centre(0, 0, 2)}, record_interval_s=30.0,
              dtype=np.float64)
    no_rain = Hyetograph([0.0, 600.0], [0.0], label="dry")
    from flood_model.calibration import apply_parameters

    rain, truth_kw = apply_parameters(kw, no_rain, {"roughness_factor": 1.6})
    obs = run_forecast(truth_kw.pop("dem"), rain, **truth_kw).gauges
    assert obs.depth_m.iloc[-1] < 0.45  # it drains, slowly: the pipe limits it
    res = calibrate(no_rain, obs, parameters={"roughness_factor": (0.5, 3.0)}, x0={"roughness_factor": 1.0},
                    forecast_kwargs=kw, max_evaluations=15)
    assert res.parameters["roughness_factor"] == pytest.approx(1.6, rel=0.03)
