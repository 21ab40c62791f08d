"""Planner view: rainfall scenario -> flood forecast -> depth map, roads/grids at risk -> warnings.

The forecast runs in a worker thread on the demo DEM coarsened to the chosen
cell size (20-50 m) so a design storm takes seconds; a periodic callback
copies its progress into the progress bar. The depth map is written as a PNG
overlay served by ``/api/map/flood/<run>.png`` (by URL, never inlined).
"Issue warnings" hands the warnings to ``spatial.flood_alerts``, which stores
alerts and messages and opens waterlogging tickets for orange/red ones.

The DEM is ``data.demo.dem_path()``; the environment variable
``ONEMAP_PLANNER_DEM`` overrides it (any projected GeoTIFF in metres).
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import panel as pn

from _app_common import MAP_H, MAP_W, MapPane, db, guarded, new_alert, show
from layers import view_for_bounds
from layers.grids import boundaries
from layers.legend import depth_legend_html
from layers.raster import bitmap_layer, corner_bounds, depth_rgba, to_png
from layers.warnings import tooltip as warning_tooltip
from layers.warnings import warning_features
from spatial import mapdata

PRESETS = {"Guangzhou Huangpu": "huangpu", "Guangzhou (city)": "guangzhou", "Shenzhen": "shenzhen"}
ACTOR = "app:planner"
#: Shallower water is not drawn (a film of rain everywhere would hide the map).
MIN_SHOWN_M = 0.05
ORDER = ["grid_lines", "flood", "roads", "warnings", "streets"]


def dem_path() -> Path:
    """DEM for the planner: ``ONEMAP_PLANNER_DEM`` or the demo DEM."""
    env = os.environ.get("ONEMAP_PLANNER_DEM")
    if env:
        return Path(env)
    from data.demo import dem_path as demo_dem

    return demo_dem()


class PlannerView:
    """The planner role: one instance per browser session."""

    def __init__(self) -> None:
        self.alert = new_alert()
        with db() as s:
            self.bounds = mapdata.district_bounds(s)
            self.streets_gdf = mapdata.admin_units(s, level=2)
            grids = mapdata.admin_units(s, level=4)
            roads = mapdata.roads(s)
        self.preset = pn.widgets.Select(name="Storm formula", options=PRESETS, value="huangpu", width=200)
        self.period = pn.widgets.Select(name="Return period (years)", options=[1, 2, 3, 5, 10, 20, 50, 100],
                                        value=10, width=200)
        self.duration = pn.widgets.Select(name="Storm duration (min)", options=[30, 60, 120, 180], value=60,
                                          width=200)
        self.upload = pn.widgets.FileInput(accept=".csv", width=200)
        self.use_upload = pn.widgets.Checkbox(name="Use uploaded forecast (CSV of mm per minute)", value=False)
        self.cell = pn.widgets.Select(name="Model cell size (m)", options=[20, 30, 50], value=30, width=200)
        self.extra = pn.widgets.IntInput(name="Recession after rain (min)", value=30, start=0, end=240, width=200)
        self.drain = pn.widgets.FloatInput(name="Sewer capacity (mm/h)", value=20.0, start=0, end=200, width=200)
        self.run_btn = pn.widgets.Button(name="Run forecast", button_type="primary", width=200)
        self.progress = pn.indicators.Progress(name="progress", value=0, max=100, width=360, visible=False)
        self.prog_text = pn.pane.HTML("")
        self.summary = pn.pane.HTML("<i>Choose a scenario and run the forecast.</i>")
        self.warn_table = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, height=320,
                                               sizing_mode="stretch_width", layout="fit_data_fill", theme="simple")
        self.issue_btn = pn.widgets.Button(name="Issue warnings", button_type="danger", width=200, disabled=True)
        self.issue_result = pn.pane.HTML("")
        self.map = MapPane(view_for_bounds(self.bounds, width_px=MAP_W, height_px=MAP_H),
                           tooltips={"warnings": warning_tooltip()})
        context = {"grid_lines": boundaries(grids, layer_id="grid_lines", color=(170, 170, 170, 160), width_px=1),
                   "roads": boundaries(roads, layer_id="roads", color=(120, 120, 120, 200), width_px=1.5)
                   if len(roads) else None,
                   "streets": boundaries(self.streets_gdf, layer_id="streets", width_px=2)}
        self.map.set_layers(context, order=ORDER)
        self.legend = pn.pane.HTML(depth_legend_html())
        self.result = None
        self.warnings: gpd.GeoDataFrame | None = None
        self.run_id: str | None = None
        self._state: dict = {}
        self._cb = None
        g = guarded(self.alert)
        self.run_btn.on_click(g(lambda e: self.start()))
        self.issue_btn.on_click(g(lambda e: self.issue()))

    # ------------------------------------------------------------------ layout
    def sidebar(self) -> list:
        return [self.preset, self.period, self.duration, "Or upload a rainfall forecast:", self.upload,
                self.use_upload, self.cell, self.extra, self.drain, self.run_btn, self.legend]

    def main(self) -> pn.viewable.Viewable:
        right = pn.Column(self.progress, self.prog_text, self.summary, "#### Roads and grids at risk",
                          self.warn_table, self.issue_btn, self.issue_result, width=470)
        return pn.Column(self.alert, pn.Row(pn.Column(self.map.pane, sizing_mode="stretch_width"), right,
                                            sizing_mode="stretch_width"), sizing_mode="stretch_width")

    # ------------------------------------------------------------------ run
    def _rainfall(self):
        from flood_model.rainfall import Hyetograph, design_storm

        if self.use_upload.value:
            if not self.upload.value:
                from spatial.errors import ValidationError

                raise ValidationError("upload a rainfall CSV first (one value per minute, mm)")
            with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as f:
                f.write(self.upload.value)
            try:
                return Hyetograph.from_csv(f.name, step_s=60.0)
            finally:
                Path(f.name).unlink(missing_ok=True)
        return design_storm(self.preset.value, return_period=float(self.period.value),
                            duration_s=float(self.duration.value) * 60)

    def start(self) -> None:
        """Validate the scenario, then run the forecast in a thread (progress via a periodic callback)."""
        if self._state.get("running"):
            show(self.alert, "A forecast is already running.", "info")
            return
        show(self.alert, "")
        rain = self._rainfall()
        with db() as s:
            grids = mapdata.admin_units(s, level=4)
            roads = mapdata.roads(s)
        self._state = {"running": True, "fraction": 0.0, "message": "starting", "error": None, "result": None,
                       "t0": time.perf_counter()}
        self.run_btn.disabled = True
        self.issue_btn.disabled = True
        self.issue_result.object = ""
        self.progress.visible = True
        self.progress.value = 0
        args = {"rain": rain, "grids": grids[["id", "name", "geometry"]], "cell": float(self.cell.value),
                "duration_s": rain.duration_s + 60.0 * self.extra.value, "drain": float(self.drain.value)}
        threading.Thread(target=self._work, args=(args,), daemon=True, name="onemap-forecast").start()
        self._cb = pn.state.add_periodic_callback(self._poll, period=300)
        self._roads = roads

    def _work(self, a: dict) -> None:
        st = self._state
        try:
            from flood_model.forecast import run_forecast
            from flood_model.grid import load_dem

            st["message"] = "loading DEM"
            grid = load_dem(dem_path(), resolution=a["cell"])
            roads = self._roads[["id", "name", "geometry"]] if len(self._roads) else None

            def progress(fraction: float, message: str) -> None:
                st["fraction"], st["message"] = float(fraction), str(message)

            res = run_forecast(grid, a["rain"], duration_s=a["duration_s"], drainage_mm_h=a["drain"],
                               roads=roads, grids=a["grids"], progress=progress)
            st["result"] = (res, grid.shape)
        except Exception as exc:  # reported in the UI by _poll
            st["error"] = exc
        finally:
            st["wall_s"] = time.perf_counter() - st["t0"]
            st["running"] = False

    def _poll(self) -> None:
        st = self._state
        self.progress.value = int(100 * min(max(st.get("fraction", 0.0), 0.0), 1.0))
        self.prog_text.object = f"{st.get('message', '')} ({time.perf_counter() - st['t0']:.1f} s)"
        if st.get("running"):
            return
        if self._cb is not None:
            self._cb.stop()
            self._cb = None
        self.run_btn.disabled = False
        self.progress.visible = False
        err = st.get("error")
        if err is not None:
            msg = getattr(err, "message", None) or str(err)
            show(self.alert, f"Forecast failed: {msg}", "danger")
            self.prog_text.object = ""
            return
        guarded(self.alert)(self._show_result)(*st["result"], wall_s=st["wall_s"])

    def _show_result(self, res, shape, *, wall_s: float) -> None:
        from spatial.api_map import store_overlay

        self.result = res
        self.run_id = f"fc-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        depth = np.asarray(res.max_depth, dtype="float64")
        corners = corner_bounds(res.transform, depth.shape, res.crs)
        url = store_overlay(self.run_id, to_png(depth_rgba(depth, min_depth_m=MIN_SHOWN_M)), corners=corners,
                            meta={"max_depth_m": float(np.nanmax(depth)) if np.isfinite(depth).any() else 0.0})
        w = res.warnings
        self.warnings = w.to_crs("EPSG:4326") if w is not None and len(w) else None
        layers = {"flood": bitmap_layer(url, bounds=corners, layer_id="flood"),
                  "warnings": warning_features(self.warnings) if self.warnings is not None else None}
        self.map.set_layers(layers, order=ORDER)
        wet = np.isfinite(depth) & (depth >= 0.15)
        cell_area = abs(res.transform.a * res.transform.e)
        n_road = int((self.warnings["kind"] == "road").sum()) if self.warnings is not None else 0
        n_grid = int((self.warnings["kind"] == "grid").sum()) if self.warnings is not None else 0
        self.summary.object = (
            f"<b>Run {self.run_id}</b> ({shape[1]}x{shape[0]} cells): finished in <b>{wall_s:.1f} s</b><br/>"
            f"max depth {np.nanmax(depth):.2f} m; {wet.sum() * cell_area / 1e4:,.1f} ha deeper than 0.15 m<br/>"
            f"water balance error {res.relative_balance_error:.2e}<br/>"
            f"<b>{n_road}</b> roads and <b>{n_grid}</b> grids at risk")
        self.prog_text.object = ""
        if self.warnings is not None:
            tbl = pd.DataFrame(self.warnings.drop(columns="geometry"))
            tbl["first_exceed_min"] = (tbl["first_exceed_s"] / 60).round(0)
            self.warn_table.value = tbl[["level", "kind", "name", "max_depth_m", "first_exceed_min"]]
            self.issue_btn.disabled = False
        else:
            self.warn_table.value = pd.DataFrame({"level": []})

    def issue(self) -> None:
        """Publish the warnings (alerts, messages, tickets for orange/red) in one transaction."""
        if self.warnings is None or self.run_id is None:
            show(self.alert, "Run a forecast with warnings first.", "info")
            return
        from spatial.flood_alerts import publish_forecast_warnings

        with db() as s:
            out = publish_forecast_warnings(s, self.warnings, run_id=self.run_id, actor=ACTOR,
                                            issue_tickets=True)
        self.issue_btn.disabled = True
        buf = io.StringIO()
        for k, v in (out or {}).items():
            buf.write(f"{k}: {v if not isinstance(v, list) else len(v)}<br/>")
        self.issue_result.object = f"<b>Warnings issued</b><br/>{buf.getvalue()}"
