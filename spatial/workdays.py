"""Working-day calendars: weekends, public holidays and adjusted working days.

A :class:`WorkCalendar` says whether a local calendar date is a working day:
Monday-Friday, minus public holidays, plus adjusted working days (China's 调休:
a Saturday or Sunday worked to bridge a holiday). Holidays come from the
``holidays`` package for a country (and subdivision), and for China (``CN``)
from ``chinesecalendar``, which also knows the adjusted working days; a
profile can add its own dates. :func:`calendar_for` builds one from a district
profile's ``calendar`` section.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from spatial.errors import ValidationError

#: Years a country calendar is expanded for (deadlines are days to weeks ahead of recent reports).
YEARS = range(2015, 2036)


@dataclass(frozen=True)
class WorkCalendar:
    """Working days: Monday-Friday, minus ``holidays``, plus ``workdays`` (dates in local time)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    label: str = "Monday-Friday"
    _days: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def next_working_day(self, d: date) -> date:
        """``d`` itself when it is a working day, else the next one."""
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def working_days(self) -> np.ndarray:
        """Sorted ``datetime64[D]`` working days over :data:`YEARS` (for column arithmetic)."""
        if self._days is None:
            start = np.datetime64(f"{YEARS.start}-01-01")
            allday = np.arange(start, np.datetime64(f"{YEARS.stop}-01-01"), dtype="datetime64[D]")
            hol = np.array(sorted(self.holidays), dtype="datetime64[D]")
            extra = np.array(sorted(self.workdays), dtype="datetime64[D]")
            work = np.is_busday(allday, holidays=hol) | np.isin(allday, extra)
            object.__setattr__(self, "_days", allday[work])
        return self._days


@lru_cache(maxsize=32)
def country_calendar(country: str, subdivision: str | None = None) -> WorkCalendar:
    """Public holidays (and, for ``CN``, adjusted working days) of a country over :data:`YEARS`.

    Raises
    ------
    ValidationError
        Unknown country or subdivision.
    """
    code = country.upper()
    if code == "CN":
        import chinese_calendar

        hol = {d for d in chinese_calendar.constants.holidays if d.weekday() < 5}  # weekends are off anyway
        work = set(chinese_calendar.constants.workdays)
        return WorkCalendar(frozenset(hol), frozenset(work), label="CN (chinesecalendar: holidays and 调休)")
    import holidays

    try:
        table = holidays.country_holidays(code, subdiv=subdivision, years=YEARS)
    except NotImplementedError:
        raise ValidationError(f"unknown holiday calendar country {country!r} (ISO 3166-1 alpha-2 codes, "
                              "as the 'holidays' package lists)") from None
    except ValueError as exc:
        raise ValidationError(f"holiday calendar {country!r}: {exc}") from None
    label = f"{code}{'-' + subdivision if subdivision else ''} (holidays package)"
    return WorkCalendar(frozenset(table.keys()), frozenset(), label=label)


def calendar_for(spec: dict | None) -> WorkCalendar:
    """The calendar of a profile's ``calendar`` section.

    ``spec`` keys: ``country`` (ISO code or ``none``), ``subdivision``,
    ``holidays`` and ``working_days`` (lists of ISO dates added to the
    country's). ``None``: Monday-Friday only.
    """
    spec = spec or {}
    country = spec.get("country")
    base = (country_calendar(country, spec.get("subdivision"))
            if country and str(country).lower() != "none" else WorkCalendar())
    extra_hol = frozenset(_dates(spec.get("holidays") or ()))
    extra_work = frozenset(_dates(spec.get("working_days") or ()))
    if not extra_hol and not extra_work:
        return base
    return WorkCalendar((base.holidays | extra_hol) - extra_work, (base.workdays | extra_work) - extra_hol,
                        label=base.label + " + profile dates")


def _dates(values: Iterable) -> list[date]:
    out = []
    for v in values:
        try:
            out.append(v if isinstance(v, date) else date.fromisoformat(str(v)))
        except ValueError:
            raise ValidationError(f"calendar date {v!r} is not an ISO date (YYYY-MM-DD)") from None
    return out
