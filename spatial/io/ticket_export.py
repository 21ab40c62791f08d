"""Filtered ticket and alert exports for analysts and reports: CSV, Excel (.xlsx), GeoPackage and GeoJSON.

One row per ticket with its category, department, street / community / grid
codes, channel, priority, every lifecycle time (UTC), the deadlines and
whether they were missed, the rating and the point (EPSG:4326). The filter is
the list API's (:class:`spatial.tickets.queries.TicketFilter`: time, street,
department, category, status, bbox, ...), restricted to what the caller may
find (``visible_to``; exports are for staff, see ``spatial.api.exports``).
Reporter contact is never exported: it is personal data, shown only ticket
by ticket to those who need it (``spatial.privacy``).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from spatial.auth import Principal
from spatial.errors import ValidationError
from spatial.models import Ticket
from spatial.sensors import alerts
from spatial.tickets import queries

#: Exported columns, in order (times are UTC).
COLUMNS = ("id", "status", "category", "category_name", "department", "department_name", "channel", "street",
           "community", "grid", "priority", "description", "address", "created_at", "accepted_at",
           "dispatched_at", "resolved_at", "closed_at", "accept_due_at", "resolve_due_at", "accept_overdue",
           "resolve_overdue", "escalation_level", "rating", "external_id", "merged_into_id", "lon", "lat")
TIME_COLUMNS = ("created_at", "accepted_at", "dispatched_at", "resolved_at", "closed_at", "accept_due_at",
                "resolve_due_at")
#: File formats by suffix.
FORMATS = (".csv", ".xlsx", ".gpkg", ".geojson")
#: Most rows in one export (a larger export: narrow the filter or page by time).
MAX_ROWS = 1_000_000


def ticket_frame(session: Session, f: queries.TicketFilter, principal: Principal | None = None) -> gpd.GeoDataFrame:
    """The tickets matching ``f`` that ``principal`` may find, oldest first, as :data:`COLUMNS` (EPSG:4326)."""
    q = queries.apply_filter(queries.base_query(), queries.visible_to(f, principal).validate())
    rows = session.execute(q.order_by(Ticket.created_at, Ticket.id).limit(MAX_ROWS + 1)).all()
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"more than {MAX_ROWS:,} tickets match: narrow the filter (e.g. by time)")
    frame = pd.DataFrame([{c: r._mapping[c] for c in COLUMNS} for r in rows], columns=list(COLUMNS))
    for col in TIME_COLUMNS:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    geom = shapely.points(frame["lon"].astype(float).to_numpy(), frame["lat"].astype(float).to_numpy())
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geom, crs=4326).where(frame["lon"].notna()), crs=4326)


def write(frame: gpd.GeoDataFrame, path: str | Path, *, layer: str = "tickets",
          time_columns: tuple[str, ...] = TIME_COLUMNS) -> Path:
    """Write ``frame`` (EPSG:4326) to ``path`` in the format of its suffix (:data:`FORMATS`).

    ``time_columns`` (tz-aware) become ISO 8601 UTC text, or naive UTC with a ``_utc`` suffix in Excel.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValidationError(f"unknown export format {suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    if suffix in (".csv", ".xlsx"):
        plain = pd.DataFrame(frame.drop(columns="geometry"))
        for col in time_columns:  # ISO 8601 text in CSV; naive UTC in Excel (it has no time zones)
            plain[col] = (plain[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ") if suffix == ".csv"
                          else plain[col].dt.tz_localize(None))
        if suffix == ".csv":
            plain.to_csv(path, index=False)
        else:
            plain.rename(columns={c: f"{c}_utc" for c in time_columns}).to_excel(path, index=False,
                                                                                 sheet_name=layer)
        return path
    out = frame.copy()
    for col in time_columns:
        out[col] = out[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_file(path, layer=layer, driver="GPKG" if suffix == ".gpkg" else "GeoJSON")
    return path


#: Alert columns exported (times UTC); flood warnings are alerts with ``source_kind = 'flood'``.
ALERT_COLUMNS = ("id", "source_kind", "source_id", "rule", "level", "state", "message", "started_at",
                 "cleared_at", "last_value", "peak_value", "ticket_id", "grid_id", "lon", "lat")
ALERT_TIMES = ("started_at", "cleared_at")


def alert_frame(session: Session, *, state: str | None, source_kind: str | None,
                principal: Principal | None = None) -> gpd.GeoDataFrame:
    """Alerts (newest first, at most 10,000) as :data:`ALERT_COLUMNS` with their point (EPSG:4326)."""
    rows = alerts.list_alerts(session, state=state, source_kind=source_kind, limit=10_000, viewer=principal)
    frame = pd.DataFrame([{c: r.get(c) for c in ALERT_COLUMNS} for r in rows], columns=list(ALERT_COLUMNS))
    for col in ALERT_TIMES:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    geom = shapely.points(frame["lon"].astype(float).to_numpy(), frame["lat"].astype(float).to_numpy())
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geom, crs=4326), crs=4326)


def export_tickets(session: Session, path: str | Path, f: queries.TicketFilter,
                   principal: Principal | None = None) -> int:
    """Write the tickets matching ``f`` to ``path``; returns the number of rows."""
    frame = ticket_frame(session, f, principal)
    write(frame, path)
    return len(frame)
