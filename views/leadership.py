"""Leadership overview: the whole district on one map, KPIs, trends, hotspots, rankings.

Everything is aggregated in PostGIS (``spatial.maps.mapdata``); the browser gets
a few hundred grid polygons, at most a few thousand hex bins and small
tables, whatever the number of tickets. Clicking a grid drills down to its
street (map) and the grid (KPIs, trend); "Whole district" goes back.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from layers import view_for_bounds
from layers.buildings import buildings_3d
from layers.cameras import camera_points, view_cones
from layers.cameras import tooltip as camera_tooltip
from layers.density import bin_columns
from layers.density import tooltip as bin_tooltip
from layers.grids import grid_choropleth, outlines
from layers.grids import tooltip as grid_tooltip
from layers.incidents import LEVEL_COLORS, incident_zones
from layers.incidents import frame as incident_frame
from layers.incidents import tooltip as incident_tooltip
from layers.legend import ramp_legend_html
from layers.sensors import sensor_points
from layers.sensors import tooltip as sensor_tooltip
from layers.tickets import ticket_points
from layers.tickets import tooltip as ticket_tooltip
from spatial.auth import Principal
from spatial.db.engine import read_session_scope
from spatial.incidents import incidents
from spatial.io.monthly_report import monthly_report_pdf
from spatial.maps import mapdata
from spatial.maps.tiles import BUILDINGS_MIN_ZOOM
from spatial.profile import district_profile
from views.common import MAP_H, MAP_W, MapPane, SharedResult, Timer, db, follow_live, guarded, new_alert, show
from views.video import VideoWall, camera_tiles

#: Time window choices; ``RANGE`` means the date range picker's local days.
RANGE = 0
WINDOWS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "Last 365 days": 365, "Date range": RANGE}
#: Title of the date range picker (also how the browser test finds it).
RANGE_TITLE = "Date range (local days, both included)"
#: metric -> (label, ramp, reverse: high is good)
METRICS = {
    "open": ("Open tickets", "YlOrRd", False),
    "overdue": ("Overdue tickets", "YlOrRd", False),
    "received": ("Received in window", "Blues", False),
    "on_time_pct": ("Score: on-time closure %", "RdYlGn", False),
    "satisfaction": ("Satisfaction (1-5)", "RdYlGn", False),
}
BIN_M = 400.0
#: Ticket points are loaded for the visible area from this zoom level on (at most POINT_LIMIT).
POINT_ZOOM = 15.0
POINT_LIMIT = 5_000


def _last_months(today: date, n: int) -> list[date]:
    """The first days of the ``n`` months up to ``today``'s, newest first."""
    out, y, m = [], today.year, today.month
    for _ in range(n):
        out.append(date(y, m, 1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


def kpi_html(k: dict) -> str:
    """The KPI row as one HTML block (one Bokeh model instead of six: faster first paint)."""
    on_time = f"{100 * k['on_time_rate']:.1f}" if k["on_time_rate"] is not None else "-"
    sat = f"{k['satisfaction']:.2f}" if k["satisfaction"] is not None else "-"
    cells = [("Received", f"{k['received']:,}"), ("Closed", f"{k['closed']:,}"), ("On-time %", on_time),
             ("Open", f"{k['open']:,}"), ("Overdue", f"{k['overdue']:,}"), ("Satisfaction", sat)]
    return "<div style='display:flex;gap:34px;margin:4px 8px'>" + "".join(
        f"<div><div style='font-size:12px;color:#555'>{name}</div>"
        f"<div style='font-size:26px;font-weight:600'>{val}</div></div>" for name, val in cells) + "</div>"


def live_incidents_html(live: list[dict]) -> str:
    """One line per live incident: level, title, impact and task progress (a bar)."""
    if not live:
        return ""
    rows = []
    for i in live[:8]:
        pct = round(100 * i["progress"])
        color = "#{:02x}{:02x}{:02x}".format(*LEVEL_COLORS[max(1, min(4, int(i["level"])))])
        rows.append(
            f"<div style='margin:2px 0'><span style='background:{color};color:white;padding:0 5px;"
            f"border-radius:3px'>L{i['level']}</span> <b>{html.escape(i['title'])}</b> &mdash; "
            f"about {int(i['impact'].get('people', 0)):,} people, {i['tasks_closed']}/{i['tasks_total']} tasks closed "
            f"<span style='display:inline-block;width:80px;height:8px;background:#eee;vertical-align:middle'>"
            f"<span style='display:block;width:{pct}%;height:8px;background:#2ca02c'></span></span></div>")
    more = f"<div>and {len(live) - 8} more</div>" if len(live) > 8 else ""
    return f"<div style='font-size:12px'><b>Live incidents ({len(live)})</b>{''.join(rows)}{more}</div>"


def _link(url) -> str:
    """A link (never an <img>: a camera's snapshot may live on another host; the app stays offline)."""
    if not isinstance(url, str) or not url:
        return "-"
    u = html.escape(url, quote=True)
    return f'<a href="{u}" target="_blank" rel="noopener">{html.escape(url[:60])}</a>'


def camera_html(row, *, video: bool) -> str:
    """A camera's name, heading and status; ``video``: whether its stream plays below (role may watch)."""
    heading = f"{row['heading_deg']:.0f}&deg;" if pd.notna(row.get("heading_deg")) else "-"
    kind = ("HLS" if ".m3u8" in str(row.get("stream_url") or "") else "MJPEG") if row.get("stream_url") else \
        ("snapshots" if row.get("snapshot_url") else "none")
    return (f"<b>Camera {html.escape(str(row['name']))}</b> ({html.escape(str(row['code']))})<br/>"
            f"heading {heading}, status {html.escape(str(row['status']))}<br/>"
            + (f"stream: {kind}, playing below" if video else "stream: not available to this role"))


def sensor_html(row) -> str:
    at = row.get("last_reading_at")
    at_s = f"{pd.Timestamp(at):%Y-%m-%d %H:%M} UTC" if pd.notna(at) else "never"
    return (f"<b>Sensor {html.escape(str(row['name']))}</b> ({html.escape(str(row['sensor_type']))})<br/>"
            f"latest {row['last_value']} {html.escape(str(row['unit']))} at {at_s}<br/>"
            f"alarm: {html.escape(str(row['alarm'] or 'none'))}")


#: Who the leadership page acts as when built without a signed-in person (tests of the view alone).
PRINCIPAL = Principal(actor="app:leadership", role="leadership")
#: District aggregates shared by the open leadership pages for a second (live updates).
LIVE_SHARED = SharedResult(ttl_s=1.0)


class LeadershipView:
    """The leadership role: build once per browser session, then :meth:`refresh` on every filter change."""

    def __init__(self, principal: Principal | None = None) -> None:
        self.principal = principal
        self.alert = new_alert()
        self.status = pn.pane.HTML("", styles={"font-size": "11px", "color": "#666"})
        with db() as s:
            cats = mapdata.categories(s)
            self.bounds = mapdata.district_bounds(s)
            prof = district_profile(s)
            tz = prof.timezone
        #: the profile leaves out the street level (Hong Kong, Los Angeles): no street table or drill-down
        self.has_streets = 2 in prof.spec.levels
        self.window = pn.widgets.Select(name="Time window", options=WINDOWS, value=30, width=200)
        today = datetime.now(ZoneInfo(tz)).date()
        self.range = pn.widgets.DateRangePicker(name=RANGE_TITLE, value=(today - timedelta(days=29), today),
                                                width=200)
        self.cats = pn.widgets.MultiChoice(name="Categories (none = all)", width=200,
                                           options={f"{r.name} ({r.code})": r.code for r in cats.itertuples()})
        self.metric = pn.widgets.Select(name="Map colour", width=200,
                                        options={v[0]: k for k, v in METRICS.items()}, value="open")
        self.extrude = pn.widgets.Checkbox(name="3D extrusion", value=False)
        self.bins = pn.widgets.Checkbox(name=f"3D hex density ({BIN_M:.0f} m bins)", value=False)
        self.reset = pn.widgets.Button(name="Whole district", button_type="default", width=200)
        months = _last_months(today, 12)
        self.report_month = pn.widgets.Select(name="Monthly assessment (PDF)", width=200,
                                              options={m.strftime("%Y-%m"): m for m in months}, value=months[0])
        self.report = pn.widgets.FileDownload(callback=self._report_pdf, filename=self._report_name(),
                                              label="Download assessment PDF", button_type="primary", width=200,
                                              embed=False)
        self.report_month.param.watch(lambda e: setattr(self.report, "filename", self._report_name()), "value")
        self.scope = pn.pane.HTML("<b>Whole district</b>")
        self.street_id: int | None = None
        self.grid_id: int | None = None
        self.grid_label = ""

        self.kpi = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["onemap-kpi"])
        self.live_incidents = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["onemap-live-incidents"])
        self.trend_src = ColumnDataSource({"day": [], "received": [], "closed": []})
        self.trend: pn.pane.Bokeh | None = None  # built after the first paint
        tab = {"index": False, "sizing_mode": "stretch_width", "max_height": 260, "float_format": "{:,.1f}".format,
               "na_rep": "-",
               "styles": {"font-size": "12px", "overflow-y": "auto"}}
        self.hot = pn.pane.DataFrame(pd.DataFrame(), **tab)
        self.depts = pn.pane.DataFrame(pd.DataFrame(), **tab)
        self.streets = pn.pane.DataFrame(pd.DataFrame(), **tab)
        self.street_pick = pn.widgets.Select(name="Drill down to street", options={"(whole district)": 0},
                                             value=0, width=200, visible=self.has_streets)
        note = {"styles": {"font-size": "12px", "color": "#666"}, "visible": False}
        self.hot_note = pn.pane.HTML("<i>No tickets in this window.</i>", **note)
        self.depts_note = pn.pane.HTML("<i>No tickets in this window.</i>", **note)
        self.streets_note = pn.pane.HTML("<i>No tickets in this window.</i>", **note)
        self.legend = pn.pane.HTML("")
        self._right = pn.Column(pn.pane.HTML("<i>loading trend and hotspots...</i>"), width=460)
        self._tables = pn.Row(pn.pane.HTML(""), sizing_mode="stretch_width")
        self.map = MapPane(view_for_bounds(self.bounds, width_px=MAP_W, height_px=MAP_H),
                           tooltips={"grids": grid_tooltip(), "bins": bin_tooltip(), "tickets": ticket_tooltip(),
                                     "cameras": camera_tooltip(), "sensors": sensor_tooltip(),
                                     "incidents": incident_tooltip()})
        self.overlays = pn.widgets.CheckBoxGroup(name="Overlays", options=["Cameras", "Sensors", "3D buildings"],
                                                 value=[])
        self.info = pn.pane.HTML("", sizing_mode="stretch_width")
        self.video = VideoWall(columns=1, sizing_mode="stretch_width", visible=False, margin=(0, 5))
        self._cams: gpd.GeoDataFrame | None = None
        self._sensors: gpd.GeoDataFrame | None = None
        self.points = pn.widgets.Checkbox(name=f"Ticket points when zoomed in (zoom >= {POINT_ZOOM:g})", value=True)
        self._points_key: tuple | None = None
        self._grids: gpd.GeoDataFrame | None = None
        self._bld_from_tiles = False

        self.refresh = guarded(self.alert)(self._do_refresh)
        self.map.pane.param.watch(guarded(self.alert)(self._on_click), "click_state")
        self.map.pane.param.watch(guarded(self.alert)(self._on_view), "view_state")
        for w in (self.window, self.cats, self.metric, self.extrude, self.bins, self.points, self.overlays):
            w.param.watch(lambda e: self.refresh(), "value")
        self.range.param.watch(self._on_range, "value")
        self.reset.on_click(lambda e: self._drill(None, None))
        self.street_pick.param.watch(self._on_street_pick, "value")
        self._tables_ready = False
        self.refresh()
        self.live = follow_live({"ticket", "sensor"}, guarded(self.alert)(self._on_live), min_interval_s=1.0)
        # trend and tables after the first paint: the map and KPIs come first
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.onload(self._load_tables)
        else:
            self._load_tables()

    # ------------------------------------------------------------------ layout
    def sidebar(self) -> list:
        return [self.window, self.range, self.cats, self.metric, self.extrude, self.bins, self.points, "Overlays",
                self.overlays, self.street_pick, self.reset, self.info, self.video,
                self.scope, self.legend, self.report_month, self.report]

    def main(self) -> pn.viewable.Viewable:
        return pn.Column(self.alert, self.kpi, self.live_incidents,
                         pn.Row(pn.Column(self.map.pane, sizing_mode="stretch_width"),
                                                  self._right, sizing_mode="stretch_width"),
                         self._tables, self.status, sizing_mode="stretch_width")

    def _report_name(self) -> str:
        return f"assessment-{self.report_month.value:%Y-%m}.pdf"

    def _report_pdf(self) -> io.BytesIO:
        """The chosen month's assessment PDF (department and street ranking, charts, map), made on click."""
        with read_session_scope() as s:  # the replica when one is configured
            return io.BytesIO(monthly_report_pdf(s, month=self.report_month.value))

    def _build_deferred(self) -> None:
        """Trend chart and tables: added after the first paint so the map shows first."""
        fig = figure(height=210, sizing_mode="stretch_width", x_axis_type="datetime", title="Tickets per day",
                     toolbar_location=None)
        fig.line("day", "received", source=self.trend_src, color="#d62728", line_width=2, legend_label="received")
        fig.line("day", "closed", source=self.trend_src, color="#2ca02c", line_width=2, legend_label="closed")
        fig.legend.location = "top_left"
        fig.legend.label_text_font_size = "9pt"
        fig.y_range.start = 0  # counts: an empty window is a flat line at 0, not the middle of -1..1
        self.trend = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self._right.objects = [self.trend, "#### Top hotspots (grids)", self.hot, self.hot_note]
        tables = [pn.Column("#### Department ranking", self.depts, self.depts_note, sizing_mode="stretch_width")]
        if self.has_streets:
            tables.append(pn.Column("#### By street", self.streets, self.streets_note, sizing_mode="stretch_width"))
        self._tables.objects = tables

    # ------------------------------------------------------------------ data
    def _window(self) -> mapdata.Window:
        if self.window.value == RANGE and self.range.value:
            return mapdata.Window.between(*self.range.value)
        return mapdata.Window.last(self.window.value or 30)

    def _on_range(self, event) -> None:
        """Picking dates switches the window to the range (which refreshes), or refreshes it."""
        if self.window.value != RANGE:
            self.window.value = RANGE
        else:
            self.refresh()

    def _do_refresh(self) -> None:
        show(self.alert, "")
        w = self._window()
        cats = list(self.cats.value) or None
        with Timer() as t, db() as s:
            grids = mapdata.grid_stats(s, w, categories=cats, street_id=self.street_id)
            k = mapdata.kpis(s, w, categories=cats, street_id=self.street_id, grid_id=self.grid_id)
            streets = mapdata.admin_units(s, level=2)
            bins = (mapdata.density_bins(s, w, cell_m=BIN_M, categories=cats) if self.bins.value else None)
            live = incidents.list_incidents(s, status="open")
        self._grids = grids
        self._streets = streets
        self.kpi.object = kpi_html(k)

        metric = self.metric.value
        label, ramp, reverse = METRICS[metric]
        vmin, vmax = (0.0, 100.0) if metric == "on_time_pct" else (1.0, 5.0) if metric == "satisfaction" \
            else (0.0, float(max(grids[metric].max(), 1)) if len(grids) else 1.0)
        layers = {
            "grids": grid_choropleth(grids, value=metric, extruded=self.extrude.value, ramp=ramp, vmin=vmin,
                                     vmax=vmax, reverse=reverse, opacity=0.35 if bins is not None else 0.5,
                                     label_columns=("id", "code", "name", "street_id", "street")),
            # outlines in one light LineLayer (cheap to redraw with software WebGL); flat grids drop their
            # own polygon stroke and get their edges there too
            "streets": outlines(([] if self.extrude.value else [(grids, (60, 60, 60, 150), 1)])
                                + [(streets, (30, 30, 30, 230), 3)], layer_id="streets"),
            "bins": bin_columns(bins, cell_m=BIN_M, layer_id="bins") if bins is not None and len(bins) else None,
        }
        if not self.extrude.value:
            layers["grids"]["stroked"] = False
        if bins is not None:  # bins on top must not be hidden by a pickable grid layer
            layers["grids"]["pickable"] = False
        view = None
        if self.street_id is not None and len(grids):
            view = view_for_bounds(grids.total_bounds, width_px=MAP_W, height_px=MAP_H,
                                   pitch=45 if (self.extrude.value or bins is not None) else 0)
        elif self.extrude.value or bins is not None:
            view = {**self.map.view, "pitch": 45}
        layers["tickets"] = self._points_layer(cats)
        layers["incidents"] = incident_zones(incident_frame(live)) if live else None
        self.live_incidents.object = live_incidents_html(live)
        layers.update(self._overlay_layers())
        self.map.set_layers(layers, order=["grids", "buildings", "bins", "streets", "incidents", "camera_cones",
                                           "cameras", "sensors", "tickets"], view=view)
        self.legend.object = ramp_legend_html(label, ramp=ramp, vmin=vmin, vmax=vmax, reverse=reverse)
        self.scope.object = self._scope_html()
        self.status.object = (f"{len(grids)} grids, {k['received']:,} tickets in window; "
                              f"map queries {t.ms:.0f} ms")
        if self._tables_ready:
            self._load_tables()

    def _on_live(self, batch) -> None:
        """Committed ticket/sensor changes: KPIs and the grid map again (at most once a second).

        The aggregates are shared by all sessions with the same filters for a second
        (``LIVE_SHARED``); the sensor layer is re-read when shown and a sensor changed.
        """
        if "ticket" in batch.kinds:
            w = self._window()
            cats = list(self.cats.value) or None
            key = (w, tuple(cats or ()), self.street_id, self.grid_id)

            def compute():
                with db() as s:
                    return (mapdata.grid_stats(s, w, categories=cats, street_id=self.street_id),
                            mapdata.kpis(s, w, categories=cats, street_id=self.street_id, grid_id=self.grid_id))

            with Timer() as t:
                grids, k = LIVE_SHARED.get(key, compute)
            self.kpi.object = kpi_html(k)
            if self._grids is not None and len(grids) == len(self._grids):
                metric = self.metric.value
                label, ramp, reverse = METRICS[metric]
                vmin, vmax = (0.0, 100.0) if metric == "on_time_pct" else (1.0, 5.0) if metric == "satisfaction" \
                    else (0.0, float(max(grids[metric].max(), 1)) if len(grids) else 1.0)
                layer = grid_choropleth(grids, value=metric, extruded=self.extrude.value, ramp=ramp, vmin=vmin,
                                        vmax=vmax, reverse=reverse, opacity=0.35 if self.bins.value else 0.5,
                                        label_columns=("id", "code", "name", "street_id", "street"))
                if not self.extrude.value:
                    layer["stroked"] = False
                if self.bins.value:
                    layer["pickable"] = False
                self._grids = grids
                self.map.set_layers({"grids": layer})
                self.legend.object = ramp_legend_html(label, ramp=ramp, vmin=vmin, vmax=vmax, reverse=reverse)
            self.status.object = (f"{len(grids)} grids, {k['received']:,} tickets in window; "
                                  f"live update #{batch.last_seq} in {t.ms:.0f} ms")
        if "sensor" in batch.kinds and "Sensors" in self.overlays.value:
            self.map.set_layers({k: v for k, v in self._overlay_layers().items() if k == "sensors"})

    def _load_tables(self) -> None:
        guarded(self.alert)(self._do_load_tables)()

    def _do_load_tables(self) -> None:
        w = self._window()
        cats = list(self.cats.value) or None
        with Timer() as t, db() as s:
            tr = mapdata.trend(s, w, categories=cats, street_id=self.street_id, grid_id=self.grid_id)
            hot = mapdata.hotspots(s, w, categories=cats, limit=10)
            dep = mapdata.department_stats(s, w, categories=cats)
            st = mapdata.street_stats(s, w, categories=cats)
        if not self._tables_ready:
            self._build_deferred()
        self._tables_ready = True
        self.trend_src.data = {"day": tr["day"], "received": tr["received"], "closed": tr["closed"]}
        hot_cols = ["code", "name", "street", "received", "overdue", "top_category"]
        if not self.has_streets:
            hot_cols.remove("street")
        st = st[st["street_id"].notna()]  # grids outside any street are not a street
        _table(self.hot, self.hot_note, hot, hot_cols)
        _table(self.depts, self.depts_note, dep,
               ["rank", "name", "received", "closed", "on_time_pct", "overdue", "satisfaction"])
        _table(self.streets, self.streets_note, st,
               ["street", "received", "closed", "on_time_pct", "open", "overdue", "satisfaction"])
        opts = {"(whole district)": 0}
        opts.update({str(r.street): int(r.street_id) for r in st.itertuples() if pd.notna(r.street_id)})
        self.street_pick.options = opts
        self.status.object = self.status.object.split(" | ")[0] + f" | tables {t.ms:.0f} ms"

    def _overlay_layers(self) -> dict:
        """Cameras (with view cones), sensors (latest reading, alarm) and 3D buildings, when ticked."""
        on = set(self.overlays.value)
        out: dict = {"cameras": None, "camera_cones": None, "sensors": None, "buildings": None}
        with db() as s:
            if "Cameras" in on:
                self._cams = mapdata.cameras(s)
                if len(self._cams):
                    out["cameras"] = camera_points(self._cams)
                    out["camera_cones"] = view_cones(self._cams)
            if "Sensors" in on:
                self._sensors = mapdata.sensors(s)
                if len(self._sensors):
                    out["sensors"] = sensor_points(self._sensors, now=datetime.now(UTC))
            # 3D buildings: the basemap tiles extrude theirs from BUILDINGS_MIN_ZOOM on; below it (no
            # buildings in the tiles) the district's footprints come as one GeoJSON layer
            self.map.set_basemap(extruded="3D buildings" in on)
            self._bld_from_tiles = self.map.zoom >= BUILDINGS_MIN_ZOOM
            if "3D buildings" in on and not self._bld_from_tiles:
                b = mapdata.buildings(s, bbox=self.bounds)
                if len(b):
                    out["buildings"] = buildings_3d(b)
        if on & {"3D buildings"} and self.map.view.get("pitch", 0) < 30:
            self.map.view = {**self.map.view, "pitch": 50}
        return out

    def _points_layer(self, cats: list[str] | None) -> dict | None:
        """Ticket points in the visible area when zoomed in, else None (aggregates only)."""
        bbox = self.map.bbox
        if not self.points.value or bbox is None or self.map.zoom < POINT_ZOOM:
            self._points_key = None
            return None
        with db() as s:
            pts, truncated = mapdata.tickets_in_view(s, self._window(), bbox=bbox, limit=POINT_LIMIT,
                                                     categories=cats)
        self._points_key = (tuple(round(v, 4) for v in bbox), self.window.value, self.range.value, tuple(cats or ()))
        if truncated:
            show(self.alert, f"Showing the newest {POINT_LIMIT:,} tickets in view; zoom in for all.", "info")
        return ticket_points(pts[["id", "status", "category", "overdue", "geometry"]], radius_px=4)

    def _on_view(self, event) -> None:
        """Load or drop ticket points when the user zooms across POINT_ZOOM or pans while zoomed in;
        with 3D buildings, swap the GeoJSON buildings for the tiles' when crossing BUILDINGS_MIN_ZOOM."""
        if "3D buildings" in self.overlays.value and (self.map.zoom >= BUILDINGS_MIN_ZOOM) != self._bld_from_tiles:
            self.map.set_layers({"buildings": self._overlay_layers()["buildings"]})
        zoomed = self.map.zoom >= POINT_ZOOM and self.points.value
        bbox = self.map.bbox
        if not zoomed and self._points_key is None:
            return
        key = ((tuple(round(v, 4) for v in bbox), self.window.value, self.range.value, tuple(self.cats.value))
               if bbox else None)
        if zoomed and key == self._points_key:
            return
        self.map.set_layers({"tickets": self._points_layer(list(self.cats.value) or None)})

    def _scope_html(self) -> str:
        if self.street_id is None:
            return "<b>Whole district</b>"
        street = ""
        if self._grids is not None and len(self._grids):
            street = str(self._grids["street"].iloc[0])
        return f"<b>{street}</b>" + (f" &rsaquo; {self.grid_label}" if self.grid_id else "")

    # ------------------------------------------------------------------ interaction
    def _drill(self, street_id: int | None, grid_id: int | None, grid_label: str = "") -> None:
        self.street_id, self.grid_id, self.grid_label = street_id, grid_id, grid_label
        if (street_id or 0) in self.street_pick.options.values():
            self.street_pick.value = street_id or 0  # its watcher sees no change of street
        if street_id is None:
            self.map.view = view_for_bounds(self.bounds, width_px=MAP_W, height_px=MAP_H)
        self.refresh()

    def _on_click(self, event) -> None:
        cs = event.new or {}
        if cs.get("layer") == "cameras" and self._cams is not None:
            row = self._cams.iloc[int(cs["index"])]
            with db() as s:
                self.video.tiles = camera_tiles(s, [int(row["id"])], self.principal or PRINCIPAL)
            self.video.visible = bool(self.video.tiles)
            self.info.object = camera_html(row, video=bool(self.video.tiles))
            return
        if cs.get("layer") == "sensors" and self._sensors is not None:
            self.info.object = sensor_html(self._sensors.iloc[int(cs["index"])])
            return
        if cs.get("layer") != "grids" or self._grids is None:
            return
        i = cs.get("index")
        if i is None or not (0 <= i < len(self._grids)):
            return
        row = self._grids.iloc[int(i)]
        sid = int(row["street_id"]) if pd.notna(row["street_id"]) else None
        self._drill(sid, int(row["id"]), str(row["name"]))

    def _on_street_pick(self, event) -> None:
        sid = int(event.new or 0)
        if sid and sid != self.street_id:
            self._drill(sid, None)
        elif not sid and self.street_id is not None:
            self._drill(None, None)


def _table(pane: pn.pane.DataFrame, note: pn.pane.HTML, df: pd.DataFrame, columns: list[str]) -> None:
    """Show ``df[columns]`` in ``pane``, or ``note`` instead when it has no rows (no empty header, no NaN row).

    Missing values (no closed ticket: no on-time share or satisfaction) show as "-" (the panes' ``na_rep``).
    """
    if len(df):
        pane.object = df[columns]
    else:
        pane.object = pd.DataFrame({c: [] for c in columns})
    pane.visible, note.visible = bool(len(df)), not len(df)
