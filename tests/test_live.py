"""Live updates on real PostgreSQL: the triggers of migration 0019 and the server's one listener.

The change log and NOTIFY follow commits only (never a rollback), list the
changed ids (NULL above 1,000), and ``LiveHub`` delivers coalesced batches to
its subscribers, catching up from ``live_change`` after its connection is
killed.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
import sqlalchemy as sa

from spatial.maps import live
from tests.conftest import truncate_all


def _seed_workers(conn, n: int) -> list[int]:
    dept = conn.scalar(sa.text("INSERT INTO department (code, name) VALUES ('lv', 'Live') RETURNING id"))
    return list(conn.scalars(sa.text(
        "INSERT INTO worker (code, name, department_id, on_duty, geom, position_at) "
        "SELECT 'lw' || g, 'W' || g, :d, true, ST_SetSRID(ST_MakePoint(113.4 + g * 1e-4, 23.1), 4326), now() "
        "FROM generate_series(1, :n) g RETURNING id"), {"d": dept, "n": n}))


def test_triggers_log_and_notify_on_commit_only(committed, db_url):
    with committed.begin() as conn:
        ids = _seed_workers(conn, 3)
    conninfo = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute("LISTEN onemap_live")
        with committed.connect() as conn:  # rolled back: nothing logged, nothing notified
            conn.execute(sa.text("UPDATE worker SET workload = 1 WHERE id = :i"), {"i": ids[0]})
            conn.rollback()
        with committed.begin() as conn:
            conn.execute(sa.text("UPDATE worker SET workload = 2 WHERE id = ANY(:i)"), {"i": ids[:2]})
            conn.execute(sa.text("UPDATE worker SET workload = 2 WHERE false"))  # 0 rows: no change
        got = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    assert len(got) == 1, got
    change = live.Change.from_payload(got[0])
    assert (change.kind, change.op, change.ids) == ("worker", "update", tuple(sorted(ids[:2])))
    with committed.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT kind, op, n, ids FROM live_change WHERE op <> 'truncate' ORDER BY seq")).all()
    assert rows[-1] == ("worker", "update", 2, sorted(ids[:2]))
    assert [r.op for r in rows] == ["insert", "update"]  # the seed insert, then the committed update


def test_bulk_statement_is_one_change_without_ids(committed):
    with committed.begin() as conn:
        _seed_workers(conn, 1200)
    with committed.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT kind, op, n, ids FROM live_change WHERE kind = 'worker' AND op <> 'truncate'")).all()
    assert rows == [("worker", "insert", 1200, None)]  # one row for the whole statement: reload the kind


def test_hub_coalesces_and_catches_up_after_a_lost_connection(committed, db_url, owner_engine):
    with committed.begin() as conn:
        ids = _seed_workers(conn, 5)

    async def scenario() -> dict:
        hub = live.LiveHub(db_url, coalesce_s=0.05)
        batches: list[live.Batch] = []
        hub.subscribe({"worker"}, batches.append)
        alerts: list[live.Batch] = []
        hub.subscribe({"alert"}, alerts.append)
        hub.start()
        await asyncio.wait_for(hub.connected.wait(), 10)
        loop = asyncio.get_running_loop()

        def burst() -> None:
            for i in ids:
                with committed.begin() as conn:
                    conn.execute(sa.text("UPDATE worker SET geom = ST_Translate(geom, 1e-4, 0), "
                                         "position_at = now() WHERE id = :i"), {"i": i})

        t0 = time.monotonic()
        await loop.run_in_executor(None, burst)
        while sum(len(b.changes) for b in batches) < len(ids) and time.monotonic() - t0 < 5:
            await asyncio.sleep(0.02)
        first = list(batches)
        # kill the listening backend, commit while it is down: the hub reconnects and catches up
        with owner_engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE query LIKE 'LISTEN onemap_live%' OR (datname = current_database() "
                                 "AND pid <> pg_backend_pid() AND application_name = '' AND state = 'idle' "
                                 "AND query LIKE '%clock_timestamp%')"))
        await asyncio.sleep(0.1)
        with committed.begin() as conn:
            conn.execute(sa.text("UPDATE worker SET workload = 3 WHERE id = :i"), {"i": ids[0]})
        t1 = time.monotonic()
        while not any(ids[0] in (b.ids("worker") or ()) and b not in first for b in batches[len(first):]) \
                and time.monotonic() - t1 < 10:
            await asyncio.sleep(0.05)
        await hub.stop()
        return {"first": first, "all": batches, "alerts": alerts, "reconnects": hub.reconnects}

    out = asyncio.run(scenario())
    got = set().union(*(b.ids("worker") for b in out["first"]))
    assert got == set(ids)
    assert len(out["first"]) < len(ids), "a burst of commits is coalesced into fewer batches"
    assert out["alerts"] == [], "subscribers get only their kinds"
    assert out["reconnects"] >= 1
    late = out["all"][len(out["first"]):]
    assert any(ids[0] in (b.ids("worker") or ()) for b in late), "the change made while disconnected arrives"


def test_batch_ids_none_means_reload():
    b = live.Batch([live.Change(1, "ticket", "update", (3, 4)), live.Change(2, "ticket", "insert", None),
                    live.Change(3, "worker", "update", (7,))])
    assert b.ids("ticket") is None and b.ids("worker") == {7} and b.ids("alert") == set()
    assert b.kinds == {"ticket", "worker"} and b.last_seq == 3


@pytest.fixture(autouse=True)
def _clean(engine):
    yield
    truncate_all(engine)
