"""The periodic emergency-command sweep (the server's ``incidents`` job, ``onemap incident sweep``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.incidents import events, geofences, incidents


def run(session: Session, *, now: datetime | None = None) -> dict:
    """Escalate overdue tasks, end stale geofence presences / raise dwell alerts, tag the live events' tickets."""
    now = utc_now(now)
    out = {**incidents.sweep(session, now=now), **geofences.sweep(session, now=now)}
    live = events.active(session, now=now)
    out["event_tags"] = events.tag(session, live["id"]) if live else None
    return out
