"""1D-2D coupling with the real SWMM 5 engine (swmm-toolkit): hand calculations and balances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine

from flood_model import run_forecast
from flood_model.drainage import CouplingParameters, exchange_flow
from flood_model.errors import InputError, NetworkError
from flood_model.grid import DemGrid
from flood_model.network import Conduit, Junction, Outfall, PipeNetwork, read_inp

DX = 10.0


def _grid(z: np.ndarray) -> DemGrid:
    return DemGrid(z, Affine(DX, 0, 0, 0, -DX, z.shape[0] * DX), "EPSG:32650")


def _centre(row: int, col: int, ny: int) -> tuple[float, float]:
    return (col + 0.5) * DX, (ny - row - 0.5) * DX


def _one_cell_pond():
    """2x2 DEM at 10 m, three cells are buildings: one 100 m2 cell holds the pond."""
    z = np.full((2, 2), 10.0)
    obst = np.array([[False, True], [True, True]])
    grid = _grid(z)
    jx, jy = _centre(0, 0, 2)
    ox, oy = _centre(1, 1, 2)
    net = PipeNetwork([Junction("MH1", jx, jy, invert=8.0, rim=10.0)], [Outfall("OUT", ox, oy, invert=7.5)],
                      [Conduit("P1", "MH1", "OUT", roughness=0.013, geom1=0.6, length=20.0)])
    return grid, obst, net


def _buildings(obst: np.ndarray):
    import geopandas as gpd
    from shapely.geometry import box

    ny = obst.shape[0]
    rows, cols = np.nonzero(obst)
    polys = [box(c * DX, (ny - r - 1) * DX, (c + 1) * DX, (ny - r) * DX) for r, c in zip(rows, cols, strict=True)]
    return gpd.GeoDataFrame(geometry=polys, crs="EPSG:32650")


def test_single_pipe_drains_a_ponded_cell_like_the_free_weir_hand_calculation():
    """Free weir into an empty manhole: dh/dt = -k h^1.5 / A, k = 2/3 C_w W sqrt(2g), W = 2 sqrt(pi a).

    Solution h(t) = (h0^-1/2 + k t / (2 A))^-2. The coupling exchanges every 1 s (the routing step)
    with the heads at the start of the exchange: that is explicit Euler on the same equation, which it
    matches to 1e-9; Euler's own error against the exact solution stays below 1.5 % here.
    """
    grid, obst, net = _one_cell_pond()
    p = CouplingParameters(routing_step_s=1.0, relaxation=1.0)  # the bare weir equation
    h0, area, T = 0.10, DX * DX, 300.0
    res = run_forecast(grid, 0.0, duration_s=T, network=net, coupling=p, buildings=_buildings(obst),
                       boundaries="closed", initial_depth=np.where(obst, 0.0, h0), dt_max=1.0, dtype=np.float64,
                       gauges={"pond": _centre(0, 0, 2)}, record_interval_s=10.0)
    k = 2 / 3 * p.free_weir_coeff * 2 * math.sqrt(math.pi * p.manhole_area_m2) * math.sqrt(2 * 9.81)
    first = res.balance.iloc[0]
    assert first["to_network_m3"] == pytest.approx(k * h0 ** 1.5 * 1.0, rel=1e-9)
    g = res.gauges[res.gauges.gauge == "pond"]
    euler, hs = h0, {}
    for step in range(1, int(T) + 1):
        euler -= k * euler ** 1.5 * 1.0 / area
        hs[float(step)] = euler
    for t, h in zip(g.t_s, g.depth_m, strict=True):
        if t in (60.0, 150.0, 300.0):
            assert h == pytest.approx(hs[t], rel=1e-9), t
            assert h == pytest.approx((h0 ** -0.5 + k * t / (2 * area)) ** -2, rel=0.015), t
    # the pipe stayed free (head below the ground) and the water went out of the outfall
    d = res.info["drainage"]
    assert res.drainage_nodes.max_surcharge_m.iloc[0] == 0.0
    assert d["to_network_m3"] == pytest.approx(area * (h0 - g.depth_m.iloc[-1]), rel=1e-9)
    assert d["outfall_m3"] + d["network_storage_m3"] == pytest.approx(d["to_network_m3"], rel=0.02)
    assert abs(d["surface_rel_error"]) < 1e-12


def test_surcharging_manhole_returns_water_to_the_surface():
    """A river outfall at 11 m backs up through a pipe into a manhole whose ground is at 10 m:
    the manhole pressurises and water comes out onto a dry street (no rain)."""
    z = np.full((3, 3), 10.0)
    z[:, 2] = 12.0  # the outfall's bank
    grid = _grid(z)
    jx, jy = _centre(1, 0, 3)
    ox, oy = _centre(1, 2, 3)
    net = PipeNetwork([Junction("MH1", jx, jy, invert=8.0, rim=10.0)],
                      [Outfall("RIVER", ox, oy, invert=8.0, stage=11.0)],
                      [Conduit("P1", "MH1", "RIVER", roughness=0.013, geom1=0.5, length=20.0)])
    res = run_forecast(grid, 0.0, duration_s=600.0, network=net, boundaries="closed", dtype=np.float64)
    d = res.info["drainage"]
    nodes = res.drainage_nodes
    assert nodes.max_head_m.iloc[0] > 10.5  # pressurised above the ground
    assert d["from_network_m3"] > 10.0 and nodes.returned_m3.iloc[0] > 10.0
    assert d["outfall_m3"] < 0  # the river flowed in
    assert np.nanmax(res.max_depth[:, :2]) > 0.1
    assert d["surcharged_manholes"] == 1
    assert abs(d["surface_rel_error"]) < 1e-9


def test_exchange_regimes_follow_the_relative_heads():
    p = CouplingParameters()
    crest = np.full(4, 10.0)
    wse = np.array([10.05, 10.05, 10.5, 10.0])
    head = np.array([9.0, 10.02, 10.2, 10.8])
    q = exchange_flow(wse, crest, head, p)
    w = 2 * math.sqrt(math.pi)
    s2g = math.sqrt(2 * 9.81)
    assert q[0] == pytest.approx(2 / 3 * 0.54 * w * s2g * 0.05 ** 1.5)       # free weir
    assert q[1] == pytest.approx(0.056 * w * 0.05 * s2g * math.sqrt(0.05))  # submerged weir
    assert q[2] == pytest.approx(0.167 * 1.0 * s2g * math.sqrt(0.3))        # orifice, deep water
    assert q[3] == pytest.approx(-0.167 * s2g * math.sqrt(0.8))             # surcharge: out of the manhole


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s.replace("P2 MH2 OUT", "P2 MH9 OUT"), "conduit P2: dangling, node MH9 does not exist"),
    (lambda s: s.replace("P1 CIRCULAR 0.6", "P1 CIRCULAR -0.6"), "conduit P1: size (geom1) must be positive"),
    (lambda s: s.replace("MH2 500.000 15.000", "MH2 900.000 15.000"), "junction MH2: at (900.0, 15.0) outside the DEM"),
    (lambda s: s.replace("P1 MH1 MH2 40.000 0.01300", "P1 MH1 MH2 40.000 -0.013"),
     "conduit P1: Manning n must be in (0, 1)"),
    (lambda s: s.replace("FLOW_UNITS CMS", "FLOW_UNITS CFS"), "US unit system"),
])
def test_bad_inp_is_refused_naming_the_element(tmp_path, edit, message):
    z = np.full((3, 60), 10.0)
    grid = _grid(z)
    good = PipeNetwork(
        [Junction("MH1", 15.0, 15.0, 8.0, 10.0), Junction("MH2", 500.0, 15.0, 7.8, 10.0)],
        [Outfall("OUT", 590.0, 15.0, 7.0)],
        [Conduit("P1", "MH1", "MH2", 0.013, 0.6, length=40.0), Conduit("P2", "MH2", "OUT", 0.013, 0.6, length=90.0)])
    path = good.to_inp(tmp_path / "good.inp", duration_s=60)
    assert read_inp(path, grid=grid).conduits[0].geom1 == pytest.approx(0.6)
    bad = tmp_path / "bad.inp"
    bad.write_text(edit(path.read_text()))
    with pytest.raises(NetworkError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_inp(bad, grid=grid)


def test_network_and_uniform_drainage_are_exclusive():
    grid, _obst, net = _one_cell_pond()
    with pytest.raises(InputError, match="either a pipe network or a uniform"):
        run_forecast(grid, 10.0, duration_s=10, network=net, drainage_mm_h=20)


def test_demo_storm_combined_balance_and_surcharge():
    """The demo district's network under the planner's storm (Huangpu 20-year, 60 min) at 60 m cells.

    The surface with the exchange is exact to float32 rounding (< 1e-6 of the water moved); the
    network side is SWMM's own dynamic-wave continuity (Preissmann slot), about 0.1 % here.
    """
    import rasterio

    from data import _dem, _geometry
    from data.drainage import demo_network
    from data.load import dem_path
    from flood_model import design_storm, load_dem

    lay = _geometry.layout(np.random.default_rng(42))
    with rasterio.open(dem_path()) as src:
        net = demo_network(lay, _dem.Dem(src.read(1), src.transform))
    grid = load_dem(dem_path(), resolution=60)
    res = run_forecast(grid, design_storm("huangpu", return_period=20, duration_s=3600), duration_s=3600,
                       network=net)
    d = res.info["drainage"]
    assert d["manholes"] == len(net.junctions) > 500
    assert abs(d["surface_rel_error"]) < 1e-6
    assert abs(d["network_rel_error"]) < 5e-3 and abs(d["combined_rel_error"]) < 5e-3
    assert d["surcharged_manholes"] > 20 and d["from_network_m3"] > 1000  # the 3-year sewers surcharge
    assert d["outfall_m3"] > 0.3 * d["to_network_m3"]
