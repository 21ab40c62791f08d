"""Import/export on real PostGIS: round trips in four formats, and every refusal leaves the table unchanged."""

from __future__ import annotations

import threading
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.errors import ImportDataError, OutsideDistrict
from spatial.io import files as io
from spatial.models import Asset, Building, Road, Ticket, Worker

FORMATS = [".geojson", ".gpkg", ".shp", ".csv"]


@pytest.fixture
def populated(session: Session, district: dict) -> dict:
    """A few assets, roads, buildings, workers and tickets in the small test district."""
    d = district["departments"]
    for i, (x, y) in enumerate([(113.41, 23.09), (113.455, 23.135), (113.4712345678, 23.1598)]):
        session.add(Asset(code=f"A{i}", asset_type="manhole_cover", name=f"Cover {i} 井盖",
                          department_id=d["water"] if i else None, geom=f"SRID=4326;POINT({x} {y})",
                          attrs={"material": "iron", "year": 2000 + i}))
    session.add(Road(code="R1", name="Kaichuang Avenue 开创大道", road_class="arterial",
                     geom="SRID=4326;MULTILINESTRING((113.401 23.09,113.43 23.1,113.47 23.11))",
                     attrs={"lanes": 6}))
    session.add(Road(code="R2", name=None, road_class="branch",
                     geom="SRID=4326;MULTILINESTRING((113.41 23.15,113.42 23.151),(113.42 23.151,113.43 23.14))"))
    session.add(Building(code="B1", height_m=32.5,
                         geom="SRID=4326;MULTIPOLYGON(((113.44 23.12,113.4403 23.12,113.4403 23.1203,"
                              "113.44 23.1203,113.44 23.12)))", attrs={"use": "residential"}))
    session.add(Worker(code="W1", name="张伟 Zhang Wei", department_id=d["urban"],
                       home_grid_id=district["grids"]["G11"],
                       skills=["road_repair", "inspection"], on_duty=True, max_workload=6,
                       geom="SRID=4326;POINT(113.425 23.105)", position_accuracy_m=8.0))
    session.add(Worker(code="W2", name="李娜 Li Na", department_id=d["water"], skills=[], on_duty=False))
    session.flush()
    return district


def _snapshot(session: Session, table: str) -> pd.DataFrame:
    gdf = io.read_table(session, table)
    df = pd.DataFrame(gdf.drop(columns=["id", "grid", "geometry"], errors="ignore"))
    if "geometry" in gdf:
        df["wkt"] = [shapely.normalize(g).wkt if g is not None else None
                     for g in shapely.set_precision(gdf.geometry.to_numpy(), 1e-9)]
    return df.sort_values(list(df.columns[:1])).reset_index(drop=True)


def _count(session: Session, table: str) -> int:
    return session.scalar(sa.text(f"SELECT count(*) FROM {table}"))


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("table", ["asset", "road", "building", "worker"])
def test_export_then_import_round_trips(session, populated, tmp_path, table, ext):
    before = _snapshot(session, table)
    path = tmp_path / f"{table}{ext}"
    assert io.export_table(table, path, session=session) == len(before)
    session.execute(sa.text(f"DELETE FROM {table}"))
    assert io.import_file(path, table, session=session) == len(before)
    after = _snapshot(session, table)
    pd.testing.assert_frame_equal(before, after, check_dtype=False)


@pytest.mark.parametrize("ext", [".gpkg", ".csv"])
def test_admin_units_round_trip_with_parents(session, district, tmp_path, ext):
    before = _snapshot(session, "admin_unit")
    path = tmp_path / f"units{ext}"
    io.export_table("admin_unit", path, session=session)
    session.execute(sa.text("DELETE FROM admin_unit"))
    assert io.import_file(path, "admin_unit", session=session) == 23
    pd.testing.assert_frame_equal(before, _snapshot(session, "admin_unit"), check_dtype=False, atol=1e-6)


@pytest.mark.parametrize("table", ["department", "category"])
def test_tables_without_geometry_round_trip(session, district, tmp_path, table):
    before = _snapshot(session, table)
    path = tmp_path / f"{table}.csv"
    io.export_table(table, path, session=session)
    assert io.import_file(path, table, session=session, mode="upsert") == len(before)
    pd.testing.assert_frame_equal(before, _snapshot(session, table), check_dtype=False)
    with pytest.raises(ImportDataError, match="no geometry"):
        io.export_table(table, tmp_path / "x.shp", session=session)


