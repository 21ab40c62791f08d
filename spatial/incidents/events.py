"""Event mode: a district-wide event (typhoon, rainstorm...) with a time window.

While an event is on, incidents declared are tagged to it (``incident.event_id``);
:func:`tag` tags every ticket created in its window (``event_ticket``, idempotent;
run by the dashboard, the export and the server's incident job). The dashboard
counts tickets by category, status and grid, incidents by type and level with
task progress, and alerts raised in the window; :func:`export` writes the
after-action record (tickets, incidents with tasks and timelines) to GeoJSON,
GeoPackage (one layer each) or JSON. Times are UTC.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.errors import Conflict, NotFound, ValidationError
from spatial.incidents import incidents

KINDS = ("typhoon", "rainstorm", "flood", "heatwave", "earthquake", "major_event", "other")


def _row(session: Session, event_id: int) -> dict:
    r = session.execute(sa.text(
        "SELECT id, code, name, kind, starts_at, ends_at, declared_by, attrs FROM district_event WHERE id = :i"),
        {"i": event_id}).one_or_none()
    if r is None:
        raise NotFound(f"event {event_id} does not exist")
    return {"id": r[0], "code": r[1], "name": r[2], "kind": r[3], "starts_at": r[4], "ends_at": r[5],
            "declared_by": r[6], "attrs": r[7]}


def declare(session: Session, *, code: str, name: str, kind: str, starts_at: datetime | None = None,
            ends_at: datetime | None = None, actor: str, now: datetime | None = None) -> dict:
    """Declare an event (default: starting now, open-ended); open incidents declared in its window are tagged."""
    now = utc_now(now)
    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}")
    if not code or len(code) > 64 or not name:
        raise ValidationError("an event needs a code (1-64 characters) and a name")
    start = utc_now(starts_at) if starts_at else now
    end = utc_now(ends_at) if ends_at else None
    if end is not None and end <= start:
        raise ValidationError("ends_at must be after starts_at")
    if session.execute(sa.text("SELECT 1 FROM district_event WHERE code = :c"), {"c": code}).scalar():
        raise Conflict(f"event {code!r} already exists")
    eid = session.execute(sa.text(
        "INSERT INTO district_event (code, name, kind, starts_at, ends_at, declared_by) "
        "VALUES (:c, :n, :k, :s, :e, :a) RETURNING id"),
        {"c": code, "n": name, "k": kind, "s": start, "e": end, "a": actor}).scalar_one()
    tag(session, eid)
    return _row(session, eid)


def end(session: Session, event_id: int, *, at: datetime | None = None) -> dict:
    """Close an event's window at ``at`` (default now)."""
    ev = _row(session, event_id)
    at = utc_now(at)
    if ev["ends_at"] is not None:
        raise Conflict(f"event {ev['code']} already ended at {ev['ends_at']:%Y-%m-%d %H:%M} UTC")
    if at <= ev["starts_at"]:
        raise ValidationError("the end must be after the start")
    session.execute(sa.text("UPDATE district_event SET ends_at = :e WHERE id = :i"), {"e": at, "i": event_id})
    tag(session, event_id)
    return _row(session, event_id)


def tag(session: Session, event_id: int) -> dict:
    """Tag the tickets created and the incidents declared in the event's window; counts of new tags."""
    ev = _row(session, event_id)
    window = {"i": event_id, "s": ev["starts_at"], "e": ev["ends_at"]}
    t = session.execute(sa.text(
        "INSERT INTO event_ticket (event_id, ticket_id) SELECT :i, id FROM ticket "
        "WHERE created_at >= :s AND (CAST(:e AS timestamptz) IS NULL OR created_at < :e) "
        "ON CONFLICT DO NOTHING"), window).rowcount
    i = session.execute(sa.text(
        "UPDATE incident SET event_id = :i WHERE event_id IS NULL AND declared_at >= :s "
        "AND (CAST(:e AS timestamptz) IS NULL OR declared_at < :e)"), window).rowcount
    return {"tickets": t, "incidents": i}


def list_events(session: Session) -> list[dict]:
    ids = session.execute(sa.text("SELECT id FROM district_event ORDER BY starts_at DESC")).scalars().all()
    return [_row(session, i) for i in ids]


def active(session: Session, *, now: datetime | None = None) -> dict | None:
    eid = incidents.active_event_id(session, utc_now(now))
    return None if eid is None else _row(session, eid)


