"""The one "now, in UTC" rule: every service takes an optional ``now`` and resolves it here."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from spatial.bounds import DAY_RANGE_MESSAGE, TIME_RANGE_MESSAGE, day_in_range, utc_in_range
from spatial.errors import ValidationError


def utc_now(now: datetime | None = None) -> datetime:
    """``now`` converted to UTC, or the current time when ``None``.

    Raises
    ------
    ValidationError
        When ``now`` is naive (a time without a zone is ambiguous).
    """
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValidationError("now must be timezone-aware")
    return _checked(now, "now")


def _checked(t: datetime, what: str) -> datetime:
    """``t`` (aware) in UTC if within the schema's time range (:mod:`spatial.bounds`), else ValidationError."""
    out = utc_in_range(t)
    if out is None:
        raise ValidationError(f"{what} {TIME_RANGE_MESSAGE}")
    return out


def as_utc(value: Any, *, what: str = "time", naive_zone: tzinfo | None = None) -> datetime:
    """A timezone-aware UTC datetime from an ISO 8601 string (``Z`` allowed), epoch seconds or a datetime.

    Naive values take ``naive_zone``; without one they are refused. Times
    outside :data:`spatial.bounds.MIN_TIME` .. ``MAX_TIME`` are refused.

    Raises
    ------
    ValidationError
        Unreadable, naive without ``naive_zone``, or out of range; the message names ``what``.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or not -2.3e9 <= value <= 7.3e9:
            raise ValidationError(f"{what} {TIME_RANGE_MESSAGE}")
        return _checked(datetime.fromtimestamp(float(value), UTC), what)
    elif isinstance(value, str) and value.strip():
        s = value.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise ValidationError(f"{what}: unreadable time {value[:40]!r}; use ISO 8601, "
                                  "e.g. 2026-07-01T08:00:00+08:00") from None
    else:
        raise ValidationError(f"{what}: missing or unreadable time")
    if dt.tzinfo is None:
        if naive_zone is None:
            raise ValidationError(f"{what} must carry a time zone (e.g. 2026-01-01T08:00:00+08:00)")
        dt = dt.replace(tzinfo=naive_zone)
    return _checked(dt, what)


def cut_off(as_of: date | datetime, tz: str) -> datetime:
    """The aware cut-off time of an ``as_of`` argument: a date is the end of that day in zone ``tz``.

    A datetime must be timezone-aware and is returned as it is.
    """
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            raise ValidationError("as_of needs a time zone (or give a date)")
        return as_of
    return datetime(as_of.year, as_of.month, as_of.day, tzinfo=ZoneInfo(tz)) + timedelta(days=1)


def parse_day(text: str, what: str = "date") -> date:
    """A ``YYYY-MM-DD`` text as a date; ValidationError naming ``what`` otherwise."""
    try:
        day = date.fromisoformat(text.strip())
    except (AttributeError, ValueError) as exc:
        raise ValidationError(f"{what} {text!r} must be a date YYYY-MM-DD") from exc
    if not day_in_range(day):
        raise ValidationError(f"{what} {DAY_RANGE_MESSAGE}")
    return day
