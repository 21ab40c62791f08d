"""A read replica: a real streaming standby of the test cluster, used by the OGC API through DATABASE_REPLICA_URL.

The test takes a base backup of the managed cluster (``pg_basebackup -R``,
WAL streamed), starts it as a hot standby on a free loopback port with the
project's own cluster code (:class:`spatial.db.cluster.LocalCluster`), and
points a server at it with ``ONEMAP_DATABASE_REPLICA_URL``. With replay paused
on the standby a ticket committed on the primary is neither in the OGC API's
answer nor in the map statistics (both read the replica); once replay resumes
it is.
"""

from __future__ import annotations

import os
import shutil
import socket
import time

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from spatial.db.cluster import LocalCluster
from spatial.db.engine import session_scope
from spatial.models import Ticket
from spatial.settings import Settings, get_settings
from tests.district import seed_small_district
from tests.live_server import live_server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="module")
def replica(db_url, tmp_path_factory):
    """A streaming hot standby of the test cluster; yields (cluster, its owner URL for the test database)."""
    primary = get_settings()
    owner = make_url(primary.sqlalchemy_url(role="owner"))
    if not primary.managed and owner.port != primary.pg_port:
        pytest.fail("the replica test needs the managed cluster (ONEMAP_PG_PORT)")
    home = tmp_path_factory.mktemp("replica")
    rep = LocalCluster(Settings(home=home, pg_port=_free_port(), database_url=None, owner_database_url=None))
    rep._prepare_dirs()
    passfile = rep.base.parent / "pgpass"
    shutil.copy(primary.pgpass_file, passfile)
    rep._chown(passfile)
    os.chmod(passfile, 0o600)
    conn = f"host=127.0.0.1 port={primary.pg_port} user={primary.pg_user} passfile={passfile}"
    rep._run([rep._bins()["pg_basebackup"], "-d", conn, "-D", str(rep.datadir), "-R", "-X", "stream",
              "-c", "fast", "--no-sync"])
    rep.start()
    db = make_url(db_url).database
    url = make_url(primary.sqlalchemy_url(db, role="owner")).set(port=rep.settings.pg_port)
    try:
        yield rep, url.render_as_string(hide_password=False)
    finally:
        rep.stop()
        shutil.rmtree(rep.base.parent, ignore_errors=True)


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_the_ogc_api_reads_the_streaming_replica(committed, db_url, replica, tmp_path):
    rep, owner_url = replica
    with session_scope() as s:
        d = seed_small_district(s)
        first = Ticket(channel="api", category_id=d["categories"]["pothole"], geom="SRID=4326;POINT(113.41 23.09)",
                       grid_id=d["grids"]["G00"], status="reported")
        s.add(first)
    with psycopg.connect(_libpq(owner_url), autocommit=True) as standby:
        assert standby.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        _wait(lambda: standby.execute("SELECT count(*) FROM ticket").fetchone()[0] == 1)  # streamed
        with psycopg.connect(_libpq(get_settings().owner_url_for(db_url)), autocommit=True) as prim:
            sent = prim.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()[0]
        assert sent >= 1

        readonly = make_url(get_settings().sqlalchemy_url(make_url(db_url).database, role="readonly"))
        replica_url = readonly.set(port=rep.settings.pg_port).render_as_string(hide_password=False)
        with live_server(tmp_path / "server.log", {"ONEMAP_DATABASE_REPLICA_URL": replica_url}) as base:
            items = f"{base}/ogc/collections/ogc.tickets/items"

            def ids() -> set[int]:
                r = httpx.get(items, headers={"Accept": "application/geo+json"}, timeout=30)
                assert r.status_code == 200, r.text
                return {f["id"] for f in r.json()["features"]}

            assert ids() == {first.id}
            standby.execute("SELECT pg_wal_replay_pause()")
            _wait(lambda: standby.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] == "paused")
            with session_scope() as s:
                second = Ticket(channel="api", category_id=d["categories"]["pothole"],
                                geom="SRID=4326;POINT(113.42 23.09)", grid_id=d["grids"]["G00"], status="reported")
                s.add(second)
            assert ids() == {first.id}  # committed on the primary, not yet replayed: the API reads the replica
            kpis = f"{base}/api/map/kpis"
            assert httpx.get(kpis, params={"days": 3650}, timeout=30).json()["received"] == 1  # map: replica too
            standby.execute("SELECT pg_wal_replay_resume()")
            _wait(lambda: ids() == {first.id, second.id})
            assert httpx.get(kpis, params={"days": 3650}, timeout=30).json()["received"] == 2