def dashboard(session: Session, event_id: int) -> dict:
    """Counts of the event: tickets by category/status/grid, incidents by type/level with progress, alerts."""
    tag(session, event_id)
    ev = _row(session, event_id)
    p = {"i": event_id, "s": ev["starts_at"], "e": ev["ends_at"]}

    def counts(sql: str) -> list[dict]:
        return [{"key": r[0], "name": r[1], "count": int(r[2])} for r in session.execute(sa.text(sql), p)]

    base = "FROM event_ticket et JOIN ticket t ON t.id = et.ticket_id WHERE et.event_id = :i"
    with_cat = base.replace("WHERE", "JOIN category c ON c.id = t.category_id WHERE")
    with_grid = base.replace("WHERE", "JOIN admin_unit g ON g.id = t.grid_id WHERE")
    by_cat = counts(f"SELECT c.code, c.name, count(*) {with_cat} GROUP BY 1, 2 ORDER BY 3 DESC")
    by_status = counts(f"SELECT t.status, t.status, count(*) {base} GROUP BY 1 ORDER BY 3 DESC")
    by_grid = counts(f"SELECT g.code, g.name, count(*) {with_grid} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20")
    totals = session.execute(sa.text(
        f"SELECT count(*), count(*) FILTER (WHERE t.status IN ('closed','verified','resolved')), "
        f"count(*) FILTER (WHERE t.accept_overdue OR t.resolve_overdue) {base}"), p).one()
    incs = incidents.list_incidents(session, status=None, event_id=event_id, limit=10_000)
    alerts = session.execute(sa.text(
        "SELECT source_kind, level, count(*) FROM alert WHERE started_at >= :s "
        "AND (CAST(:e AS timestamptz) IS NULL OR started_at < :e) GROUP BY 1, 2 ORDER BY 1, 2"), p).all()
    return {
        "event": ev,
        "tickets": {"total": totals[0], "done": totals[1], "overdue": totals[2], "by_category": by_cat,
                    "by_status": by_status, "top_grids": by_grid},
        "incidents": {"total": len(incs), "open": sum(1 for i in incs if i["status"] == "open"),
                      "people_affected": sum(int(i["impact"].get("people", 0)) for i in incs),
                      "items": [{k: i[k] for k in ("id", "type", "title", "status", "level", "declared_at",
                                                   "closed_at", "tasks_total", "tasks_closed", "progress")}
                                for i in incs]},
        "alerts": [{"source_kind": a[0], "level": a[1], "count": int(a[2])} for a in alerts],
    }


def _frames(session: Session, event_id: int) -> dict[str, gpd.GeoDataFrame]:
    tag(session, event_id)
    tk = pd.DataFrame(session.execute(sa.text(
        "SELECT t.id, c.code AS category, t.status, t.channel, t.created_at, t.closed_at, "
        "(t.accept_overdue OR t.resolve_overdue) AS overdue, "
        "g.code AS grid, ST_AsBinary(t.geom) AS wkb FROM event_ticket et JOIN ticket t ON t.id = et.ticket_id "
        "JOIN category c ON c.id = t.category_id LEFT JOIN admin_unit g ON g.id = t.grid_id "
        "WHERE et.event_id = :i AND NOT c.sensitive ORDER BY t.id"), {"i": event_id}).mappings().all())
    incs = incidents.list_incidents(session, status=None, event_id=event_id, limit=100_000)
    inc_rows = []
    for i in incs:
        full = incidents.incident_view(session, i["id"])
        inc_rows.append({"id": i["id"], "type": i["type"], "title": i["title"], "status": i["status"],
                         "level": i["level"], "declared_at": i["declared_at"], "closed_at": i["closed_at"],
                         "impact": json.dumps(i["impact"]), "tasks": json.dumps(full["tasks"], default=str),
                         "timeline": json.dumps(full["timeline"], default=str),
                         "wkb": shapely.to_wkb(shapely.geometry.shape(i["zone"] or i["geometry"]))})

    def gdf(df: pd.DataFrame) -> gpd.GeoDataFrame:
        if not len(df):
            return gpd.GeoDataFrame(df.drop(columns=["wkb"], errors="ignore"), geometry=[], crs="EPSG:4326")
        geom = shapely.from_wkb([bytes(b) for b in df["wkb"]])
        out = gpd.GeoDataFrame(df.drop(columns=["wkb"]), geometry=geom, crs="EPSG:4326")
        for col in out.columns:
            if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                out[col] = out[col].dt.tz_convert("UTC")
        return out

    return {"tickets": gdf(tk), "incidents": gdf(pd.DataFrame(inc_rows))}


def export(session: Session, event_id: int, path: str | Path) -> dict:
    """Write the after-action record to ``.gpkg`` (layers tickets, incidents), ``.geojson`` (both) or ``.json``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gpkg", ".geojson", ".json"):
        raise ValidationError("export to .gpkg, .geojson or .json")
    if suffix == ".json":
        path.write_text(json.dumps(dashboard(session, event_id), default=str, indent=2, ensure_ascii=False))
        return {"path": str(path)}
    frames = _frames(session, event_id)
    if suffix == ".gpkg":
        for layer, df in frames.items():
            df.to_file(path, layer=layer, driver="GPKG")
    else:
        path.write_text(geojson(session, event_id, frames=frames))
    return {"path": str(path), **{k: len(v) for k, v in frames.items()}}


def geojson(session: Session, event_id: int, *, frames: dict | None = None) -> str:
    """The after-action record as one GeoJSON FeatureCollection (``layer`` property: tickets or incidents)."""
    frames = frames or _frames(session, event_id)
    feats = []
    for layer, df in frames.items():
        if not len(df):
            continue
        fc = json.loads(df.to_json(default=str))
        for f in fc["features"]:
            f["properties"]["layer"] = layer
        feats += fc["features"]
    return json.dumps({"type": "FeatureCollection", "event": _row(session, event_id), "features": feats},
                      default=str, ensure_ascii=False)
