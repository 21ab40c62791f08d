"""Deadline arithmetic for the category catalog.

A limit is ``(amount, unit)`` with unit ``hours`` (wall-clock hours),
``calendar_days`` (24 h days) or ``working_days`` (working days of the
district's :class:`~spatial.workdays.WorkCalendar` in its local time zone:
Monday-Friday minus public holidays plus adjusted working days, from the
district profile; the due time keeps the
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
from spatial.workdays import WorkCalendar

WORKDAY_START = time(9, 0)


def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValidationError("timestamps must be timezone-aware")
    return t


def _calendar(calendar: WorkCalendar | None, holidays: Iterable[date]) -> WorkCalendar:
    """``calendar`` (default Monday-Friday) with ``holidays`` added."""
    cal = calendar or WorkCalendar()
    extra = frozenset(holidays)
    if extra - cal.holidays:
        cal = WorkCalendar(cal.holidays | extra, cal.workdays - extra, label=cal.label)
    return cal


def is_working_day(d: date, holidays: Iterable[date] = (), calendar: WorkCalendar | None = None) -> bool:
    return _calendar(calendar, holidays).is_working_day(d)


def due_at(
    start: datetime,
    amount: float,
    unit: str,
    *,
    tz: str = "Asia/Shanghai",
    holidays: Iterable[date] = (),
    calendar: WorkCalendar | None = None,
) -> datetime:
    """Due time in UTC for a limit of ``amount`` ``unit`` counted from ``start``.

    ``calendar`` gives the working days (default Monday-Friday); ``holidays`` are added to it.
    """
    start = _aware(start)
    if amount <= 0:
        raise ValidationError(f"deadline amount must be positive, got {amount}")
    if unit == "hours":
        return (start + timedelta(hours=amount)).astimezone(UTC)
    if unit == "calendar_days":
        return (start + timedelta(days=amount)).astimezone(UTC)
    if unit != "working_days":
        raise ValidationError(f"unknown deadline unit {unit!r}")
    cal = _calendar(calendar, holidays)
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    if not cal.is_working_day(local.date()):
        local = datetime.combine(cal.next_working_day(local.date()), WORKDAY_START, tzinfo=zone)
    whole = int(amount)
    frac = amount - whole
    d = local.date()
    n = 0
    while n < whole:
        d += timedelta(days=1)
        if cal.is_working_day(d):
            n += 1
    due = datetime.combine(d, local.timetz().replace(tzinfo=None), tzinfo=zone)
    if frac:
        due += timedelta(hours=24 * frac)
    return due.astimezone(UTC)


def due_at_many(start: pd.Series, amount: pd.Series, unit: pd.Series, tz: str,
                holidays: Iterable[date] = (), calendar: WorkCalendar | None = None) -> pd.Series:
    """:func:`due_at` for columns: UTC start times, amounts and units; same rule, same results."""
    out = pd.Series(pd.NaT, index=start.index, dtype="datetime64[us, UTC]")
    hours = unit == "hours"
    cal = unit == "calendar_days"
    work = unit == "working_days"
    out[hours] = start[hours] + pd.to_timedelta(amount[hours], unit="h")
    out[cal] = start[cal] + pd.to_timedelta(amount[cal], unit="D")
    if work.any():
        days = _calendar(calendar, holidays).working_days()
        local = start[work].dt.tz_convert(tz).dt.tz_localize(None)
        day = local.dt.normalize()
        tod = local - day
        d = day.to_numpy().astype("datetime64[D]")
        first = np.searchsorted(days, d, side="left")  # the first working day on or after d
        whole = np.floor(amount[work].to_numpy()).astype(int)
        frac = amount[work].to_numpy() - whole
        if len(d) and (d.min() < days[0] or first.max() + whole.max() >= len(days)):
            raise ValidationError(f"working-day deadlines are computed for {days[0]} to {days[-1]} only")
        starts_working = days[np.minimum(first, len(days) - 1)] == d
        tod = tod.where(starts_working, pd.Timedelta(hours=9))  # a non-working start counts from 09:00
        due_day = days[first + whole]
        due_local = (pd.Series(due_day.astype("datetime64[us]"), index=local.index) + tod
                     + pd.to_timedelta(24 * frac, unit="h"))
        out[work] = due_local.dt.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").dt.tz_convert(UTC)
    return out
