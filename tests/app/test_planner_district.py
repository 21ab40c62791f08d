"""The planner on the district's own terrain: no DEM, no run; stored runs listed and shown (issue 12)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from spatial import forecasts
from spatial.profile import parse_profile, store_profile
from tests.district import seed_small_district
from views.planner import PlannerView

CORNERS = [[113.40, 23.08], [113.40, 23.16], [113.48, 23.16], [113.48, 23.08]]


def test_planner_without_a_dem_says_so_and_shows_stored_runs(committed):
    with Session(committed) as s:
        seed_small_district(s)
        store_profile(s, parse_profile({"name": "No DEM yet", "timezone": "Asia/Hong_Kong",
                                        "metric_crs": "EPSG:32650", "calendar": {"country": "HK"}}))
        s.commit()
    run_id = "fc-test-district-profile"
    record = {"max_depth_m": 0.42, "scenario": "test storm P=5a", "cell_m": 30.0, "roads_at_risk": 1,
              "grids_at_risk": 2, "warnings": [{"level": "orange", "kind": "grid", "name": "Grid 0-0",
                                                "max_depth_m": 0.42, "first_exceed_min": 35.0}]}
    forecasts.store_overlay(run_id, b"\x89PNG\r\n\x1a\n", corners=CORNERS, meta=record)
    try:
        listed = {r["run_id"]: r for r in forecasts.past_runs()}
        assert listed[run_id]["overlay_url"] == f"/api/map/flood/{run_id}.png"
        assert listed[run_id]["warnings"][0]["level"] == "orange" and listed[run_id]["corners"] == CORNERS

        view = PlannerView()
        assert view.dem is None and view.run_btn.disabled
        assert view.alert.object == forecasts.NO_DEM and view.alert.visible
        assert view.storm is None and "upload a forecast" in view.preset.value
        view.alert.object = ""
        view.start()  # refused before anything runs
        assert view.alert.object == forecasts.NO_DEM and view.progress.visible is False
        view.past.value = run_id
        view.show_past()
        assert f"Stored run {run_id}" in view.summary.object and "max depth 0.42 m" in view.summary.object
        assert list(view.warn_table.value["name"]) == ["Grid 0-0"] and view.issue_btn.disabled
    finally:
        for suffix in (".png", ".json"):
            (forecasts.overlay_dir() / f"{run_id}{suffix}").unlink(missing_ok=True)
