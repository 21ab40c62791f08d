"""Planner view: rainfall scenario -> flood forecast -> depth map, roads/grids at risk -> warnings.

UI only: ``spatial.forecasts`` runs the scenario in a worker thread on the
district profile's DEM (``onemap dem set PATH``; none: the view says so and
does not run) coarsened to the chosen cell
size (20-50 m), stores the depth overlay PNG (served by
``/api/map/flood/<run>.png``, by URL, never inlined) and summarises it; a
periodic callback copies the progress into the progress bar. "Issue
warnings" hands the warnings to ``spatial.sensors.flood_warnings``, which
stores alerts and messages and opens waterlogging tickets for orange/red ones.

"Operational runs" shows the flood watch (``spatial.flood.ops``): the run
history, the latest run (its inputs, hot start and publication), a time slider
over its depth snapshots, and Confirm / Reject for a run that waits above the
warning cap.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import panel as pn

from flood_model.rainfall import Hyetograph, design_storm
from layers import view_for_bounds
from layers.drainage import pipe_network
from layers.drainage import tooltip as pipe_tooltip
from layers.grids import boundaries
from layers.legend import depth_legend_html
from layers.raster import bitmap_layer
from layers.warnings import tooltip as warning_tooltip
from layers.warnings import warning_features
from spatial import audit, drainage, forecasts
from spatial.auth import Principal
from spatial.errors import ConfigError, ValidationError
from spatial.flood import ops as flood_ops
from spatial.flood_events import calibrated_parameters
from spatial.maps import mapdata
from spatial.profile import district_profile
from spatial.sensors.alerts import list_alerts
from spatial.sensors.flood_warnings import publish_forecast_warnings
from views.common import MAP_H, MAP_W, MapPane, client_ip, db, follow_live, guarded, new_alert, show

#: Who acts when the view is built without a signed-in person (tests of the view alone).
ANONYMOUS = Principal(actor="app:planner", role="planner")
ORDER = ["grid_lines", "flood", "roads", "drainage", "warnings", "streets"]


class PlannerView:
    """The planner role: one instance per browser session."""

    def __init__(self, principal: Principal | None = None) -> None:
        self.principal = principal or ANONYMOUS
        self.alert = new_alert()
        with db() as s:
            self.profile = district_profile(s)
            self.bounds = mapdata.district_bounds(s)
            self.streets_gdf = mapdata.admin_units(s, level=2)
            grids = mapdata.admin_units(s, level=4)
            roads = mapdata.roads(s)
            pipes, manholes = drainage.network_frames(s)
        self.has_network = len(pipes) > 0
        storm, spec = self.profile.storm, self.profile.spec.storm
        self.storm = storm
        self.preset = pn.widgets.Select(name="Storm formula", options=[storm.name] if storm else
                                        ["none in the district profile: upload a forecast"], width=200)
        periods = [p if p % 1 else int(p) for p in (spec.return_periods if spec else [1, 2, 5, 10, 20, 50, 100])]
        default = spec.default_return_period if spec else 10
        self.period = pn.widgets.Select(name="Return period (years)", options=periods,
                                        value=default if default in periods else periods[0], width=200)
        self.duration = pn.widgets.Select(name="Storm duration (min)", options=[30, 60, 120, 180], value=60,
                                          width=200)
        self.upload = pn.widgets.FileInput(accept=".csv", width=200)
        self.use_upload = pn.widgets.Checkbox(name="Use uploaded forecast (CSV of mm per minute)", value=False)
        self.cell = pn.widgets.Select(name="Model cell size (m)", options=[20, 30, 50], value=30, width=200)
        self.extra = pn.widgets.IntInput(name="Recession after rain (min)", value=30, start=0, end=240, width=200)
        self.drain = pn.widgets.FloatInput(name="Sewer capacity (mm/h)", value=20.0, start=0, end=200, width=200,
                                           disabled=self.has_network)
        self.use_network = pn.widgets.Checkbox(name=f"Pipe network ({len(manholes)} nodes, SWMM)",
                                               value=self.has_network, disabled=not self.has_network)
        self.use_network.param.watch(lambda e: setattr(self.drain, "disabled", bool(e.new)), "value")
        self.run_btn = pn.widgets.Button(name="Run forecast", button_type="primary", width=200)
        try:
            self.dem: Path | None = forecasts.dem_path(self.profile)
        except ConfigError as exc:
            self.dem = None
            self.run_btn.disabled = True
            show(self.alert, exc.message, "warning")
        self.progress = pn.indicators.Progress(name="progress", value=0, max=100, width=360, visible=False)
        self.prog_text = pn.pane.HTML("")
        self.summary = pn.pane.HTML("<i>Choose a scenario and run the forecast.</i>")
        self.warn_table = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, height=320,
                                               sizing_mode="stretch_width", layout="fit_data_fill", theme="simple")
        self.issue_btn = pn.widgets.Button(name="Issue warnings", button_type="danger", width=200, disabled=True)
        self.issue_result = pn.pane.HTML("")
        self.past = pn.widgets.Select(name="Past runs", options=self._past_options(), width=200)
        self.show_btn = pn.widgets.Button(name="Show run", width=200)
        self.ops_table = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, height=200,
                                              sizing_mode="stretch_width", layout="fit_data_fill", theme="simple",
                                              selectable=1)
        self.ops_latest = pn.pane.HTML("")
        self.ops_slider = pn.widgets.DiscreteSlider(name="Depth at (minutes after issue)", options=[0], value=0,
                                                    width=440, disabled=True)
        self.ops_refresh = pn.widgets.Button(name="Refresh runs", width=140)
        self.ops_confirm = pn.widgets.Button(name="Confirm warnings", button_type="danger", width=160,
                                             visible=False)
        self.ops_reject = pn.widgets.Button(name="Hold back", width=120, visible=False)
        self._ops_runs: list[dict] = []
        self._ops_run: dict | None = None
        self.map = MapPane(view_for_bounds(self.bounds, width_px=MAP_W, height_px=MAP_H),
                           tooltips={"warnings": warning_tooltip(), "drainage": pipe_tooltip()})
        context = {"grid_lines": boundaries(grids, layer_id="grid_lines", color=(170, 170, 170, 160), width_px=1),
                   "roads": boundaries(roads, layer_id="roads", color=(120, 120, 120, 200), width_px=1.5)
                   if len(roads) else None,
                   "drainage": pipe_network(pipes, manholes) if self.has_network else None,
                   "streets": boundaries(self.streets_gdf, layer_id="streets", width_px=2)}
        self.map.set_layers(context, order=ORDER)
        self.legend = pn.pane.HTML(depth_legend_html())
        self.warnings: gpd.GeoDataFrame | None = None
        self.run_id: str | None = None
        self._run: forecasts.BackgroundRun | None = None
        self._cb = None
        self.active = pn.pane.DataFrame(pd.DataFrame(), index=False, sizing_mode="stretch_width", max_height=220,
                                        styles={"font-size": "12px", "overflow-y": "auto"})
        g = guarded(self.alert)
        self._show_active()
        self.live = follow_live({"alert"}, g(lambda batch: self._show_active()))
        self.run_btn.on_click(g(lambda e: self.start()))
        self.issue_btn.on_click(g(lambda e: self.issue()))
        self.show_btn.on_click(g(lambda e: self.show_past()))
        self.ops_refresh.on_click(g(lambda e: self.refresh_runs()))
        self.ops_confirm.on_click(g(lambda e: self.decide(True)))
        self.ops_reject.on_click(g(lambda e: self.decide(False)))
        self.ops_slider.param.watch(g(lambda e: self.show_snapshot(e.new)), "value")
        self.ops_table.param.watch(g(lambda e: self.select_run(e.new)), "selection")
        self.refresh_runs()

    # ------------------------------------------------------------------ layout
    def sidebar(self) -> list:
        return [self.preset, self.period, self.duration, "Or upload a rainfall forecast:", self.upload,
                self.use_upload, self.cell, self.extra, self.use_network, self.drain, self.run_btn, self.past,
                self.show_btn, self.legend]

    def main(self) -> pn.viewable.Viewable:
        ops = pn.Column("#### Operational runs (flood watch)", pn.Row(self.ops_refresh, self.ops_confirm,
                                                                       self.ops_reject),
                        self.ops_latest, self.ops_slider, self.ops_table, width=470)
        right = pn.Column(self.progress, self.prog_text, self.summary, "#### Roads and grids at risk",
                          self.warn_table, self.issue_btn, self.issue_result, ops,
                          "#### Active warnings and alerts (live)", self.active, width=470)
        return pn.Column(self.alert, pn.Row(pn.Column(self.map.pane, sizing_mode="stretch_width"), right,
                                            sizing_mode="stretch_width"), sizing_mode="stretch_width")

    def _show_active(self) -> None:
        """Active alerts, newest first (flood warnings and sensor alarms; public view: no private sensors)."""
        with db() as s:
            rows = list_alerts(s, state="active", limit=50)
        df = pd.DataFrame([{"level": r["level"], "source": f"{r['source_kind']} {r['source_id']}",
                            "since": f"{r['started_at']:%m-%d %H:%M}", "message": r["message"][:80]}
                           for r in rows], columns=["level", "source", "since", "message"])
        self.active.object = df

    # ------------------------------------------------------------------ run
    def _rainfall(self) -> Hyetograph:
        if self.use_upload.value:
            if not self.upload.value:
                raise ValidationError("upload a rainfall CSV first (one value per minute, mm)")
            with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as f:
                f.write(self.upload.value)
            try:
                return Hyetograph.from_csv(f.name, step_s=60.0)
            finally:
                Path(f.name).unlink(missing_ok=True)
        if self.storm is None:
            raise ValidationError("the district profile has no storm formula: upload a rainfall forecast")
        return design_storm(self.storm, return_period=float(self.period.value),
                            duration_s=float(self.duration.value) * 60)

    def start(self) -> None:
        """Validate the scenario, then run it in the background (progress via a periodic callback)."""
        if self.dem is None:
            show(self.alert, forecasts.NO_DEM, "warning")
            return
        if self._run is not None and not self._run.done:
            show(self.alert, "A forecast is already running.", "info")
            return
        show(self.alert, "")
        rain = self._rainfall()
        with db() as s:
            grids = mapdata.admin_units(s, level=4)
            roads = mapdata.roads(s)
            network = drainage.load_network(s) if self.use_network.value else None
        scenario = forecasts.Scenario(rain=rain, cell_m=float(self.cell.value),
                                      duration_s=rain.duration_s + 60.0 * self.extra.value,
                                      drainage_mm_h=float(self.drain.value), network=network,
                                      parameters=calibrated_parameters())
        self.run_btn.disabled = True
        self.issue_btn.disabled = True
        self.issue_result.object = ""
        self.progress.visible = True
        self.progress.value = 0
        self._run = forecasts.BackgroundRun(scenario, grids=grids, roads=roads, dem=self.dem).start()
        self._cb = pn.state.add_periodic_callback(self._poll, period=300)

    def _poll(self) -> None:
        run = self._run
        if run is None:
            return
        self.progress.value = int(100 * min(max(run.fraction, 0.0), 1.0))
        self.prog_text.object = f"{run.message} ({time.perf_counter() - run.started:.1f} s)"
        if not run.done:
            return
        if self._cb is not None:
            self._cb.stop()
            self._cb = None
        self.run_btn.disabled = False
        self.progress.visible = False
        if run.error is not None:
            msg = getattr(run.error, "message", None) or str(run.error)
            show(self.alert, f"Forecast failed: {msg}", "danger")
            self.prog_text.object = ""
            return
        guarded(self.alert)(self._show_result)(run.outcome)

    @staticmethod
    def _past_options() -> dict[str, str]:
        """Stored runs for the selector: label -> run id, newest first."""
        out = {}
        for rec in forecasts.past_runs():
            depth = rec.get("max_depth_m")
            label = f"{rec['run_id']}" + (f" ({rec['scenario']})" if rec.get("scenario") else "")
            out[label + (f", max {depth:.2f} m" if isinstance(depth, float) else "")] = rec["run_id"]
        return out

    def show_past(self) -> None:
        """Show a stored run: its overlay, summary and warnings table (its warnings cannot be re-issued)."""
        rec = next((r for r in forecasts.past_runs() if r["run_id"] == self.past.value), None)
        if rec is None:
            show(self.alert, "Choose a stored run first.", "info")
            return
        self.map.set_layers({"flood": bitmap_layer(rec["overlay_url"], bounds=rec["corners"], layer_id="flood"),
                             "warnings": None}, order=ORDER)
        self.run_id, self.warnings = rec["run_id"], None
        self.issue_btn.disabled = True
        parts = [f"<b>Stored run {rec['run_id']}</b>"]
        if rec.get("scenario"):
            parts.append(f"{rec['scenario']}, {rec.get('cell_m', '?')} m cells, finished {rec.get('finished_at')}")
        if rec.get("max_depth_m") is not None:
            parts.append(f"max depth {rec['max_depth_m']:.2f} m")
        if "roads_at_risk" in rec:
            parts.append(f"<b>{rec['roads_at_risk']}</b> roads and <b>{rec['grids_at_risk']}</b> grids at risk")
        self.summary.object = "<br/>".join(parts)
        self.warn_table.value = pd.DataFrame(rec.get("warnings") or {"level": []})

    def _show_result(self, out: forecasts.ForecastOutcome) -> None:
        self.run_id = out.run_id
        self.warnings = out.warnings
        layers = {"flood": bitmap_layer(out.overlay_url, bounds=out.corners, layer_id="flood"),
                  "warnings": warning_features(self.warnings) if self.warnings is not None else None}
        self.map.set_layers(layers, order=ORDER)
        sm = out.summary
        self.summary.object = (
            f"<b>Run {out.run_id}</b> ({sm['cols']}x{sm['rows']} cells): finished in <b>{sm['wall_s']:.1f} s</b><br/>"
            f"max depth {sm['max_depth_m']:.2f} m; {sm['wet_ha']:,.1f} ha deeper than {forecasts.WET_M} m<br/>"
            f"water balance error {sm['balance_error']:.2e}<br/>"
            f"<b>{sm['roads_at_risk']}</b> roads and <b>{sm['grids_at_risk']}</b> grids at risk"
            + (f"<br/>pipe network: {sm['drainage']['surcharged_manholes']} of {sm['drainage']['manholes']} "
               f"manholes surcharged, {sm['drainage']['from_network_m3']:,.0f} m3 returned to the streets"
               if sm.get("drainage") else f"<br/>uniform sewer capacity {self.drain.value:g} mm/h"))
        self.prog_text.object = ""
        self.warn_table.value = forecasts.warning_table(self.warnings)
        self.issue_btn.disabled = self.warnings is None
        self.past.options = self._past_options()

    def issue(self) -> None:
        """Publish the warnings (alerts, messages, tickets for orange/red) in one transaction."""
        if self.warnings is None or self.run_id is None:
            show(self.alert, "Run a forecast with warnings first.", "info")
            return
        if not self.principal.can("warning.publish"):
            show(self.alert, "Your role may not issue warnings.", "danger")
            return
        with db() as s:
            audit.bind(s, self.principal, ip=client_ip(), request="app: issue flood warnings")
            out = publish_forecast_warnings(s, self.warnings, run_id=self.run_id, actor=self.principal.actor,
                                            issue_tickets=True)
        self.issue_btn.disabled = True
        buf = io.StringIO()
        for k, v in (out or {}).items():
            buf.write(f"{k}: {v if not isinstance(v, list) else len(v)}<br/>")
        self.issue_result.object = f"<b>Warnings issued</b><br/>{buf.getvalue()}"

    # ------------------------------------------------------------------ operational runs
    def refresh_runs(self) -> None:
        """Reload the flood watch's run history and show the latest run."""
        with db() as s:
            self._ops_runs = flood_ops.list_runs(s, limit=50)
        rows = [{"issued": r["issued_at"][:16].replace("T", " "), "run": r["run_id"], "status": r["status"],
                 "warnings": r["publication"], "max depth m": r["outputs"].get("max_depth_m"),
                 "grids": r["outputs"].get("grids_at_risk"), "hot start": r["hot_start_from"] or "dry"}
                for r in self._ops_runs]
        self.ops_table.value = pd.DataFrame(rows)
        if self._ops_runs:
            self.select_run([0])
        else:
            self.ops_latest.object = "<i>No operational run yet: forecasts dropped in the flood inbox or " \
                                     "POSTed to /api/flood/forecasts run by themselves.</i>"

    def select_run(self, selection: list[int]) -> None:
        """Show one run of the history (the latest when none is selected): summary, slider, decision buttons."""
        if not self._ops_runs:
            return
        run = self._ops_runs[selection[0] if selection else 0]
        self._ops_run = run
        out, inp = run["outputs"], run["inputs"]
        latest = "latest run" if run is self._ops_runs[0] else "run"
        parts = [f"<b>{latest} {run['run_id']}</b> ({run['source']}, {run['status']}), issued "
                 f"{run['issued_at'][:16].replace('T', ' ')} UTC", inp.get("rainfall", inp.get("label", "")),
                 inp.get("hot_start", "")]
        if out:
            parts.append(f"max depth {out['max_depth_m']:.2f} m; <b>{out['roads_at_risk']}</b> roads and "
                         f"<b>{out['grids_at_risk']}</b> of {out['district_grids']} grids at risk")
        pub = run["publication"]
        res = run["publish_result"] or {}
        if pub == "awaiting_confirmation":
            pv = res.get("preview", {})
            parts.append(f"<b style='color:#b00'>Waiting for confirmation</b>: {res.get('reason', '')}; would "
                         f"create {pv.get('created', 0)}, escalate {pv.get('escalated', 0)}, "
                         f"clear {pv.get('cleared', 0)} warnings")
        elif pub in ("published", "confirmed"):
            parts.append(f"warnings {pub}: {res.get('created', 0)} new, {res.get('escalated', 0)} raised, "
                         f"{res.get('deescalated', 0)} lowered, {res.get('cleared', 0)} cleared")
        elif run["error"]:
            parts.append(f"<b>failed</b>: {run['error']}")
        else:
            parts.append(f"warnings: {pub}")
        self.ops_latest.object = "<br/>".join(p for p in parts if p)
        waiting = pub == "awaiting_confirmation"
        self.ops_confirm.visible = self.ops_reject.visible = waiting
        snaps = out.get("snapshots") or []
        self._snaps = {round(sn["t_s"] / 60): sn for sn in snaps}
        if snaps:
            options = sorted(self._snaps)
            self.ops_slider.options = options
            self.ops_slider.disabled = False
            if self.ops_slider.value == options[-1]:
                self.show_snapshot(options[-1])
            else:
                self.ops_slider.value = options[-1]
        else:
            self.ops_slider.disabled = True

    def show_snapshot(self, minute: int) -> None:
        """Draw the selected run's depth at ``minute`` after its issue time."""
        run, sn = self._ops_run, getattr(self, "_snaps", {}).get(minute)
        if run is None or sn is None:
            return
        self.map.set_layers({"flood": bitmap_layer(sn["overlay_url"], bounds=run["outputs"]["corners"],
                                                   layer_id="flood"), "warnings": None}, order=ORDER)

    def decide(self, confirm: bool) -> None:
        """Confirm (publish) or hold back the warnings of the shown run waiting above the cap."""
        if self._ops_run is None:
            return
        if not self.principal.can("warning.publish"):
            show(self.alert, "Your role may not publish flood warnings.", "warning")
            return
        with db() as s:
            audit.bind(s, self.principal, ip=client_ip(), request="app: confirm or hold back flood warnings")
            rec = flood_ops.decide(s, self._ops_run["run_id"], confirm=confirm, actor=self.principal.actor)
        show(self.alert, f"Run {rec['run_id']}: warnings {rec['publication']}.", "success")
        self.refresh_runs()
