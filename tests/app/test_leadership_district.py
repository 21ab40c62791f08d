"""The leadership view of a real district as it is first loaded: no street level, no tickets yet (issue 12).

Server-side (no browser): the view's panes after it loaded its tables.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from spatial.profile import parse_profile, store_profile
from tests.district import seed_small_district
from views.leadership import LeadershipView


def _store(s: Session, levels: list[int]) -> None:
    store_profile(s, parse_profile({"name": "Yau Tsim Mong", "timezone": "Asia/Hong_Kong", "levels": levels,
                                    "metric_crs": "EPSG:32650", "calendar": {"country": "HK"}}))


def test_empty_district_without_street_level_shows_notes_not_empty_tables(committed):
    with Session(committed) as s:
        seed_small_district(s)
        _store(s, [1, 3, 4])
        s.commit()
    view = LeadershipView()
    view._do_load_tables()
    assert not view.has_streets and view.street_pick.visible is False
    titles = [str(getattr(c.objects[0], "object", c.objects[0])) for c in view._tables.objects]
    assert titles == ["#### Department ranking"]  # no "By street" table in a district without streets
    assert view.hot.visible is False and view.hot_note.visible and "No tickets" in view.hot_note.object
    assert "street" not in view.hot.object.columns
    # the departments are ranked with zero tickets; what cannot be computed shows "-", not NaN
    assert view.depts.visible and len(view.depts.object) == 4 and view.depts.object["satisfaction"].isna().all()
    html = view.depts.object.to_html(na_rep=view.depts.na_rep)
    assert "NaN" not in html and "<td>-</td>" in html


def test_district_with_streets_keeps_the_street_table(committed):
    with Session(committed) as s:
        seed_small_district(s)
        _store(s, [1, 2, 3, 4])
        s.commit()
    view = LeadershipView()
    view._do_load_tables()
    assert view.has_streets and view.street_pick.visible
    assert len(view._tables.objects) == 2
    assert view.streets.visible and "NaN" not in view.streets.object.to_html(na_rep=view.streets.na_rep)
