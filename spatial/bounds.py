"""Ranges of the schema's columns: the one place input numbers and times are checked against.

A value outside these ranges is refused with a 4xx before any SQL runs
(the database would refuse it too, but only after the transaction started).

* integer ids: ``integer`` columns hold 1..2^31-1, ``bigint`` ones 1..2^63-1;
* times: 1900-01-01 to 2200-01-01 UTC (PostgreSQL stores far more, but Python's
  ``datetime`` overflows on UTC conversion near year 1 and 9999, and no city
  record is older or that far in the future);
* durations in seconds: at most :data:`MAX_SECONDS` (ten years);
* JSON objects stored in jsonb columns: at most :data:`MAX_JSON_BYTES`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

INT4_MAX = 2**31 - 1
INT8_MAX = 2**63 - 1
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2200, 1, 1, tzinfo=UTC)
MAX_SECONDS = 10 * 366 * 86_400
#: Largest JSON object stored in a jsonb column from a request (ticket attrs, event data), bytes.
MAX_JSON_BYTES = 16_384
#: Deepest page of a list (page x page size stays far below bigint).
MAX_PAGE = 1_000_000

#: A row id in an ``integer`` column (workers, departments, cameras, sensors, categories).
Int4Id = Annotated[int, Field(ge=1, le=INT4_MAX)]
#: A row id in a ``bigint`` column (tickets, events, alerts).
Int8Id = Annotated[int, Field(ge=1, le=INT8_MAX)]


#: What a time out of range is told.
TIME_RANGE_MESSAGE = f"must lie between {MIN_TIME:%Y-%m-%d} and {MAX_TIME:%Y-%m-%d} (UTC)"


def utc_in_range(t: datetime) -> datetime | None:
    """The aware ``t`` in UTC when within :data:`MIN_TIME` .. :data:`MAX_TIME`, else None."""
    try:
        out = t.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return out if time_in_range(out) else None


def _utc_in_range(t: datetime) -> datetime:
    out = utc_in_range(t)
    if out is None:
        raise ValueError(TIME_RANGE_MESSAGE)
    return out


def _not_a_number(value: Any) -> Any:
    """Times in requests are ISO 8601 text: ``since=12`` is not taken as 12 s after 1970."""
    if (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()):
        raise ValueError("use an ISO 8601 time with a zone, e.g. 2026-07-01T08:00:00+08:00")
    return value


#: A timezone-aware ISO 8601 time within the schema's range, converted to UTC (request models).
AwareTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_utc_in_range)]


#: What a day out of range is told.
DAY_RANGE_MESSAGE = f"must lie between {MIN_TIME:%Y-%m-%d} and {MAX_TIME - timedelta(days=2):%Y-%m-%d}"


def day_in_range(d: date) -> bool:
    """Whether the local day ``d`` lies within the schema's range (a day's margin for any time zone)."""
    return MIN_TIME.date() <= d <= (MAX_TIME - timedelta(days=2)).date()


def _day_in_range(d: date) -> date:
    if not day_in_range(d):
        raise ValueError(DAY_RANGE_MESSAGE)
    return d


#: A calendar day within the schema's range (``as_of``, ``since``/``until`` of requests).
Day = Annotated[date, AfterValidator(_day_in_range)]


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    if size > MAX_JSON_BYTES:
        raise ValueError(f"at most {MAX_JSON_BYTES:,} bytes of JSON (got {size:,})")
    return value


#: A JSON object bound for a jsonb column: finite, at most :data:`MAX_JSON_BYTES` (nesting is
#: bounded by the HTTP boundary). Stored in the append-only history, so it must stay small.
JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json)]


def int_in(value: int, lo: int, hi: int) -> bool:
    """Whether ``value`` lies in ``lo..hi`` (both included)."""
    return lo <= value <= hi


def time_in_range(t: datetime) -> bool:
    """Whether the timezone-aware ``t`` lies in :data:`MIN_TIME` .. :data:`MAX_TIME`."""
    return MIN_TIME <= t <= MAX_TIME