def test_point_import_locates_grid_and_reprojects(session, district, tmp_path):
    lonlat = [(113.41, 23.09), (113.475, 23.155)]
    gdf = gpd.GeoDataFrame({"code": ["P1", "P2"], "asset_type": ["hydrant", "hydrant"], "colour": ["red", None]},
                           geometry=shapely.points(lonlat), crs=4326).to_crs(32649)
    gdf.to_file(tmp_path / "utm.gpkg")
    assert io.import_file(tmp_path / "utm.gpkg", "asset", session=session) == 2
    rows = session.execute(sa.text(
        "SELECT a.code, g.code, ST_X(a.geom), ST_Y(a.geom), a.attrs FROM asset a JOIN admin_unit g ON g.id = a.grid_id "
        "ORDER BY a.code")).all()
    assert [r[1] for r in rows] == ["G00", "G33"]
    np.testing.assert_allclose([(r[2], r[3]) for r in rows], lonlat, atol=1e-8)
    assert rows[0][4] == {"colour": "red"}  # unknown columns are kept in attrs


def test_ticket_import_derives_location_department_deadlines_and_history(session, district, tmp_path):
    (tmp_path / "t.csv").write_text(
        "channel,external_id,category,lon,lat,created_at,description\n"
        "hotline,H-1,pothole,113.41,23.09,2026-03-02 10:00,Big hole\n"
        "hotline,H-2,waterlogging,113.47,23.15,2026-03-02T02:00:00Z,Flooded\n", encoding="utf-8")
    assert io.import_file(tmp_path / "t.csv", "ticket", session=session) == 2
    t = session.scalars(sa.select(Ticket).order_by(Ticket.external_id)).all()
    assert t[0].grid_id == district["grids"]["G00"] and t[0].street_id == district["streets"]["S0"]
    assert t[0].department_id == district["departments"]["urban"]
    assert t[0].created_at.isoformat() == "2026-03-02T02:00:00+00:00"  # naive = district local time (UTC+8)
    assert t[1].resolve_due_at.isoformat() == "2026-03-02T14:00:00+00:00"  # 12 hours
    assert t[0].resolve_due_at.isoformat() == "2026-03-09T02:00:00+00:00"  # 5 working days
    kinds = session.execute(sa.text("SELECT kind, to_status FROM ticket_event WHERE ticket_id = :i"),
                            {"i": t[0].id}).all()
    assert kinds == [("import", "reported")]
    assert _count(session, "ticket_reporter") == 2
    # re-import of the same external ids: refused in append mode, updated in upsert mode
    with pytest.raises(ImportDataError, match="already in ticket"):
        io.import_file(tmp_path / "t.csv", "ticket", session=session)
    assert io.import_file(tmp_path / "t.csv", "ticket", session=session, mode="upsert") == 2
    assert _count(session, "ticket") == 2 and _count(session, "ticket_event") == 2


# ---------------------------------------------------------------------------- refusals

def _refused(session, path, table, exc=ImportDataError, match=None, **kw):
    before = _count(session, table)
    with pytest.raises(exc, match=match) as info:
        io.import_file(path, table, session=session, **kw)
    assert _count(session, table) == before, "a failed import must write nothing"
    return str(info.value)


def test_missing_crs_is_refused_unless_given(session, district, tmp_path):
    gpd.GeoDataFrame({"code": ["A1"], "asset_type": ["bin"]}, geometry=shapely.points([(113.41, 23.09)]),
                     crs=4326).to_file(tmp_path / "a.shp")
    (tmp_path / "a.prj").unlink()
    msg = _refused(session, tmp_path / "a.shp", "asset", match="no coordinate reference system")
    assert "--crs EPSG:4326" in msg
    assert io.import_file(tmp_path / "a.shp", "asset", session=session, src_crs="EPSG:4326") == 1


def test_projected_numbers_without_crs_get_a_projected_hint(session, district, tmp_path):
    (tmp_path / "xy.csv").write_text("code,asset_type,x,y\nA1,bin,750947.7,2556695.7\n")
    msg = _refused(session, tmp_path / "xy.csv", "asset", match="no coordinate reference system")
    assert "projected" in msg
    assert io.import_file(tmp_path / "xy.csv", "asset", session=session, src_crs="EPSG:32649") == 1


