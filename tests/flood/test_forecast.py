"""End-to-end forecast: inputs, outputs (COG), water balance, warnings, CLI."""

from __future__ import annotations

import argparse

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, box

from flood_model import (
    GeographicCRSError,
    GriddedRainfall,
    Hyetograph,
    SCSCurveNumber,
    design_storm,
    load_dem,
    run_forecast,
)
from flood_model.alerts import DETAIL_COLUMNS
from flood_model.cli import add_parser, main, parse_duration

CRS = "EPSG:32650"
X0, Y0, DX = 400000.0, 2500000.0, 5.0


def _write_dem(path, crs=CRS, n=60):
    y, x = np.mgrid[0:n, 0:n] * DX
    z = 10 + 0.002 * x - 1.2 * np.exp(-((x - 150) ** 2 + (y - 150) ** 2) / (2 * 30.0**2))
    tr = from_origin(X0, Y0, DX, DX) if crs == CRS else from_origin(113.9, 22.6, 5e-5, 5e-5)
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs=crs,
                       transform=tr, nodata=-9999) as dst:
        dst.write(z.astype("float32"), 1)
    return path


@pytest.fixture
def dem(tmp_path):
    return _write_dem(tmp_path / "dem.tif")


def _features():
    cx, cy = X0 + 150, Y0 - 150
    roads = gpd.GeoDataFrame({"id": [1, 2], "name": ["低洼路", "高地路"]},
                             geometry=[LineString([(cx - 60, cy), (cx + 60, cy)]),
                                       LineString([(X0 + 280, Y0 - 10), (X0 + 290, Y0 - 280)])], crs=CRS)
    grids = gpd.GeoDataFrame({"grid_id": ["G1"], "name": ["网格一"]},
                             geometry=[box(cx - 40, cy - 40, cx + 40, cy + 40)], crs=CRS).to_crs("EPSG:4326")
    return roads, grids


def test_geographic_dem_is_refused_or_reprojected(tmp_path):
    p = _write_dem(tmp_path / "geo.tif", crs="EPSG:4326")
    with pytest.raises(GeographicCRSError, match="geographic"):
        load_dem(p)
    g = load_dem(p, crs="utm")
    assert g.crs.to_epsg() == 32649 and g.dx > 4  # 113.9 E is UTM zone 49


def test_forecast_products_balance_and_warnings(dem, tmp_path):
    roads, grids = _features()
    calls = []
    storm = design_storm("huangpu", return_period=50, duration_s=3600)
    res = run_forecast(dem, storm, duration_s=4500, drainage_mm_h=10, infiltration=5.0,
                       snapshot_times=[1800, 3600], roads=roads, grids=grids, boundaries="closed",
                       progress=lambda f, m: calls.append(f), record_interval_s=30)
    assert res.max_depth.shape == (60, 60) and np.nanmax(res.max_depth) > 0.5
    assert np.nanmin(res.max_depth) >= 0
    assert set(res.time_to_threshold) >= {0.15, 0.3, 0.5}
    t15 = res.time_to_threshold[0.15]
    assert np.nanmin(t15) > 0 and np.nanmax(t15) <= 4500
    assert set(res.snapshots) == {1800.0, 3600.0}
    b = res.balance
    assert b["drainage_m3"].iloc[-1] > 0 and b["infiltration_m3"].iloc[-1] > 0
    assert res.relative_balance_error < 1e-4  # float32 state
    assert calls[0] == 0.0 and calls[-1] == 1.0
    w = res.warnings
    assert list(w.columns) == ["kind", "feature_id", "name", "max_depth_m", "first_exceed_s", "level",
                               "level_time_s", *DETAIL_COLUMNS, "geometry"]
    low = w[(w.kind == "road") & (w.feature_id == 1)].iloc[0]
    assert low["level"] == "red" and low["name"] == "低洼路" and low["first_exceed_s"] > 0
    assert low["flooded_length_m"] >= 20 and low["flooded_cells"] >= 2 and low["level_time_s"] >= low["first_exceed_s"]
    assert 2 not in set(w.loc[w.kind == "road", "feature_id"])  # the hillside road stays dry
    assert (w.kind == "grid").sum() == 1
    paths = res.write(tmp_path / "out")
    with rasterio.open(paths["max_depth"]) as src:
        assert src.crs.to_string() == CRS and src.profile["tiled"]
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_allclose(src.read(1), res.max_depth, equal_nan=True)
    assert (tmp_path / "out" / "depth_t1800s.tif").exists()
    assert gpd.read_file(paths["warnings_geojson"]).shape[0] == len(w)


def test_scs_and_gridded_rain(dem):
    g = load_dem(dem)
    frames = np.full((2, *g.shape), 60.0)
    frames[1, :, :30] = 0.0
    rain = GriddedRainfall([0, 900, 1800], frames)
    res = run_forecast(g, rain, duration_s=1800, infiltration=SCSCurveNumber(90), boundaries="closed",
                       dtype=np.float64)
    b = res.balance.iloc[-1]
    expected_rain = (60 * 900 + 30 * 900) / 3.6e6 * g.shape[0] * g.shape[1] * DX * DX  # mm/h*s -> m
    expected_rain = (60 / 3.6e6 * 900 * 3600 + 60 / 3.6e6 * 900 * 1800) * DX * DX
    assert b["rain_m3"] == pytest.approx(expected_rain, rel=1e-9)
    assert 0 < b["infiltration_m3"] < b["rain_m3"]
    assert abs(b["rel_error"]) < 1e-9


def test_constant_intensity_needs_duration(dem):
    from flood_model import RainfallError

    with pytest.raises(RainfallError):
        run_forecast(dem, 30.0)
    res = run_forecast(dem, 30.0, duration_s=120, backend="numpy", dtype=np.float64)
    assert res.info["steps"] > 0


def test_cli_add_parser_and_standalone(dem, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="onemap")
    add_parser(parser.add_subparsers(dest="command"))
    roads, _ = _features()
    roads.to_file(tmp_path / "roads.geojson")
    args = parser.parse_args(["flood", "run", "--dem", str(dem), "--storm", "huangpu", "--return-period", "50",
                              "--duration", "30min", "--after", "10min", "--out", str(tmp_path / "o"),
                              "--roads", str(tmp_path / "roads.geojson"), "--snapshots", "900", "--boundaries",
                              "closed"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "%]" in out and "max depth" in out
    assert (tmp_path / "o" / "max_depth.tif").exists() and (tmp_path / "o" / "warnings.csv").exists()
    assert (tmp_path / "o" / "depth_t900s.tif").exists()
    assert main(["run", "--dem", str(dem), "--storm-params", "8618.173,0.5428,34.767,0.844", "--duration", "10min",
                 "--after", "0", "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    assert main(["run", "--dem", str(tmp_path / "missing.tif"), "--storm", "huangpu", "--out",
                 str(tmp_path / "o3")]) == 2
    assert parse_duration("2h") == 7200 and parse_duration("90min") == 5400


def test_hyetograph_validation():
    from flood_model import RainfallError

    with pytest.raises(RainfallError):
        Hyetograph([0, 60], [1.0, 2.0])
    h = Hyetograph.from_depths([1.0, 2.0], 60.0)
    assert h.total_mm == pytest.approx(3.0)
