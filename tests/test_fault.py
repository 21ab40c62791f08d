"""Acknowledged means committed: a real ``onemap serve`` on loopback, read after write, ``kill -9``.

* read after write: 200 create-then-get pairs on one keep-alive connection, no 404 (when the
  session committed after the response was sent, 3-25 % of the GETs answered 404);
* a commit that fails (a deferred constraint, a serialization failure, the connection lost during
  COMMIT) answers 409 / 503 in the API's error format, never a 2xx, and stores nothing;
* three rounds of: 300 POST /api/tickets (distinct external ids, every other one next to the
  previous so some merge) from 6 threads on keep-alive connections, ``SIGKILL`` after ~100
  acknowledgements, restart; every acknowledged report is stored exactly once (by channel +
  external id) on the ticket it was acknowledged with; the first requests after the restart,
  concurrent, never answer 5xx; re-sending every unanswered request and a third of the answered
  ones, each twice at once, stores every external id exactly once and answers the same ticket;
* the restart race made deterministic: the first concurrent queries of a fresh process, with
  SQLAlchemy's lazy column index slowed down, all get the right single row.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from spatial.api.main import create_api
from spatial.auth import create_token
from spatial.db.engine import session_scope
from spatial.tickets import duplicates
from tests.district import seed_small_district

ONEMAP = str(Path(sys.executable).with_name("onemap"))
CHANNEL = "hotline"
BURST = 300
CLIENTS = 6
KILL_AFTER = 100
ROUNDS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``onemap serve`` in a subprocess on 127.0.0.1 (the test database, no periodic jobs)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "ONEMAP_SLA_SWEEP_SECONDS": "0", "ONEMAP_SENSOR_CHECK_SECONDS": "0",
               "ONEMAP_RETENTION_SWEEP_SECONDS": "0", "ONEMAP_DEMO_SIMULATE_SECONDS": "0"}
        self.starts += 1
        log = open(self.log_dir / f"serve_{self.starts}.log", "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([ONEMAP, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        while True:  # the port accepts connections once uvicorn has started the app
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("onemap serve did not start: " + self.log()[-3000:])
            time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush, open transactions die with the connections."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return (self.log_dir / f"serve_{self.starts}.log").read_text()


@pytest.fixture
def hotline(committed) -> str:
    """A committed small district and a channel token (plaintext)."""
    with session_scope() as s:
        seed_small_district(s)
        return create_token(s, name="hotline-gw", role="channel")


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()


def _headers(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None = None,
          headers: dict | None = None) -> tuple[int, dict | list]:
    conn.request(method, path, None if body is None else json.dumps(body), headers or {})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read() or b"null")


def report(ext: str, i: int) -> dict:
    """Every other report a metre from the previous one (a duplicate that may merge)."""
    k = i // 2
    lon = 113.401 + (k % 39) * 0.002 + (i % 2) * 0.00001
    lat = 23.081 + (k // 39) % 19 * 0.004
    return {"category": "pothole" if k % 3 else "noise", "lon": round(lon, 6), "lat": round(lat, 6),
            "channel": CHANNEL, "external_id": ext, "description": f"fault test {ext}"}


def test_read_after_write_on_one_keep_alive_connection(hotline, server):
    server.start()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    statuses = []
    for i in range(200):
        status, body = _call(conn, "POST", "/api/tickets", report(f"raw-{i}", 2 * i), _headers(hotline))
        assert status == 201, (status, body)
        got, view = _call(conn, "GET", f"/api/tickets/{body['ticket']['id']}")
        statuses.append(got)
        assert got != 200 or view["id"] == body["ticket"]["id"]
    conn.close()
    assert statuses.count(404) == 0 and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}


# --------------------------------------------------------------------------- #
# A commit that fails is never a 2xx
# --------------------------------------------------------------------------- #

#: A deferred constraint trigger: the insert succeeds, the COMMIT fails (what the endpoint cannot see).
FAIL_AT_COMMIT = """
CREATE FUNCTION fault_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.description = 'terminate' THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
    PERFORM pg_sleep(5);  -- the termination arrives here
  END IF;
  RAISE EXCEPTION 'fault test: % at commit', NEW.description USING ERRCODE = NEW.description;
