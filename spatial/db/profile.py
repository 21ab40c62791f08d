"""The district profile of the application database, for code that has no session at hand."""

from __future__ import annotations

from spatial.db.engine import get_engine
from spatial.profile import Profile, district_profile


def app_profile() -> Profile:
    """:func:`spatial.profile.district_profile` of the configured application database (one short connection)."""
    with get_engine().connect() as conn:
        return district_profile(conn)
