"""The drainage network in PostGIS: import through the CLI, round trip, element-naming refusals."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flood_model.network import Conduit, Junction, Outfall, PipeNetwork
from spatial.cli.main import main
from spatial.db.engine import session_scope
from spatial.drainage import load_network, network_summary

X0, Y0 = 760_000.0, 2_558_000.0  # EPSG:32649, near the test district


def _net() -> PipeNetwork:
    return PipeNetwork(
        [Junction("MH1", X0, Y0, 8.0, 10.0), Junction("MH2", X0 + 80, Y0, 7.8, 10.1)],
        [Outfall("OUT", X0 + 200, Y0 + 5, 7.0, stage=7.5)],
        [Conduit("P1", "MH1", "MH2", 0.013, 0.6), Conduit("P2", "MH2", "OUT", 0.014, 0.8, length=125.0)])


def test_import_inp_round_trips_and_bad_input_names_the_element(committed, tmp_path, capsys):
    good = _net().to_inp(tmp_path / "net.inp", duration_s=3600)
    assert main(["drainage", "import", str(good), "--crs", "EPSG:32649"]) == 0
    assert "imported 2 manholes, 1 outfalls, 2 conduits" in capsys.readouterr().out
    with session_scope() as s:
        net = load_network(s, srid=32649)
        assert network_summary(s)["conduits"] == 2
        length = s.scalar(sa.text("SELECT round(ST_Length(geom::geography)) FROM drainage_conduit WHERE name='P1'"))
    assert [j.name for j in net.junctions] == ["MH1", "MH2"] and net.outfalls[0].stage == 7.5
    assert net.junctions[1].x == pytest.approx(X0 + 80, abs=1e-3) and net.junctions[1].rim == 10.1
    assert net.conduits[0].length == pytest.approx(80.0, abs=1e-3) and length == pytest.approx(80, abs=1)
    assert net.conduits[1].roughness == 0.014 and net.conduits[1].geom1 == 0.8

    bad = tmp_path / "bad.inp"
    bad.write_text(good.read_text().replace("P2 MH2 OUT", "P2 MH2 OUT9").replace("P1 CIRCULAR 0.6000",
                                                                                  "P1 CIRCULAR -0.6000"))
    assert main(["drainage", "import", str(bad), "--crs", "EPSG:32649"]) == 2
    err = capsys.readouterr().err
    assert "conduit P2: dangling, node OUT9 does not exist" in err
    assert "conduit P1: size (geom1) must be positive" in err
    with session_scope() as s:  # nothing written: the previous network is intact
        assert network_summary(s) == {"junctions": 2, "outfalls": 1, "conduits": 2, "length_km": 0.205,
                                      "sources": ["net.inp"]}
    assert main(["drainage", "export", str(tmp_path / "back.inp"), "--crs", "EPSG:32649"]) == 0
    assert "[CONDUITS]" in (tmp_path / "back.inp").read_text()


def test_import_geopackage_layers(committed, tmp_path, capsys):
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    path = tmp_path / "net.gpkg"
    crs = "EPSG:32649"
    gpd.GeoDataFrame({"name": ["MH1", "MH2"], "invert_m": [8.0, 7.8], "rim_m": [10.0, 10.1]},
                     geometry=[Point(X0, Y0), Point(X0 + 80, Y0)], crs=crs).to_file(path, layer="junctions")
    gpd.GeoDataFrame({"name": ["OUT"], "invert_m": [7.0], "stage_m": [None]},
                     geometry=[Point(X0 + 200, Y0)], crs=crs).to_file(path, layer="outfalls")
    conduits = gpd.GeoDataFrame({"name": ["P1", "P2"], "from_node": ["MH1", "MH2"], "to_node": ["MH2", "OUT"],
                                 "roughness": [0.013, 0.013], "geom1_m": [0.6, 0.8]},
                                geometry=[LineString([(X0, Y0), (X0 + 80, Y0)]),
                                          LineString([(X0 + 80, Y0), (X0 + 200, Y0)])], crs=crs)
    conduits.to_file(path, layer="conduits")
    assert main(["drainage", "import", str(path)]) == 0, capsys.readouterr().err
    with session_scope() as s:
        net = load_network(s, srid=32649)
    assert net.outfalls[0].stage is None and net.conduits[1].length == pytest.approx(120.0, abs=1e-3)
    conduits.assign(geom1_m=[0.6, -1.0]).to_file(path, layer="conduits", mode="w")
    assert main(["drainage", "import", str(path)]) == 2
    assert "conduit P2: size (geom1) must be positive" in capsys.readouterr().err
