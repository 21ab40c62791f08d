"""Grid generator: the lattice tiles without gaps, and a district without communities gets square grids."""

from __future__ import annotations

import pytest
import shapely
import sqlalchemy as sa

from spatial.errors import ValidationError
from spatial.grids import generate_grids, lattice, parse_size
from spatial.models import AdminUnit


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_lattice_tiles_the_box_without_gaps_or_overlaps(shape):
    cells = lattice((1000.0, 2000.0, 3000.0, 3500.0), shape, 250.0)
    polys = [p for *_, p in cells]
    union = shapely.union_all(polys)
    assert abs(union.area - sum(p.area for p in polys)) < 1e-6  # no overlaps
    assert union.covers(shapely.box(1000.0, 2000.0, 3000.0, 3500.0))  # no gaps over the box
    assert union.geom_type == "Polygon" and shapely.get_num_interior_rings(union) == 0
    assert len({(c, r) for c, r, _ in cells}) == len(cells)


def test_parse_size():
    assert parse_size("250m") == 250.0 and parse_size("0.5km") == 500.0 and parse_size("80") == 80.0
    with pytest.raises(ValidationError):
        parse_size("-3m")


def test_square_grids_of_a_district_without_communities(session):
    # 113.40-113.41 E, 23.08-23.09 N: about 1.02 x 1.11 km
    session.add(AdminUnit(code="D", name="D", level=1,
                          geom="SRID=4326;MULTIPOLYGON(((113.40 23.08,113.41 23.08,113.41 23.09,113.40 23.09,"
                               "113.40 23.08)))"))
    session.flush()
    out = generate_grids(session, shape="square", size=500.0)
    assert out["parents"] == "district" and out["srid"] == 32649 and out["uncovered_m2"] < 1.0
    rows = session.execute(sa.text(
        "SELECT g.code, p.code, g.area_m2 FROM admin_unit g JOIN admin_unit p ON p.id = g.parent_id "
        "WHERE g.level = 4 ORDER BY g.code")).all()
    assert all(r[1] == "D" and r[0].startswith("D-") for r in rows)
    # 3 columns x 3 rows of 500 m; the thin last column/row (~20 m, ~110 m wide) merge into their neighbours
    assert out["grids"] == len(rows) and 4 <= len(rows) <= 9
    assert abs(sum(r[2] for r in rows) - session.scalar(sa.text(
        "SELECT ST_Area(geom::geography) FROM admin_unit WHERE code = 'D'"))) < 50.0
