"""Flood forecast warnings -> alerts on roads and grids, published messages and waterlogging tickets.

A warning row (from ``flood_model``'s ``ForecastResult.warnings``) becomes the
active alert ``(flood, "{kind}:{feature_id}", "flood_forecast")``: one per
feature however often runs are published. A new run moves the level up or
down; re-publishing the same run changes nothing; features a newer run no
longer warns about are cleared (``clear_missing``). Each new alert and each
escalation stores one message per channel in the district profile's
languages and texts (:meth:`spatial.profile.Profile.warning_text`), by default
"黄埔东路 内涝红色预警，请绕行 / Huangpu East Road waterlogging red warning,
please detour". Orange and red warnings open one ``waterlogging`` ticket per
alert for the catalog's department (channel ``sensor``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.errors import ValidationError
from spatial.locate import grid_at
from spatial.models import Alert
from spatial.profile import Profile, district_profile
from spatial.sensors import alerts

RULE = "flood_forecast"
REQUIRED = ("kind", "feature_id", "level", "geometry")
CATEGORY = "waterlogging"


def _names(profile: Profile, kind: str, fid: Any, name: str | None, name_en: str | None) -> dict[str, str]:
    """The feature's name per message language: ``name`` (``name_en`` for English), else "Road 7"-style."""
    out = profile.feature_name(kind, fid)
    for lang in out:
        out[lang] = (name_en or name or out[lang]) if lang == "en" else (name or out[lang])
    return out


def _grid_for(session: Session, kind: str, feature_id: Any, x: float, y: float) -> int | None:
    if kind == "grid":
        gid = session.scalar(sa.text(
            "SELECT id FROM admin_unit WHERE level = 4 AND (code = :c OR CAST(id AS text) = :c) LIMIT 1"),
            {"c": str(feature_id)})
        if gid is not None:
            return gid
    return grid_at(session, x, y)


def publish_forecast_warnings(
    session: Session,
    warnings: Any,
    *,
    run_id: str,
    actor: str,
    issue_tickets: bool = True,
    channels: Sequence[str] = ("public", "sms"),
    clear_missing: bool = True,
    now: datetime | None = None,
) -> dict:
    """Turn a forecast run's warnings into alerts, stored messages and (orange/red) tickets.

    Parameters
    ----------
    session
        Caller-owned session (only flushed).
    warnings
        GeoDataFrame with columns kind ('road'|'grid'), feature_id, name,
        max_depth_m, first_exceed_s, level ('yellow'|'orange'|'red') and
        geometry (any CRS with ``.crs`` set, EPSG:4326 assumed when unset);
        an optional ``name_en`` column gives the English name.
    run_id
        Identifier of the forecast run (kept on the alert).
    actor
        Who publishes (kept on the alert for the record).
    issue_tickets
        Open waterlogging tickets for orange and red warnings.
    channels
        Notification channels a message is stored for.
    clear_missing
        Clear active flood alerts of features this run does not warn about.

    Returns
    -------
    dict
        run_id, created, escalated, deescalated, unchanged, cleared, messages, tickets, alert_ids.
    """
    if not run_id:
        raise ValidationError("run_id is required.")
    missing = [c for c in REQUIRED if c not in getattr(warnings, "columns", [])]
    if missing:
        raise ValidationError(f"warnings lack columns {missing}; expected flood_model warnings.")
    now = utc_now(now)
    gdf = warnings
    if len(gdf) and getattr(gdf, "crs", None) is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    out = {"run_id": run_id, "created": 0, "escalated": 0, "deescalated": 0, "unchanged": 0, "cleared": 0,
           "messages": 0, "tickets": 0, "alert_ids": []}
    seen: set[str] = set()
    profile = district_profile(session)
    has_catalog = session.scalar(sa.text("SELECT count(*) FROM category WHERE code = :c AND active"),
                                 {"c": CATEGORY}) > 0
    for row in gdf.to_dict("records"):
        kind, level, geom = row["kind"], row["level"], row["geometry"]
        if kind not in ("road", "grid"):
            raise ValidationError(f"warning kind must be 'road' or 'grid', not {kind!r}.")
        if level not in ("yellow", "orange", "red"):
            raise ValidationError(f"warning level must be yellow, orange or red, not {level!r}.")
        if geom is None or geom.is_empty:
            continue
        fid = row["feature_id"]
        source_id = f"{kind}:{fid}"
        seen.add(source_id)
        name = row.get("name")
        name = None if name is None or (isinstance(name, float) and math.isnan(name)) else str(name)
        name_en = row.get("name_en")
        names = _names(profile, kind, fid, name, None if name_en is None else str(name_en))
        # the depth the level rests on (sustained over the warned stretch), not a single pit cell
        depth = row.get("sustained_depth_m", row.get("max_depth_m"))
        depth = None if depth is None or not math.isfinite(float(depth)) else float(depth)
        pt = geom.representative_point()
        grid_id = _grid_for(session, kind, fid, pt.x, pt.y)
        text = profile.warning_text(kind, name=names, level=level, depth_m=depth)
        first = row.get("first_exceed_s")
        alert, change = alerts.raise_alert(
            session, source_kind="flood", source_id=source_id, rule=RULE, level=level, at=now, value=depth,
            geom_ewkt=f"SRID=4326;{geom.wkt}", grid_id=grid_id, message=text,
            data={"run_id": run_id, "kind": kind, "feature_id": str(fid), "name": name, "actor": actor,
                  "first_exceed_s": None if first is None or not math.isfinite(float(first)) else float(first)})
        out["alert_ids"].append(alert.id)
        out[{"created": "created", "escalated": "escalated", "deescalated": "deescalated"}.get(
            change, "unchanged")] += 1
        if change in ("created", "escalated"):
            msgs = alerts.publish(session, alert, text, level=level, channels=channels, at=now,
                                  audience={"kind": kind, "feature_id": str(fid), "grid_id": grid_id,
                                            "run_id": run_id})
            out["messages"] += len(msgs)
        if (issue_tickets and has_catalog and alert.ticket_id is None
                and alerts.rank(level) >= alerts.rank("orange")):
            tid = alerts.issue_ticket(session, alert, category=CATEGORY, lon=pt.x, lat=pt.y, channel="sensor",
                                      description=text, address=name, now=now,
                                      attrs={"run_id": run_id, "kind": kind, "feature_id": str(fid)})
            out["tickets"] += tid is not None
    if clear_missing:
        stale = session.scalars(sa.select(Alert).where(Alert.source_kind == "flood", Alert.rule == RULE,
                                                       Alert.state == "active").with_for_update()).all()
        for a in stale:
            if a.source_id in seen:
                continue
            alerts.clear_alert(session, a, at=now, reason=f"not in forecast run {run_id}")
            name = a.data.get("name") or a.source_id
            msgs = alerts.publish(session, a, profile.warning_text("lifted", name=name),
                                  level=a.level, channels=channels, at=now,
                                  audience={"kind": a.data.get("kind"), "feature_id": a.data.get("feature_id"),
                                            "grid_id": a.grid_id, "run_id": run_id})
            out["cleared"] += 1
            out["messages"] += len(msgs)
    session.flush()
    return out
