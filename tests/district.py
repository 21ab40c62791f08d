"""A small, hand-checkable district for tests (EPSG:4326, near Guangzhou Huangpu).

District 113.40-113.48 E, 23.08-23.16 N, split into 2 streets (west/east),
4 communities (quadrants) and 16 grids (4 x 4), each grid 0.02 deg square
(about 2.05 km x 2.22 km). Grid code ``G{row}{col}`` with row 0 at the south.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.models import AdminUnit, Category, Department

X0, Y0, STEP = 113.40, 23.08, 0.02


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"SRID=4326;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


DEPARTMENTS = [
    ("urban", "Urban Management Bureau"),
    ("water", "Water Affairs Bureau"),
    ("traffic", "Traffic Police"),
    ("env", "Ecology and Environment Bureau"),
]

# code, major_code, major_name, name, dept, accept (limit, unit), resolve (limit, unit), skill, on_spot, auto
CATEGORIES = [
    ("pothole", "road", "Roads and facilities", "Pothole", "urban", (24, "hours"), (5, "working_days"),
     "road_repair", False, False),
    ("manhole_missing", "road", "Roads and facilities", "Missing manhole cover", "water", (2, "hours"),
     (1, "calendar_days"), "drainage", False, True),
    ("illegal_parking", "traffic", "Traffic order", "Illegal parking", "traffic", (1, "hours"), (4, "hours"),
     "traffic", True, True),
    ("noise", "env", "Environment", "Noise nuisance", "env", (24, "hours"), (3, "working_days"), None,
     False, False),
    ("waterlogging", "water", "Drainage and flooding", "Waterlogging", "water", (1, "hours"),
     (12, "hours"), "drainage", False, True),
]


def seed_small_district(session: Session) -> dict:
    """Insert the district, departments and catalog; returns ids by code."""
    out: dict = {"grids": {}, "communities": {}, "streets": {}, "departments": {}, "categories": {}}
    district = AdminUnit(code="D", name="Test District", level=1,
                         geom=_box(X0, Y0, X0 + 4 * STEP, Y0 + 4 * STEP))
    session.add(district)
    session.flush()
    out["district"] = district.id
    for s, (c0, c1) in enumerate([(0, 2), (2, 4)]):
        st = AdminUnit(code=f"S{s}", name=f"Street {s}", level=2, parent_id=district.id,
                       geom=_box(X0 + c0 * STEP, Y0, X0 + c1 * STEP, Y0 + 4 * STEP))
        session.add(st)
        session.flush()
        out["streets"][st.code] = st.id
        for r0 in (0, 2):
            cm = AdminUnit(code=f"C{s}{r0 // 2}", name=f"Community {s}{r0 // 2}", level=3, parent_id=st.id,
                           geom=_box(X0 + c0 * STEP, Y0 + r0 * STEP, X0 + c1 * STEP, Y0 + (r0 + 2) * STEP))
            session.add(cm)
            session.flush()
            out["communities"][cm.code] = cm.id
            for r in range(r0, r0 + 2):
                for c in range(c0, c1):
                    g = AdminUnit(code=f"G{r}{c}", name=f"Grid {r}-{c}", level=4, parent_id=cm.id,
                                  geom=_box(X0 + c * STEP, Y0 + r * STEP, X0 + (c + 1) * STEP,
                                            Y0 + (r + 1) * STEP))
                    session.add(g)
                    session.flush()
                    out["grids"][g.code] = g.id
    for code, name in DEPARTMENTS:
        d = Department(code=code, name=name)
        session.add(d)
        session.flush()
        out["departments"][code] = d.id
    for code, mcode, mname, name, dept, (al, au), (rl, ru), skill, spot, auto in CATEGORIES:
        cat = Category(code=code, major_code=mcode, major_name=mname, name=name,
                       department_id=out["departments"][dept], accept_limit=al, accept_unit=au,
                       resolve_limit=rl, resolve_unit=ru, skill=skill, on_the_spot=spot,
                       auto_dispatch=auto, closing_standard=f"{name} fixed and photographed")
        session.add(cat)
        session.flush()
        out["categories"][code] = cat.id
    session.execute(sa.text("SELECT 1"))
    return out
