"""Warnings rule: a road / grid warns only when enough of it floods, not for one deep cell."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import LineString, box

import flood_model
from flood_model import InputError, build_warnings
from flood_model.grid import DemGrid

EPSG = "EPSG:32650"
X0, Y0, DX, N = 400000.0, 2500000.0, 10.0, 30
LEVELS = {"yellow": 0.15, "orange": 0.30, "red": 0.50}


@pytest.fixture
def grid():
    return DemGrid(np.zeros((N, N)), from_origin(X0, Y0, DX, DX), CRS.from_string(EPSG))


def _times(depth, t_by_cell=None):
    """Per-threshold first exceedance times: t_by_cell where depth >= threshold, else NaN."""
    t = np.full(depth.shape, 600.0) if t_by_cell is None else t_by_cell
    return {thr: np.where(depth >= thr, t, np.nan).astype(np.float32) for thr in LEVELS.values()}


def _road(row, c0=0, c1=N):
    """East-west road through the centres of ``row``, from column c0 to c1 (cell edges)."""
    y = Y0 - (row + 0.5) * DX
    return LineString([(X0 + c0 * DX, y), (X0 + c1 * DX, y)])


def _roads(*geoms):
    return gpd.GeoDataFrame({"id": list(range(1, len(geoms) + 1)), "name": [f"r{i}" for i in range(len(geoms))]},
                            geometry=list(geoms), crs=EPSG)


def test_single_pit_road_is_not_warned_long_stretch_is(grid):
    depth = np.full((N, N), 0.05, np.float32)
    depth[5, 12] = 1.2  # a one-cell pit on road 1 (row 5)
    depth[15, 4:10] = 0.35  # a 60 m stretch of road 2 (row 15) at 0.35 m ...
    depth[15, 20] = 0.9  # ... and a one-cell pit further along
    w = build_warnings(grid, depth, _times(depth), roads=_roads(_road(5), _road(15)), levels=LEVELS)
    assert list(w["feature_id"]) == [2]
    r = w.iloc[0]
    # orange, not red: only one cell (10 m) is >= 0.5 m; 70 m are >= 0.30 m
    assert r["level"] == "orange" and r["max_depth_m"] == pytest.approx(0.9)
    assert r["sustained_depth_m"] == pytest.approx(0.35)
    assert r["flooded_length_m"] == pytest.approx(70.0) and r["flooded_cells"] == 7
    assert r["feature_length_m"] == pytest.approx(300.0) and np.isnan(r["flooded_area_m2"])
    assert r["depth_p90_m"] == pytest.approx(0.35)  # >= 10 % of the road (30 m) is 0.35 m deep
    # the previous rule (max over any touched cell) warned both, road 1 red
    old = build_warnings(grid, depth, _times(depth), roads=_roads(_road(5), _road(15)), levels=LEVELS,
                         min_length_m=0.0, min_cells=1)
    assert dict(zip(old["feature_id"], old["level"], strict=True)) == {1: "red", 2: "red"}


def test_road_level_needs_min_length_over_two_cells(grid):
    depth = np.zeros((N, N), np.float32)
    depth[8, 3:5] = 0.6  # 20 m at 0.6 m: exactly the minimum
    depth[12, 3] = 0.6  # 10 m only
    w = build_warnings(grid, depth, _times(depth), roads=_roads(_road(8), _road(12)), levels=LEVELS)
    assert list(w["feature_id"]) == [1] and w.iloc[0]["level"] == "red"
    w = build_warnings(grid, depth, _times(depth), roads=_roads(_road(8), _road(12)), levels=LEVELS,
                       min_length_m=25.0)
    assert len(w) == 0
    # a short road entirely inside one deep cell is a pit, whatever its length
    short = LineString([(X0 + 30.5, Y0 - 125), (X0 + 39.5, Y0 - 125)])
    assert len(build_warnings(grid, depth, _times(depth), roads=_roads(short), levels=LEVELS)) == 0


def test_first_exceed_is_when_the_criterion_is_met(grid):
    depth = np.zeros((N, N), np.float32)
    depth[10, 5:10] = 0.4  # orange from 5 cells, flooding one after the other
    depth[10, 7:9] = 0.7  # the middle two also red
    t = np.full((N, N), np.nan, np.float32)
    t[10, 5:10] = [100, 200, 300, 400, 500]
    times = {0.15: np.where(depth >= 0.15, t, np.nan), 0.30: np.where(depth >= 0.30, t, np.nan),
             0.50: np.where(depth >= 0.50, t + 1000, np.nan)}
    w = build_warnings(grid, depth, times, roads=_roads(_road(10)), levels=LEVELS)
    r = w.iloc[0]
    assert r["level"] == "red" and r["flooded_length_m"] == pytest.approx(20.0)
    # yellow criterion (20 m over 2 cells) met when the second cell flooded; red when both red cells were
    assert r["first_exceed_s"] == 200.0 and r["level_time_s"] == 1400.0


def test_single_pit_grid_is_not_warned_flooded_area_is(grid):
    depth = np.zeros((N, N), np.float32)
    depth[2, 2] = 2.0  # a pit in grid A (rows/cols 0-9)
    depth[12:15, 12:15] = 0.6  # 900 m2 in grid B (rows/cols 10-19)
    depth[22:24, 22] = 0.4  # 200 m2 in grid C (rows/cols 20-29)
    cells = [(0, 0), (10, 10), (20, 20)]
    polys = [box(X0 + c * DX, Y0 - (r + 10) * DX, X0 + (c + 10) * DX, Y0 - r * DX) for r, c in cells]
    grids = gpd.GeoDataFrame({"grid_id": ["A", "B", "C"]}, geometry=polys, crs=EPSG).to_crs("EPSG:4326")
    w = build_warnings(grid, depth, _times(depth), grids=grids, levels=LEVELS)
    assert list(w["feature_id"]) == ["B"]
    r = w.iloc[0]
    assert r["kind"] == "grid" and r["level"] == "red" and r["flooded_cells"] == 9
    assert r["flooded_area_m2"] == pytest.approx(900.0) and r["feature_area_m2"] == pytest.approx(10000.0, rel=1e-3)
    assert np.isnan(r["flooded_length_m"]) and r["name"] is None
    # a fraction of the grid: 9 % < 10 % -> B is not warned any more
    w = build_warnings(grid, depth, _times(depth), grids=grids, levels=LEVELS, min_area_fraction=0.1)
    assert len(w) == 0
    w = build_warnings(grid, depth, _times(depth), grids=grids, levels=LEVELS, min_area_m2=None,
                       min_area_fraction=0.02)
    assert set(w["feature_id"]) == {"B", "C"} and w.set_index("feature_id").loc["C", "level"] == "orange"
    with pytest.raises(InputError):
        build_warnings(grid, depth, _times(depth), grids=grids, min_area_m2=None)


def test_run_forecast_passes_the_warning_rule(grid):
    y, x = np.mgrid[0:N, 0:N] * DX
    z = 10 - 1.0 * np.exp(-((x - 150) ** 2 + (y - 150) ** 2) / (2 * 40.0**2))
    g = DemGrid(z, grid.transform, grid.crs)
    roads = _roads(_road(15))
    kw = dict(duration_s=1800, boundaries="closed", roads=roads, record_interval_s=60)
    res = flood_model.run_forecast(g, 200.0, **kw)
    assert list(res.warnings["feature_id"]) == [1] and res.warnings.iloc[0]["flooded_length_m"] > 20
    assert res.info["warning_rule"]["min_length_m"] == 20.0
    res = flood_model.run_forecast(g, 200.0, warn_min_length_m=1e4, **kw)
    assert len(res.warnings) == 0


def test_warmup_compiles_the_kernels():
    from flood_model import _kernels as K

    out = flood_model.warmup()
    assert set(out) == {"float32"} and out["float32"] >= 0
    # the solver's step is one fused kernel (flux + depth); the separate ones only run with solver.fused = False
    for k in (K.step_kernel, K.fixup_negative, K.boundary_kernel):
        assert any(str(sig[0].dtype) == "float32" for sig in k.signatures)
