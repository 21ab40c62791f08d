"""Least privilege on the real cluster: app and read-only roles, the managed cluster's auth and WAL archive.

The test session runs as the application role (``tests/conftest.py``), as
the server does; ``owner_engine`` is the owner role.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from spatial.db.cluster import HBA, LocalCluster, archive_command
from spatial.db.engine import get_engine
from spatial.models import Ticket, TicketEvent
from spatial.settings import Settings, get_settings

DENIED = "permission denied|must be owner"


@pytest.fixture
def cluster(db_url, monkeypatch) -> LocalCluster:
    """The project-managed cluster that hosts the test database."""
    for key in ("ONEMAP_DATABASE_URL", "ONEMAP_OWNER_DATABASE_URL", "ONEMAP_READONLY_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    c = LocalCluster(Settings())
    if make_url(db_url).port != c.settings.pg_port or not c.running():
        pytest.skip("the tests run on an external DATABASE_URL: there is no managed cluster to check")
    return c


def test_the_app_connects_without_superuser(engine):
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname = current_user")).one()
    assert row[0] == get_settings().role_name("app") != get_settings().role_name("owner")
    assert not any(row[1:])


@pytest.mark.parametrize("sql", [
    "SET session_replication_role = replica",
    "ALTER TABLE ticket_event DISABLE TRIGGER ALL",
    "ALTER TABLE ticket_event DISABLE TRIGGER ticket_event_append_only",
    "TRUNCATE ticket_event",
    "DROP TABLE ticket_event",
    "ALTER TABLE ticket ADD COLUMN smuggled int",
    "CREATE TABLE smuggled (id int)",
    "DROP FUNCTION onemap_append_only() CASCADE",
    "UPDATE alembic_version SET version_num = 'x'",
])
def test_the_app_cannot_switch_the_rules_off(engine, sql):
    with engine.connect() as conn, pytest.raises(DBAPIError, match=DENIED):
        conn.execute(sa.text(sql))


def test_the_app_cannot_rewrite_ticket_history(session, district):
    t = Ticket(channel="api", category_id=district["categories"]["pothole"],
               geom="SRID=4326;POINT(113.41 23.09)", grid_id=district["grids"]["G00"])
    session.add(t)
    session.flush()
    session.add(TicketEvent(ticket_id=t.id, kind="reported", to_status="reported", actor="test"))
    session.flush()
    for sql in ("UPDATE ticket_event SET actor = 'someone else' WHERE ticket_id = :t",
                "DELETE FROM ticket_event WHERE ticket_id = :t"):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(sa.text(sql), {"t": t.id})
    assert session.execute(sa.text("SELECT actor FROM ticket_event WHERE ticket_id = :t"),
                           {"t": t.id}).scalar_one() == "test"


def test_the_read_only_role_only_reads(db_url):
    ro = get_engine(get_settings().sqlalchemy_url(role="readonly"))
    with ro.connect() as conn:
        assert conn.scalar(sa.text("SELECT current_user")) == get_settings().role_name("readonly")
        assert conn.scalar(sa.text("SELECT count(*) FROM ticket")) >= 0
        with pytest.raises(DBAPIError, match="read-only transaction"):
            conn.execute(sa.text("INSERT INTO department (code, name) VALUES ('ro', 'ro')"))
    with ro.connect() as conn:  # even in a read-write transaction: no INSERT privilege
        conn.execute(sa.text("SET TRANSACTION READ WRITE"))
        with pytest.raises(DBAPIError, match="permission denied"):
            conn.execute(sa.text("INSERT INTO department (code, name) VALUES ('ro', 'ro')"))


def test_tables_of_later_migrations_are_granted_too(engine, owner_engine):
    """``ALTER DEFAULT PRIVILEGES FOR ROLE <owner>``: a table the owner creates later is usable at once."""
    with owner_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE future_table (id serial PRIMARY KEY, v text)"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO future_table (v) VALUES ('app')"))
            assert conn.scalar(sa.text("SELECT count(*) FROM future_table")) == 1
        with get_engine(get_settings().sqlalchemy_url(role="readonly")).connect() as conn:
            assert conn.scalar(sa.text("SELECT v FROM future_table")) == "app"
    finally:
        with owner_engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE future_table"))


def test_managed_cluster_has_no_trust_and_a_private_socket(cluster):
    hba = (cluster.datadir / "pg_hba.conf").read_text()
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert rules and not [r for r in rules if "trust" in r]
    assert hba == HBA.format(owner=cluster.settings.pg_user)
    assert os.stat(cluster.sockdir).st_mode & 0o777 == 0o700
    assert os.stat(cluster.settings.pgpass_file).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("role", ["app", "owner", "readonly"])
def test_tcp_without_the_password_is_refused(cluster, db_url, tmp_path, role):
    user = cluster.settings.role_name(role)
    database = make_url(db_url).database
    args = {"host": "127.0.0.1", "port": cluster.settings.pg_port, "user": user, "dbname": database,
            "connect_timeout": 5}
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(**args, passfile=str(tmp_path / "none")).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**args, password="wrong").close()
    psycopg.connect(**args, passfile=str(cluster.settings.pgpass_file)).close()  # the right one works


def test_wal_segments_are_archived(cluster, owner_engine):
    with owner_engine.connect() as conn:
        assert conn.scalar(sa.text("SHOW archive_mode")) == "on"
        assert conn.scalar(sa.text("SHOW wal_level")) == "replica"
    with owner_engine.begin() as conn:
        conn.execute(sa.text("SELECT txid_current()"))  # some WAL in the current segment
    with owner_engine.connect() as conn:
        segment = conn.scalar(sa.text("SELECT pg_walfile_name(pg_switch_wal())"))
    target = cluster.wal_archive / segment
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.exists(), f"{segment} not archived in {cluster.wal_archive} within 10 s"
    assert target.stat().st_size == 16 * 1024 * 1024


def _archive(folder: Path, source: Path) -> int:
    cmd = archive_command(folder).replace("%%", "\0").replace("%p", str(source)).replace("%f", source.name)
    return subprocess.run(["sh", "-c", cmd.replace("\0", "%")], check=False).returncode


def test_archive_command_never_overwrites_a_different_segment(tmp_path):
    folder, wal = tmp_path / "archive 100%", tmp_path / "pg_wal"
    folder.mkdir()
    wal.mkdir()
    seg = wal / "000000010000000000000001"
    seg.write_bytes(b"A" * 1000)
    assert _archive(folder, seg) == 0 and (folder / seg.name).read_bytes() == b"A" * 1000
    assert _archive(folder, seg) == 0  # the same bytes again (a retry after a crash): done
    seg.write_bytes(b"B" * 1000)
    assert _archive(folder, seg) != 0  # a different file of that name: fail, keep the archived one
    assert (folder / seg.name).read_bytes() == b"A" * 1000
    assert sorted(p.name for p in folder.iterdir()) == [seg.name]


def test_role_urls_fall_back_to_the_one_given(monkeypatch, tmp_path):
    for key in ("ONEMAP_DATABASE_URL", "ONEMAP_OWNER_DATABASE_URL", "ONEMAP_READONLY_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ONEMAP_HOME", str(tmp_path))
    managed = Settings()
    assert managed.managed and [managed.role_name(r) for r in ("owner", "app", "readonly")] == [
        "onemap", "onemap_app", "onemap_readonly"]
    app = make_url(managed.sqlalchemy_url("x"))
    assert (app.username, app.password, app.database, app.query["passfile"]) == (
        "onemap_app", None, "x", str(tmp_path / "pgpass"))
    assert make_url(managed.owner_url_for(str(app))).username == "onemap"

    monkeypatch.setenv("DATABASE_URL", "postgres://one:pw@db:5432/city")
    one = Settings()
    assert not one.managed
    assert {one.sqlalchemy_url(role=r) for r in ("app", "owner", "readonly")} == {
        "postgresql+psycopg://one:pw@db:5432/city"}

    monkeypatch.setenv("ONEMAP_OWNER_DATABASE_URL", "postgresql://boss:pw@db:5432/city")
    monkeypatch.setenv("ONEMAP_READONLY_DATABASE_URL", "postgresql://reader@replica:5432/city")
    three = Settings()
    assert [three.role_name(r) for r in ("owner", "app", "readonly")] == ["boss", "one", "reader"]
    # administration on another database of the same server runs as the owner; foreign URLs stay as they are
    assert three.owner_url_for("postgresql://one:pw@db:5432/other") == "postgresql+psycopg://boss:pw@db:5432/other"
    assert three.owner_url_for("postgresql://x@elsewhere/other") == "postgresql+psycopg://x@elsewhere/other"

    monkeypatch.delenv("DATABASE_URL")
    only_owner = Settings()
    assert not only_owner.managed and only_owner.role_name("app") == "boss"
