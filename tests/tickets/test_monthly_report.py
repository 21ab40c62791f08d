"""The monthly assessment PDF: rankings, charts and map (spatial.io.monthly_report), `onemap report monthly`."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pypdf

from spatial.cli.main import main
from spatial.db.engine import session_scope
from spatial.io.monthly_report import monthly_report_pdf
from spatial.tickets import lifecycle
from tests.district import seed_small_district
from tests.tickets.conftest import T0
from tests.tickets.test_sla_scoring import _new
from views.leadership import _last_months


def _pages(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.metadata.title.startswith("Monthly assessment")
    return [" ".join(p.extract_text().split()) for p in reader.pages]


def test_the_pdf_ranks_departments_and_streets_with_charts_and_a_map(session, district):
    p1 = _new(session, category="pothole")  # urban, on time, rated 5
    for to, role, h in (("accepted", "dispatcher", 1), ("dispatched", "dispatcher", 2), ("resolved", "grid_worker", 6),
                        ("verified", "dispatcher", 7), ("closed", "dispatcher", 8)):
        lifecycle.transition(session, p1.id, to, actor="x", role=role, now=T0 + timedelta(hours=h))
    lifecycle.rate(session, p1.id, 5, actor="c", role="citizen")
    n1 = _new(session, category="noise", lon=113.45)  # env: accepted in time, resolved 4 days later
    for to, role, d in (("accepted", "dispatcher", 0.1), ("dispatched", "dispatcher", 0.2),
                        ("resolved", "grid_worker", 4)):
        lifecycle.transition(session, n1.id, to, actor="x", role=role, now=T0 + timedelta(days=d))
    pdf = monthly_report_pdf(session, month=date(2026, 10, 17))
    assert pdf.startswith(b"%PDF")
    first, second = _pages(pdf)
    assert "2026-10" in first and "Department ranking" in first and "Department scores" in first
    urban, env = first.index("Urban"), first.index("Environment")
    assert urban < env  # urban (score 100) ranks above env
    assert "Street ranking" in second and "Street scores" in second and "Street 0" in second
    assert "grids by tickets this month" in second  # the map's title; its colour bar:
    assert "tickets" in second.split("grids by tickets this month")[1]
    # the map, bars and tables are vector drawings: the pages have content streams of some size
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages[1].get_contents().get_data()) > len(reader.pages[0].get_contents().get_data()) / 4


def test_cli_writes_the_pdf(committed, tmp_path, capsys):
    with session_scope() as s:
        seed_small_district(s)
    out = tmp_path / "oct.pdf"
    assert main(["report", "monthly", "--month", "2026-10", "--out", str(out)]) == 0
    assert "monthly assessment 2026-10" in capsys.readouterr().out
    pages = _pages(out.read_bytes())
    assert len(pages) == 2 and "no tickets this month" in pages[0]
    assert main(["report", "monthly", "--month", "2026-13", "--out", str(out)]) != 0


def test_leadership_offers_the_last_twelve_months():
    months = _last_months(date(2026, 2, 10), 12)
    assert months[0] == date(2026, 2, 1) and months[1] == date(2026, 1, 1) and months[2] == date(2025, 12, 1)
    assert len(months) == 12
