"""Deadline arithmetic for the category catalog.

A limit is ``(amount, unit)`` with unit ``hours`` (wall-clock hours),
``calendar_days`` (24 h days) or ``working_days`` (Monday-Friday in the
district's local time zone, minus configured holidays; the due time keeps the
local time of day of the start, and a start on a non-working day counts from
the next working day's start at 09:00). Times are timezone-aware; results are
in UTC. :func:`due_at` is the rule for one start time, :func:`due_at_many`
the same rule for columns (bulk and file imports); a test keeps them equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from spatial.errors import ValidationError

WORKDAY_START = time(9, 0)


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValidationError("timestamps must be timezone-aware")
    return t


def is_working_day(d: date, holidays: Iterable[date] = ()) -> bool:
    return d.weekday() < 5 and d not in set(holidays)


def due_at(
    start: datetime,
    amount: float,
    unit: str,
    *,
    tz: str = "Asia/Shanghai",
    holidays: Iterable[date] = (),
) -> datetime:
    """Due time in UTC for a limit of ``amount`` ``unit`` counted from ``start``."""
    start = _aware(start)
    if amount <= 0:
        raise ValidationError(f"deadline amount must be positive, got {amount}")
    if unit == "hours":
        return (start + timedelta(hours=amount)).astimezone(UTC)
    if unit == "calendar_days":
        return (start + timedelta(days=amount)).astimezone(UTC)
    if unit != "working_days":
        raise ValidationError(f"unknown deadline unit {unit!r}")
    hol = set(holidays)
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    if not is_working_day(local.date(), hol):
        d = local.date()
        while not is_working_day(d, hol):
            d += timedelta(days=1)
        local = datetime.combine(d, WORKDAY_START, tzinfo=zone)
    whole = int(amount)
    frac = amount - whole
    d = local.date()
    n = 0
    while n < whole:
        d += timedelta(days=1)
        if is_working_day(d, hol):
            n += 1
    due = datetime.combine(d, local.timetz().replace(tzinfo=None), tzinfo=zone)
    if frac:
        due += timedelta(hours=24 * frac)
    return due.astimezone(UTC)


def due_at_many(start: pd.Series, amount: pd.Series, unit: pd.Series, tz: str,
                holidays: Iterable[date] = ()) -> pd.Series:
    """:func:`due_at` for columns: UTC start times, amounts and units; same rule, same results."""
    out = pd.Series(pd.NaT, index=start.index, dtype="datetime64[us, UTC]")
    hours = unit == "hours"
    cal = unit == "calendar_days"
    work = unit == "working_days"
    out[hours] = start[hours] + pd.to_timedelta(amount[hours], unit="h")
    out[cal] = start[cal] + pd.to_timedelta(amount[cal], unit="D")
    if work.any():
        hol = np.array(sorted(set(holidays)), dtype="datetime64[D]")
        local = start[work].dt.tz_convert(tz).dt.tz_localize(None)
        day = local.dt.normalize()
        tod = local - day
        d = day.to_numpy().astype("datetime64[D]")
        tod = tod.where(np.is_busday(d, holidays=hol), pd.Timedelta(hours=9))  # a non-working start counts from 09:00
        whole = np.floor(amount[work].to_numpy()).astype(int)
        frac = amount[work].to_numpy() - whole
        due_day = np.busday_offset(np.busday_offset(d, 0, roll="forward", holidays=hol), whole,
                                   roll="forward", holidays=hol)
        due_local = (pd.Series(due_day.astype("datetime64[us]"), index=local.index) + tod
                     + pd.to_timedelta(24 * frac, unit="h"))
        out[work] = due_local.dt.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").dt.tz_convert(UTC)
    return out
