"""Ticket history as it happened: the lifecycle times of imported tickets, their checks and their events.

A history import (``bulk_intake(..., history=True)``, CLI ``onemap ticket
import --history``) brings finished and unfinished tickets in with the times
the source recorded. The columns (times ISO 8601; without a zone they are
district local time, ``Settings.timezone``; stored in UTC):

``status``
    one of :data:`HISTORY_STATES`; default: the last state with a time
    (``rejected`` when ``rejected_at`` is given), else ``reported``.
``accepted_at``, ``dispatched_at``, ``resolved_at``, ``verified_at``, ``closed_at``
    the time the ticket entered that state. ``accepted_at``, ``dispatched_at``,
    ``resolved_at`` and ``closed_at`` are also stored on the ticket.
    A closed ticket without ``resolved_at`` is taken as resolved when it was
    closed (311 exports record one closing time for work done).
``rejected_at``
    time of a ``rejected`` status; a rejected row with only ``closed_at``
    (one "closed date" for every final state) uses that time.
``rating``, ``rated_at``
    1-5 on a closed ticket; ``rated_at`` defaults to ``closed_at``.

Row errors (vectorised, one reason per row): a time that is not a time or
is in the future, a time before an earlier state's time (``closed_at`` before
``reported_at``...), a status without its own time, times of states after
the status, a rating outside 1-5 or on a ticket that is not closed.

Events (:func:`history_events`): ``reported`` at the report time, then one
``transition`` event per state with a time, in time order, ``from_status`` the
previous state; ``rated`` for a rating. Actor ``import:<source>``, role
``system``, ``data.history = true``. States the source did not record are
skipped, so an imported path (reported -> resolved -> closed) need not be a
path of :data:`spatial.tickets.lifecycle.TRANSITIONS`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

#: States an imported history may end in.
HISTORY_STATES = ("reported", "accepted", "dispatched", "resolved", "verified", "closed", "rejected")
#: The forward chain: (state, column holding the time the ticket entered it), in lifecycle order.
CHAIN = (("accepted", "accepted_at"), ("dispatched", "dispatched_at"), ("resolved", "resolved_at"),
         ("verified", "verified_at"), ("closed", "closed_at"))
#: Every history column a file may carry (besides ``reported_at``).
HISTORY_COLUMNS = ("status", "accepted_at", "dispatched_at", "resolved_at", "verified_at", "closed_at",
                   "rejected_at", "rating", "rated_at")
#: Lifecycle times that are columns of ``ticket``.
TICKET_TIME_COLUMNS = ("accepted_at", "dispatched_at", "resolved_at", "closed_at")
_TIMES = (*tuple(c for _, c in CHAIN), "rejected_at", "rated_at")
_RANK = {s: i for i, s in enumerate(("reported", *tuple(s for s, _ in CHAIN)))}
#: Slack for clocks of the source that run a little ahead.
FUTURE_SLACK = timedelta(minutes=5)


def parse_times(values: pd.Series, tz: str) -> pd.Series:
    """ISO 8601 texts to UTC; texts without an offset are local time in ``tz``; blanks/unparsable -> NaT.

    Offsets may differ row to row (summer and winter time of one export).
    """
    text = values.astype("string").str.strip()
    text = text.where(text.notna() & (text != ""))
    aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], errors="coerce", format="mixed", utc=True)
    naive = text.notna() & ~aware
    if naive.any():
        local = pd.to_datetime(text[naive], errors="coerce", format="mixed")
        out[naive] = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(UTC)
    return out


def check_history(df: pd.DataFrame, created: pd.Series, *, tz: str, now: datetime) -> tuple[pd.DataFrame, pd.Series]:
    """Lifecycle times, status and rating of history rows, and each row's first problem.

    Parameters
    ----------
    df : DataFrame
        Rows with any of :data:`HISTORY_COLUMNS`.
    created : Series of datetime64[UTC]
        Report times (same index), already checked.
    tz : str
        Zone of naive times.
    now : datetime
        Times after ``now + FUTURE_SLACK`` are refused.

    Returns
    -------
    (DataFrame, Series)
        The frame has ``status``, ``rating`` (Int64) and every time of
        :data:`_TIMES` (UTC, NaT when absent); the series holds a reason per
        row ("" when the row is fine).
    """
    reasons = pd.Series("", index=df.index, dtype=object)

    def reject(mask, why) -> None:
        mask = pd.Series(mask, index=df.index).fillna(False).astype(bool)
        if isinstance(why, pd.Series):
            reasons[mask & (reasons == "")] = why[mask & (reasons == "")]
        else:
            reasons[mask & (reasons == "")] = why

    out = pd.DataFrame(index=df.index)
    for col in _TIMES:
        raw = df[col] if col in df else pd.Series(None, index=df.index, dtype=object)
        t = parse_times(raw, tz)
        given = raw.astype("string").str.strip().fillna("") != ""
        reject(given & t.isna(), f"{col} is not a time")
        reject(t > pd.Timestamp(now) + FUTURE_SLACK, f"{col} is in the future")
        out[col] = t
    status = (df["status"].astype("string").str.strip().str.lower() if "status" in df
              else pd.Series(pd.NA, index=df.index, dtype="string"))
    status = status.where(status.notna() & (status != ""))
    reject(status.notna() & ~status.isin(HISTORY_STATES),
           "status " + status.fillna("").astype(str) + " cannot be imported as history (use one of "
           + ", ".join(HISTORY_STATES) + ")")
    inferred = pd.Series("reported", index=df.index, dtype=object)
    for state, col in CHAIN:
        inferred = inferred.mask(out[col].notna(), state)
    inferred = inferred.mask(out["rejected_at"].notna(), "rejected")
    status = status.fillna(pd.Series(inferred, dtype="string")).astype(object)
    rejected = status == "rejected"
    # one "closed" time for every final state: a rejected row's closed_at is its rejection time
    out["rejected_at"] = out["rejected_at"].mask(rejected & out["rejected_at"].isna(), out["closed_at"])
    out.loc[rejected, "closed_at"] = pd.NaT
    reject(rejected & out["rejected_at"].isna(), "status rejected needs rejected_at (or closed_at)")
    closed = status == "closed"
    rank = status.map(_RANK)
    for state, col in CHAIN:
        reject((status == state) & out[col].isna(), f"status {state} needs {col}")
        beyond = out[col].notna() & (rejected & (_RANK[state] >= _RANK["resolved"]) | (rank < _RANK[state]))
        reject(beyond, col + " is given but status is " + status.astype(str))
    order, latest, latest_name = order_reasons(out, created)
    reject(order != "", order)
    # a closed ticket was resolved at the latest when it was closed
    out["resolved_at"] = out["resolved_at"].mask(closed & out["resolved_at"].isna(), out["closed_at"])
    reject(out["rejected_at"].notna() & (out["rejected_at"] < latest), "rejected_at is before " + latest_name)
    rating = pd.to_numeric(df["rating"], errors="coerce") if "rating" in df else pd.Series(np.nan, index=df.index)
    rgiven = (df["rating"].astype("string").str.strip().fillna("") != "") if "rating" in df else rating.notna()
    reject(rgiven & ~rating.isin([1, 2, 3, 4, 5]), "rating must be 1-5")
    reject(rgiven & ~closed, "rating is given but status is " + status.astype(str))
    reject(out["rated_at"].notna() & ~rgiven, "rated_at is given without a rating")
    out["rated_at"] = out["rated_at"].mask(rgiven & out["rated_at"].isna(), out["closed_at"])
    reject(out["rated_at"].notna() & (out["rated_at"] < out["closed_at"]), "rated_at is before closed_at")
    out["status"] = status
    out["rating"] = rating.where(rgiven).round().astype("Int64")
    return out, reasons


def order_reasons(times: pd.DataFrame, created: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Times never go back: each given time of :data:`CHAIN` is at or after every earlier given time.

    ``times`` holds any of the chain's columns (UTC). Returns the reason per
    row ("" when in order, else e.g. ``"closed_at is before reported_at"``),
    and each row's latest time and its column name.
    """
    reasons = pd.Series("", index=times.index, dtype=object)
    latest, latest_name = created.copy(), pd.Series("reported_at", index=times.index, dtype=object)
    for _, col in CHAIN:
        if col not in times:
            continue
        t = times[col]
        back = (t.notna() & (t < latest)).fillna(False).astype(bool) & (reasons == "")
        reasons[back] = col + " is before " + latest_name[back]
        newer = (t.notna() & (t >= latest)).fillna(False).astype(bool) | (t.notna() & latest.isna())
        latest, latest_name = latest.mask(newer, t), latest_name.mask(newer, col)
    return reasons, latest, latest_name


