"""Real public files through the ``onemap`` command line on PostGIS: Hong Kong Yau Tsim Mong (district,
constituency areas as communities with no street level, containment, hexagonal grids, a point on a grid
edge through intake and import) and Shanghai Lujiazui OSM buildings and roads.

The files are read from ``get_settings().shared_data_dir`` and cut to small extracts in ``tmp_path``.
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import main
from spatial.locate import locate_points
from spatial.models import Category, Department
from spatial.settings import get_settings
from spatial.tickets.intake import TicketCreate, intake

YTM = "YAU TSIM MONG"
#: the 2001 constituency areas of Yau Tsim Mong (DC_CODE E): more than half of each lies in the district
YTM_DCCA = {str(c) for c in range(2701, 2717)}


def _shared(*parts: str):
    path = get_settings().shared_data_dir.joinpath(*parts)
    assert path.exists(), f"shared data missing: {path} (set ONEMAP_SHARED_DATA_DIR)"
    return path


@pytest.fixture
def hk_files(tmp_path) -> dict:
    """Extracts: Yau Tsim Mong and Sham Shui Po districts; the constituency areas within 1 km of Yau Tsim Mong."""
    districts = pyogrio.read_dataframe(_shared("01_admin_boundaries", "hk_18_districts.geojson"))
    districts = districts[districts["ENAME"].isin([YTM, "SHAM SHUI PO"])]
    ytm = districts[districts["ENAME"] == YTM].geometry.iloc[0]
    dcca = pyogrio.read_dataframe(_shared("01_admin_boundaries", "hk_dcca_2001_lowres.geojson"))
    dcca = dcca[dcca.intersects(shapely.box(*ytm.buffer(0.01).bounds))]
    out = {"districts": tmp_path / "hk_districts.geojson", "dcca": tmp_path / "hk_dcca.geojson"}
    pyogrio.write_dataframe(districts, out["districts"])
    pyogrio.write_dataframe(dcca, out["dcca"])
    out["n_dcca"] = len(dcca)
    return out


def _units(conn, level: int) -> list[str]:
    return conn.scalars(sa.text("SELECT code FROM admin_unit WHERE level = :l ORDER BY code"), {"l": level}).all()


def test_hong_kong_yau_tsim_mong_district_communities_grids(committed, hk_files, tmp_path, capsys):
    # the district: pick the row, name the columns, set the code and level
    assert main(["import", "admin_unit", str(hk_files["districts"]), "--where", f"ENAME={YTM}",
                 "--set", "code=YTM", "--map", "name=TCNAME", "--set", "level=district"]) == 0
    assert "imported 1 rows into admin_unit" in capsys.readouterr().out

    # constituency areas as communities straight under the district, from a saved profile
    profile = tmp_path / "hk_dcca.yaml"
    profile.write_text("map: {code: DCCA, name: DCCA_ENG}\nset: {level: community, parent: YTM}\n"
                       "outside: skip\ninvalid: fix\n")
    rejects = tmp_path / "dcca_rejects.gpkg"
    args = ["import", "admin_unit", str(hk_files["dcca"]), "--profile", str(profile), "--rejects", str(rejects)]
    assert main([*args, "--containment", "error"]) == 2  # 'skip' keeps units that stick out of YTM
    err = capsys.readouterr().err
    assert "stick out of their parent" in err and "2716 sticks out of YTM by" in err
    with committed.connect() as conn:
        assert _units(conn, 3) == []  # nothing loaded

    assert main(args) == 0  # warn: loaded, and the report lists them with the area outside in m²
    out = capsys.readouterr().out
    assert f"left out {hk_files['n_dcca'] - 16} rows ({hk_files['n_dcca'] - 16} outside the district)" in out
    report = dict(re.findall(r"(\d{4}) sticks out of YTM by ([\d,]+) m²", out))
    assert "2716" in report and 50_000 < int(report["2716"].replace(",", "")) < 100_000
    with committed.connect() as conn:
        assert set(_units(conn, 3)) == YTM_DCCA
    back = pyogrio.read_dataframe(rejects)
    assert len(back) == hk_files["n_dcca"] - 16 and back["reason"].str.startswith("outside the district").all()
    assert not set(back["DCCA"].astype(str)) & YTM_DCCA

    # clip instead: cut to the boundary, nothing sticks out (the containment check passes as an error too)
    assert main([*args, "--outside", "clip", "--mode", "upsert", "--containment", "error"]) == 0
    assert "containment" not in capsys.readouterr().out
    with committed.connect() as conn:
        assert set(_units(conn, 3)) == YTM_DCCA
        worst = conn.scalar(sa.text(
            "SELECT max(ST_Area(ST_Difference(c.geom, d.geom)::geography)) FROM admin_unit c "
            "JOIN admin_unit d ON d.id = c.parent_id WHERE c.level = 3"))
        assert worst < 1.0  # m²

    # hexagonal grids of 250 m cut by the communities
    assert main(["grids", "generate", "--shape", "hex", "--size", "250m"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"generated \d+ hex grids of 250 m in community units \(EPSG:32650\)", out)
    with committed.connect() as conn:
        codes = _units(conn, 4)
        assert 150 < len(codes) < 300 and all(re.fullmatch(r"27\d\d-\d+-\d+", c) for c in codes)
        stats = conn.execute(sa.text(
            "SELECT max(ST_Area(ST_Difference(g.geom, c.geom)::geography)), "
            "abs(sum(ST_Area(g.geom::geography)) - (SELECT sum(ST_Area(geom::geography)) FROM admin_unit "
            "WHERE level = 3)), max(ST_Area(g.geom::geography)), bool_and(c.level = 3) "
            "FROM admin_unit g JOIN admin_unit c ON c.id = g.parent_id WHERE g.level = 4")).one()
        assert stats[0] < 1.0 and stats[1] < 10.0  # each grid in its community; together they tile them (m²)
        assert stats[2] < 1.1 * 54_127 * 1.5 and stats[3]  # a whole hexagon is 54,127 m² (+ merged slivers)
    assert main(["grids", "generate", "--shape", "hex", "--size", "250m"]) == 2
    assert "grids exist already; use --replace" in capsys.readouterr().err

    # a point on a grid edge (a vertex shared by neighbouring grids) goes to the same grid by every path
    with Session(committed) as s:
        dept = Department(code="fehd", name="Food and Environmental Hygiene")
        s.add(dept)
        s.flush()
        s.add(Category(code="litter", major_code="env", major_name="Environment", name="Litter",
                       department_id=dept.id, accept_limit=24, accept_unit="hours", resolve_limit=3,
                       resolve_unit="working_days"))
        s.commit()
        lon, lat, n_grids = s.execute(sa.text(
            "SELECT ST_X(p.geom), ST_Y(p.geom), (SELECT count(*) FROM admin_unit g WHERE g.level = 4 "
            "AND ST_Intersects(g.geom, p.geom)) AS n FROM (SELECT (ST_DumpPoints(geom)).geom FROM admin_unit "
            "WHERE level = 4) p ORDER BY n DESC, 1, 2 LIMIT 1")).one()
        assert n_grids >= 2
        lowest = s.scalar(sa.text("SELECT min(id) FROM admin_unit WHERE level = 4 AND ST_Intersects(geom, "
                                  "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"x": lon, "y": lat})
        res = intake(s, TicketCreate(category="litter", lon=lon, lat=lat, channel="hotline", external_id="E1",
                                     dedupe=False), actor="test", role="admin")
        s.commit()
        by_intake = (res.ticket.grid_id, res.ticket.community_id, res.ticket.street_id)
        batch = locate_points(s, [lon], [lat]).iloc[0]
    pd.DataFrame({"channel": ["hotline"], "external_id": ["E2"], "category": ["litter"], "lon": [repr(lon)],
                  "lat": [repr(lat)]}).to_csv(tmp_path / "t.csv", index=False)
    assert main(["import", "ticket", str(tmp_path / "t.csv")]) == 0
    with committed.connect() as conn:
        by_import = tuple(conn.execute(sa.text(
            "SELECT grid_id, community_id, street_id FROM ticket WHERE external_id = 'E2'")).one())
        parent = conn.scalar(sa.text("SELECT parent_id FROM admin_unit WHERE id = :g"), {"g": lowest})
    assert by_intake == by_import == (lowest, parent, None)
    assert (batch["grid_id"], batch["community_id"]) == (lowest, parent) and pd.isna(batch["street_id"])

    # re-generating with --replace gives the same codes and re-locates the tickets to the new grid ids
    capsys.readouterr()
    assert main(["grids", "generate", "--shape", "hex", "--size", "250m", "--replace"]) == 0
    assert '"ticket": 2' in capsys.readouterr().out
    with committed.connect() as conn:
        assert _units(conn, 4) == codes
        codes_of = conn.execute(sa.text(
            "SELECT DISTINCT g.code FROM ticket t JOIN admin_unit g ON g.id = t.grid_id")).scalars().all()
        new_lowest = conn.scalar(sa.text("SELECT min(id) FROM admin_unit WHERE level = 4 AND ST_Intersects(geom, "
                                         "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"), {"x": lon, "y": lat})
        assert len(codes_of) == 1 and conn.scalar(sa.text(
            "SELECT count(*) FROM ticket WHERE grid_id = :g"), {"g": new_lowest}) == 2


def test_shanghai_lujiazui_osm_buildings_and_roads(committed, tmp_path, capsys):
    """A district from the data's extent; OSM ids as codes; the building Points go to the rejects."""
    buildings = pyogrio.read_dataframe(_shared("02_osm_roads_buildings", "shanghai_lujiazui_buildings.geojson"))
    roads = pyogrio.read_dataframe(_shared("02_osm_roads_buildings", "shanghai_lujiazui_roads.geojson"))
    # a small extract: the south-west quarter of the extent is the district; buildings and roads around it
    x0, y0, x1, y1 = buildings.total_bounds
    box = shapely.box(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    gpd.GeoDataFrame({"name": ["Lujiazui SW"]}, geometry=[box], crs=4326).to_file(tmp_path / "d.geojson")
    near = box.buffer(0.002)
    b = buildings[buildings.intersects(near)]
    r = roads[roads.intersects(near)]
    pyogrio.write_dataframe(b, tmp_path / "b.geojson")
    pyogrio.write_dataframe(r, tmp_path / "r.geojson")
    assert main(["import", "admin_unit", str(tmp_path / "d.geojson"), "--set", "code=LJZ", "--set", "level=1"]) == 0
    n_points = int((b.geom_type == "Point").sum())
    assert n_points > 0
    assert main(["import", "building", str(tmp_path / "b.geojson"), "--map", "code=osm_id", "--map",
                 "height_m=height"]) == 2
    assert "geometry type Point where building needs polygons" in capsys.readouterr().err
    assert main(["import", "building", str(tmp_path / "b.geojson"), "--map", "code=osm_id", "--map",
                 "height_m=height", "--invalid", "skip", "--outside", "clip"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"imported (\d+) rows into building.*\nleft out (\d+) rows \((.*)\)", out)
    assert m, out
    assert f"{n_points} Point in a polygon table" in m.group(3)
    assert main(["import", "road", str(tmp_path / "r.geojson"), "--map", "code=osm_id", "--map", "name=name:zh",
                 "--map", "road_class=kind_detail", "--outside", "clip"]) == 0
    with committed.connect() as conn:
        nb, outside_b = conn.execute(sa.text(
            "SELECT count(*), max(ST_Area(ST_Difference(b.geom, d.geom)::geography)) FROM building b, "
            "admin_unit d WHERE d.level = 1")).one()
        assert nb == int(m.group(1)) and outside_b < 0.01
        assert set(conn.scalars(sa.text("SELECT code FROM building")).all()) <= set(b["osm_id"].astype(str))
        named = conn.scalar(sa.text("SELECT count(*) FROM road WHERE name IS NOT NULL"))
        longest_out = conn.scalar(sa.text(
            "SELECT max(ST_Length(ST_Difference(r.geom, d.geom)::geography)) FROM road r, admin_unit d "
            "WHERE d.level = 1"))
    assert named > 0 and longest_out < 0.01


def test_hong_kong_traffic_cameras_from_the_shipped_import_profile(committed, hk_files, capsys):
    """docs/districts_import.md step 4: the TD camera CSV as it is published, cut to the district."""
    assert main(["import", "admin_unit", str(hk_files["districts"]), "--where", f"ENAME={YTM}",
                 "--set", "code=YTM", "--map", "name=TCNAME", "--set", "level=district"]) == 0
    src = _shared("05_city_assets", "hk_traffic_cameras_td.csv")
    cams = pd.read_csv(src, encoding="utf-8-sig")
    with committed.connect() as conn:
        inside = conn.execute(sa.text(
            "SELECT count(*) FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) AS p(x, y), admin_unit d "
            "WHERE d.level = 1 AND ST_Intersects(d.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))"),
            {"x": cams["longitude"].tolist(), "y": cams["latitude"].tolist()}).scalar_one()
    assert 0 < inside < len(cams)
    profile = get_settings().data_dir / "imports" / "hk_traffic_cameras.yaml"
    for _ in range(2):  # upsert by code: the same cameras again, no copy
        assert main(["import", "camera", str(src), "--profile", str(profile), "--mode", "upsert",
                     "--rejects", str(hk_files["districts"].with_name("cam.rejects.gpkg"))]) == 0
        assert f"imported {inside} rows into camera" in capsys.readouterr().out
    with committed.connect() as conn:
        rows = conn.execute(sa.text("SELECT code, name, snapshot_url, grid_id FROM camera ORDER BY code")).all()
    assert len(rows) == inside
    first = cams.set_index("key").loc[rows[0].code]
    assert rows[0].name == first["description"] and rows[0].snapshot_url == first["url"]


def test_shanghai_recipe_extent_profile_osm_grids_cameras(committed, tmp_path, capsys):
    """docs/districts.md's Shanghai recipe on an extract: only onemap commands, untouched column names."""
    osm_dir = _shared("02_osm_roads_buildings")
    roads = pyogrio.read_dataframe(osm_dir / "shanghai_lujiazui_roads.geojson")
    x0, y0, x1, y1 = roads.total_bounds
    box = shapely.box(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)  # the south-west quarter
    files = []
    for theme in ("roads", "water", "pois"):
        gdf = pyogrio.read_dataframe(osm_dir / f"shanghai_lujiazui_{theme}.geojson")
        path = tmp_path / f"shanghai_lujiazui_{theme}.geojson"
        pyogrio.write_dataframe(gdf[gdf.intersects(box)], path)
        files.append(str(path))
    cams = gpd.read_file(_shared("05_city_assets", "shanghai_traffic_enforcement_cameras.geojson"))
    cams = cams[cams.intersects(box.buffer(0.01))]
    cams = pd.concat([cams, cams.iloc[[0]]], ignore_index=True)  # two cameras at one spot, as in the file
    cam_path = tmp_path / "shanghai_cameras.geojson"
    cams.to_file(cam_path)

    assert main(["district", "extent", files[0], "--code", "LJZ", "--name", "Lujiazui SW", "--margin", "0"]) == 0
    ext = json.loads(capsys.readouterr().out)
    assert ext["code"] == "LJZ" and 1.0 < ext["area_km2"] < 9.5  # roads crossing the quarter reach beyond it
    assert main(["district", "init", str(get_settings().data_dir / "profiles" / "shanghai_lujiazui.yaml")]) == 0
    assert json.loads(capsys.readouterr().out)["metric_srid"] == 32651
    assert main(["osm", "import", *files]) == 0
    assert main(["grids", "generate", "--shape", "square", "--size", "250m"]) == 0
    grids = json.loads(capsys.readouterr().out.splitlines()[-2])
    assert grids["parents"] == "district" and grids["srid"] == 32651 and grids["grids"] > 10
    profile = str(get_settings().data_dir / "imports" / "shanghai_cameras.yaml")
    codes = []
    for _ in range(2):
        assert main(["import", "camera", str(cam_path), "--profile", profile, "--mode", "upsert",
                     "--rejects", str(tmp_path / "cam.rejects.gpkg")]) == 0
        capsys.readouterr()
        with committed.connect() as conn:
            codes.append(conn.scalars(sa.text("SELECT code FROM camera ORDER BY code")).all())
    assert codes[0] == codes[1] and len(codes[0]) >= 2  # stable codes from the points
    assert any(c.endswith("-2") for c in codes[0])  # the repeated point got its own code
    with committed.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM camera WHERE grid_id IS NULL")) == 0
        named = conn.scalar(sa.text("SELECT count(*) FROM road WHERE name <> ''"))
    assert named > 0


def test_district_extent_refuses_bad_input(committed, tmp_path, capsys):
    """No geometry, no CRS, a margin out of range: clear errors, nothing written."""
    empty = tmp_path / "empty.csv"
    empty.write_text("lon,lat,name\n,,a\n")
    assert main(["district", "extent", str(empty), "--code", "X", "--name", "X"]) == 2
    assert "has no geometry" in capsys.readouterr().err
    pts = tmp_path / "pts.csv"
    pts.write_text("lon,lat\n121.5,31.2\n121.51,31.21\n")
    assert main(["district", "extent", str(pts), "--code", "X", "--name", "X", "--margin", "-5"]) == 2
    assert "--margin must be between 0 and 50000" in capsys.readouterr().err
    assert main(["district", "extent", str(tmp_path / "nope.geojson"), "--code", "X", "--name", "X"]) == 2
    assert "File not found" in capsys.readouterr().err
    with committed.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM admin_unit")) == 0
