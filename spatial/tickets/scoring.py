"""Monthly assessment: "one event one score, one month one ranking".

For a calendar month in the district's local time zone (the district profile's ``timezone``)
every department (or street) is scored on the tickets created in that month,
duplicates merged away excluded:

``intake``
    number of tickets.
``on_time_accept_rate``
    share accepted by ``accept_due_at``, among tickets whose accept deadline
    is decided (accepted, or flagged overdue by the sweep); NaN when none.
``on_time_resolve_rate``
    same for resolving by ``resolve_due_at``.
``closed``
    tickets closed (by the cut-off with ``as_of``).
``overdue``
    tickets that missed either deadline.
``avg_resolve_hours``
    mean hours from report to (last) resolution, resolved tickets only.
``satisfaction``
    mean rating 1-5 of rated tickets; ``rated`` is their count.
``score``
    0-100: ``40 * on_time_resolve_rate + 30 * on_time_accept_rate
    + 30 * (satisfaction - 1) / 4``; a missing component (no decided
    deadline, no rating) is left out and the other weights are rescaled.
``rank``
    1 = best by score (ties share a rank, ordered by more intake); units
    without tickets get no score and no rank.

``as_of`` (a date: the end of that local day; or an aware time) scores the
month as it stood at that cut-off: tickets created before it, lifecycle
times after it ignored, and the deadline flags worked out from the times
instead of the sweep's flags (which are set later, and never for imported
history): a deadline is missed when it was met late, or when it had passed at
the cut-off while the ticket was still waiting for that step (not moved on,
and not rejected/merged before; a final ticket's ``updated_at`` stands for
that time) and the step is known: it was recorded later, or the ticket is
still waiting for it now (imported history that never recorded an
acceptance leaves the accept deadline undecided, as the sweep's flags do).
Ratings count for tickets closed by the cut-off.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import cut_off
from spatial.db.profile import app_profile
from spatial.errors import ValidationError
from spatial.profile import district_profile
from spatial.tickets.lifecycle import OPEN_STATES, sql_list

WEIGHTS = {"on_time_resolve_rate": 40.0, "on_time_accept_rate": 30.0, "satisfaction_norm": 30.0}
COLUMNS = ["unit_id", "code", "name", "intake", "closed", "on_time_accept_rate", "on_time_resolve_rate", "overdue",
           "avg_resolve_hours", "satisfaction", "rated", "score", "rank"]

_LIVE = """
  SELECT {unit} AS unit_id, accepted_at, accept_due_at, accept_overdue, resolved_at, resolve_due_at,
         resolve_overdue, created_at, rating, closed_at
  FROM ticket
  WHERE created_at >= :start AND created_at < :end AND status <> 'merged'
"""

#: The same rows as they stood at :cut (see the module doc).
_AS_OF = """
  SELECT unit_id, accepted_at, accept_due_at, resolved_at, resolve_due_at, created_at, closed_at,
         CASE WHEN closed_at IS NOT NULL THEN rating END AS rating,
         coalesce(accepted_at > accept_due_at, accept_due_at < :cut AND accepted_at IS NULL AND accept_known
                  AND coalesce(dispatched_at, resolved_at, closed_at) IS NULL AND NOT gone) AS accept_overdue,
         coalesce(resolved_at > resolve_due_at, resolve_due_at < :cut AND resolved_at IS NULL AND resolve_known
                  AND closed_at IS NULL AND NOT gone) AS resolve_overdue
  FROM (
    SELECT {unit} AS unit_id, accept_due_at, resolve_due_at, created_at, rating,
           CASE WHEN accepted_at < :cut THEN accepted_at END AS accepted_at,
           CASE WHEN dispatched_at < :cut THEN dispatched_at END AS dispatched_at,
           CASE WHEN resolved_at < :cut THEN resolved_at END AS resolved_at,
           CASE WHEN closed_at < :cut THEN closed_at END AS closed_at,
           (status IN ('rejected', 'merged') AND updated_at < :cut) AS gone,
           (accepted_at IS NOT NULL OR status = 'reported') AS accept_known,
           (resolved_at IS NOT NULL OR status IN {open_states}) AS resolve_known
    FROM ticket
    WHERE created_at >= :start AND created_at < least(:end, :cut)
      AND NOT (status = 'merged' AND updated_at < :cut)
  ) AS cut
