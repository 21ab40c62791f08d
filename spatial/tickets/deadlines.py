"""Deadline arithmetic for the category catalog.

A limit is ``(amount, unit)`` with unit ``hours`` (wall-clock hours),
``calendar_days`` (24 h days) or ``working_days`` (Monday-Friday in the
district's local time zone, minus configured holidays; the due time keeps the
local time of day of the start, and a start on a non-working day counts from
the next working day's start at 09:00). Times are timezone-aware; results are
in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
