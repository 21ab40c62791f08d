"""Live demo: keep the on-duty workers moving so the dispatcher always sees fresh positions.

:func:`step_positions` is meant for a periodic job in demo mode (every
30-60 s). Each call moves every on-duty worker that has a position by a
random step of a few tens of metres (with a gentle pull back towards the
centre of the worker's home grid, so nobody wanders off), keeps them inside
the district, stamps ``position_at = now`` and appends a
:class:`~spatial.models.WorkerPosition` fix. One batched ``UPDATE ... FROM
unnest(...)`` and one ``INSERT ... SELECT``; workers whose rows are locked
(being dispatched right now) are skipped, so the job never blocks an
assignment.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.profile import district_profile

_MOVE_SQL = """
WITH m AS (
    SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:dx AS float8[]), CAST(:dy AS float8[]),
                         CAST(:acc AS float8[])) AS m(id, dx, dy, acc)
), cur AS (
    SELECT w.id, m.acc, m.dx, m.dy, ST_Transform(w.geom, :srid) AS p,
           ST_Transform(ST_PointOnSurface(g.geom), :srid) AS home
    FROM m JOIN worker w ON w.id = m.id LEFT JOIN admin_unit g ON g.id = w.home_grid_id
), nxt AS (
    SELECT id, acc, ST_Transform(ST_Translate(p,
               dx + :pull * COALESCE(ST_X(home) - ST_X(p), 0),
               dy + :pull * COALESCE(ST_Y(home) - ST_Y(p), 0)), 4326) AS g
    FROM cur
), d AS (
    SELECT ST_Union(geom) AS geom FROM admin_unit WHERE level = 1
)
UPDATE worker w
SET geom = CASE WHEN d.geom IS NULL OR ST_Intersects(d.geom, nxt.g) THEN nxt.g ELSE w.geom END,
    position_at = :now, position_accuracy_m = nxt.acc
FROM nxt, d
WHERE w.id = nxt.id
"""

_FIX_SQL = """
INSERT INTO worker_position (worker_id, fixed_at, received_at, geom, accuracy_m)
SELECT id, :now, :now, geom, position_accuracy_m FROM worker WHERE id = ANY(CAST(:ids AS integer[]))
ON CONFLICT (worker_id, fixed_at) DO NOTHING
"""


def step_positions(session: Session, *, now: datetime | None = None, step_m: float = 30.0,
                   pull: float = 0.05, rng: np.random.Generator | None = None) -> int:
    """Move on-duty workers a little and refresh their fixes; returns how many moved.

    Parameters
    ----------
    session : Session
        The caller owns the transaction; this only flushes.
    now : datetime, optional
        Time of the new fixes (timezone-aware; default: current UTC time).
    step_m : float
        Standard deviation of each step's x and y components, metres (EPSG:32649).
    pull : float
        Fraction of the way back to the home grid's centre added to each step.
    rng : numpy Generator, optional
        For reproducible walks in tests.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = rng or np.random.default_rng()
    ids = session.scalars(sa.text(
        "SELECT id FROM worker WHERE on_duty AND geom IS NOT NULL ORDER BY id FOR UPDATE SKIP LOCKED")).all()
    if not ids:
        return 0
    n = len(ids)
    dx, dy = rng.normal(0.0, step_m, n), rng.normal(0.0, step_m, n)
    acc = np.round(rng.uniform(3.0, 15.0, n), 1)
    params = {"ids": list(ids), "dx": dx.tolist(), "dy": dy.tolist(), "acc": acc.tolist(), "now": now,
              "srid": district_profile(session).metric_srid, "pull": pull}
    session.execute(sa.text(_MOVE_SQL), params)
    session.execute(sa.text(_FIX_SQL), {"ids": list(ids), "now": now})
    session.flush()
    return n
