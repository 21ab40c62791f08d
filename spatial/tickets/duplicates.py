"""Duplicate detection at intake: same category, still open, near and recent.

A new report is a duplicate of the *nearest* open ticket of the same category
within ``Category.duplicate_radius_m`` metres whose ``created_at`` is at most
``Category.duplicate_window_h`` hours before the report (or later). The check
runs in SQL on the partial GiST index of open tickets' ``geom``
(``ix_ticket_geom_open``: it stays small however long the history grows; a
degree box pre-filter, then an exact ``ST_DWithin`` on geography, metres on
the WGS84 spheroid). Without it the planner ANDed the full GiST with the
``(category_id, created_at)`` btree and read 100k index entries on a busy
day (17 ms instead of 0.03 ms).

Concurrency: two reports of the same pothole arriving at once must not both
become new tickets. Before checking, intake takes transaction-scoped advisory
locks on the (category, lattice cell) keys a 1 km disc around the report
touches, cells 2 km wide; two reports within the radius always share a cell,
so the second waits for the first to commit and then, in its next
statement's snapshot, sees it.
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0
_LOCK_NAMESPACE = 0x0E11  # first int4 of the advisory lock key: "OneMap duplicates"


#: The search as a scalar subquery (parameters :cat, :since, :lon, :lat, :deg, :radius); the rule itself
#: is the SQL function ``onemap_duplicate_of`` (migration 0007), which ``onemap_intake()`` calls too.
DUPLICATE_SUBQUERY = ("SELECT onemap_duplicate_of(:cat, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :since, "
                      ":deg, :radius)")
_FIND_SQL = sa.text(DUPLICATE_SUBQUERY)


def search_params(*, category_id: int, lon: float, lat: float, at: datetime, radius_m: float,
                  window_h: float) -> dict:
    """Bind parameters of :data:`DUPLICATE_SUBQUERY` (radius in metres, window in hours)."""
    return {"cat": category_id, "since": at - timedelta(hours=window_h),
            "lon": lon, "lat": lat, "deg": _deg_margin(radius_m, lat), "radius": radius_m}


def _deg_margin(radius_m: float, lat: float) -> float:
    """A degree distance that covers ``radius_m`` metres in both axes at ``lat`` (with 10 % slack)."""
    coslat = max(math.cos(math.radians(min(abs(lat), 89.0))), 1e-6)
    return 1.1 * radius_m / (_M_PER_DEG_LON_EQ * coslat)


deg_margin = _deg_margin


#: The lock lattice covers search radii up to this many metres; a category with a larger
#: ``duplicate_radius_m`` additionally takes a category-wide lock (:func:`lock_category`).
LOCK_RADIUS_M = 1000.0


def lock_keys(category_code: str, lon: float, lat: float) -> list[int]:
    """Advisory-lock keys (sorted) of the lattice cells a disc of :data:`LOCK_RADIUS_M` touches.

    Cells are ``2 * LOCK_RADIUS_M`` tall and at least that wide anywhere
    below 60 degrees latitude (fixed sizes in degrees, so every report uses
    the same lattice): two reports of one category closer than the radius
    always share a cell. Keys hash the category code (CRC-32, the same in
    every process) and the cell; they depend on nothing read from the
    database, so intake takes them in the same statement as the catalog row.
    """
    cell_lat = 2 * LOCK_RADIUS_M / _M_PER_DEG_LAT
    cell_lon = 2 * LOCK_RADIUS_M / (_M_PER_DEG_LON_EQ * 0.5)
    dlat = LOCK_RADIUS_M / _M_PER_DEG_LAT
    dlon = _deg_margin(LOCK_RADIUS_M, lat)
    keys = set()
    for x in (lon - dlon, lon + dlon):
        for y in (lat - dlat, lat + dlat):
            cell = f"{category_code}:{math.floor(x / cell_lon)}:{math.floor(y / cell_lat)}"
            keys.add(zlib.crc32(cell.encode()) & 0x7FFFFFFF)
    return sorted(keys)


#: Lock expression for a list of keys (bind :ns and :keys), usable as a scalar subquery.
LOCK_EXPR = "(SELECT count(pg_advisory_xact_lock(:ns, k)) FROM unnest(CAST(:keys AS int[])) AS u(k))"
LOCK_NAMESPACE = _LOCK_NAMESPACE
_LOCK_SQL = sa.text("SELECT " + LOCK_EXPR)


def lock_area(session: Session, category_code: str, lon: float, lat: float) -> None:
    """Take the transaction-scoped advisory locks for a duplicate check (released at commit).

    One statement; the keys are locked in ascending order, so two intakes
    never wait on each other in a cycle.
    """
    session.execute(_LOCK_SQL, {"ns": _LOCK_NAMESPACE, "keys": lock_keys(category_code, lon, lat)})


def category_lock_key(category_code: str) -> int:
    """Advisory-lock key (with :data:`LOCK_NAMESPACE`) of the whole category (radii above :data:`LOCK_RADIUS_M`)."""
    return zlib.crc32(f"{category_code}:*".encode()) & 0x7FFFFFFF


def external_id_lock_key(channel: str, external_id: str) -> int:
    """Advisory-lock key (with :data:`LOCK_NAMESPACE`) of one ``(channel, external_id)``.

    Intake takes it with the cell locks, so two reports claiming one external id (retries racing
    each other, even with different bodies) are decided one after the other: the second sees the
    first as ``existing`` whether it became a ticket or a merged report.
    """
    return zlib.crc32(f"ext:{channel}:{external_id}".encode()) & 0x7FFFFFFF


def lock_category(session: Session, category_code: str) -> None:
    """One lock for the whole category (radii above :data:`LOCK_RADIUS_M`)."""
    session.execute(_LOCK_SQL, {"ns": _LOCK_NAMESPACE, "keys": [category_lock_key(category_code)]})


def find_duplicate(
    session: Session,
    *,
    category_id: int,
    lon: float,
    lat: float,
    at: datetime,
    radius_m: float,
    window_h: float,
) -> int | None:
    """Id of the open ticket this report duplicates, or None.

    Parameters
    ----------
    category_id : int
        Category of the new report.
    lon, lat : float
        Report location, EPSG:4326 degrees.
    at : datetime
        Report time (timezone-aware); tickets created since ``at - window_h`` count.
    radius_m : float
        Search radius in metres (geodesic).
    window_h : float
        Window length in hours.
    """
    if radius_m <= 0 or window_h <= 0:
        return None
    return session.execute(_FIND_SQL, search_params(category_id=category_id, lon=lon, lat=lat, at=at,
                                                    radius_m=radius_m, window_h=window_h)).scalar_one_or_none()
