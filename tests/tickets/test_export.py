"""Filtered ticket exports: every format, the filters, lifecycle times, no reporter contact, staff only."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import pytest

from spatial.db.engine import session_scope
from spatial.io import ticket_export
from spatial.tickets import lifecycle, queries
from spatial.tickets.intake import TicketCreate, intake
from tests.tickets.conftest import auth

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def three(world) -> dict:
    """Three tickets: an open pothole, a closed pothole (lifecycle times set) and an open noise report."""
    ids = {}
    with session_scope() as s:
        for i, (cat, lon) in enumerate((("pothole", 113.405), ("pothole", 113.425), ("noise", 113.415))):
            body = TicketCreate.parse({"category": cat, "lon": lon, "lat": 23.095, "channel": "hotline",
                                       "external_id": f"X{i}", "reporter_phone": "13900000000",
                                       "reporter_name": "Private Person", "description": f"t{i}"})
            ids[i] = intake(s, body, actor="t", role="channel", now=T0).ticket.id
        for to in ("accepted", "in_progress", "resolved", "verified", "closed"):
            lifecycle.transition(s, ids[1], to, actor="desk", role="admin", now=T0.replace(hour=2 + len(to) % 5))
    return ids


def test_each_format_holds_the_rows_and_lifecycle_times(world, three, tmp_path):
    with session_scope() as s:
        for suffix in ticket_export.FORMATS:
            path = tmp_path / f"t{suffix}"
            assert ticket_export.export_tickets(s, path, queries.TicketFilter()) == 3
            frame = (pd.read_csv(path) if suffix == ".csv" else pd.read_excel(path) if suffix == ".xlsx"
                     else gpd.read_file(path))
            assert sorted(frame["id"]) == sorted(three.values())
            closed = frame[frame["id"] == three[1]].iloc[0]
            assert closed["status"] == "closed" and closed["department"] == "urban"
            key = "closed_at_utc" if suffix == ".xlsx" else "closed_at"
            assert pd.notna(closed[key]) and pd.notna(closed["accepted_at_utc" if suffix == ".xlsx" else "accepted_at"])
            assert not any("reporter" in c for c in frame.columns)
            assert "Private Person" not in path.read_bytes().decode("latin-1")
            if suffix in (".gpkg", ".geojson"):
                assert frame.crs.to_epsg() == 4326 and frame.geometry.notna().all()


def test_filters_apply(world, three, tmp_path):
    with session_scope() as s:
        n = ticket_export.export_tickets(s, tmp_path / "a.csv", queries.TicketFilter(category=["pothole"],
                                                                                     status=["closed"]))
        assert n == 1
        assert ticket_export.export_tickets(s, tmp_path / "b.csv", queries.TicketFilter(
            since=datetime(2030, 1, 1, tzinfo=UTC))) == 0
        with pytest.raises(Exception, match="unknown export format"):
            ticket_export.export_tickets(s, tmp_path / "c.txt", queries.TicketFilter())


def test_api_export_is_for_staff(client, world, three):
    tk = world["tokens"]
    r = client.get("/api/exports/tickets.csv?category=pothole", headers=auth(tk["dispatcher"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="tickets.csv"' in r.headers["content-disposition"]
    frame = pd.read_csv(io.BytesIO(r.content))
    assert len(frame) == 2 and set(frame["category"]) == {"pothole"}
    r = client.get("/api/exports/tickets.xlsx", headers=auth(tk["leadership"]))
    assert r.status_code == 200 and len(pd.read_excel(io.BytesIO(r.content))) == 3
    assert client.get("/api/exports/tickets.csv", headers=auth(tk["citizen"])).status_code == 403
    assert client.get("/api/exports/tickets.csv").status_code == 401
    assert client.get("/api/exports/tickets.pdf", headers=auth(tk["dispatcher"])).status_code == 422


def test_cli_export(world, three, tmp_path, capsys):
    from spatial.cli.main import main

    path = tmp_path / "x.gpkg"
    assert main(["ticket", "export", str(path), "--category", "noise"]) == 0
    assert "exported 1 tickets" in capsys.readouterr().out
    assert len(gpd.read_file(path)) == 1


def test_alerts_and_flood_warnings_export(client, world, tmp_path):
    from spatial.sensors import alerts

    with session_scope() as s:
        alerts.raise_alert(s, source_kind="flood", source_id="run-1:Kexue Road", rule="depth", level="red",
                           at=T0, value=0.42, geom_ewkt="SRID=4326;POINT(113.41 23.09)", message="road flooded")
        alerts.raise_alert(s, source_kind="system", source_id="mqtt", rule="offline", level="offline", at=T0,
                           geom_ewkt="SRID=4326;POINT(113.42 23.09)")
    tk = world["tokens"]
    r = client.get("/api/exports/alerts.geojson?source_kind=flood", headers=auth(tk["dispatcher"]))
    assert r.status_code == 200, r.text
    path = tmp_path / "a.geojson"
    path.write_bytes(r.content)
    frame = gpd.read_file(path)
    assert list(frame["source_kind"]) == ["flood"] and frame.iloc[0]["level"] == "red"
    assert frame.iloc[0]["peak_value"] == pytest.approx(0.42)
    assert str(frame.iloc[0]["started_at"]).startswith("2026-11-02")
    r = client.get("/api/exports/alerts.csv", headers=auth(tk["leadership"]))
    assert len(pd.read_csv(io.BytesIO(r.content))) == 2
    assert client.get("/api/exports/alerts.csv", headers=auth(tk["channel"])).status_code == 403
