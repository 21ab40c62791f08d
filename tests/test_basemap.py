"""OSM import (``onemap osm import``) and the basemap vector tiles (``/tiles/basemap/{z}/{x}/{y}.mvt``).

Real files from /work/shared/data/02_osm_roads_buildings: the Helsinki ``.osm.pbf`` sample
(GDAL's OSM driver) and the Shanghai Lujiazui GeoJSON layers (Tilezen schema). Tiles are
decoded with ``mapbox-vector-tile``.
"""

from __future__ import annotations

import math
from pathlib import Path

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from spatial.api import tiles as tile_routes
from spatial.api.main import create_api
from spatial.cli.main import main as cli_main
from spatial.db.engine import session_scope
from spatial.errors import ImportDataError
from spatial.io import basemap, osm
from spatial.maps import tiles

DATA = Path("/work/shared/data/02_osm_roads_buildings")
HELSINKI = DATA / "helsinki_center.osm.pbf"
SHANGHAI = [DATA / f"shanghai_lujiazui_{t}.geojson" for t in ("roads", "buildings", "water", "landuse", "pois")]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Web-mercator x, y of the tile holding lon/lat (degrees) at zoom z."""
    n = 2 ** z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def rows(session, sql: str, **params):
    return session.execute(sa.text(sql), params).all()


def test_tag_parsing_and_heights():
    assert osm.parse_other_tags('"building:levels"=>"5","name:fi"=>"Kauppa \\"X\\""') == {
        "building:levels": "5", "name:fi": 'Kauppa "X"'}
    assert osm.building_height("12.5 m", "9") == 12.5
    assert osm.building_height(None, "5") == 15.0  # levels x 3 m
    assert osm.building_height("tall", None) is None
    assert [osm.parse_oneway(v) for v in ("yes", "-1", "no", None, "maybe")] == [True, True, False, None, None]
    assert osm.source_name(SHANGHAI[0]) == "shanghai_lujiazui" and osm.source_name(HELSINKI) == "helsinki_center"


def test_helsinki_pbf_import(session):
    res = basemap.import_osm([HELSINKI], clip_to_data=True, session=session)
    stored = {t: c["stored"] for t, c in res["themes"].items()}
    assert res["source"] == "helsinki_center"
    assert stored["roads"] > 2000 and stored["buildings"] > 400 and stored["pois"] > 1000
    assert stored["water"] >= 10 and stored["landuse"] > 300 and stored["addresses"] > 1000
    # roads: class from highway, name, one-way from other_tags
    assert rows(session, "SELECT DISTINCT road_class, oneway FROM road WHERE name = 'Mannerheimintie' "
                         "AND source = 'helsinki_center'") == [("primary", True)]
    assert rows(session, "SELECT count(*) FROM road WHERE road_class = 'footway'")[0][0] > 500
    # buildings: 17 with height, 144 with building:levels (x 3 m): heights on ~160 of them
    n, with_h, thirds = rows(session, "SELECT count(*), count(height_m), count(*) FILTER "
                                      "(WHERE height_m::numeric % 3 = 0) FROM building")[0]
    assert n == stored["buildings"] and 150 <= with_h <= 170 and thirds > 140
    kinds = dict(rows(session, "SELECT kind, count(*) FROM poi GROUP BY kind"))
    assert kinds["school"] >= 1 and kinds["shelter"] >= 1 and kinds["fire_station"] == 1
    assert ("Kaisaniemen puisto", "park") in rows(session, "SELECT name, kind FROM landuse")
    assert rows(session, "SELECT GeometryType(geom), count(*) FROM water GROUP BY 1 ORDER BY 1") == [
        ("MULTILINESTRING", 1), ("MULTIPOLYGON", 17)]
    assert ("Mannerheimintie", "10") in rows(session, "SELECT street, housenumber FROM address")
    assert rows(session, "SELECT count(*) FROM road WHERE NOT ST_IsValid(geom) OR ST_SRID(geom) <> 4326") == [(0,)]


def test_shanghai_geojson_import_and_reimport_replaces(session):
    first = basemap.import_osm(SHANGHAI, clip_to_data=True, session=session)
    assert first["source"] == "shanghai_lujiazui"
    counts = {t: c["stored"] for t, c in first["themes"].items()}
    assert counts == {"roads": 1078, "buildings": 1321, "water": 59, "landuse": 261, "pois": 494, "addresses": 162}
    assert rows(session, "SELECT attrs->>'name', height_m FROM building ORDER BY height_m DESC NULLS LAST "
                         "LIMIT 1") == [("上海中心大厦", 632.0)]
    assert ("世纪大道", "primary", True) in rows(session, "SELECT name, road_class, oneway FROM road")
    assert rows(session, "SELECT count(*) FROM road WHERE road_class IN ('rail', 'subway', 'ferry')") == [(0,)]
    assert ("黄浦江", "MULTIPOLYGON") in rows(session, "SELECT name, GeometryType(geom) FROM water")
    kinds = dict(rows(session, "SELECT kind, count(*) FROM poi GROUP BY kind"))
    assert (kinds["school"], kinds["hospital"], kinds["police"]) == (5, 2, 3)
    gen = tiles.generation(session)
    # the same files again: same rows, the old ones replaced, the generation moved
    again = basemap.import_osm(SHANGHAI, clip_to_data=True, session=session)
    assert {t: c["stored"] for t, c in again["themes"].items()} == counts
    assert {t: c["deleted"] for t, c in again["themes"].items()} == counts
    assert rows(session, "SELECT count(*) FROM road WHERE source = 'shanghai_lujiazui'") == [(1078,)]
    assert tiles.generation(session) > gen


def test_clip_to_district_and_bbox(session):
    with pytest.raises(ImportDataError, match="no district boundary"):
        basemap.import_osm([SHANGHAI[0]], session=session)
    bbox = (121.49, 31.23, 121.51, 31.245)
    basemap.import_osm(SHANGHAI, bbox=bbox, session=session)
    env = "ST_MakeEnvelope(121.49, 31.23, 121.51, 31.245, 4326)"
    for table in ("road", "water", "landuse", "poi", "address"):
        assert rows(session, f"SELECT count(*) FILTER (WHERE NOT ST_CoveredBy(geom, {env})), count(*) "
                             f"FROM {table}")[0][0] == 0, table
    # buildings are kept whole when a point on them is inside
    assert rows(session, f"SELECT count(*) FROM building WHERE NOT ST_Intersects(ST_PointOnSurface(geom), {env})"
                ) == [(0,)]
    # the district (admin_unit level 1): a smaller box around the Bund
    session.execute(sa.text("INSERT INTO admin_unit (code, name, level, geom) VALUES ('D', 'Bund', 1, "
                            "ST_Multi(ST_MakeEnvelope(121.485, 31.235, 121.495, 31.245, 4326)))"))
    res = basemap.import_osm(SHANGHAI, session=session)
    assert res["clip"] == "district boundary" and 0 < res["themes"]["roads"]["stored"] < 400
    assert rows(session, "SELECT count(*) FROM road r, admin_unit a WHERE NOT ST_CoveredBy(r.geom, "
                         "ST_Buffer(a.geom, 1e-9))") == [(0,)]


def test_cli_import_errors(capsys):
    assert cli_main(["osm", "import", str(DATA / "PROVENANCE.txt"), "--clip-to-data"]) == 2
    assert "expected an .osm.pbf or a GeoJSON layer" in capsys.readouterr().err
    assert cli_main(["osm", "import", str(SHANGHAI[0]), "--bbox", "1,2,3"]) == 2
    assert "bbox must be four numbers" in capsys.readouterr().err


@pytest.fixture
def loaded(committed):
    """Shanghai imported and committed, plus a district whose outline is drawn in the admin layer."""
    with session_scope() as s:
        s.execute(sa.text("INSERT INTO admin_unit (code, name, level, geom) VALUES ('LJZ', '陆家嘴', 1, "
                          "ST_Multi(ST_MakeEnvelope(121.481, 31.227, 121.519, 31.250, 4326)))"))
        basemap.import_osm(SHANGHAI, session=s)
    tile_routes.CACHE.clear()
    with TestClient(create_api(background=False)) as client:
        yield client


def test_tile_layers_etag_and_invalidation(loaded):
    client = loaded
    z = 15
    x, y = tile_of(121.4990, 31.2397, z)  # Lujiazui: Oriental Pearl Tower, the river
    r = client.get(f"/tiles/basemap/{z}/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert r.headers["cache-control"] == "public, max-age=60" and r.headers["etag"].startswith('"b')
    layers = mapbox_vector_tile.decode(r.content)
    assert {"water", "landuse", "roads", "buildings", "pois"} <= set(layers)
    assert all(layers[k]["extent"] == 4096 for k in layers)
    assert ("世纪大道", "primary", "major") in {(f["properties"].get("name"), f["properties"]["class"],
                                               f["properties"]["group"]) for f in layers["roads"]["features"]}
    assert any(f["properties"].get("height", 0) > 100 for f in layers["buildings"]["features"])
    assert any(f["properties"].get("name") == "黄浦江" for f in layers["water"]["features"])
    # low zoom: only major roads, no buildings or POIs
    lx, ly = tile_of(121.50, 31.24, 12)
    low = mapbox_vector_tile.decode(client.get(f"/tiles/basemap/12/{lx}/{ly}.mvt").content)
    assert "buildings" not in low and "pois" not in low
    assert [f["properties"] for f in low["admin"]["features"]] == [{"level": 1, "name": "陆家嘴"}]  # the outline
    assert {f["properties"]["group"] for f in low["roads"]["features"]} == {"major"}

    # conditional request -> 304 without a body; the cached tile is served again
    etag = r.headers["etag"]
    r304 = client.get(f"/tiles/basemap/{z}/{x}/{y}.mvt", headers={"If-None-Match": etag})
    assert r304.status_code == 304 and r304.content == b"" and r304.headers["etag"] == etag
    hits = tile_routes.CACHE.hits
    assert client.get(f"/tiles/basemap/{z}/{x}/{y}.mvt").content == r.content
    assert tile_routes.CACHE.hits == hits + 1

    # a re-import (here: clipped to a small box away from this tile) changes the generation: new ETag, new tile
    with session_scope() as s:
        basemap.import_osm(SHANGHAI, bbox=(121.510, 31.226, 121.520, 31.232), session=s)
    r2 = client.get(f"/tiles/basemap/{z}/{x}/{y}.mvt", headers={"If-None-Match": etag})
    assert r2.status_code == 200 and r2.headers["etag"] != etag
    after = mapbox_vector_tile.decode(r2.content)
    assert "buildings" not in after and "roads" not in after and "pois" not in after


def test_label_tiles_name_roads_once_per_tile_and_admin_units(loaded):
    """/tiles/labels: one point per road name and tile (inside the tile), admin names at low zoom, own ETag."""
    client = loaded
    z = 15
    x, y = tile_of(121.4990, 31.2397, z)
    r = client.get(f"/tiles/labels/{z}/{x}/{y}.mvt")
    assert r.status_code == 200 and r.headers["etag"].startswith('"l')
    layers = mapbox_vector_tile.decode(r.content)
    assert set(layers) == {"labels"}
    feats = layers["labels"]["features"]
    roads = [f for f in feats if f["properties"]["kind"] == "road"]
    names = [f["properties"]["name"] for f in roads]
    assert "世纪大道" in names and len(names) == len(set(names))  # one label per road name in a tile
    assert all(f["geometry"]["type"] == "Point" and 0 <= f["geometry"]["coordinates"][0] <= 4096
               and 0 <= f["geometry"]["coordinates"][1] <= 4096 for f in roads)
    # the basemap tile itself carries no labels layer (labels are drawn over the data, separately)
    assert "labels" not in mapbox_vector_tile.decode(client.get(f"/tiles/basemap/{z}/{x}/{y}.mvt").content)
    # low zoom: the district's name, no street names below their zoom
    lx, ly = tile_of(121.50, 31.24, 11)
    low = mapbox_vector_tile.decode(client.get(f"/tiles/labels/11/{lx}/{ly}.mvt").content)
    assert [(f["properties"]["kind"], f["properties"]["name"]) for f in low["labels"]["features"]] \
        == [("admin", "陆家嘴")]


@pytest.mark.parametrize(("path", "status"), [
    ("/tiles/labels/23/0/0.mvt", 404),
    ("/tiles/basemap/23/0/0.mvt", 404),       # deeper than MAX_ZOOM
    ("/tiles/basemap/2/4/0.mvt", 404),        # x >= 2^z
    ("/tiles/basemap/2/0/4.mvt", 404),        # y >= 2^z
    ("/tiles/basemap/2/-1/0.mvt", 422),
    ("/tiles/basemap/a/0/0.mvt", 422),
    ("/tiles/basemap/99999999999/0/0.mvt", 422),
])
def test_bad_tile_addresses(db_url, path, status):
    with TestClient(create_api(background=False)) as client:
        r = client.get(path)
    assert r.status_code == status, r.text
    assert set(r.json()) >= {"error", "message"} or status == 422
