"""The ``onemap`` command line against real PostGIS: db status, migrate, load-demo, import, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import main
from data.load import main as demo_main
from spatial.db import migrate
from spatial.db.engine import _sessionmaker, drop_database, get_engine
from spatial.settings import get_settings
from tests.conftest import role_env
from tests.district import seed_small_district

ONEMAP = str(Path(sys.executable).with_name("onemap"))


def _run(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([ONEMAP, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def test_db_status_reports_the_schema_head(db_url):
    out = _run("db", "status")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["revision"] == info["head"] == migrate.head()
    assert make_url(info["url"]).database == make_url(db_url).database


def _forget_settings() -> None:
    """Settings and the default engine/sessionmaker are cached per process: forget them after an env change."""
    get_settings.cache_clear()
    get_engine.cache_clear()
    _sessionmaker.cache_clear()


def test_migrate_load_demo_and_back_down_on_a_scratch_database(db_url, tmp_path, monkeypatch, capsys):
    """In-process (each ``onemap`` start costs seconds of imports): migrate, load-demo, --keep, down, up."""
    url = make_url(db_url).set(database=make_url(db_url).database + "_cli").render_as_string(hide_password=False)
    drop_database(url)
    for key, value in role_env(make_url(url).database).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ONEMAP_HOME", str(tmp_path))
    _forget_settings()
    try:
        assert main(["migrate"]) == 0
        assert f"schema at revision {migrate.head()}" in capsys.readouterr().out
        assert main(["load-demo", "--tickets", "400", "--seed", "5"]) == 0
        out = capsys.readouterr().out
        assert '"ticket": 400' in out and "demo district loaded in" in out
        assert (tmp_path / "demo" / "dem.tif").exists()
        assert main(["load-demo", "--tickets", "400", "--keep"]) == 2  # refuses to load on top
        assert "already hold rows" in capsys.readouterr().err
        assert demo_main(["--is-loaded"]) == 0 and capsys.readouterr().out == "yes\n"
        assert main(["migrate", "--down"]) == 0
        assert "schema at revision None" in capsys.readouterr().out
        assert main(["serve"]) == 2  # never serve an outdated schema
        assert "run `onemap db migrate`" in capsys.readouterr().err
        assert main(["db", "status"]) == 0
        assert json.loads(capsys.readouterr().out)["revision"] is None
        assert demo_main(["--is-loaded"]) == 0 and capsys.readouterr().out == "no\n"
        assert main(["migrate"]) == 0
    finally:
        get_engine(url).dispose()
        monkeypatch.undo()
        _forget_settings()
        drop_database(url)


@pytest.mark.parametrize("content, message", [
    (None, "File not found"),
    ("code,asset_type\nA1,bin\n", "no coordinates"),
    ("code,lon,lat\nA1,113.41,23.09\n", "Missing required column asset_type"),
    ("code,asset_type,lon,lat\nA1,bin,113.41,93.09\n", "out of range"),
])
def test_import_of_a_bad_file_exits_2_with_a_clear_message(db_url, tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    assert main(["import", "asset", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_import_bad_file_through_the_installed_command(db_url, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("code,asset_type,lon,lat\nA1,bin,750947.7,2556695.7\n")
    out = _run("import", "asset", str(path))
    assert out.returncode == 2
    assert "error: row 1: coordinates (750948, 2.5567e+06) are out of range for EPSG:4326" in out.stderr
    assert "Traceback" not in out.stderr


def test_import_then_export_through_the_cli(committed, tmp_path, capsys):
    with Session(committed) as s:
        seed_small_district(s)
        s.commit()
    src = tmp_path / "assets.csv"
    src.write_text("code,asset_type,lon,lat,department\nA1,bin,113.41,23.09,urban\nA2,hydrant,113.47,23.15,\n")
    assert main(["import", "asset", str(src)]) == 0
    assert "imported 2 rows into asset" in capsys.readouterr().out
    outside = tmp_path / "outside.csv"
    outside.write_text("code,asset_type,lon,lat\nA3,bin,113.70,23.09\n")
    assert main(["import", "asset", str(outside)]) == 2
    assert "outside the district" in capsys.readouterr().err
    for ext in (".gpkg", ".geojson", ".shp", ".csv"):
        dst = tmp_path / f"out{ext}"
        assert main(["export", "asset", str(dst)]) == 0
        assert f"exported 2 rows of asset to {dst}" in capsys.readouterr().out
        assert dst.exists()
    assert main(["import", "asset", str(tmp_path / "out.gpkg"), "--mode", "upsert"]) == 0
    with get_engine(committed.url.render_as_string(hide_password=False)).connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM asset")) == 2
    assert main(["export", "asset", str(tmp_path / "out.xlsx")]) == 2
    assert "Unknown export format" in capsys.readouterr().err
    bowtie = tmp_path / "b.csv"
    bowtie.write_text('code,height_m,wkt\nB1,12,"SRID=4326;POLYGON((113.45 23.12,113.4503 23.1203,113.4503 23.12,'
                      '113.45 23.1203,113.45 23.12))"\n')
    assert main(["import", "building", str(bowtie)]) == 2
    assert "--fix-invalid" in capsys.readouterr().err
    assert main(["import", "building", str(bowtie), "--fix-invalid"]) == 0


def test_db_up_and_down_leave_an_external_database_alone(db_url, capsys):
    """With a DATABASE_URL (as in tests) the cluster is not OneMap's: up only migrates, down stops nothing."""
    assert main(["db", "up"]) == 0
    assert f"schema at revision {migrate.head()}" in capsys.readouterr().out
    assert main(["db", "down"]) == 0
    assert "not managed by OneMap; nothing to stop" in capsys.readouterr().out
    assert migrate.current(db_url) == migrate.head()