def test_wrong_crs_is_refused(session, district, tmp_path):
    # metres written into a file that says EPSG:4326
    gpd.GeoDataFrame({"code": ["A1", "A2"], "asset_type": ["bin", "bin"]},
                     geometry=shapely.points([(113.41, 23.09), (750947.7, 2556695.7)]), crs=4326
                     ).to_file(tmp_path / "bad.geojson")
    msg = _refused(session, tmp_path / "bad.geojson", "asset", match="CRS is wrong")
    assert "row 2" in msg
    # a --crs that contradicts the file
    _refused(session, tmp_path / "bad.geojson", "asset", match="declares", src_crs="EPSG:32649")


def test_invalid_geometry_is_refused_with_rows_or_repaired(session, district, tmp_path):
    good = shapely.box(113.44, 23.12, 113.4403, 23.1203)
    bowtie = shapely.Polygon([(113.45, 23.12), (113.4503, 23.1203), (113.4503, 23.12), (113.45, 23.1203)])
    gpd.GeoDataFrame({"code": ["B1", "B2"], "height_m": [10, 20]}, geometry=[good, bowtie], crs=4326
                     ).to_file(tmp_path / "b.gpkg")
    msg = _refused(session, tmp_path / "b.gpkg", "building", match="invalid geometry")
    assert "row 2" in msg and "Self-intersection" in msg
    assert io.import_file(tmp_path / "b.gpkg", "building", session=session, fix_invalid=True) == 2
    assert session.scalar(sa.text("SELECT bool_and(ST_IsValid(geom)) FROM building"))


def test_missing_columns_and_bad_values_are_refused(session, district, tmp_path):
    (tmp_path / "a.csv").write_text("code,lon,lat\nA1,113.41,23.09\n")
    _refused(session, tmp_path / "a.csv", "asset", match="Missing required column asset_type")
    (tmp_path / "w.csv").write_text("code,name,department,max_workload\nW1,A,urban,5\nW2,B,urban,many\n")
    _refused(session, tmp_path / "w.csv", "worker", match="row 2: column 'max_workload' must be an integer")
    (tmp_path / "w2.csv").write_text("code,name,department\nW1,A,urban\nW2,B,police\n")
    msg = _refused(session, tmp_path / "w2.csv", "worker", match="unknown department code")
    assert "row 2" in msg and "police" in msg
    (tmp_path / "n.csv").write_text("code,asset_type\nA1,bin\n")
    _refused(session, tmp_path / "n.csv", "asset", match="no coordinates")
    _refused(session, tmp_path / "missing.gpkg", "asset", match="File not found")
    _refused(session, tmp_path / "n.csv", "asset", match="Unknown mode", mode="merge")


def test_points_outside_the_district_are_refused(session, district, tmp_path):
    (tmp_path / "a.csv").write_text("code,asset_type,lon,lat\nA1,bin,113.41,23.09\nA2,bin,113.60,23.10\n"
                                    "A3,bin,113.41,23.30\n")
    msg = _refused(session, tmp_path / "a.csv", "asset", exc=OutsideDistrict, match="outside the district")
    assert "rows 2, 3" in msg and "113.60000 23.10000" in msg


def test_append_conflicts_and_duplicates_in_file(session, populated, tmp_path):
    (tmp_path / "a.csv").write_text("code,asset_type,lon,lat\nA9,bin,113.41,23.09\nA0,bin,113.41,23.09\n")
    msg = _refused(session, tmp_path / "a.csv", "asset", match="already in asset")
    assert "row 2" in msg and "A0" in msg
    (tmp_path / "d.csv").write_text("code,asset_type,lon,lat\nA8,bin,113.41,23.09\nA8,bin,113.42,23.09\n")
    _refused(session, tmp_path / "d.csv", "asset", match="repeated in the file")
    assert io.import_file(tmp_path / "a.csv", "asset", session=session, mode="upsert") == 2
    assert session.scalar(sa.text("SELECT asset_type FROM asset WHERE code = 'A0'")) == "bin"
    assert _count(session, "asset") == 4


def test_replace_refused_while_referenced(session, populated, tmp_path):
    io.export_table("department", tmp_path / "d.csv", session=session)
    msg = _refused(session, tmp_path / "d.csv", "department", mode="replace", match="refused the import")
    assert "foreign key" in msg