def history_events(ids: pd.Series, created: pd.Series, hist: pd.DataFrame, *, actor: str,
                   grid_ids: pd.Series, channels: pd.Series) -> pd.DataFrame:
    """The events of imported tickets in time order: ``reported``, one ``transition`` per state, ``rated``.

    All arguments share one index (one row per ticket); ``hist`` comes from
    :func:`check_history`. Returns columns ``ticket_id, at, kind, from_status,
    to_status, actor, actor_role, data`` (``at`` UTC, ``data`` JSON text).
    """
    parts = [pd.DataFrame({"ticket_id": ids, "at": created, "kind": "reported", "to_status": "reported",
                           "order": 0,
                           "data": ('{"channel": "' + channels.astype(str) + '", "grid_id": '
                                    + grid_ids.astype("string").fillna("null") + ', "history": true}')})]
    steps = [*list(CHAIN), ("rejected", "rejected_at")]
    for i, (state, col) in enumerate(steps, start=1):
        has = hist[col].notna()
        parts.append(pd.DataFrame({"ticket_id": ids[has], "at": hist.loc[has, col], "kind": "transition",
                                   "to_status": state, "order": i, "data": '{"history": true}'}))
    has = hist["rating"].notna()
    parts.append(pd.DataFrame({"ticket_id": ids[has], "at": hist.loc[has, "rated_at"], "kind": "rated",
                               "to_status": None, "order": len(steps) + 1,
                               "data": '{"rating": ' + hist.loc[has, "rating"].astype(str) + ', "history": true}'}))
    ev = pd.concat(parts, ignore_index=True).sort_values(["ticket_id", "at", "order"], kind="stable")
    state = ev["to_status"].where(ev["kind"] != "rated")
    ev["from_status"] = state.groupby(ev["ticket_id"]).shift(1).where(ev["kind"] == "transition")
    ev["to_status"] = ev["to_status"].where(ev["kind"] != "rated")
    ev["actor"], ev["actor_role"] = actor, "system"
    return ev.drop(columns="order").reset_index(drop=True)


def overdue_flags(hist: pd.DataFrame, accept_due: pd.Series, resolve_due: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``accept_overdue``, ``resolve_overdue`` of imported tickets: a recorded time after its deadline.

    Unfinished tickets whose deadline passed without a time are flagged by the
    next SLA sweep (``spatial.tickets.sla.sweep``), as live ones are.
    """
    acc = (hist["accepted_at"] > accept_due).fillna(False).astype(bool)
    res = (hist["resolved_at"] > resolve_due).fillna(False).astype(bool)
    return acc, res


__all__ = ["CHAIN", "FUTURE_SLACK", "HISTORY_COLUMNS", "HISTORY_STATES", "TICKET_TIME_COLUMNS", "check_history",
           "history_events", "order_reasons", "overdue_flags", "parse_times"]