"""

_SQL = """
WITH t AS ({rows})
SELECT u.id AS unit_id, u.code, u.name,
  count(t.unit_id) AS intake,
  count(t.closed_at) AS closed,
  count(*) FILTER (WHERE t.accepted_at IS NOT NULL OR t.accept_overdue) AS accept_decided,
  count(*) FILTER (WHERE t.accepted_at IS NOT NULL AND NOT t.accept_overdue
                   AND (t.accept_due_at IS NULL OR t.accepted_at <= t.accept_due_at)) AS accept_on_time,
  count(*) FILTER (WHERE t.resolved_at IS NOT NULL OR t.resolve_overdue) AS resolve_decided,
  count(*) FILTER (WHERE t.resolved_at IS NOT NULL AND NOT t.resolve_overdue
                   AND (t.resolve_due_at IS NULL OR t.resolved_at <= t.resolve_due_at)) AS resolve_on_time,
  count(*) FILTER (WHERE t.accept_overdue OR t.resolve_overdue) AS overdue,
  avg(extract(epoch FROM t.resolved_at - t.created_at) / 3600.0) AS avg_resolve_hours,
  avg(t.rating)::float AS satisfaction,
  count(t.rating) AS rated
FROM {units} u
LEFT JOIN t ON t.unit_id = u.id
GROUP BY u.id, u.code, u.name
ORDER BY u.code
"""


def month_bounds(month: date, *, tz: str | None = None) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month containing ``month`` in ``tz`` (default the profile's zone; aware)."""
    zone = ZoneInfo(tz or app_profile().timezone)
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    nxt = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=zone)
    return start, nxt


def monthly_scores(
    session: Session,
    *,
    month: date,
    by: Literal["department", "street"] = "department",
    as_of: date | datetime | None = None,
) -> pd.DataFrame:
    """Scores and ranking of every department or street for one month.

    Parameters
    ----------
    month : date
        Any day of the month (local time zone of the district).
    by : {"department", "street"}
        Unit of assessment (streets are admin units of level 2).
    as_of : date or datetime, optional
        Score the month as it stood at this cut-off (a date: the end of that
        local day; a datetime must be timezone-aware).

    Returns
    -------
    pandas.DataFrame
        One row per unit, columns :data:`COLUMNS`, sorted by rank (unranked last).
    """
    if by == "department":
        unit, units = "department_id", "department"
    elif by == "street":
        unit, units = "street_id", "(SELECT id, code, name FROM admin_unit WHERE level = 2)"
    else:
        raise ValidationError("by must be 'department' or 'street'")
    tz = district_profile(session).timezone
    start, end = month_bounds(month, tz=tz)
    params: dict = {"start": start, "end": end}
    rows = _LIVE
    if as_of is not None:
        params["cut"] = cut_off(as_of, tz)
        rows = _AS_OF.replace("{open_states}", sql_list(OPEN_STATES))
    raw = pd.DataFrame(session.execute(sa.text(_SQL.format(rows=rows.format(unit=unit), units=units)),
                                       params).mappings().all())
    if raw.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame({"unit_id": raw["unit_id"].astype(int), "code": raw["code"], "name": raw["name"],
                       "intake": raw["intake"].astype(int), "closed": raw["closed"].astype(int)})
    with np.errstate(invalid="ignore", divide="ignore"):
        df["on_time_accept_rate"] = _ratio(raw["accept_on_time"], raw["accept_decided"])
        df["on_time_resolve_rate"] = _ratio(raw["resolve_on_time"], raw["resolve_decided"])
    df["overdue"] = raw["overdue"].astype(int)
    df["avg_resolve_hours"] = pd.to_numeric(raw["avg_resolve_hours"], errors="coerce").astype(float)
    df["satisfaction"] = pd.to_numeric(raw["satisfaction"], errors="coerce").astype(float)
    df["rated"] = raw["rated"].astype(int)
    parts = pd.DataFrame({
        "on_time_resolve_rate": df["on_time_resolve_rate"], "on_time_accept_rate": df["on_time_accept_rate"],
        "satisfaction_norm": (df["satisfaction"] - 1.0) / 4.0,
    })
    weights = pd.Series(WEIGHTS)
    present = parts.notna()
    wsum = present.mul(weights, axis=1).sum(axis=1)
    total = parts.fillna(0.0).mul(weights, axis=1).sum(axis=1)
    score = (100.0 * total / wsum).where((wsum > 0) & (df["intake"] > 0))
    df["score"] = score.round(2)
    ranked = df[df["score"].notna()].sort_values(["score", "intake"], ascending=[False, False])
    df["rank"] = pd.Series(pd.NA, index=df.index, dtype="Int64")
    df.loc[ranked.index, "rank"] = ranked["score"].rank(method="min", ascending=False).astype("int64")
    df = df.sort_values(["rank", "code"], na_position="last").reset_index(drop=True)
    return df[COLUMNS]


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.astype(float)
    den = den.astype(float)
    return (num / den).where(den > 0)


def to_records(df: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN/NA become None, rates rounded to 4 decimals."""
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                clean[k] = None
            elif isinstance(v, np.integer):
                clean[k] = int(v)
            elif isinstance(v, float | np.floating):
                clean[k] = round(float(v), 4)
            else:
                clean[k] = v
        out.append(clean)
    return out
