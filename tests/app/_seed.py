"""Hand-checkable tickets and workers on top of tests/district.py (direct inserts, no services)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from spatial.models import Ticket, Worker
from tests.district import STEP, X0, Y0


def grid_centre(code: str, dx: float = 0.0, dy: float = 0.0) -> tuple[float, float]:
    r, c = int(code[1]), int(code[2])
    return X0 + (c + 0.5) * STEP + dx, Y0 + (r + 0.5) * STEP + dy


def add_ticket(session: Session, d: dict, *, grid: str, category: str, status: str, created: datetime,
               closed: datetime | None = None, on_time: bool = True, rating: int | None = None,
               accept_due: datetime | None = None, resolve_due: datetime | None = None,
               dx: float = 0.0, dy: float = 0.0) -> Ticket:
    lon, lat = grid_centre(grid, dx, dy)
    c = int(grid[2])
    street = d["streets"]["S0" if c < 2 else "S1"]
    resolve_due = resolve_due or created + timedelta(days=5)
    t = Ticket(channel="hotline", category_id=d["categories"][category], grid_id=d["grids"][grid],
               street_id=street, geom=f"SRID=4326;POINT({lon} {lat})", status=status, created_at=created,
               accept_due_at=accept_due or created + timedelta(hours=24), resolve_due_at=resolve_due,
               closed_at=closed, rating=rating,
               resolved_at=(closed - timedelta(hours=1) if closed and on_time else
                            (resolve_due + timedelta(hours=1) if closed else None)),
               department_id=d["departments"]["urban"])
    session.add(t)
    session.flush()
    return t


def add_worker(session: Session, d: dict, *, code: str, grid: str, at: datetime, dept: str = "urban",
               skills: tuple[str, ...] = ("road_repair",), dx: float = 0.0) -> Worker:
    lon, lat = grid_centre(grid, dx)
    w = Worker(code=code, name=code.upper(), department_id=d["departments"][dept], on_duty=True,
               skills=list(skills), geom=f"SRID=4326;POINT({lon} {lat})", position_at=at, max_workload=5)
    session.add(w)
    session.flush()
    return w
