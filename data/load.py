"""Load the generated demo district into PostgreSQL with COPY, in one transaction.

``onemap load-demo`` calls :func:`load_demo`; ``python -m data.load --is-loaded``
prints ``yes`` or ``no`` (used by ``dev.sh run``). The DEM GeoTIFF is written
to :func:`dem_path` and the demo profile (``data/profiles/demo.yaml``) is
stored as the district profile, with that DEM.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from data import _geometry as demo_geometry
from data import emergency
from data._dem import make_dem
from data.accounts import load_demo_accounts
from data.demo import DEMO_DISTRICT_CODE, DEMO_TABLES, DemoData, generate
from data.drainage import demo_network
from data.profile import demo_profile
from spatial.db.copy import copy_frame, hex_ewkb, json_text, pg_array
from spatial.db.engine import get_engine, session_scope
from spatial.drainage import store_network
from spatial.errors import Conflict
from spatial.forecasts import default_dem_path
from spatial.incidents.catalog import install_defaults as install_incident_types
from spatial.locate import grid_sql
from spatial.profile import store_profile
from spatial.settings import get_settings

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
    busy = [t for t in DEMO_TABLES if session.scalar(sa.text(f"SELECT EXISTS (SELECT 1 FROM {t})"))]
    if busy:
        raise Conflict(f"Tables {', '.join(busy)} already hold rows; load the demo with replace "
                       "(omit --keep) to clear them first.")


def check_empty(url: str | None = None) -> None:
    """Raise Conflict unless every demo table is empty."""
    with session_scope(url) as session:
        _refuse_busy(session)


def write_demo(data: DemoData, *, replace: bool = True, url: str | None = None) -> dict:
    """COPY every frame of ``data`` into the database at ``url``; returns counts and timings (s).

    Runs as the database's owner role (TRUNCATE, ``setval`` and ANALYZE are
    not the application role's to do).
    """
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    settings = get_settings()
    with session_scope(settings.owner_url_for(url or settings.sqlalchemy_url())) as session:
        if replace:
            session.execute(sa.text(f"TRUNCATE {', '.join(DEMO_TABLES)} RESTART IDENTITY CASCADE"))
        else:
            _refuse_busy(session)
        for table in DEMO_TABLES:
            df = data.frames[table]
            counts[table] = copy_frame(session, table, _prepare(df))
        extra = emergency.frames(data.frames, seed=int(data.info.get("seed") or 42))
        session.execute(sa.text("DELETE FROM poi WHERE source = 'demo'"))
        counts["poi"] = copy_frame(session, "poi", _prepare(extra["poi"]))
        counts["emergency_assets"] = copy_frame(session, "asset", _prepare(extra["emergency_asset"]))
        session.execute(sa.text(f"UPDATE asset SET grid_id = {grid_sql('geom')} WHERE grid_id IS NULL"))
        install_incident_types(session)
        for table in _SEQUENCED:
            session.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {table}), 0) + 1, false)"))
        session.execute(sa.text(f"ANALYZE {', '.join(DEMO_TABLES)}"))
        store_profile(session, demo_profile())
        # the storm sewers under the roads (issue 17): the planner's forecasts couple them through SWMM
        net = store_network(session, demo_network(data.layout, data.dem), srid=int(demo_geometry.METRIC_EPSG),
                            source="demo")
        counts["drainage_node"] = net["junctions"] + net["outfalls"]
        counts["drainage_conduit"] = net["conduits"]
    t_db = time.perf_counter() - t0
    path = default_dem_path()
    data.dem.write(path)
    return {"seed": data.info.get("seed"), "now": data.now.isoformat(), "rows": counts,
            "grids": int((data.frames["admin_unit"]["level"] == 4).sum()),
            "dem": {"path": str(path), "shape": list(data.dem.elevation.shape), "cell_m": data.dem.cell_size},
            "database_s": round(t_db, 2)}


def dem_path(*, seed: int = 42) -> Path:
    """Path of the demo DEM GeoTIFF (EPSG:32649, 10 m, metres); generated on first use."""
    path = default_dem_path()
    if not path.exists():
        rng = np.random.default_rng(seed)
        lay = demo_geometry.layout(rng)
        make_dem(np.random.default_rng([seed, 1]), lay).write(path)
    return path


def load_demo(*, seed: int = 42, tickets: int = 20_000, replace: bool = True, url: str | None = None,
              now: datetime | None = None, **sizes) -> dict:
    """Generate the demo district and load it in one transaction; returns counts and timings.

    ``replace`` truncates every demo table first (TRUNCATE ... CASCADE, so rows
    of feature tables that reference them go too); without it the tables
    must be empty or :class:`spatial.errors.Conflict` is raised. Also writes
    the DEM to :func:`dem_path`.
    """
    if not replace:  # fail before spending seconds on generation
        check_empty(url)
    t0 = time.perf_counter()
    data = generate(seed=seed, tickets=tickets, now=now, **sizes)
    generate_s = round(time.perf_counter() - t0, 2)
    out = {**write_demo(data, replace=replace, url=url), "generate_s": generate_s}
    out["accounts"] = [a["username"] for a in load_demo_accounts(url)]
    return out


def is_loaded(url: str | None = None) -> bool:
    """True when the demo district and its tickets are in the database."""
    try:
        with get_engine(url).connect() as conn:
            return bool(conn.scalar(sa.text(
                "SELECT EXISTS (SELECT 1 FROM admin_unit WHERE code = :c) AND EXISTS (SELECT 1 FROM ticket)"),
                {"c": DEMO_DISTRICT_CODE}))
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m data.load", description=__doc__.splitlines()[0])
    p.add_argument("--is-loaded", action="store_true", help="print yes/no and exit")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tickets", type=int, default=20_000)
    args = p.parse_args(argv)
    if args.is_loaded:
        print("yes" if is_loaded() else "no")
        return 0
    print(json.dumps(load_demo(seed=args.seed, tickets=args.tickets), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
