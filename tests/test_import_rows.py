"""Import options for real files on PostGIS: bad rows skipped into a rejects GeoPackage or refusing the file,
make_valid repairs, column mapping, constants, generated codes, a hierarchy that skips a level."""

from __future__ import annotations

import pandas as pd
import pyogrio
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.errors import ImportDataError, OutsideDistrict
from spatial.io import files as io
from spatial.io.spec import ImportOptions, import_options

# the small test district spans 113.40-113.48 E, 23.08-23.16 N
GOOD = ("B1,12,SRID=4326;POLYGON((113.41 23.09,113.4103 23.09,113.4103 23.0903,113.41 23.0903,113.41 23.09))",
        "B3,15,SRID=4326;POLYGON((113.45 23.12,113.4503 23.12,113.4503 23.1203,113.45 23.1203,113.45 23.12))")
BAD = {
    "no coordinates": ("B2,10,", "row 2: geometry is missing", ImportDataError, "no geometry"),
    "outside": ("B2,10,SRID=4326;POLYGON((113.70 23.09,113.7003 23.09,113.7003 23.0903,113.70 23.0903,113.70 23.09))",
                "row 2: outside the district", OutsideDistrict, "outside the district (0% inside)"),
    "invalid": ("B2,10,SRID=4326;POLYGON((113.42 23.10,113.4203 23.1003,113.4203 23.10,113.42 23.1003,113.42 23.10))",
                "row 2: invalid geometry", ImportDataError, "invalid geometry: Self-intersection"),
    "point": ("B2,10,SRID=4326;POINT(113.43 23.11)", "row 2: geometry type Point where building needs polygons",
              ImportDataError, "Point in a polygon table"),
}


def _csv(tmp_path, bad_line: str):
    """A CSV of the two good rows with ``bad_line`` as row 2 (WKT quoted)."""
    path = tmp_path / "buildings.csv"
    lines = ["code,height_m,wkt"] + [f'{a},{b},"{c}"' if c else f"{a},{b}," for a, b, c in
                                     (line.split(",", 2) for line in (GOOD[0], bad_line, GOOD[1]))]
    path.write_text("\n".join(lines) + "\n")
    return path


def _codes(session: Session) -> list[str]:
    return session.scalars(sa.text("SELECT code FROM building ORDER BY code")).all()


@pytest.mark.parametrize("kind", list(BAD))
def test_one_bad_row_refuses_the_file_or_goes_to_the_rejects(session, district, tmp_path, kind):
    line, message, exc, reason = BAD[kind]
    path = _csv(tmp_path, line)
    with pytest.raises(exc) as err:
        io.import_file(path, "building", session=session)
    assert message in err.value.message
    assert _codes(session) == []

    rejects = tmp_path / "out" / "rejects.gpkg"
    res = io.run_import(path, "building", session=session,
                        options=ImportOptions(invalid="skip", outside="skip", rejects=str(rejects)))
    assert res.rows == 2 and _codes(session) == ["B1", "B3"]
    assert res.rejected == [(2, res.rejected[0][1])] and res.rejected[0][1].startswith(reason)
    assert res.rejects_path == rejects
    back = pyogrio.read_dataframe(rejects)
    assert list(back["_row"]) == [2] and list(back["code"]) == ["B2"] and back["reason"][0].startswith(reason)


def test_rejects_default_next_to_the_input_and_nothing_written_without_rejects(session, district, tmp_path):
    path = _csv(tmp_path, BAD["point"][0])
    res = io.run_import(path, "building", session=session, options=ImportOptions(invalid="skip"))
    assert res.rejects_path == tmp_path / "buildings.rejects.gpkg" and res.rejects_path.exists()
    clean = tmp_path / "clean.csv"
    clean.write_text(f'code,height_m,wkt\nB9,1,"{GOOD[0].split(",", 2)[2]}"\n')
    res = io.run_import(clean, "building", session=session, options=ImportOptions(invalid="skip"))
    assert res.rows == 1 and res.rejected == [] and res.rejects_path is None
    assert not (tmp_path / "clean.rejects.gpkg").exists()


def test_fix_repairs_bowties_and_keeps_the_polygons_of_geometry_collections(session, district, tmp_path):
    coll = ("B4,9,SRID=4326;GEOMETRYCOLLECTION(POLYGON((113.46 23.13,113.4603 23.13,113.4603 23.1303,113.46 23.1303,"
            "113.46 23.13)),LINESTRING(113.46 23.13,113.47 23.14))")
    path = _csv(tmp_path, coll)
    with pytest.raises(ImportDataError, match="row 2: geometry type GeometryCollection where building"):
        io.import_file(path, "building", session=session)
    assert io.import_file(path, "building", session=session, options=ImportOptions(invalid="fix")) == 3
    kind, area = session.execute(sa.text(
        "SELECT GeometryType(geom), ST_Area(geom::geography) FROM building WHERE code = 'B4'")).one()
    assert kind == "MULTIPOLYGON" and 900 < area < 1100  # the 0.0003 deg square; the line is dropped
    bowtie = _csv(tmp_path, BAD["invalid"][0].replace("B2", "B5"))
    assert io.import_file(bowtie, "building", session=session, mode="upsert", fix_invalid=True) == 3
    assert session.scalar(sa.text("SELECT ST_IsValid(geom) FROM building WHERE code = 'B5'"))


