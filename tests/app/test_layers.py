"""Unit tests of the pure layer builders (no database, no browser)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from PIL import Image
from shapely.geometry import Point, box

from layers import LayerError, deck_spec, view_for_bounds
from layers._common import ramp_colors, to_wgs84
from layers.basemap import basemap_layer
from layers.buildings import buildings_3d
from layers.cameras import camera_points, view_cones
from layers.density import bin_columns, heatmap, hexagon_density
from layers.grids import boundaries, grid_choropleth, outlines
from layers.legend import depth_legend_html, ramp_legend_html, status_legend_html
from layers.raster import bitmap_layer, corner_bounds, depth_rgba, to_png
from layers.sensors import ALARM_COLORS, sensor_points
from layers.tickets import STATUS_COLORS, ticket_points
from layers.workers import AGING_COLOR, FRESH_COLOR, STALE_COLOR, candidate_links, worker_points

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def grids_utm() -> gpd.GeoDataFrame:
    """Two 1 km squares in EPSG:32649 near Guangzhou."""
    return gpd.GeoDataFrame({"id": [1, 2], "code": ["G1", "G2"], "name": ["a", "b"], "open": [0.0, 10.0]},
                            geometry=[box(750_000, 2_560_000, 751_000, 2_561_000),
                                      box(751_000, 2_560_000, 752_000, 2_561_000)], crs="EPSG:32649")


def points(count: int, crs="EPSG:4326", **cols) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(1)
    geom = [Point(113.4 + x, 23.1 + y) for x, y in rng.random((count, 2)) * 0.05]
    return gpd.GeoDataFrame(cols, geometry=geom, crs=crs)


def test_layers_import_neither_spatial_nor_panel():
    code = ("import sys, layers.grids, layers.tickets, layers.density, layers.cameras, layers.sensors, "
            "layers.workers, layers.buildings, layers.raster, layers.legend, layers.basemap; "
            "bad=[m for m in sys.modules if m.split('.')[0] in ('spatial','panel','bokeh')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_basemap_layer_styles_every_tile_layer():
    spec = basemap_layer("/t/{z}/{x}/{y}.mvt", worker_url="/t/w.js", extruded=True)
    assert spec["@@type"] == "MVTLayer" and spec["data"] == "/t/{z}/{x}/{y}.mvt" and spec["extruded"] is True
    assert spec["loadOptions"] == {"mvt": {"workerUrl": "/t/w.js"}} and spec["pickable"] is False
    fill, line = spec["getFillColor"], spec["getLineColor"]
    assert fill.startswith("@@=") and line.startswith("@@=")
    for name in ("water", "landuse", "buildings", "pois"):
        assert f"properties.layerName == '{name}'" in fill
    for name in ("roads", "admin"):
        assert f"properties.layerName == '{name}'" in line and f"properties.layerName == '{name}'" in spec[
            "getLineWidth"]
    assert fill.count("(") == fill.count(")") and "'park'" in fill


def test_grid_choropleth_reprojects_and_colours():
    spec = grid_choropleth(grids_utm(), value="open", extruded=True, max_height_m=1000)
    assert spec["@@type"] == "GeoJsonLayer" and spec["extruded"] is True
    feats = spec["data"]["features"]
    x, y = feats[0]["geometry"]["coordinates"][0][0]
    assert 113 < x < 114 and 23 < y < 24, "reprojected to lon/lat"
    assert feats[0]["properties"]["elev"] == 0 and feats[1]["properties"]["elev"] == 1000
    # low value -> light end of YlOrRd, high value -> dark end
    assert feats[0]["properties"]["fill"][:3] == [255, 255, 204]
    assert feats[1]["properties"]["fill"][:3] == [128, 0, 38]
    assert feats[1]["properties"]["name"] == "b"


def test_grid_choropleth_refusals():
    g = grids_utm()
    with pytest.raises(LayerError, match="more than this layer draws"):
        grid_choropleth(g, value="open", max_features=1)
    with pytest.raises(LayerError, match="no CRS"):
        grid_choropleth(g.set_crs(None, allow_override=True), value="open")
    with pytest.raises(LayerError, match="missing column"):
        grid_choropleth(g, value="nope")
    with pytest.raises(LayerError, match="polygon"):
        grid_choropleth(points(2, open=[1, 2]), value="open")


def test_boundaries_outline_only():
    spec = boundaries(grids_utm(), layer_id="streets")
    assert spec["filled"] is False and spec["stroked"] is True
    assert len(spec["data"]["features"]) == 2


def test_outlines_one_line_layer_shared_edges_once():
    two = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    big = gpd.GeoDataFrame({"id": [9]}, geometry=[box(0, 0, 2, 1)], crs="EPSG:4326")
    spec = outlines([(two, (170, 170, 170, 160), 1), (big, (30, 30, 30), 2)], layer_id="b")
    assert spec["@@type"] == "LineLayer" and spec["pickable"] is False
    df = spec["data"]
    first = df[df["w"] == 1]
    # 7 unit edges of two adjacent squares: the shared one (x = 1) once
    seg_len = np.hypot(first["x1"] - first["x0"], first["y1"] - first["y0"]).sum()
    assert seg_len == pytest.approx(7.0)
    assert ((first["x0"] == 1) & (first["x1"] == 1)).sum() == 1
    last = df[df["w"] == 2]
    assert np.hypot(last["x1"] - last["x0"], last["y1"] - last["y0"]).sum() == pytest.approx(6.0)
    assert tuple(last.iloc[0][["r", "g", "b", "a"]]) == (30, 30, 30, 255)
    assert df.index[df["w"] == 1].max() < df.index[df["w"] == 2].min()  # drawn in the order given
    assert "_b" in df.columns
    with pytest.raises(LayerError):
        outlines([(gpd.GeoDataFrame({"id": [1]}, geometry=[box(0, 0, 1, 1)]), (0, 0, 0), 1)])


def test_ramp_colors_nan_and_clip():
    rgb = ramp_colors([np.nan, -5, 0, 10, 50], vmin=0, vmax=10, ramp="Blues")
    assert tuple(rgb[0]) == (200, 200, 200)
    assert tuple(rgb[1]) == tuple(rgb[2]) == (222, 235, 247)
    assert tuple(rgb[3]) == tuple(rgb[4]) == (8, 48, 107)
    with pytest.raises(LayerError):
        ramp_colors([1], ramp="nope")


def test_ticket_points_status_colours_and_reprojection():
    g = points(3, id=[5, 6, 7], status=["reported", "closed", "weird"], overdue=[True, False, None])
    g = g.to_crs("EPSG:32649")
    spec = ticket_points(g, highlight_id=6)
    df = spec["data"]
    assert list(df["id"]) == [5, 6, 7]
    assert df["lon"].min() >= 113.4 and df["lat"].max() <= 23.15 + 1e-9
    assert tuple(df.loc[0, ["r", "g", "b"]]) == STATUS_COLORS["reported"]
    assert tuple(df.loc[1, ["r", "g", "b"]]) == STATUS_COLORS["closed"]
    assert tuple(df.loc[2, ["r", "g", "b"]]) == (128, 128, 128)
    assert df["size"][1] > df["size"][0]
    assert list(df["od"]) == [1, 0, 0]
    assert "_tickets" in df.columns, "unique column set per layer"
    assert spec["getPosition"].startswith("@@=")
    with pytest.raises(LayerError, match="more than"):
        ticket_points(g, max_features=2)


def test_density_layers():
    g = points(50)
    assert hexagon_density(g, radius_m=100)["@@type"] == "HexagonLayer"
    hm = heatmap(g)
    assert hm["data"]["w"].sum() == 50
    with pytest.raises(LayerError):
        hexagon_density(g, radius_m=0)
    bins = points(3, n=[1, 2, 4]).to_crs("EPSG:3857")
    spec = bin_columns(bins, cell_m=500)
    assert spec["diskResolution"] == 6
    assert spec["data"]["h"].max() == pytest.approx(1500)
    assert 113 < spec["data"]["lon"].min() < 114
    with pytest.raises(LayerError, match="more than"):
        bin_columns(bins, cell_m=500, max_features=2)


def test_cameras_points_and_cones():
    g = points(2, id=[1, 2], name=["gate", "bridge"], heading_deg=[90.0, np.nan], status=["online", "fault"])
    spec = camera_points(g)
    assert list(spec["data"]["name"]) == ["gate", "bridge"]
    assert tuple(spec["data"].loc[1, ["r", "g", "b"]]) == (230, 57, 70)
    cones = view_cones(g.assign(range_m=100.0))
    assert len(cones["data"]["features"]) == 1, "camera without heading has no cone"
    ring = np.array(cones["data"]["features"][0]["geometry"]["coordinates"][0])
    # heading 90 = east: the wedge extends east of the camera by ~100 m
    assert ring[:, 0].max() - ring[0, 0] == pytest.approx(100 / (111_320 * np.cos(np.radians(ring[0, 1]))),
                                                         rel=0.05)
    with pytest.raises(LayerError, match="no CRS"):
        camera_points(g.set_crs(None, allow_override=True))


def test_sensor_state_and_staleness():
    g = points(3, id=[1, 2, 3], name=["a", "b", "c"], sensor_type="water_level", unit="m",
               last_value=[0.1, 0.5, 0.2], alarm=[None, "red", "yellow"],
               last_reading_at=[NOW - timedelta(minutes=5), NOW - timedelta(minutes=1), NOW - timedelta(days=2)])
    df = sensor_points(g, now=NOW, stale_s=3600)["data"]
    assert list(df["state"]) == ["ok", "red", "stale"]
    assert tuple(df.loc[1, ["r", "g", "b"]]) == ALARM_COLORS["red"]


def test_worker_freshness_and_candidates():
    g = points(3, id=[1, 2, 3], code=["w1", "w2", "w3"], workload=[0, 1, 2], max_workload=5,
               position_at=[NOW - timedelta(seconds=30), NOW - timedelta(seconds=300), None])
    spec = worker_points(g, now=NOW, highlight_ids=[2])
    df = spec["data"]
    assert [tuple(x) for x in df[["r", "g", "b"]].to_numpy()] == [FRESH_COLOR, AGING_COLOR, STALE_COLOR]
    assert list(df["hl"]) == [0, 1, 0] and df["load"][2] == "2/5"
    links = candidate_links((113.41, 23.11), g.assign(distance_m=[10.0, 20.0, 30.0]).to_crs("EPSG:32649"))
    assert links["data"]["lon0"].iloc[0] == 113.41
    assert abs(links["data"]["lon1"].iloc[0] - g.geometry.x.iloc[0]) < 1e-6
    assert links["data"]["w"].iloc[0] > links["data"]["w"].iloc[2]


def test_buildings_default_height():
    g = grids_utm().assign(height_m=[30.0, np.nan])
    spec = buildings_3d(g)
    hs = [f["properties"]["h"] for f in spec["data"]["features"]]
    assert hs == [30.0, 12.0]
    with pytest.raises(LayerError):
        buildings_3d(g, max_features=1)


def test_raster_depth_png_and_bounds():
    depth = np.array([[0.0, 0.02, 0.2], [0.4, 1.5, np.nan]])
    rgba = depth_rgba(depth)
    assert rgba[0, 0, 3] == 0 and rgba[1, 2, 3] == 0 and rgba[0, 1, 3] > 0
    assert not np.array_equal(rgba[0, 2], rgba[1, 1])
    png = to_png(rgba)
    img = Image.open(__import__("io").BytesIO(png))
    assert img.size == (3, 2) and img.mode == "RGBA"
    with pytest.raises(LayerError, match="coarsen"):
        to_png(np.zeros((10, 5000, 4), dtype="uint8"))
    tr = Affine(5.0, 0, 750_000, 0, -5.0, 2_561_000)
    corners = corner_bounds(tr, (200, 100), "EPSG:32649")
    (bl, tl, tr_, _br) = corners
    assert tl[1] > bl[1] and tr_[0] > tl[0] and 113 < bl[0] < 114
    with pytest.raises(LayerError, match="no CRS"):
        corner_bounds(tr, (2, 2), None)
    spec = bitmap_layer("/api/map/flood/r1.png", bounds=corners)
    assert spec["image"] == "/api/map/flood/r1.png"
    with pytest.raises(LayerError):
        bitmap_layer("@@=x", bounds=corners)


def test_spec_view_and_legends():
    v = view_for_bounds((113.40, 23.08, 113.48, 23.16), width_px=1000, height_px=700)
    assert v["longitude"] == pytest.approx(113.44) and 11 < v["zoom"] < 13
    spec = deck_spec([], view=v)
    assert spec["mapStyle"] is None and "mapStyle" in spec
    assert "Max water depth" in depth_legend_html()
    assert "reported" in status_legend_html()
    assert "km" in ramp_legend_html("x", ramp="Blues", vmin=0, vmax=1, unit="km")


def test_to_wgs84_refuses_non_geodataframe():
    with pytest.raises(LayerError, match="GeoDataFrame"):
        to_wgs84(pd.DataFrame({"a": [1]}), what="x")


def test_warning_features_colour_by_level():
    from shapely.geometry import LineString

    from layers.warnings import LEVEL_COLORS, warning_features

    g = gpd.GeoDataFrame({"kind": ["road", "grid"], "name": ["R1", "G1"], "max_depth_m": [0.6, 0.2],
                          "level": ["red", "yellow"]},
                         geometry=[LineString([(750_000, 2_560_000), (750_500, 2_560_000)]),
                                   box(750_000, 2_560_000, 751_000, 2_561_000)], crs="EPSG:32649")
    spec = warning_features(g)
    props = [f["properties"] for f in spec["data"]["features"]]
    assert props[0]["color"][:3] == list(LEVEL_COLORS["red"]) and props[1]["depth"] == 0.2
    x, _ = spec["data"]["features"][0]["geometry"]["coordinates"][0]
    assert 113 < x < 114
    with pytest.raises(LayerError):
        warning_features(g, max_features=1)


def test_pipe_network_layer_lines_by_size_and_nodes_by_kind():
    from shapely.geometry import LineString

    from layers.drainage import pipe_network

    pipes = gpd.GeoDataFrame({"name": ["P1", "P2"], "size_m": [0.3, 1.6]},
                             geometry=[LineString([(760000, 2558000), (760080, 2558000)]),
                                       LineString([(760080, 2558000), (760200, 2558000)])], crs="EPSG:32649")
    nodes = gpd.GeoDataFrame({"name": ["MH1", "OF1"], "kind": ["junction", "outfall"]},
                             geometry=[Point(760000, 2558000), Point(760200, 2558000)], crs="EPSG:32649")
    layer = pipe_network(pipes, nodes)
    feats = layer["data"]["features"]
    assert layer["@@type"] == "GeoJsonLayer" and len(feats) == 4
    widths = {f["properties"]["name"]: f["properties"]["width"] for f in feats}
    assert widths["P1"] == 1.0 and widths["P2"] == pytest.approx(3.2) and widths["OF1"] > widths["MH1"]
    lon = feats[0]["geometry"]["coordinates"][0][0]
    assert 113 < lon < 114  # reprojected to EPSG:4326
    with pytest.raises(LayerError):
        pipe_network(pipes.drop(columns="size_m"))
def test_alert_points_by_level_drawn_on_top():
    from layers.alerts import LEVEL_COLORS, alert_points

    g = gpd.GeoDataFrame({"id": [1, 2], "level": ["red", "yellow"], "source": ["flood x", "sensor y"],
                          "message": ["deep water", "rising"]},
                         geometry=gpd.points_from_xy([113.41, 113.42], [23.1, 23.11]), crs="EPSG:4326")
    spec = alert_points(g, scale=2.0)
    df = spec["data"]
    assert spec["@@type"] == "ScatterplotLayer" and spec["parameters"] == {"depthCompare": "always"}
    assert tuple(df.loc[0, ["r", "g", "b"]]) == LEVEL_COLORS["red"]
    assert df["rad"].iloc[0] > df["rad"].iloc[1]  # red alerts are the largest
    assert "_alerts" in df.columns
