"""Fixtures for the emergency-command tests: the small test district, roads, workers, tickets."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.dispatch.conftest import NOW, add_ticket, add_worker, ticket_factory, worker_factory  # noqa: F401

__all__ = ["NOW", "add_road", "add_ticket", "add_worker"]


def add_road(session, code: str, coords: list[tuple[float, float]], *, speed_kmh: float | None = None,
             road_class: str | None = None, oneway: bool | None = None, name: str | None = None) -> int:
    """Insert one road (lon/lat vertices, EPSG:4326); returns its id."""
    wkt = "MULTILINESTRING((" + ",".join(f"{x!r} {y!r}" for x, y in coords) + "))"
    return session.execute(sa.text(
        "INSERT INTO road (code, name, road_class, oneway, attrs, geom) VALUES (:c, :n, :k, :o, "
        "CAST(:a AS jsonb), ST_GeomFromText(:g, 4326)) RETURNING id"),
        {"c": code, "n": name or code, "k": road_class, "o": oneway,
         "a": "{}" if speed_kmh is None else f'{{"speed_kmh": {speed_kmh}}}', "g": wkt}).scalar_one()


@pytest.fixture
def road_factory(session, district):
    def make(code, coords, **kw):
        return add_road(session, code, coords, **kw)
    return make


@pytest.fixture(autouse=True)
def incident_catalog(request):
    """The default incident types in the test's session (a truncating test elsewhere may have emptied them)."""
    from spatial.incidents.catalog import install_defaults

    if "session" in request.fixturenames:
        install_defaults(request.getfixturevalue("session"))