def test_gbk_csv_is_read(session, district, tmp_path):
    (tmp_path / "gbk.csv").write_bytes("code,asset_type,name,lon,lat\nA1,bin,垃圾桶,113.41,23.09\n".encode("gbk"))
    assert io.import_file(tmp_path / "gbk.csv", "asset", session=session) == 1
    assert session.scalar(sa.text("SELECT name FROM asset WHERE code = 'A1'")) == "垃圾桶"


def test_replace_mode_swaps_rows(session, populated, tmp_path):
    (tmp_path / "r.csv").write_text("code,name,wkt\nR9,New road,\"SRID=4326;LINESTRING(113.41 23.09,113.42 23.1)\"\n")
    assert io.import_file(tmp_path / "r.csv", "road", session=session, mode="replace") == 1
    assert session.scalars(sa.text("SELECT code FROM road")).all() == ["R9"]


def test_multi_layer_file_needs_a_layer(session, district, tmp_path):
    p = tmp_path / "two.gpkg"
    for name in ("a", "b"):
        gpd.GeoDataFrame({"code": [f"{name}1"], "asset_type": ["bin"]}, geometry=shapely.points([(113.41, 23.09)]),
                         crs=4326).to_file(p, layer=name)
    _refused(session, p, "asset", match="has 2 layers")
    assert io.import_file(p, "asset", layer="b", session=session) == 1


def test_concurrent_imports_of_the_same_codes_load_once(committed, tmp_path):
    """Two users import the same file at once: one wins, the other gets a clear error; no duplicates."""
    from spatial.db.engine import get_engine
    from tests.district import seed_small_district

    url = committed.url.render_as_string(hide_password=False)
    with Session(committed) as s:
        seed_small_district(s)
        s.commit()
    (tmp_path / "a.csv").write_text("code,asset_type,lon,lat\nC1,bin,113.41,23.09\nC2,bin,113.42,23.1\n")
    first = Session(get_engine(url))
    assert io.import_file(tmp_path / "a.csv", "asset", session=first) == 2  # not committed yet
    outcome: dict = {}

    def second():
        with Session(get_engine(url)) as s2:
            try:
                outcome["n"] = io.import_file(tmp_path / "a.csv", "asset", session=s2)
                s2.commit()
            except ImportDataError as exc:
                outcome["error"] = exc.message

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    first.commit()
    first.close()
    t.join(timeout=20)
    assert "error" in outcome and "duplicate key" in outcome["error"]
    with Session(committed) as s:
        assert s.scalar(sa.text("SELECT count(*) FROM asset")) == 2


def test_privacy_flags_import_with_their_defaults(session, district, tmp_path):
    """``sensitive``/``private`` columns are imported as given; files without them get spatial.privacy's
    defaults (elderly help and the like sensitive, door sensors private)."""
    head = "code,major_code,major_name,name,department"
    (tmp_path / "c.csv").write_text(f"{head}\nelderly_help,care,Care,Elderly help,urban\nbins,env,Env,Bins,urban\n")
    assert io.import_file(tmp_path / "c.csv", "category", session=session) == 2
    (tmp_path / "c2.csv").write_text(f"{head},sensitive\ndomestic_violence,care,Care,DV,urban,false\n"
                                     "stalking,care,Care,Stalking,urban,true\n")
    assert io.import_file(tmp_path / "c2.csv", "category", session=session) == 2
    flags = dict(session.execute(sa.text("SELECT code, sensitive FROM category")).all())
    assert (flags["elderly_help"], flags["bins"], flags["domestic_violence"], flags["stalking"],
            flags["pothole"]) == (True, False, False, True, False)
    (tmp_path / "s.csv").write_text("code,sensor_type,name,unit,lon,lat\nD1,door,Door,0/1,113.41,23.09\n"
                                    "W1,water_level,Water,m,113.42,23.10\n")
    assert io.import_file(tmp_path / "s.csv", "sensor", session=session) == 2
    (tmp_path / "s2.csv").write_text("code,sensor_type,name,unit,lon,lat,private\nD2,door,Door,0/1,113.41,23.09,false\n"
                                     "N1,noise,Noise,dB,113.42,23.10,true\n")
    assert io.import_file(tmp_path / "s2.csv", "sensor", session=session) == 2
    assert dict(session.execute(sa.text("SELECT code, private FROM sensor")).all()) == {
        "D1": True, "W1": False, "D2": False, "N1": True}
