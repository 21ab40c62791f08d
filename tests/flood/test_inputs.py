"""Strict input checks: rainfall values, terrain voids and sentinels, DEM CRS assignment."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from flood_model import GriddedRainfall, Hyetograph, load_dem, run_forecast
from flood_model.errors import InputError, RainfallError
from flood_model.grid import DemGrid

CRS = "EPSG:32650"
TR = from_origin(400000.0, 2500000.0, 5.0, 5.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_hyetograph_refuses_nan_infinite_negative(bad):
    with pytest.raises(RainfallError, match=r"NaN or infinite|negative"):
        Hyetograph([0.0, 60.0, 120.0], [10.0, bad])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_constant_rain_refuses_nan_and_inf(bad):
    grid = DemGrid(np.zeros((4, 4)), TR, CRS)
    with pytest.raises(RainfallError):
        run_forecast(grid, bad, duration_s=60.0)


@pytest.mark.parametrize("bad", [np.nan, -5.0])
def test_gridded_rain_refuses_nan_and_negative(bad):
    frames = np.full((2, 4, 4), 20.0)
    frames[1, 2, 2] = bad
    with pytest.raises(RainfallError, match="gridded rain"):
        GriddedRainfall([0.0, 60.0, 120.0], frames)


def _box_with_hole(nodata_value=np.nan) -> np.ndarray:
    y, x = np.mgrid[0:20, 0:20]
    z = 10.0 + 0.01 * x + 0.02 * y
    z[8:12, 8:12] = nodata_value  # an interior void (e.g. a lake masked out of a lidar DEM)
    return z


def test_interior_nodata_hole_is_a_wall_by_default():
    grid = DemGrid(_box_with_hole(), TR, CRS)
    res = run_forecast(grid, 50.0, duration_s=600.0, boundaries="closed", dtype=np.float64)
    assert res.info["outflow_m3"] == 0.0
    assert res.relative_balance_error < 1e-9
    assert abs(res.info["final_storage_m3"] - res.info["rain_m3"]) < 1e-9 * res.info["rain_m3"]


def test_nodata_frame_follows_the_open_edges():
    z = np.full((24, 24), np.nan)
    z[3:21, 3:21] = 10.0 + 0.05 * np.arange(18)[:, None]  # clipped DEM, draining north into the frame
    grid = DemGrid(z, TR, CRS)
    opened = run_forecast(grid, 50.0, duration_s=600.0, dtype=np.float64)  # open edges: the frame drains
    closed = run_forecast(grid, 50.0, duration_s=600.0, boundaries="closed", dtype=np.float64)
    assert opened.info["outflow_m3"] > 0.2 * opened.info["rain_m3"]
    assert closed.info["outflow_m3"] == 0.0
    drained = run_forecast(DemGrid(_box_with_hole(), TR, CRS), 50.0, duration_s=600.0, boundaries="closed",
                           open_nodata=True, dtype=np.float64)  # asked for: voids drain
    assert drained.info["outflow_m3"] > 0


def _write(path, z, crs=CRS, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
                       dtype="float32", crs=crs, transform=TR, nodata=nodata) as dst:
        dst.write(z.astype("float32"), 1)
    return path


@pytest.mark.parametrize("sentinel", [-9999.0, -32768.0, 9999.0])
def test_untagged_void_sentinels_are_refused_unless_declared(tmp_path, sentinel):
    path = _write(tmp_path / "dem.tif", _box_with_hole(sentinel))
    with pytest.raises(InputError, match="nodata"):
        load_dem(path)
    with pytest.raises(InputError, match="implausible"):
        DemGrid(_box_with_hole(sentinel), TR, CRS)
    grid = load_dem(path, nodata=sentinel)
    assert np.isnan(grid.z[8:12, 8:12]).all() and np.isfinite(grid.z).sum() == 400 - 16


def test_load_dem_assigns_a_crs_to_a_raster_without_one(tmp_path):
    path = _write(tmp_path / "nocrs.tif", _box_with_hole(0.0), crs=None)
    with pytest.raises(InputError, match="no CRS"):
        load_dem(path)
    grid = load_dem(path, crs=CRS)
    assert grid.crs.to_epsg() == 32650 and grid.transform == TR and grid.shape == (20, 20)