END $$;
CREATE CONSTRAINT TRIGGER fault_fail_at_commit AFTER INSERT ON ticket DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.description IN ('23505', '40001', '40P01', 'terminate'))
  EXECUTE FUNCTION fault_fail_at_commit();
"""


@pytest.fixture
def fail_at_commit(hotline, owner_engine):
    """A deferred trigger that fails the commit; created by the owner (the app role may not)."""
    with owner_engine.begin() as conn:
        conn.execute(sa.text(FAIL_AT_COMMIT))
    try:
        yield hotline
    finally:
        with owner_engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER fault_fail_at_commit ON ticket; DROP FUNCTION fault_fail_at_commit()"))


@pytest.mark.parametrize(("failure", "status", "error"), [
    ("23505", 409, "conflict"),  # unique violation
    ("40001", 409, "conflict"),  # serialization failure: retry
    ("40P01", 409, "conflict"),  # deadlock: retry
    ("terminate", 503, "database_unavailable"),  # the connection dies during COMMIT
])
def test_a_failed_commit_is_never_2xx(fail_at_commit, engine, failure, status, error):
    with TestClient(create_api(background=False), raise_server_exceptions=False) as client:
        body = {**report(f"commit-{failure}", 0), "description": failure}
        r = client.post("/api/tickets", json=body, headers=_headers(fail_at_commit))
        assert (r.status_code, r.json().get("error")) == (status, error), r.text
        assert set(r.json()) >= {"error", "message"}
        ok = client.post("/api/tickets", json=report("commit-ok", 40), headers=_headers(fail_at_commit))
        assert ok.status_code == 201, ok.text  # the next request on the pool is unaffected
    with engine.connect() as conn:
        stored = conn.scalar(sa.text("SELECT count(*) FROM ticket WHERE external_id = :e"),
                             {"e": f"commit-{failure}"})
    assert stored == 0


# --------------------------------------------------------------------------- #
# kill -9 in a burst
# --------------------------------------------------------------------------- #


class Burst:
    """POSTs from several threads on keep-alive connections; records each answer (None: no answer)."""

    def __init__(self, port: int, token: str, requests: list[tuple[str, dict]]) -> None:
        self.port, self.token, self.requests = port, token, requests
        self.answers: dict[str, tuple[int, dict] | None] = {ext: None for ext, _ in requests}
        self.acks = 0
        self.lock = threading.Lock()

    def run(self, clients: int) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._client, args=(self.requests[c::clients],)) for c in range(clients)]
        for t in threads:
            t.start()
        return threads

    def _client(self, mine: list[tuple[str, dict]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for ext, body in mine:
            try:
                status, answer = _call(conn, "POST", "/api/tickets", body, _headers(self.token))
            except (OSError, http.client.HTTPException, json.JSONDecodeError):
                return  # the server is gone: this and the rest of the slice stay unanswered
            with self.lock:
                self.answers[ext] = (status, answer)
                self.acks += 200 <= status < 300

    def wait_for_acks(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.acks < n:
            assert time.monotonic() < deadline, f"only {self.acks} acknowledgements"
            time.sleep(0.002)


def _stored(engine: sa.Engine, exts: list[str]) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Reporter rows' ticket ids and ticket counts per external id of the channel."""
    with engine.connect() as conn:
        reps = conn.execute(sa.text(
            "SELECT external_id, array_agg(ticket_id ORDER BY id) FROM ticket_reporter "
            "WHERE channel = :c AND external_id = ANY(:e) GROUP BY external_id"), {"c": CHANNEL, "e": exts}).all()
        tks = conn.execute(sa.text(
            "SELECT external_id, count(*) FROM ticket WHERE channel = :c AND external_id = ANY(:e) "
            "GROUP BY external_id"), {"c": CHANNEL, "e": exts}).all()
    return {e: list(ids) for e, ids in reps}, dict(tks)


