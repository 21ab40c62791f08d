"""District profile (issue 12): file round trip, and the stored profile drives calendars, metres and time zones."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import sqlalchemy as sa
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy.orm import Session

from spatial import forecasts
from spatial.cli.main import main
from spatial.errors import ConfigError, ValidationError
from spatial.models import Camera
from spatial.profile import district_profile, parse_profile, read_profile_file, store_profile, utm_srid
from spatial.sensors.cameras import view_location
from spatial.sensors.flood_warnings import publish_forecast_warnings
from spatial.settings import REPO_ROOT, get_settings
from spatial.tickets import scoring
from spatial.tickets.deadlines import due_at_many
from spatial.tickets.intake import TicketCreate, intake
from tests.district import seed_small_district

PROFILES = REPO_ROOT / "data" / "profiles"
CN = {"name": "CN test district", "timezone": "Asia/Shanghai", "calendar": {"country": "CN"},
      "metric_crs": "EPSG:32649"}


def _profile_file(tmp_path, doc: dict, name: str = "p.yaml"):
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False))  # JSON is YAML
    return path


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", ["demo", "hong_kong_ytm", "shanghai_lujiazui", "los_angeles_central"])
def test_shipped_profiles_are_valid(name):
    spec = read_profile_file(PROFILES / f"{name}.yaml")
    want = {"demo": ("EPSG:32649", "Asia/Shanghai"), "hong_kong_ytm": ("EPSG:32650", "Asia/Hong_Kong"),
            "shanghai_lujiazui": ("EPSG:32651", "Asia/Shanghai"),
            "los_angeles_central": ("EPSG:32611", "America/Los_Angeles")}[name]
    assert (spec.metric_crs, spec.timezone) == want and spec.source
    assert utm_srid(114.17, 22.31) == 32650 and utm_srid(121.5, 31.23) == 32651 and utm_srid(-118.25, 34.05) == 32611


def test_profile_round_trip_through_the_cli(committed, tmp_path, capsys):
    with Session(committed) as s:
        seed_small_district(s)
        s.commit()
    path = _profile_file(tmp_path, {"name": "Round trip", "levels": [1, 2, 3, 4], "timezone": "Asia/Shanghai",
                                    "calendar": {"country": "CN", "holidays": ["2026-11-20"]},
                                    "storm": {"preset": "huangpu"}})
    code, out, _ = _cli(capsys, "district", "init", str(path))
    report = json.loads(out)
    assert code == 0 and report["metric_srid"] == 32649  # no metric_crs: UTM zone of the boundary's centroid
    assert report["boundary_loaded"] and report["levels"] == {"district": 1, "street": 2, "community": 4, "grid": 16}
    assert report["dem"] == "none: run onemap dem set PATH"
    code, out, _ = _cli(capsys, "district", "show")
    shown = json.loads(out)
    assert code == 0 and shown["name"] == "Round trip" and shown["metric_srid"] == 32649
    assert shown["calendar"]["holidays"] == ["2026-11-20"]
    code, out, _ = _cli(capsys, "district", "check")
    assert code == 0 and json.loads(out)["database"]["stored"] is True

    bad = _profile_file(tmp_path, {"name": "bad", "timezone": "Mars/Olympus", "metric_crs": "EPSG:4326",
                                   "calendar": {"country": "XX"}, "colour": "red"}, "bad.yaml")
    code, _, err = _cli(capsys, "district", "check", str(bad))
    assert code == 2
    for part in ("unknown key 'colour'", "EPSG:4326 (WGS 84) is not a projected CRS in metres",
                 "timezone 'Mars/Olympus' is not an IANA time zone", "unknown holiday calendar country 'XX'"):
        assert part in err, err
    code, _, err = _cli(capsys, "district", "init", str(_profile_file(tmp_path, {**CN, "metric_crs": 999999},
                                                                          "e.yaml")))
    assert code == 2 and "EPSG:999999 is not a known EPSG code" in err
    # a profile for a district with no street level: the check says which loaded levels it does not use
    code, out, _ = _cli(capsys, "district", "check", str(_profile_file(tmp_path, {**CN, "levels": [1, 3, 4]},
                                                                       "hk.yaml")))
    assert code == 0 and json.loads(out)["database"]["unexpected_levels"] == ["street"]


def test_stored_calendar_drives_deadlines(session, district):
    store_profile(session, parse_profile(CN))
    cat = "pothole"  # resolve within 5 working days
    # Wed 30 Sep 2026 10:00 local: 1-7 Oct are National Day holidays, Sat 10 Oct is an adjusted working day
    t = intake(session, TicketCreate(category=cat, lon=113.415, lat=23.095, channel="hotline", dedupe=False),
               actor="hl", role="channel", now=datetime(2026, 9, 30, 2, tzinfo=UTC)).ticket
    assert t.resolve_due_at == datetime(2026, 10, 13, 2, tzinfo=UTC)  # 8, 9, 10 (Sat), 12, 13 Oct
    # the same rule for columns (bulk and file imports) with the stored calendar
    prof = district_profile(session)
    many = due_at_many(pd.Series([pd.Timestamp("2026-09-30T02:00Z"), pd.Timestamp("2026-10-09T02:00Z")]),
                       pd.Series([5.0, 1.0]), pd.Series(["working_days", "working_days"]), prof.timezone,
                       calendar=prof.calendar)
    assert list(many) == [pd.Timestamp("2026-10-13T02:00Z"), pd.Timestamp("2026-10-10T02:00Z")]  # Fri -> Sat
    # a profile holiday of its own is skipped too
    store_profile(session, parse_profile({**CN, "calendar": {"country": "CN", "holidays": ["2026-11-23"]}}))
    t = intake(session, TicketCreate(category=cat, lon=113.42, lat=23.10, channel="hotline", dedupe=False),
               actor="hl", role="channel", now=datetime(2026, 11, 20, 2, tzinfo=UTC)).ticket  # a Friday
    assert t.resolve_due_at == datetime(2026, 11, 30, 2, tzinfo=UTC)  # Mon 23 Nov skipped: 24..27, 30


def _bearing_error_deg(session: Session, cam: Camera) -> float:
    vp = view_location(session, cam.id)
    az, _, dist = Geod(ellps="WGS84").inv(121.50, 31.23, vp["lon"], vp["lat"])
    assert math.isclose(dist, 100.0, rel_tol=0.02)  # half the range; scale error of the far zone ~1 %
    return abs(az - 0.0)


def test_stored_metric_crs_places_camera_view_points(session):
    cam = Camera(code="SH-1", name="Lujiazui cam", geom="SRID=4326;POINT(121.50 31.23)", heading_deg=0.0,
                 range_m=200.0)
    session.add(cam)
    session.flush()
    store_profile(session, read_profile_file(PROFILES / "shanghai_lujiazui.yaml"))
    assert district_profile(session).metric_srid == 32651
    assert _bearing_error_deg(session, cam) < 1.0  # grid convergence of UTM 51N at 121.5 E is 0.8 deg
    store_profile(session, parse_profile({**CN, "metric_crs": "EPSG:32649"}))  # the demo's zone, 6 deg off
    assert _bearing_error_deg(session, cam) > 4.0


def test_stored_time_zone_drives_monthly_scoring(session, district):
    # 20:00 UTC on 31 Oct is 13:00 on 31 Oct in Los Angeles and 04:00 on 1 Nov in Shanghai
    intake(session, TicketCreate(category="pothole", lon=113.415, lat=23.095, channel="hotline", dedupe=False),
           actor="hl", role="channel", now=datetime(2026, 10, 31, 20, tzinfo=UTC))

    def intake_of(month: date) -> int:
        return int(scoring.monthly_scores(session, month=month).set_index("code").loc["urban"].intake)

    store_profile(session, read_profile_file(PROFILES / "los_angeles_central.yaml"))
    assert (intake_of(date(2026, 10, 1)), intake_of(date(2026, 11, 1))) == (1, 0)
    store_profile(session, parse_profile(CN))
    assert (intake_of(date(2026, 10, 1)), intake_of(date(2026, 11, 1))) == (0, 1)


def test_planner_refuses_to_run_without_a_district_dem(session):
    with pytest.raises(ConfigError, match="no DEM for this district: run onemap dem set PATH"):
        forecasts.dem_path(session)  # no profile stored: no fallback to the demo DEM
    store_profile(session, read_profile_file(PROFILES / "hong_kong_ytm.yaml"))
    with pytest.raises(ConfigError, match="no DEM for this district"):
        forecasts.dem_path(session)
    with pytest.raises(ValidationError, match="no district boundary"):  # no metric_crs and nothing to derive it
        store_profile(session, parse_profile({"name": "x", "timezone": "UTC"}))


def test_unknown_storm_preset_and_languages_are_refused():
    with pytest.raises(ValidationError) as exc:
        parse_profile({**CN, "storm": {"preset": "tokyo"}, "warnings": {"languages": ["fr"]}})
    assert "storm.preset 'tokyo' unknown" in exc.value.message and "language 'fr' has no texts" in exc.value.message


def test_warning_texts_come_from_the_profile(session, district):
    store_profile(session, read_profile_file(PROFILES / "los_angeles_central.yaml"))
    w = gpd.GeoDataFrame({"kind": ["grid"], "feature_id": ["G00"], "level": ["yellow"], "name": ["Grid A"],
                          "max_depth_m": [0.2]}, geometry=[Point(113.41, 23.09).buffer(0.001)], crs=4326)
    publish_forecast_warnings(session, w, run_id="r1", actor="t", issue_tickets=False)
    msg = session.scalar(sa.text("SELECT message FROM alert WHERE source_kind = 'flood'"))
    assert msg == ("Grid A waterlogging yellow warning, take precautions (forecast depth 0.20 m) / "
                   "Grid A: aviso amarillo de inundación, tome precauciones (profundidad prevista 0.20 m)")


SHENZHEN_DEM = REPO_ROOT.parent / "shared" / "data" / "03_dem_rainfall" / "shenzhen_srtm3_dem.tif"


def _set_boundary(engine: sa.Engine, x0: float, y0: float, x1: float, y1: float) -> None:
    with Session(engine) as s:
        s.execute(sa.text("DELETE FROM admin_unit"))
        s.execute(sa.text("INSERT INTO admin_unit (code, name, level, geom) VALUES ('D', 'D', 1, "
                          "ST_GeomFromText(:wkt, 4326))"),
                  {"wkt": f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"})
        s.commit()


def test_dem_set_reprojects_and_clips_the_shenzhen_srtm(committed, tmp_path, capsys):
    assert SHENZHEN_DEM.is_file(), f"shared data missing: {SHENZHEN_DEM}"
    _set_boundary(committed, 114.05, 22.53, 114.10, 22.57)  # Futian, inside the SRTM tile
    code, out, err = _cli(capsys, "district", "init", str(_profile_file(
        tmp_path, {"name": "Futian", "timezone": "Asia/Shanghai", "levels": [1, 4]})))
    assert code == 0 and json.loads(out)["metric_srid"] == 32650, err
    code, out, err = _cli(capsys, "dem", "set", str(SHENZHEN_DEM), "--margin", "300")
    assert code == 0, err
    info = json.loads(out)
    with Session(committed) as s:
        stored = forecasts.dem_path(s)
    try:
        with rasterio.open(stored) as src:
            assert src.crs.to_epsg() == 32650 and src.res[0] == pytest.approx(info["cell_m"])
            assert 80 < src.res[0] < 95  # 3 arc-seconds
            with Session(committed) as s:
                x0, y0, x1, y1 = s.execute(sa.text(
                    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent("
                    "ST_Transform(geom, 32650)) AS e FROM admin_unit) x")).one()
                prof = district_profile(s)
            b = src.bounds
            inner, outer = 300, 300 + 2 * src.res[0]
            assert shapely.box(x0 - inner, y0 - inner, x1 + inner, y1 + inner).within(shapely.box(*b))  # district
            assert shapely.box(*b).within(shapely.box(x0 - outer, y0 - outer, x1 + outer, y1 + outer))  # + margin
            z = src.read(1)
            assert np.isfinite(z).all() and np.nanmin(z) > -20 and np.nanmax(z) < 400  # coast to low hills
        assert prof.spec.dem == f"dem/{stored.name}" and prof.dem_path == stored
        code, out, _ = _cli(capsys, "district", "check")
        assert json.loads(out)["database"]["dem_covers_boundary"] == 1.0

        # a DEM without a CRS is refused unless --crs says what it is
        bare = tmp_path / "bare.tif"
        with rasterio.open(SHENZHEN_DEM) as src:
            meta = {**src.meta, "crs": None}
            with rasterio.open(bare, "w", **meta) as dst:
                dst.write(src.read())
        code, _, err = _cli(capsys, "dem", "set", str(bare))
        assert code == 2 and "has no CRS: give it with --crs EPSG:xxxx" in err
        code, _, err = _cli(capsys, "dem", "set", str(bare), "--crs", "EPSG:4326")
        assert code == 0, err
        (get_settings().home / "dem" / "bare-32650.tif").unlink()

        # a district outside (or partly outside) the DEM is refused, saying how much is covered
        _set_boundary(committed, 113.00, 22.53, 113.05, 22.57)
        code, _, err = _cli(capsys, "dem", "set", str(SHENZHEN_DEM))
        assert code == 2 and "covers 0.0% of the district" in err
        _set_boundary(committed, 114.70, 22.53, 114.72, 22.57)  # the tile ends at 114.713 E
        code, _, err = _cli(capsys, "dem", "set", str(SHENZHEN_DEM))
        assert code == 2 and "% of the district" in err and "covers 0.0%" not in err
    finally:
        stored.unlink(missing_ok=True)
