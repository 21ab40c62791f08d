"""Backup and restore drill on the real cluster: ``onemap backup``, drop, ``onemap restore``, compare.

The drill uses its own database (``onemap_ops_backup_<pid>``) and
``ONEMAP_HOME`` (a temporary folder with an overlay and a DEM), loads the
small demo district through the project's loader, adds tickets walked
through the lifecycle services, and compares every table's row count and a
checksum of the ticket history before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from data.load import load_demo
from spatial.cli.main import main
from spatial.db import backup, migrate
from spatial.db.engine import _sessionmaker, database_exists, drop_database, get_engine, session_scope
from spatial.models import Ticket
from spatial.settings import get_settings
from spatial.tickets.intake import TicketCreate, intake
from spatial.tickets.lifecycle import allowed_targets, transition
from tests.conftest import role_env

NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
SMALL = {"tickets": 300, "grids": 16, "communities": 4, "workers": 20, "assets": 20, "cameras": 4, "sensors": 4,
         "buildings": 50, "days": 20}
HISTORY_MD5 = ("SELECT md5(string_agg(concat_ws('|', id, ticket_id, at, kind, from_status, to_status, actor, "
               "actor_role, note, data::text), E'\\n' ORDER BY id)) FROM ticket_event")


def _forget_settings() -> None:
    get_settings.cache_clear()
    get_engine.cache_clear()
    _sessionmaker.cache_clear()


def _state(url: str) -> tuple[dict[str, int], str]:
    with get_engine(url).connect() as conn:
        return backup.row_counts(conn), conn.scalar(sa.text(HISTORY_MD5))


@pytest.fixture
def drill_db(db_url, tmp_path, monkeypatch):
    """A scratch database and ONEMAP_HOME for the drill; every role's URL points at it."""
    name = f"onemap_ops_backup_{os.getpid()}"
    env = role_env(name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "home"
    (home / "overlays").mkdir(parents=True)
    (home / "overlays" / "fc-1.png").write_bytes(b"\x89PNG overlay")
    (home / "overlays" / "fc-1.json").write_text('{"corners": []}')
    monkeypatch.setenv("ONEMAP_HOME", str(home))
    _forget_settings()
    url = env["ONEMAP_DATABASE_URL"]
    drop_database(url)
    try:
        migrate.upgrade()
        yield url, home
    finally:
        get_engine(url).dispose()
        get_engine(get_settings().owner_url_for(url)).dispose()
        drop_database(url)
        monkeypatch.undo()
        _forget_settings()


def _tickets_with_history() -> list[int]:
    """Three tickets through intake and the lifecycle (as the application role)."""
    ids = []
    with session_scope() as s:
        grid = s.execute(sa.text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) AS c "
                                 "FROM admin_unit WHERE level = 4 ORDER BY id LIMIT 1) g")).one()
        cat = s.execute(sa.text("SELECT code FROM category ORDER BY id LIMIT 1")).scalar_one()
        for i in range(3):
            res = intake(s, TicketCreate(channel="hotline", category=cat, lon=grid[0], lat=grid[1], dedupe=False,
                                         description=f"drill {i}"), actor="drill", role="channel")
            ids.append(res.ticket.id)
    with session_scope() as s:
        for tid in ids:  # to in_progress and resolved, from wherever the catalog's routing put it
            for to in ("accepted", "in_progress", "resolved"):
                if s.get(Ticket, tid).status != to and to in allowed_targets(s.get(Ticket, tid).status, "admin"):
                    transition(s, tid, to, actor="drill-admin", role="admin", note="drill")
            assert s.get(Ticket, tid).status == "resolved"
    return ids


def test_backup_drop_restore_gives_the_same_database(drill_db, tmp_path, capsys):
    url, home = drill_db
    load_demo(seed=3, now=NOW, **SMALL)
    _tickets_with_history()
    before = _state(url)
    assert before[0]["ticket"] >= 300 and before[0]["ticket_event"] > before[0]["ticket"]

    archive = tmp_path / "drill.tar"
    assert main(["backup", str(archive)]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["archive"] == str(archive) and out["alembic_revision"] == migrate.head()
    assert os.stat(archive).st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert set(tar.getnames()) == {"manifest.json", *manifest["files"]}
    assert manifest["database"] == make_url(url).database and manifest["row_counts"] == before[0]
    assert manifest["server_version"].startswith(str(manifest["server_version_num"] // 10000))
    assert manifest["postgis_version"] and manifest["created_at"].endswith("+00:00")
    assert {"database.dump", "files/overlays/fc-1.png", "files/overlays/fc-1.json",
            "files/demo/dem.tif"} <= set(manifest["files"])
    assert main(["backup", str(archive)]) == 2  # never overwrites an archive
    assert "exists" in capsys.readouterr().err

    drop_database(url)
    shutil.rmtree(home)
    assert main(["restore", str(archive)]) == 0, capsys.readouterr().err
    restored = json.loads(capsys.readouterr().out)
    assert restored["row_counts"] == before[0] and restored["alembic_revision"] == migrate.head()
    assert _state(url) == before
    assert (home / "overlays" / "fc-1.png").read_bytes() == b"\x89PNG overlay"
    assert (home / "demo" / "dem.tif").stat().st_size == manifest["files"]["files/demo/dem.tif"]["bytes"]

    # grants re-applied: the application role works on the restored database
    ids = _tickets_with_history()
    with get_engine(url).connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM ticket WHERE id = ANY(:i)"), {"i": ids}) == 3

    # a non-empty database is not overwritten without --force
    assert main(["restore", str(archive)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert _state(url)[0]["ticket"] == before[0]["ticket"] + 3
    assert main(["restore", str(archive), "--force"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert _state(url) == before


def test_a_corrupted_archive_is_refused(drill_db, tmp_path, capsys):
    url, _home = drill_db
    with session_scope() as s:
        s.execute(sa.text("INSERT INTO department (code, name) VALUES ('D1', 'Roads')"))
    archive = tmp_path / "b.tar"
    assert main(["backup", str(archive)]) == 0
    capsys.readouterr()
    with tarfile.open(archive) as tar:
        offset = tar.getmember("database.dump").offset_data
    bad = tmp_path / "bad.tar"
    data = bytearray(archive.read_bytes())
    data[offset + 100] ^= 0xFF
    bad.write_bytes(bytes(data))
    drop_database(url)
    assert main(["restore", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "corrupted" in err and "sha256 of database.dump" in err and "refusing to restore" in err
    assert not database_exists(url)  # nothing was touched

    not_a_backup = tmp_path / "x.tar"
    with tarfile.open(not_a_backup, "w") as tar:
        tar.add(bad, arcname="database.dump")
    assert main(["restore", str(not_a_backup)]) == 2
    assert "not a OneMap backup" in capsys.readouterr().err
    assert main(["restore", str(archive)]) == 0  # the good one still restores
    capsys.readouterr()
    assert _state(url)[0]["department"] == 1
