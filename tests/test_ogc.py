"""OGC API – Features and Tiles (``/ogc``) read by GDAL as a GIS client, on the real server.

The one server (``uvicorn app:create_server --factory``) runs in a child
process on loopback; GDAL's OAPIF driver (through pyogrio) reads every
collection with a ``where`` clause that GDAL sends to the server as a CQL2
filter (the server log shows the ``filter=`` requests), plus ``bbox`` and
paging; GDAL's MVT driver reads the vector tiles. Staff-only collections need
a staff bearer token (GDAL_HTTP_HEADERS), and no collection carries reporter
contact, sensitive tickets or private sensors to the public.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pyogrio
import pytest
import sqlalchemy as sa

from spatial.auth import create_token
from spatial.db.engine import get_engine, session_scope
from spatial.models import Alert, Camera, Sensor, Ticket, Worker
from tests.conftest import truncate_all
from tests.district import seed_small_district
from tests.live_server import live_server

T0 = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)
REPORTER = ("reporter_name", "reporter_phone", "reporter_account", "attrs", "photo_urls", "created_by")


def _ticket(s, d, code: str, status: str, lon: float, lat: float, at: datetime, **kw) -> int:
    t = Ticket(channel="api", category_id=d["categories"][code], geom=f"SRID=4326;POINT({lon} {lat})",
               grid_id=d["grids"]["G00"], street_id=d["streets"]["S0"], community_id=d["communities"]["C00"],
               status=status, created_at=at, reporter_name="Alice Secret", reporter_phone="+44 20 7946 0000",
               description=f"{code} {status}", **kw)
    s.add(t)
    s.flush()
    return t.id


@pytest.fixture(scope="module")
def world(db_url):
    """A committed district with tickets, cameras, sensors, alerts, workers and two tokens (emptied after)."""
    truncate_all(get_engine(db_url))
    with session_scope() as s:
        d = seed_small_district(s)
        s.execute(sa.text("UPDATE category SET sensitive = true WHERE code = 'noise'"))
        d["tickets"] = {
            "pothole_reported": _ticket(s, d, "pothole", "reported", 113.41, 23.09, T0),
            "pothole_closed": _ticket(s, d, "pothole", "closed", 113.43, 23.11, T0 - timedelta(days=40)),
            "parking": _ticket(s, d, "illegal_parking", "reported", 113.45, 23.13, T0 - timedelta(days=2)),
            "noise_sensitive": _ticket(s, d, "noise", "reported", 113.41, 23.09, T0),
        }
        for i, status in enumerate(("online", "offline")):
            s.add(Camera(code=f"CAM{i}", name=f"Camera {i}", geom=f"SRID=4326;POINT({113.41 + i / 100} 23.09)",
                         status=status, stream_url="rtsp://secret/stream"))
        for code, stype, private in (("WL1", "water_level", False), ("RG1", "rain_gauge", False),
                                     ("DOOR1", "door", True)):
            s.add(Sensor(code=code, sensor_type=stype, name=code, unit="m", geom="SRID=4326;POINT(113.42 23.10)",
                         private=private, last_value=0.3, last_reading_at=T0))
        for kind, source, level in (("sensor", "WL1", "red"), ("sensor", "DOOR1", "orange"),
                                    ("flood", "road:7", "orange"), ("flood", "grid:G00", "yellow")):
            s.add(Alert(source_kind=kind, source_id=source, rule="threshold" if kind == "sensor" else "flood_forecast",
                        level=level, state="active", started_at=T0, updated_at=T0, last_value=0.4,
                        geom="SRID=4326;POINT(113.42 23.10)", message=f"{source} {level}",
                        data={"kind": source.split(":")[0], "feature_id": source.split(":")[-1]}
                        if kind == "flood" else {}))
        for i in range(2):
            s.add(Worker(code=f"W{i}", name=f"Worker {i}", phone="13800000000", department_id=d["departments"]["urban"],
                         on_duty=i == 0, geom=f"SRID=4326;POINT({113.41 + i / 100} 23.09)", position_at=T0))
        d["tokens"] = {"citizen": create_token(s, name="alice", role="citizen"),
                       "dispatcher": create_token(s, name="desk", role="dispatcher")}
    yield d
    truncate_all(get_engine(db_url))


@pytest.fixture(scope="module")
def server(world, db_url, tmp_path_factory):
    """The one server on a free loopback port; yields its base URL and its log file."""
    log_path = tmp_path_factory.mktemp("ogc") / "server.log"
    with live_server(log_path, {"ONEMAP_DATABASE_URL": db_url}) as base:
        yield base, log_path


@pytest.fixture
def gdal_token():
    """Have GDAL send ``Authorization: Bearer <token>`` (GDAL_HTTP_AUTH=BEARER) for the duration of a test."""
    def _set(token: str | None):
        pyogrio.set_gdal_config_options({"GDAL_HTTP_AUTH": "BEARER" if token else None, "GDAL_HTTP_BEARER": token})
    yield _set
    _set(None)


def _read(server, layer: str, **kw):
    base, _ = server
    return pyogrio.read_dataframe(f"OAPIF:{base}/ogc", layer=layer, **kw)


def _filtered_on_server(server, fragment: str) -> bool:
    """Whether the server log shows a request whose ``filter`` contains ``fragment`` (URL-encoded)."""
    return any("filter=" in line and fragment in line for line in server[1].read_text().splitlines())


def test_landing_conformance_and_public_collections(server):
    base, _ = server
    r = httpx.get(f"{base}/ogc/conformance", headers={"Accept": "application/json"})
    assert r.status_code == 200
    classes = r.json()["conformsTo"]
    assert any("ogcapi-features-1/1.0/conf/core" in c for c in classes)
    assert any("ogcapi-features-3/1.0/conf/filter" in c for c in classes)
    assert any("ogcapi-tiles-1/1.0/conf/core" in c for c in classes)
    layers = {name for name, _ in pyogrio.list_layers(f"OAPIF:{base}/ogc")}
    assert layers == {"ogc.admin_units", "ogc.grids", "ogc.tickets", "ogc.cameras", "ogc.sensors", "ogc.alerts",
                      "ogc.flood_warnings"}  # no staff-only collection listed for the public


def test_staff_sees_staff_collections(server, world, gdal_token):
    gdal_token(world["tokens"]["dispatcher"])
    layers = {name for name, _ in pyogrio.list_layers(f"OAPIF:{server[0]}/ogc")}
    assert {"ogc_staff.workers", "ogc_staff.tickets", "ogc_staff.sensors", "ogc_staff.alerts"} <= layers


def test_admin_units_by_level(server):
    df = _read(server, "ogc.admin_units", where="level = 3")
    assert sorted(df.code) == ["C00", "C01", "C10", "C11"] and set(df.level_name) == {"community"}
    assert _filtered_on_server(server, "level%20%3D%203")
    assert str(df.crs) == "EPSG:4326" and df.geometry.iloc[0].geom_type == "MultiPolygon"


def test_grids_by_community(server):
    df = _read(server, "ogc.grids", where="community = 'C00'")
    assert sorted(df.code) == ["G00", "G01", "G10", "G11"] and set(df.street) == {"S0"}
    df = _read(server, "ogc.grids", bbox=(113.401, 23.081, 113.419, 23.099))
    assert list(df.code) == ["G00"]


def test_tickets_filtered_and_private_fields_absent(server, world):
    df = _read(server, "ogc.tickets", where="status = 'reported' AND category = 'pothole'")
    assert list(df.id) == [world["tickets"]["pothole_reported"]]
    assert _filtered_on_server(server, "category%20%3D%20'pothole'")
    assert set(df.department.dropna()) <= {"road"} and df.street.iloc[0] == "S0"
    df = _read(server, "ogc.tickets", where="created_at >= '2026-10-01T00:00:00Z'")
    assert set(df.id) == {world["tickets"]["pothole_reported"], world["tickets"]["parking"]}
    assert world["tickets"]["noise_sensitive"] not in set(_read(server, "ogc.tickets").id)  # sensitive: omitted
    assert not set(REPORTER) & set(df.columns)


def test_tickets_paging_follows_next_links(server, world):
    base, _ = server
    r = httpx.get(f"{base}/ogc/collections/ogc.tickets/items", params={"limit": 2, "sortby": "id"},
                  headers={"Accept": "application/geo+json"})
    body = r.json()
    assert r.status_code == 200 and body["numberMatched"] == 3 and body["numberReturned"] == 2
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    rest = httpx.get(nxt, headers={"Accept": "application/geo+json"}).json()
    ids = [f["id"] for f in body["features"]] + [f["id"] for f in rest["features"]]
    assert sorted(ids) == sorted(v for k, v in world["tickets"].items() if k != "noise_sensitive")


def test_cameras_by_status_without_stream_urls(server):
    df = _read(server, "ogc.cameras", where="status = 'online'")
    assert list(df.code) == ["CAM0"] and "stream_url" not in df.columns


def test_sensors_latest_values_public_only(server):
    df = _read(server, "ogc.sensors", where="sensor_type = 'water_level'")
    assert list(df.code) == ["WL1"] and df.last_value.iloc[0] == pytest.approx(0.3)
    assert "DOOR1" not in set(_read(server, "ogc.sensors").code)  # private sensor


def test_alerts_without_private_sensors(server):
    df = _read(server, "ogc.alerts", where="source_kind = 'sensor'")
    assert list(df.source_id) == ["WL1"]


def test_flood_warnings_by_level(server):
    df = _read(server, "ogc.flood_warnings", where="level = 'orange'")
    assert list(df.feature_id) == ["7"] and list(df.feature_kind) == ["road"]
    assert df.max_depth_m.iloc[0] == pytest.approx(0.4)


def test_workers_for_staff_only(server, world, gdal_token):
    base, _ = server
    r = httpx.get(f"{base}/ogc/collections/ogc_staff.workers/items")
    assert r.status_code == 401 and "staff" in r.json()["message"]
    r = httpx.get(f"{base}/ogc/collections/ogc_staff.workers/items",
                  headers={"Authorization": f"Bearer {world['tokens']['citizen']}"})
    assert r.status_code == 403
    r = httpx.get(f"{base}/ogc/collections/ogc_staff.workers/tiles/WebMercatorQuad/14/13353/7111")
    assert r.status_code == 401  # the tiles too
    gdal_token(world["tokens"]["dispatcher"])
    df = _read(server, "ogc_staff.workers", where="department = 'urban' AND code = 'W0'")
    assert list(df.code) == ["W0"] and bool(df.on_duty.iloc[0]) and "phone" not in df.columns
    assert _filtered_on_server(server, "code%20%3D%20'W0'")


def test_a_filter_that_does_not_fit_is_a_400(server, world):
    base, _ = server
    r = httpx.get(f"{base}/ogc/collections/ogc.cameras/items", params={"filter": "status = 1"})
    assert r.status_code == 400 and "filter" in r.json()["message"]
    r = httpx.get(f"{base}/ogc/collections/ogc.cameras/items", params={"filter": "status ="})
    assert r.status_code == 400 and "CQL2" in r.json()["message"]
    r = httpx.get(f"{base}/ogc/collections/ogc.nothing/items")
    assert r.status_code == 404


def test_staff_tickets_and_sensors_include_the_sensitive_ones(server, world, gdal_token):
    gdal_token(world["tokens"]["dispatcher"])
    df = _read(server, "ogc_staff.tickets", where="category = 'noise'")
    assert list(df.id) == [world["tickets"]["noise_sensitive"]] and bool(df.sensitive.iloc[0])
    assert not set(REPORTER) & set(df.columns)  # reporter contact is never in the OGC API
    assert "DOOR1" in set(_read(server, "ogc_staff.sensors").code)
    assert "DOOR1" in set(_read(server, "ogc_staff.alerts").source_id)


def test_vector_tiles_read_by_gdal(server, tmp_path):
    """Tiles: the tileset lists the standard ``item`` link; GDAL's MVT driver reads a tile, filtered with CQL2."""
    base, _ = server
    tileset = httpx.get(f"{base}/ogc/collections/ogc.tickets/tiles/WebMercatorQuad",
                        headers={"Accept": "application/json"}).json()
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    item = next(link["href"] for link in tileset["links"] if link["rel"] == "item")
    # 113.41, 23.09 at zoom 14 of WebMercatorQuad: column 13353, row 7111
    url = item.replace("{tileMatrix}", "14").replace("{tileRow}", "7111").replace("{tileCol}", "13353")
    r = httpx.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    path = tmp_path / "14-13353-7111.pbf"
    path.write_bytes(r.content)
    df = pyogrio.read_dataframe(f"MVT:{path}", layer="default")
    assert set(df.status) == {"reported"} and "reporter_name" not in df.columns
    filtered = httpx.get(url, params={"filter": "status = 'closed'"})  # no closed ticket in this tile
    assert filtered.status_code == 200 and len(filtered.content) < len(r.content)
