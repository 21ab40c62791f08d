"""The one "now, in UTC" rule: every service takes an optional ``now`` and resolves it here."""

from __future__ import annotations

from datetime import UTC, datetime

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
    return now.astimezone(UTC)
