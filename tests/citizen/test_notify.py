"""Notifications: outbox rows written with the ticket event, signed webhooks retried with backoff and delivered
once to a real HTTP receiver, e-mail to a real SMTP server (aiosmtpd), in-app messages, the CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from spatial.api.main import create_api
from spatial.db.engine import session_scope
from spatial.errors import ValidationError
from spatial.models import InappMessage, NotificationOutbox
from spatial.notify import delivery, subscriptions
from spatial.settings import get_settings
from spatial.tickets import lifecycle
from tests.tickets.conftest import auth

HERE = {"category": "pothole", "lon": 113.415, "lat": 23.095}


class Receiver:
    """A real HTTP webhook receiver on loopback: answers 500 to the first ``fail`` requests, then 204;
    checks every signature itself (HMAC-SHA256 over "<t>." + body)."""

    def __init__(self, secret: str, fail: int) -> None:
        self.secret, self.fail = secret.encode(), fail
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = dict(p.split("=", 1) for p in self.headers["X-OneMap-Signature"].split(","))
                expected = hmac.new(outer.secret, sig["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(expected, sig["v1"]) and abs(time.time() - int(sig["t"])) < 300
                status = 500 if len(outer.requests) < outer.fail else (204 if ok else 401)
                outer.requests.append({"status": status, "signature_ok": ok, "body": json.loads(body),
                                       "delivery": self.headers["X-OneMap-Delivery"]})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setenv("ONEMAP_NOTIFY_BACKOFF_SECONDS", "0.2")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _report(client) -> int:
    r = client.post("/api/citizen/reports", json=HERE)
    assert r.status_code == 201, r.text
    return r.json()["ticket_id"]


def test_webhook_signed_retried_after_two_failures_and_delivered_once_by_the_server_job(world, fast_retries,
                                                                                        monkeypatch):
    with session_scope() as s:
        _, secret = subscriptions.add(s, name="12345 hotline", channel="webhook", target="http://placeholder/",
                                        topics=["accepted"], department="urban")
    receiver = Receiver(secret, fail=2)
    try:
        with session_scope() as s:
            s.execute(sa.text("UPDATE notification_subscription SET target = :u"), {"u": receiver.url})
        monkeypatch.setenv("ONEMAP_NOTIFY_SECONDS", "0.2")
        for job in ("SLA_SWEEP", "SENSOR_CHECK", "RETENTION_SWEEP"):
            monkeypatch.setenv(f"ONEMAP_{job}_SECONDS", "0")
        monkeypatch.setenv("ONEMAP_FLOOD_WARMUP", "false")
        get_settings.cache_clear()
        with TestClient(create_api(background=True)) as client:
            tid = _report(client)
            other = client.post("/api/citizen/reports", json={**HERE, "category": "noise"}).json()["ticket_id"]
            for t in (tid, other):  # noise is another department: not subscribed
                r = client.post(f"/api/tickets/{t}/transitions", json={"to": "accepted"},
                                headers=auth(world["tokens"]["dispatcher"]))
                assert r.status_code == 200
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with session_scope() as s:
                    state = s.scalar(sa.select(NotificationOutbox.state))
                if state == "sent":
                    break
                time.sleep(0.1)
            time.sleep(1.0)  # a few more runs of the job: nothing is sent again
        assert [r["status"] for r in receiver.requests] == [500, 500, 204]
        assert all(r["signature_ok"] for r in receiver.requests)
        assert len({r["delivery"] for r in receiver.requests}) == 1
        ev = receiver.requests[-1]["body"]
        assert ev["topic"] == "accepted" and ev["event"]["ticket_id"] == tid and ev["event"]["category"] == "pothole"
        with session_scope() as s:
            row = s.scalars(sa.select(NotificationOutbox)).one()
            assert (row.state, row.attempts, row.sent_at is not None) == ("sent", 3, True)
    finally:
        receiver.close()


def test_email_to_a_real_smtp_server_for_the_reporter_and_a_subscription(world, client, monkeypatch):
    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            got.append(envelope.content)
            return "250 OK"

    port = _closed_port()
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        monkeypatch.setenv("ONEMAP_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ONEMAP_SMTP_PORT", str(port))
        get_settings.cache_clear()
        with session_scope() as s:
            subscriptions.add(s, name="duty officer", channel="email", target="duty@example.org",
                              topics=["resolved"])
        d = client.post("/api/citizen/reports", json={**HERE, "email": "alice@example.org", "lang": "en"}).json()
        for to in ("accepted", "in_progress", "resolved"):
            client.post(f"/api/tickets/{d['ticket_id']}/transitions", json={"to": to},
                        headers=auth(world["tokens"]["admin"]))
        with session_scope() as s:
            counts = delivery.deliver_due(s)
        assert counts == {"claimed": 4, "sent": 4, "retry": 0, "dead": 0}
        mails = [message_from_bytes(m) for m in got]
        to = sorted(m["To"] for m in mails)
        assert to == ["alice@example.org"] * 3 + ["duty@example.org"]
        alice = [m for m in mails if m["To"] == "alice@example.org"]
        subjects = {m["Subject"] for m in alice}
        assert f"[OneMap] Resolved: ticket #{d['ticket_id']} is now resolved" in subjects
        duty = next(m for m in mails if m["To"] == "duty@example.org")
        assert "已处置" in duty.get_payload(decode=True).decode()  # no language given: both
    finally:
        smtp.stop()


def test_smtp_down_is_retried_then_dead(world, client, monkeypatch):
    monkeypatch.setenv("ONEMAP_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ONEMAP_SMTP_PORT", str(_closed_port()))
    monkeypatch.setenv("ONEMAP_NOTIFY_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("ONEMAP_NOTIFY_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    d = client.post("/api/citizen/reports", json={**HERE, "email": "alice@example.org"}).json()
    client.post(f"/api/tickets/{d['ticket_id']}/transitions", json={"to": "accepted"},
                headers=auth(world["tokens"]["admin"]))
    with session_scope() as s:
        assert delivery.deliver_due(s)["retry"] == 1
    time.sleep(0.05)
    with session_scope() as s:
        assert delivery.deliver_due(s)["dead"] == 1
        row = s.scalars(sa.select(NotificationOutbox)).one()
        assert row.state == "dead" and "Connection" in row.last_error
        assert delivery.retry_dead(s) == 1


def _closed_port() -> int:
    """A loopback port nobody listens on (free when asked)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_outbox_and_messages_are_written_in_the_event_transaction(world, client):
    tid = _report(client)
    with session_scope() as s:
        subscriptions.add(s, name="x", channel="webhook", target="http://127.0.0.1:9/x")
        subscriptions.add(s, name="desk", channel="inapp", target="dispatcher", topics=["accepted"])
    with session_scope() as s:
        lifecycle.transition(s, tid, "accepted", actor="desk", role="dispatcher")
        assert s.scalar(sa.select(sa.func.count()).select_from(NotificationOutbox)) == 1
        s.rollback()  # the transition is undone: so are its deliveries and messages
        assert s.scalar(sa.select(sa.func.count()).select_from(NotificationOutbox)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(InappMessage)) == 0
    # the dispatcher sees the role message; the worker gets "new task" when dispatched
    r = client.post(f"/api/tickets/{tid}/transitions", json={"to": "accepted"},
                    headers=auth(world["tokens"]["admin"]))
    assert r.status_code == 200, r.text
    w0 = world["workers"]["W-urban-0"]
    r = client.post(f"/api/tickets/{tid}/transitions", json={"to": "dispatched", "data": {"worker_id": w0}},
                    headers=auth(world["tokens"]["dispatcher"]))
    assert r.status_code == 200, r.text
    desk = client.get("/api/inbox?lang=en", headers=auth(world["tokens"]["dispatcher"])).json()
    assert [m["topic"] for m in desk] == ["accepted"]
    worker = client.get("/api/inbox?lang=en", headers=auth(world["tokens"]["grid_worker"])).json()
    assert [(m["topic"], m["ticket_id"]) for m in worker] == [("dispatched", tid)]
    assert worker[0]["text"].startswith("New task")
    other = client.get("/api/inbox", headers=auth(world["tokens"]["grid_worker2"])).json()
    assert other == []
    assert client.post(f"/api/inbox/{worker[0]['id']}/read",
                       headers=auth(world["tokens"]["grid_worker2"])).status_code == 404
    assert client.post(f"/api/inbox/{worker[0]['id']}/read",
                       headers=auth(world["tokens"]["grid_worker"])).status_code == 200
    assert client.get("/api/inbox?unread=true", headers=auth(world["tokens"]["grid_worker"])).json() == []


