"""Walk one ticket through the whole closed loop over HTTP and show the Open311 endpoints answering.

Creates a scratch database ``onemap_walk`` on the project cluster (the small
test district from ``tests/district.py``, two workers per department with
fresh GPS fixes, one token per role), starts the real server
(``uvicorn app:create_server --factory``) on a free port, and prints
every request as a ``curl`` line followed by the (abridged) response.
The database is dropped at the end.

Run: ``.venv/bin/python bench/walk_ticket.py`` (output pasted in docs/tickets.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHOW = ("id", "status", "category", "grid", "street", "department", "accept_due_at", "resolve_due_at",
        "assigned_worker_id", "rating", "version", "outcome")


def _short(body, limit: int = 700) -> str:
    if isinstance(body, dict) and "ticket" in body:
        body = {"outcome": body["outcome"], "ticket": {k: v for k, v in body["ticket"].items() if k in SHOW}}
    elif isinstance(body, dict) and "status" in body and "category" in body:
        body = {k: v for k, v in body.items() if k in SHOW}
    text = json.dumps(body, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " ..."


def main() -> int:
    from spatial.auth import create_token
    from spatial.db import migrate
    from spatial.db.engine import drop_database, session_scope
    from spatial.models import Worker
    from spatial.settings import get_settings
    from tests.district import seed_small_district

    url = get_settings().sqlalchemy_url("onemap_walk")
    drop_database(url)
    migrate.upgrade(url)
    os.environ.update(get_settings().role_env("onemap_walk"))
    get_settings.cache_clear()
    now = datetime.now(UTC)
    with session_scope() as s:
        d = seed_small_district(s)
        workers = {}
        for dept, dept_id in d["departments"].items():
            for i in range(2):
                w = Worker(code=f"W-{dept}-{i}", name=f"Worker {dept} {i}", department_id=dept_id, on_duty=True,
                           geom=f"SRID=4326;POINT({113.412 + 0.004 * i} 23.093)", position_at=now,
                           skills=["road_repair", "drainage", "traffic"])
                s.add(w)
                s.flush()
                workers[w.code] = w.id
        tok = {
            "hotline": create_token(s, name="hotline-12345", role="channel"),
            "citizen": create_token(s, name="citizen-li", role="citizen"),
            "desk": create_token(s, name="desk-wang", role="dispatcher"),
            "worker": create_token(s, name="gw-zhao", role="grid_worker", worker_id=workers["W-urban-0"]),
            "checker": create_token(s, name="gw-qian", role="grid_worker", worker_id=workers["W-urban-1"]),
            "lead": create_token(s, name="district-office", role="leadership"),
        }
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ONEMAP_SLA_SWEEP_SECONDS": "0"}  # the role URLs were exported above
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:create_server", "--factory",
                               "--port", str(port), "--log-level", "warning"], cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    import httpx

    try:
        for _ in range(100):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        c = httpx.Client(base_url=base, timeout=10)

        def call(method: str, path: str, who: str | None = None, body=None, form=None, raw: bool = False):
            headers = {"Authorization": f"Bearer {tok[who]}"} if who else {}
            r = c.request(method, path, json=body, data=form, headers=headers)
            auth = f" -H 'Authorization: Bearer <{who} token>'" if who else ""
            payload = f" -d '{json.dumps(body, ensure_ascii=False)}'" if body is not None else ""
            if form is not None:
                payload = " " + " ".join(f"-d {k}={v!s}" for k, v in form.items())
            print(f"$ curl -X {method} {path}{auth}{payload}")
            if raw:
                print(f"  -> {r.status_code} {r.headers['content-type']}\n{r.text[:600]}\n")
                return r
            out = r.json()
            print(f"  -> {r.status_code} {_short(out)}\n")
            return out

        print("## One ticket through the loop\n")
        t = call("POST", "/api/tickets", "hotline", {
            "category": "pothole", "lon": 113.4135, "lat": 23.0935, "channel": "hotline",
            "external_id": "12345-20261005-0042", "description": "Deep pothole by the bus stop",
            "reporter_name": "Zhang San", "reporter_phone": "13800000000"})["ticket"]
        tid = t["id"]
        call("POST", "/api/tickets", "citizen", {"category": "pothole", "lon": 113.4137, "lat": 23.0936,
                                                  "channel": "citizen_app", "description": "same hole"})
        call("GET", f"/api/tickets/{tid}")
        call("POST", f"/api/tickets/{tid}/transitions", "desk", {"to": "accepted", "expected_version": 1})
        call("POST", f"/api/tickets/{tid}/transitions", "desk",
             {"to": "dispatched", "data": {"worker_id": workers["W-urban-0"]}})
        call("POST", f"/api/tickets/{tid}/transitions", "worker", {"to": "in_progress", "note": "on site"})
        call("POST", f"/api/tickets/{tid}/transitions", "worker", {"to": "resolved", "note": "filled, photo taken"})
        call("POST", f"/api/tickets/{tid}/transitions", "worker", {"to": "verified"})
        call("POST", f"/api/tickets/{tid}/transitions", "checker", {"to": "verified"})
        call("POST", f"/api/tickets/{tid}/transitions", "desk", {"to": "closed"})
        call("POST", f"/api/tickets/{tid}/rating", "hotline", {"rating": 5, "comment": "fixed the same day"})
        events = call("GET", f"/api/tickets/{tid}/events", "desk")
        print("events:", [(e["kind"], e["to_status"], e["actor"]) for e in events], "\n")
        month = now.strftime("%Y-%m")
        call("GET", f"/api/scores?month={month}&by=department", "lead")

        print("## Open311 GeoReport v2\n")
        call("GET", "/open311/v2/services.xml", raw=True)
        call("GET", "/open311/v2/services/pothole.json")
        form = {"api_key": tok["citizen"], "service_code": "noise", "lat": "23.15", "long": "113.47",
                "description": "Construction noise after 22:00"}
        r = c.post("/open311/v2/requests.json", data=form)
        print("$ curl -X POST /open311/v2/requests.json -d api_key=<citizen token> -d service_code=noise "
              "-d lat=23.15 -d long=113.47 -d description=...")
        print(f"  -> {r.status_code} {r.text}\n")
        call("GET", f"/open311/v2/requests/{tid}.xml", raw=True)
        call("GET", "/open311/v2/requests.json?status=open&service_code=noise")
        call("GET", "/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-12-31T00:00:00Z")
        call("POST", "/open311/v2/requests.xml", form={"service_code": "noise", "lat": "23.15", "long": "113.47"},
             raw=True)
    finally:
        server.terminate()
        server.wait(10)
        drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
