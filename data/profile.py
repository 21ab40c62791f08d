"""The demo district's profile (``data/profiles/demo.yaml``), read once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from spatial.profile import ProfileSpec, read_profile_file
from spatial.workdays import WorkCalendar, calendar_for

#: The demo's profile file; ``onemap load-demo`` stores it with the demo DEM.
DEMO_PROFILE = Path(__file__).resolve().parent / "profiles" / "demo.yaml"
#: Where the demo DEM lives, relative to ``ONEMAP_HOME`` (see :func:`spatial.forecasts.default_dem_path`).
DEMO_DEM = "demo/dem.tif"


@lru_cache(maxsize=1)
def demo_profile() -> ProfileSpec:
    """The demo profile with its DEM set."""
    return read_profile_file(DEMO_PROFILE).model_copy(update={"dem": DEMO_DEM})


@lru_cache(maxsize=1)
def demo_calendar() -> WorkCalendar:
    """Working days of the demo profile (mainland China: public holidays and 调休 working days)."""
    return calendar_for(demo_profile().calendar.model_dump())