def test_imports_notify_nobody_and_subscriptions_are_checked(world, client):
    with session_scope() as s:
        subscriptions.add(s, name="all", channel="webhook", target="http://127.0.0.1:9/x")
        for bad in ({"channel": "webhook", "target": "ftp://x"}, {"channel": "email", "target": "nobody"},
                    {"channel": "inapp", "target": "mayor"}, {"channel": "sms", "target": "1"},
                    {"channel": "email", "target": "a@b.org", "topics": ["exploded"]}):
            with pytest.raises(ValidationError):
                subscriptions.add(s, name="bad", **bad)
    rows = [{"category": "pothole", "lon": 113.41, "lat": 23.09 + i / 1000, "external_id": f"h{i}",
             "description": "x"} for i in range(3)]
    r = client.post("/api/tickets/import", json=rows, headers=auth(world["tokens"]["channel"]))
    assert r.status_code == 200, r.text
    with session_scope() as s:  # a bulk import (COPY) of new reports notifies like any intake
        assert s.scalar(sa.select(sa.func.count()).select_from(NotificationOutbox)) == 3
        tid = s.scalar(sa.text("SELECT min(id) FROM ticket"))
        s.execute(sa.text("INSERT INTO ticket_event (ticket_id, at, kind, actor, actor_role) "
                          "VALUES (:t, now(), 'transition', 'import:history', 'system')"), {"t": tid})
        assert s.scalar(sa.select(sa.func.count()).select_from(NotificationOutbox)) == 3  # history: nobody


def test_notify_cli(world, capsys):
    from app import main

    assert main(["notify", "add", "webhook", "http://127.0.0.1:9/hook", "--topics", "resolved,closed",
                 "--department", "urban", "--name", "hotline"]) == 0
    out = capsys.readouterr().out
    assert "signing secret (shown once" in out and "whsec_" in out
    assert main(["notify", "list"]) == 0
    listed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert listed["topics"] == ["closed", "resolved"] and listed["department"] == "urban" and "secret" not in listed
    assert main(["notify", "pause", str(listed["id"])]) == 0
    assert main(["notify", "status"]) == 0
    assert main(["notify", "remove", str(listed["id"])]) == 0
    capsys.readouterr()
    assert main(["notify", "add", "email", "not-an-email"]) == 2