def test_map_set_and_generated_codes(session, district, tmp_path):
    path = tmp_path / "osm.csv"
    path.write_text("osm_id,name:zh,name,lon,lat\n-6651434,井盖,cover,113.41,23.09\n8792376,消防栓,hydrant,113.47,23.15\n")
    opts = import_options(map={"code": "osm_id", "name": "name:zh"}, set={"asset_type": "manhole_cover"})
    assert io.import_file(path, "asset", session=session, options=opts) == 2
    rows = session.execute(sa.text("SELECT code, name, asset_type, attrs FROM asset ORDER BY code")).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [("-6651434", "井盖", "manhole_cover"),
                                                   ("8792376", "消防栓", "manhole_cover")]
    assert rows[0][3] == {"name_source": "cover"}  # the file's own 'name' column is kept in attrs
    with pytest.raises(ImportDataError, match="--map code=osmid: the file has no column 'osmid'"):
        io.import_file(path, "asset", session=session, options=import_options(map={"code": "osmid"}))
    with pytest.raises(ImportDataError, match=r"Missing required columns code, asset_type.*--map"):
        io.import_file(path, "asset", session=session)

    gen = tmp_path / "gen.csv"
    gen.write_text("kind,lon,lat\nbin,113.42,23.10\nbin,113.43,23.11\n")
    by_row = import_options(set={"asset_type": "bin"}, code_prefix="BIN-")
    assert io.import_file(gen, "asset", session=session, options=by_row) == 2
    assert session.scalars(sa.text("SELECT code FROM asset WHERE code LIKE 'BIN-%' ORDER BY code")).all() == \
        ["BIN-1", "BIN-2"]
    by_geom = import_options(set={"asset_type": "bin"}, code_prefix="H-", code_from="geometry")
    assert io.import_file(gen, "asset", session=session, options=by_geom) == 2
    again = io.import_file(gen, "asset", session=session, options=by_geom, mode="upsert")
    assert again == 2 and session.scalar(sa.text("SELECT count(*) FROM asset WHERE code LIKE 'H-%'")) == 2


def test_profile_file_holds_the_options_and_the_command_line_overrides(tmp_path):
    prof = tmp_path / "p.yaml"
    prof.write_text("map: {code: DCCA, name: DCCA_ENG}\nset: {level: community}\noutside: skip\ninvalid: fix\n")
    o = import_options(prof, map={"name": "DCCA_CHIN"}, outside="clip")
    assert o.map == {"code": "DCCA", "name": "DCCA_CHIN"} and o.set == {"level": "community"}
    assert (o.outside, o.invalid, o.containment) == ("clip", "fix", "warn")
    prof.write_text("maps: {}\n")
    with pytest.raises(ImportDataError, match="unknown keys"):
        import_options(prof)


def test_hierarchy_may_skip_the_street_level_and_parents_must_be_higher(session, district, tmp_path):
    """A community straight under the district, a grid under it: locate gives community, no street."""
    units = tmp_path / "units.csv"
    units.write_text(
        'code,name,level,parent,wkt\n'
        'CX,Community X,community,D,"POLYGON((113.40 23.08,113.401 23.08,113.401 23.081,113.40 23.081,113.40 23.08))"\n'
        'GX,Grid X,grid,CX,"POLYGON((113.40 23.08,113.401 23.08,113.401 23.081,113.40 23.081,113.40 23.08))"\n')
    assert io.import_file(units, "admin_unit", session=session, src_crs="EPSG:4326") == 2
    bad = tmp_path / "bad.csv"
    bad.write_text('code,name,level,parent,wkt\n'
                   'SX,Street X,street,GX,"POLYGON((113.40 23.08,113.401 23.08,113.401 23.081,113.40 23.08))"\n')
    with pytest.raises(ImportDataError, match="row 1: the parent must be a higher level"):
        io.import_file(bad, "admin_unit", session=session, src_crs="EPSG:4326")
    # GX (id larger than the fixture's G00) only wins where G00 is absent: locate a point of GX's own area
    session.execute(sa.text("DELETE FROM admin_unit WHERE code = 'G00'"))
    t = pd.DataFrame({"channel": ["hotline"], "category": ["pothole"], "lon": [113.4005], "lat": [23.0805]})
    t.to_csv(tmp_path / "t.csv", index=False)
    assert io.import_file(tmp_path / "t.csv", "ticket", session=session) == 1
    got = session.execute(sa.text(
        "SELECT g.code, c.code, t.street_id FROM ticket t JOIN admin_unit g ON g.id = t.grid_id "
        "JOIN admin_unit c ON c.id = t.community_id")).one()
    assert tuple(got) == ("GX", "CX", None)
    sql = session.execute(sa.text(
        "SELECT g.code, c.code, l.street_id FROM onemap_locate(ST_SetSRID(ST_MakePoint(113.4005, 23.0805), 4326)) l "
        "JOIN admin_unit g ON g.id = l.grid_id JOIN admin_unit c ON c.id = l.community_id")).one()
    assert tuple(sql) == ("GX", "CX", None)