def _first_requests_after_restart(port: int, token: str, acked: dict[str, dict], retry: list[tuple[str, dict]]):
    """16 threads at once, on a cold server: GETs of acknowledged tickets, lists, and retried POSTs."""
    ids = [a["ticket"]["id"] for a in acked.values()]
    jobs = [("GET", f"/api/tickets/{ids[i % len(ids)]}", None) for i in range(8)]
    jobs += [("GET", "/api/tickets?page_size=5", None), ("GET", "/open311/v2/requests.json", None)]
    jobs += [("POST", "/api/tickets", body) for _, body in retry[:6]]
    barrier = threading.Barrier(len(jobs))
    out: list = [None] * len(jobs)

    def one(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        method, path, body = jobs[k]
        out[k] = (path, *_call(conn, method, path, body, _headers(token)))
        conn.close()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _retry_twice_at_once(port: int, token: str, requests: list[tuple[str, dict]]) -> dict[str, list]:
    """Each request sent by two threads at the same moment; both answers per external id."""
    answers: dict[str, list] = {ext: [] for ext, _ in requests}
    lock = threading.Lock()
    barrier = threading.Barrier(2 * CLIENTS)

    def client(mine: list[tuple[str, dict]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        for ext, body in mine:
            status, answer = _call(conn, "POST", "/api/tickets", body, _headers(token))
            with lock:
                answers[ext].append((status, answer))
        conn.close()

    slices = [requests[c::CLIENTS] for c in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(s,)) for s in slices + slices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_kill_9_in_a_burst_loses_no_acknowledged_report(hotline, server, engine):
    server.start()
    figures = []
    for rnd in range(ROUNDS):
        requests = [(f"kill{rnd}-{i:03d}", report(f"kill{rnd}-{i:03d}", i + 1000 * rnd)) for i in range(BURST)]
        exts = [e for e, _ in requests]
        burst = Burst(server.port, hotline, requests)
        threads = burst.run(CLIENTS)
        burst.wait_for_acks(KILL_AFTER)
        server.kill()
        for t in threads:
            t.join(timeout=30)
        answered = {e: a for e, a in burst.answers.items() if a is not None}
        bad = {e: a for e, a in answered.items() if a[0] not in (200, 201)}
        assert not bad, f"round {rnd}: non-2xx answers {list(bad.items())[:3]}"
        acked = {e: a[1] for e, a in answered.items()}
        reps, tks = _stored(engine, exts)
        # every acknowledgement is stored, once, on the ticket it named; nothing is stored twice
        missing = [e for e in acked if e not in reps]
        assert not missing, f"round {rnd}: {len(missing)} acknowledged reports are not stored: {missing[:5]}"
        wrong = {e: reps[e] for e, a in acked.items() if reps[e] != [a["ticket"]["id"]]}
        assert not wrong, f"round {rnd}: stored on other tickets or twice: {list(wrong.items())[:5]}"
        assert all(len(ids) == 1 for ids in reps.values()) and all(n == 1 for n in tks.values())
        unanswered = [(e, b) for e, b in requests if e not in acked]
        stored_unanswered = sum(e in reps for e, _ in unanswered)

        server.start()  # the restart race: concurrent first requests never fail
        first = _first_requests_after_restart(server.port, hotline, acked, unanswered or requests)
        errors = [f for f in first if f[1] >= 500]
        assert not errors, f"round {rnd}: 5xx right after the restart: {errors[:3]}"

        again = [(e, b) for e, b in requests if e in acked][::3]
        answers = _retry_twice_at_once(server.port, hotline, unanswered + again)
        not_ok = {e: a for e, a in answers.items() if any(s not in (200, 201) for s, _ in a)}
        assert not not_ok, f"round {rnd}: retries answered {list(not_ok.items())[:3]}"
        for e, pair in answers.items():
            assert len({a["ticket"]["id"] for _, a in pair}) == 1, (e, pair)
            if e in acked:  # a retry of an acknowledged report names the same ticket, as existing
                assert [(s, a["outcome"]) for s, a in pair] == [(200, "existing")] * 2, (e, pair)
                assert pair[0][1]["ticket"]["id"] == acked[e]["ticket"]["id"]
            else:  # one of the two did the work (unless it was stored before the kill), the other saw it
                assert sorted(a["outcome"] for _, a in pair).count("existing") >= 1, (e, pair)
        reps, tks = _stored(engine, exts)
        retried = [e for e, _ in unanswered + again]
        assert all(len(reps.get(e, [])) == 1 for e in retried), f"round {rnd}: not stored exactly once"
        assert all(n == 1 for n in tks.values())
        assert all(reps[e] == [pair[0][1]["ticket"]["id"]] for e, pair in answers.items())
        figures.append((len(acked), len(unanswered), stored_unanswered, len(reps)))
    print("rounds (acknowledged, unanswered, unanswered but stored, stored after retries):", figures)
    assert all(acks >= KILL_AFTER for acks, *_ in figures)


# --------------------------------------------------------------------------- #
# The restart race, made deterministic
# --------------------------------------------------------------------------- #

#: SQLAlchemy fills a column collection's proxy index lazily, one column at a time; slowed down here
#: so that threads using a shared table or alias for the first time together always overlap.
COLD_START = """
import json, sys, threading, time, warnings
from sqlalchemy.exc import SAWarning
from sqlalchemy.sql import base
assert hasattr(base.WriteableColumnCollection, "_init_proxy_index"), "SQLAlchemy changed: update this test"

def slow_init_proxy_index(self):
    index = self._proxy_index
    if index:
        return
    for _, _, metrics in self._collection:
        for col in metrics.column._expanded_proxy_set:
            index[col].add(metrics)
        time.sleep(0.001)

base.WriteableColumnCollection._init_proxy_index = slow_init_proxy_index
warnings.simplefilter("error", SAWarning)  # an unadapted alias column warns before it multiplies rows
from spatial.api.main import create_api
from spatial.db.engine import session_scope
from spatial.tickets import queries

create_api(background=False)
tid = int(sys.argv[1])
sys.setswitchinterval(1e-6)  # threads switch often: first-use races show
barrier = threading.Barrier(8)
out = []
engines = set()

def first_request():
    barrier.wait()
    with session_scope() as s:
        engines.add(id(s.get_bind()))
        s.connection()
        barrier.wait()
        try:
            row = queries.ticket_row(s, tid)
            rows, _ = queries.list_tickets(s, queries.TicketFilter(), limit=5)
            out.append([row.grid, row.street, len(rows)])
        except Exception as exc:
            out.append(repr(exc)[:300])

threads = [threading.Thread(target=first_request) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"rows": out, "engines": len(engines)}))
"""


def test_first_concurrent_queries_of_a_fresh_process(hotline):
    """8 threads open the first sessions and run the first ticket_row / list_tickets of a fresh server
    process together: one engine (not one per thread), the right row for each (once 9 requests after
    a restart answered 500 MultipleResultsFound: a half-built index of the shared admin_unit aliases
    left their columns unadapted, a cartesian product)."""
    with TestClient(create_api(background=False)) as client:
        r = client.post("/api/tickets", json=report("cold-1", 0), headers=_headers(hotline))
        assert r.status_code == 201, r.text
    out = subprocess.run([sys.executable, "-c", COLD_START, str(r.json()["ticket"]["id"])], capture_output=True,
                         text=True, timeout=120, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout) == {"rows": [["G00", "S0", 1]] * 8, "engines": 1}, out.stdout + out.stderr[-2000:]


def test_a_waiting_open311_post_does_not_stall_the_server(hotline, server, engine):
    """Open311 POST reads its form asynchronously; its database work must run off the event loop.

    Another connection holds the duplicate-check lock the report needs, so the POST waits in the
    database; meanwhile /health must still answer at once (it hung while intake ran on the loop).
    """
    server.start()
    lon, lat = 113.415, 23.095
    keys = duplicates.lock_keys("pothole", lon, lat)
    blocker = engine.connect()
    blocker.execute(sa.text("SELECT pg_advisory_lock(:ns, k) FROM unnest(CAST(:keys AS int[])) AS u(k)"),
                    {"ns": duplicates.LOCK_NAMESPACE, "keys": keys})
    result: dict = {}

    def post() -> None:
        form = urllib.parse.urlencode({"api_key": hotline, "service_code": "pothole", "lat": lat, "long": lon,
                                       "description": "held by a lock"})
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", "/open311/v2/requests.json", form,
                     {"Content-Type": "application/x-www-form-urlencoded"})
        result["status"] = conn.getresponse().status
        conn.close()

    worker = threading.Thread(target=post)
    try:
        worker.start()
        time.sleep(1.0)  # the POST is now waiting for the lock
        assert worker.is_alive() and "status" not in result
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        status, _ = _call(conn, "GET", "/health")
        conn.close()
        assert status == 200 and time.perf_counter() - t0 < 2.0
    finally:
        blocker.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        blocker.close()
        worker.join(timeout=30)
    assert result["status"] == 201
