from datetime import UTC, date, datetime

import pytest

from spatial.errors import ValidationError
from spatial.tickets.deadlines import due_at

SH = "Asia/Shanghai"


def test_hours_and_calendar_days():
    t = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert due_at(t, 24, "hours") == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert due_at(t, 2, "calendar_days") == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_working_days_skip_weekend_and_holidays():
    # Friday 2026-11-20 10:00 Shanghai time = 02:00 UTC
    fri = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    assert due_at(fri, 1, "working_days", tz=SH) == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday
    assert due_at(fri, 5, "working_days", tz=SH) == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    hol = [date(2026, 11, 23)]
    assert due_at(fri, 1, "working_days", tz=SH, holidays=hol) == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_working_days_from_weekend_start_next_morning():
    sat = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # Saturday 20:00 local
    # counts from Monday 09:00 local (01:00 UTC); 1 working day later is Tuesday 09:00
    assert due_at(sat, 1, "working_days", tz=SH) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_bad_input():
    with pytest.raises(ValidationError):
        due_at(datetime(2026, 1, 1), 1, "hours")
    with pytest.raises(ValidationError):
        due_at(datetime(2026, 1, 1, tzinfo=UTC), 1, "fortnights")
    with pytest.raises(ValidationError):
        due_at(datetime(2026, 1, 1, tzinfo=UTC), 0, "hours")
