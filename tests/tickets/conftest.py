"""Fixtures for the ticket loop: a committed district with workers and a token per role, an HTTP client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from spatial.api.main import create_api
from spatial.auth import create_token
from spatial.db.engine import session_scope
from spatial.models import Ticket, Worker
from tests.district import seed_small_district

#: Monday 5 October 2026, 10:00 in Asia/Shanghai.
T0 = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)


def add_workers(session, district: dict) -> dict:
    """Two on-duty workers per department near the district centre; returns ids by code."""
    out = {}
    for dept, dept_id in district["departments"].items():
        for i in range(2):
            w = Worker(code=f"W-{dept}-{i}", name=f"Worker {dept} {i}", department_id=dept_id, on_duty=True,
                       geom=f"SRID=4326;POINT({113.41 + 0.01 * i} 23.09)", position_at=T0,
                       skills=["road_repair", "drainage", "traffic"], max_workload=5)
            session.add(w)
            session.flush()
            out[w.code] = w.id
    return out


def put_ticket(session, district: dict, *, status: str = "reported", category: str = "pothole",
               lon: float = 113.41, lat: float = 23.09, **kw) -> Ticket:
    """A ticket written directly in a given state (for table-driven lifecycle tests)."""
    t = Ticket(channel=kw.pop("channel", "api"), category_id=district["categories"][category],
               department_id=kw.pop("department_id", None), geom=f"SRID=4326;POINT({lon} {lat})",
               grid_id=district["grids"]["G00"], status=status, **kw)
    session.add(t)
    session.flush()
    return t


@pytest.fixture
def world(committed) -> dict:
    """Committed district + workers + one token per role (plaintext under ``tokens``)."""
    with session_scope() as s:
        d = seed_small_district(s)
        d["workers"] = add_workers(s, d)
        w0 = d["workers"]["W-urban-0"]
        d["tokens"] = {
            "citizen": create_token(s, name="alice", role="citizen"),
            "citizen2": create_token(s, name="bob", role="citizen"),
            "channel": create_token(s, name="hotline-gw", role="channel"),
            "grid_worker": create_token(s, name="gw-urban-0", role="grid_worker", worker_id=w0),
            "grid_worker2": create_token(s, name="gw-urban-1", role="grid_worker",
                                         worker_id=d["workers"]["W-urban-1"]),
            "dispatcher": create_token(s, name="desk-1", role="dispatcher"),
            "handler": create_token(s, name="urban-handler", role="handler",
                                    department_id=d["departments"]["urban"]),
            "handler_water": create_token(s, name="water-handler", role="handler",
                                          department_id=d["departments"]["water"]),
            "leadership": create_token(s, name="mayor-office", role="leadership"),
            "admin": create_token(s, name="root", role="admin"),
        }
    return d


@pytest.fixture
def client(committed) -> TestClient:
    with TestClient(create_api(background=False)) as c:
        yield c


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
