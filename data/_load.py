"""Write generated demo rows to PostgreSQL with COPY, in one transaction."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa

from spatial._copy import copy_frame, hex_ewkb, json_text, pg_array
from spatial.errors import Conflict

if TYPE_CHECKING:
    from data.demo import DemoData

_JSON = {"attrs", "thresholds", "data"}
_ARRAYS = {"skills", "keywords", "photo_urls"}
_GEOM = {"geom"}
#: tables with an id sequence to move past the explicit ids
_SEQUENCED = ("admin_unit", "department", "category", "road", "building", "asset", "camera", "sensor",
              "worker", "worker_position", "ticket", "ticket_reporter", "ticket_event")


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if col in _GEOM:
            out[col] = hex_ewkb(out[col].to_numpy())
        elif col in _JSON:
            out[col] = [json_text(v) for v in out[col]]
        elif col in _ARRAYS:
            out[col] = [pg_array(v) for v in out[col]]
    return out


def _refuse_busy(session) -> None:
    from data.demo import DEMO_TABLES

    busy = [t for t in DEMO_TABLES if session.scalar(sa.text(f"SELECT EXISTS (SELECT 1 FROM {t})"))]
    if busy:
        raise Conflict(f"Tables {', '.join(busy)} already hold rows; load the demo with replace "
                       "(omit --keep) to clear them first.")


def check_empty(url: str | None = None) -> None:
    """Raise Conflict unless every demo table is empty."""
    from spatial.db import session_scope

    with session_scope(url) as session:
        _refuse_busy(session)


def write_demo(data: DemoData, *, replace: bool = True, url: str | None = None) -> dict:
    """COPY every frame of ``data`` into the database at ``url``; returns counts and timings (s)."""
    from data.demo import DEMO_TABLES, dem_path
    from spatial.db import session_scope

    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    with session_scope(url) as session:
        if replace:
            session.execute(sa.text(f"TRUNCATE {', '.join(DEMO_TABLES)} RESTART IDENTITY CASCADE"))
        else:
            _refuse_busy(session)
        for table in DEMO_TABLES:
            df = data.frames[table]
            counts[table] = copy_frame(session, table, _prepare(df))
        for table in _SEQUENCED:
            session.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"))
        session.execute(sa.text(f"ANALYZE {', '.join(DEMO_TABLES)}"))
    t_db = time.perf_counter() - t0
    from spatial.settings import get_settings

    path = get_settings().home / "demo" / "dem.tif"
    data.dem.write(path)
    assert path == dem_path()
    return {"seed": data.info.get("seed"), "now": data.now.isoformat(), "rows": counts,
            "grids": int((data.frames["admin_unit"]["level"] == 4).sum()),
            "dem": {"path": str(path), "shape": list(data.dem.elevation.shape), "cell_m": data.dem.cell_size},
            "database_s": round(t_db, 2)}
