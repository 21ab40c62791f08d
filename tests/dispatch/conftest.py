"""Fixtures for dispatch tests: workers and tickets in the small test district.

Tickets are inserted directly (status ``accepted`` by default), so these tests
do not depend on the intake service; assignment goes through the real
``spatial.tickets.lifecycle``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

NOW = datetime(2026, 5, 12, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Guangzhou
_seq = count(1)


def add_worker(session: Session, *, dept: int, lon: float | None = 113.44, lat: float | None = 23.12,
               on_duty: bool = True, age_s: float = 30.0, workload: int = 0, max_workload: int = 5,
               skills: tuple[str, ...] = (), now: datetime = NOW, code: str | None = None) -> int:
    """Insert one worker with a latest fix ``age_s`` seconds before ``now``; returns its id."""
    n = next(_seq)
    geom = None if lon is None else f"SRID=4326;POINT({lon} {lat})"
    return session.execute(sa.text(
        "INSERT INTO worker (code, name, department_id, on_duty, workload, max_workload, skills, geom, "
        "position_at, position_accuracy_m) VALUES (:code, :name, :dept, :duty, :wl, :cap, "
        "CAST(:skills AS text[]), ST_GeomFromEWKT(:geom), :at, 10) RETURNING id"),
        {"code": code or f"W{n:05d}", "name": f"Worker {n}", "dept": dept, "duty": on_duty, "wl": workload,
         "cap": max_workload, "skills": list(skills), "geom": geom,
         "at": None if lon is None else now - timedelta(seconds=age_s)}).scalar_one()


def add_ticket(session: Session, *, category: int, lon: float = 113.44, lat: float = 23.12,
               status: str = "accepted", department: int | None = None, now: datetime = NOW) -> int:
    """Insert one ticket (department from the category unless given); returns its id."""
    return session.execute(sa.text(
        "INSERT INTO ticket (channel, category_id, department_id, geom, status, created_at, updated_at) "
        "SELECT 'hotline', c.id, COALESCE(:dept, c.department_id), "
        "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :status, :now, :now FROM category c WHERE c.id = :cat "
        "RETURNING id"),
        {"cat": category, "dept": department, "lon": lon, "lat": lat, "status": status, "now": now}).scalar_one()


@pytest.fixture
def worker_factory(session: Session, district: dict) -> Callable[..., int]:
    def make(dept: str = "urban", **kw) -> int:
        return add_worker(session, dept=district["departments"][dept], **kw)
    return make


@pytest.fixture
def ticket_factory(session: Session, district: dict) -> Callable[..., int]:
    def make(category: str = "pothole", **kw) -> int:
        return add_ticket(session, category=district["categories"][category], **kw)
    return make
