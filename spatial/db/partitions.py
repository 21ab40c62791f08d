"""Monthly partitions of the time-series tables and their retention (migration 0015).

``sensor_reading`` is partitioned by month of ``observed_at`` (UTC months,
partitions ``sensor_reading_yYYYYmMM`` plus ``sensor_reading_default``, which
takes any reading outside them, so nothing is refused). :func:`maintain`, the
server's ``partitions`` job (every ``ONEMAP_RETENTION_SWEEP_SECONDS``, and at
start), keeps :data:`MONTHS_AHEAD` months ready and drops whole months older
than ``ONEMAP_READING_RETENTION_DAYS`` (0 = keep everything). Both steps are
the SQL functions ``onemap_ensure_partitions`` / ``onemap_drop_partitions``
(SECURITY DEFINER: the application role has no DDL of its own).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.settings import get_settings

#: Partitioned tables and their partition column.
PARTITIONED = {"sensor_reading": "observed_at"}
#: Months created ahead of the current one, and looked back for (rows in DEFAULT move in).
MONTHS_AHEAD, MONTHS_BACK = 3, 1


def maintain(session: Session, *, now: datetime | None = None) -> dict:
    """Create the coming months' partitions and drop those past retention; counts per table."""
    days = get_settings().reading_retention_days
    out: dict = {}
    for table, col in PARTITIONED.items():
        made = session.scalar(sa.text("SELECT onemap_ensure_partitions(CAST(:t AS regclass), :c, :back, :ahead)"),
                              {"t": table, "c": col, "back": MONTHS_BACK, "ahead": MONTHS_AHEAD})
        dropped = 0
        if days > 0:
            cutoff = utc_now(now) - timedelta(days=days)
            dropped = session.scalar(sa.text("SELECT onemap_drop_partitions(CAST(:t AS regclass), :cut)"),
                                     {"t": table, "cut": cutoff})
        out[table] = {"created": int(made or 0), "dropped": int(dropped or 0)}
    return out


def partitions(session: Session, table: str) -> list[tuple[str, str]]:
    """``(partition, bound)`` of ``table``, oldest first, DEFAULT last."""
    rows = session.execute(sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:t AS regclass) ORDER BY c.relname"),
        {"t": table}).all()
    return sorted(((r[0], r[1]) for r in rows), key=lambda r: (r[1] == "DEFAULT", r[0]))
