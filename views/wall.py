"""Wall mode (``/wall``): the command centre's big screen, read-only, no controls.

Dark, high-contrast, sized in viewport units so the same page fills a
1920×1080 and a 3840×2160 display without scrollbars: the 3D district
(grids extruded by open tickets, building footprints extruded to their
height, active alerts), KPI tiles, a ticker of the newest tickets and alerts,
the hottest grids today, the weather/flood state (rain gauges, water levels,
flood warnings, the last forecast run), and a video wall.

Everything updates by itself from the server's live feed
(``spatial.maps.live``; at most once a second, the queries shared by all open
walls). Each new **red** alert starts a tour stop: the map flies to it
(deck.gl ``FlyToInterpolator``), a banner names it, and the cameras whose view
cone covers it (``spatial.sensors.cameras.covering``) play on the video wall;
after ``DWELL_S`` the tour moves to the next new red alert or back to the
whole district (the last alert's cameras keep playing until the next stop).

The wall is the role ``wall`` (``spatial.auth``): public data only (no
sensitive tickets, no private sensors, no reporter contact), camera video
allowed (``spatial.privacy.STREAM_ROLES``).
"""

from __future__ import annotations

import html
from collections import deque
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import panel as pn
import sqlalchemy as sa

from layers import view_for_bounds
from layers.alerts import alert_points
from layers.buildings import buildings_3d
from layers.grids import grid_choropleth, outlines
from spatial import forecasts
from spatial.auth import Principal
from spatial.maps import mapdata
from spatial.sensors import cameras as camera_service
from spatial.sensors.alerts import list_alerts
from views.common import MapPane, SharedResult, Timer, db, follow_live
from views.video import VideoWall, camera_tiles

#: The wall's principal: public data, camera video allowed.
PRINCIPAL = Principal(actor="app:wall", role="wall")
#: Seconds a tour stop stays on a red alert.
DWELL_S = 20.0
#: Map zoom and pitch of a tour stop.
STOP_ZOOM, STOP_PITCH = 16.5, 60.0
#: Query results shared by all open walls for a second.
SHARED = SharedResult(ttl_s=1.0)

CSS = """
html, body { margin: 0; padding: 0; overflow: hidden !important; background: #020c1b; }
body { color: #e6f1ff; font-family: "Noto Sans", "WenQuanYi Zen Hei", "DejaVu Sans", sans-serif; }
.wall-root { background: #020c1b; }
"""

#: Styles of the wall's HTML blocks (inside Panel's shadow roots; sizes in vh scale with the screen).
BLOCK = """
<style>
.w { color: #e6f1ff; font-size: 1.55vh; line-height: 1.35; }
.w h3 { margin: 0 0 .4vh 0; font-size: 1.6vh; letter-spacing: .12em; text-transform: uppercase; color: #64d2ff;
        font-weight: 600; }
.w .box { background: #071a33; border: 1px solid #16406e; border-radius: .6vh; padding: .8vh 1vh; }
.w .row { display: flex; justify-content: space-between; gap: 1vh; white-space: nowrap; overflow: hidden; }
.w .row span:first-child { overflow: hidden; text-overflow: ellipsis; }
.w .dim { color: #8fb3d9; }
.w .red { color: #ff4d5e; font-weight: 700; } .w .orange { color: #ff9f1a; font-weight: 700; }
.w .yellow { color: #ffd60a; font-weight: 700; } .w .ok { color: #3ddc97; }
.kpis { display: flex; gap: 1.2vh; }
.kpi { flex: 1; background: #071a33; border: 1px solid #16406e; border-radius: .6vh; padding: .6vh 1.2vh; }
.kpi .v { font-size: 4.2vh; font-weight: 700; color: #ffffff; line-height: 1.1; }
.kpi .n { font-size: 1.35vh; color: #8fb3d9; text-transform: uppercase; letter-spacing: .08em; }
.kpi.alarm .v { color: #ff4d5e; }
.title { display: flex; align-items: baseline; gap: 2vh; }
.title .name { font-size: 3vh; font-weight: 700; color: #fff; }
.title .clock { font-size: 2vh; color: #64d2ff; }
.banner { background: #b00020; color: #fff; font-size: 2.6vh; font-weight: 700; padding: .8vh 1.6vh;
          border-radius: .6vh; box-shadow: 0 0 2vh rgba(255, 40, 60, .6); }
</style>
"""


def _esc(v) -> str:
    return html.escape("" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))


def _ago(t, now: datetime) -> str:
    s = max(0.0, (now - pd.Timestamp(t).to_pydatetime()).total_seconds())
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.0f} h"


class WallView:
    """One wall screen (one browser session)."""

    def __init__(self) -> None:
        with db() as s:
            self.bounds = mapdata.district_bounds(s)
            self.streets = mapdata.admin_units(s, level=2)
            self.bld = mapdata.buildings(s, bbox=self.bounds, limit=30_000)
            self.red_seen = {a["id"] for a in list_alerts(s, state="active", limit=1000, viewer=PRINCIPAL)
                             if a["level"] == "red"}
        self.overview = view_for_bounds(self.bounds, width_px=1300, height_px=900, pitch=50.0)
        self.overview["bearing"] = -15.0
        self.map = MapPane(self.overview, height=None, basemap=False,
                           tooltips={"alerts": {"html": "<b>{level}</b> {source}<br/>{message}"}})
        self.map.pane.margin = 0
        self.title = pn.pane.HTML("", sizing_mode="stretch_width", margin=(4, 10))
        self.kpis = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10))
        self.banner = pn.pane.HTML("", sizing_mode="stretch_width", margin=(6, 10), visible=False)
        self.ticker = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 6))
        self.hottest = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 6))
        self.flood = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 6))
        self.video = VideoWall(columns=2, placeholder="Cameras covering a new red alert come up here.",
                               sizing_mode="stretch_width", margin=(4, 6),
                               styles={"--vw-font": "1.4vh"})
        self.video_title = pn.pane.HTML(BLOCK + "<div class='w'><h3>Video</h3></div>", margin=(6, 6, 0, 6))
        self.tour: deque[dict] = deque()
        self.stop: dict | None = None
        self.tours = 0
        self._static = {
            "buildings": buildings_3d(self.bld, color=(110, 150, 210)) if len(self.bld) else None,
        }
        self.refresh()
        self.live = follow_live({"ticket", "alert", "sensor", "worker"}, self._on_live, min_interval_s=1.0)
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.add_periodic_callback(self.refresh, period=30_000)  # clock and ages when nothing happens

    # ------------------------------------------------------------------ layout
    def page(self) -> pn.viewable.Viewable:
        side = pn.Column(pn.pane.HTML(BLOCK, margin=0, height=0), self.ticker, self.hottest, self.flood,
                         self.video_title, self.video, sizing_mode="stretch_height", margin=(0, 8, 0, 0),
                         styles={"flex": "0 0 31vw", "width": "31vw", "max-width": "31vw"})
        main = pn.Column(self.banner, self.map.pane, sizing_mode="stretch_both", margin=0,
                         styles={"flex": "1 1 auto", "min-width": "0"})
        return pn.Column(self.title, self.kpis, pn.Row(main, side, sizing_mode="stretch_both", margin=(8, 0, 0, 0)),
                         sizing_mode="stretch_both", css_classes=["wall-root"],
                         styles={"height": "100vh", "width": "100vw", "background": "#020c1b",
                                 "overflow": "hidden"}, margin=0)

    # ------------------------------------------------------------------ data
    def _data(self) -> dict:
        def compute() -> dict:
            with db() as s:
                now = datetime.now(UTC)
                day = mapdata.Window.last(1)
                k = mapdata.kpis(s, day)
                k30 = mapdata.kpis(s, mapdata.Window.last(30))
                grids = mapdata.grid_stats(s, day)
                alerts = list_alerts(s, state="active", limit=500, viewer=PRINCIPAL)
                recent_alerts = list_alerts(s, state=None, limit=8, viewer=PRINCIPAL)
                tickets = mapdata.newest_tickets(s, limit=10, viewer=PRINCIPAL)
                on_duty = s.scalar(sa.text("SELECT count(*) FROM worker WHERE on_duty AND geom IS NOT NULL"))
                gauges = s.execute(sa.text(
                    "SELECT sensor_type, unit, max(last_value) AS peak, count(*) AS n FROM sensor "
                    "WHERE NOT private AND sensor_type IN ('rain_gauge', 'water_level') "
                    "AND last_reading_at > now() - interval '3 hours' GROUP BY sensor_type, unit")).all()
            runs = forecasts.past_runs(limit=1)
            return {"now": now, "k": k, "k30": k30, "grids": grids, "alerts": alerts, "recent": recent_alerts,
                    "tickets": tickets, "on_duty": on_duty, "gauges": gauges, "run": runs[0] if runs else None}

        return SHARED.get("wall", compute)

    def refresh(self) -> None:
        with Timer() as t:
            d = self._data()
        self._render(d)
        self.map.set_layers(self._layers(d), order=["grids", "buildings", "outlines", "alerts"])
        self.ms = t.ms

    def _on_live(self, batch) -> None:
        self.refresh()
        if "alert" in batch.kinds:
            self._new_red_alerts()

    # ------------------------------------------------------------------ render
    def _layers(self, d: dict) -> dict:
        g = d["grids"]
        vmax = float(max(g["open"].max(), 1)) if len(g) else 1.0
        touring = self.stop is not None  # at a tour stop the grids lie flat: buildings and the alert stay visible
        grids = grid_choropleth(g, value="open", extruded=not touring, ramp="YlOrRd", vmin=0, vmax=vmax,
                                opacity=0.3 if touring else 0.55, max_height_m=250.0,
                                label_columns=("id", "code", "name")) if len(g) else None
        if grids is not None:
            grids["pickable"] = False
        al = [a for a in d["alerts"] if a["lon"] is not None]
        agdf = gpd.GeoDataFrame(
            {"id": [a["id"] for a in al], "level": [a["level"] for a in al],
             "source": [f"{a['source_kind']} {a['source_id']}" for a in al],
             "message": [a["message"] for a in al]},
            geometry=gpd.points_from_xy([a["lon"] for a in al], [a["lat"] for a in al]), crs="EPSG:4326")
        return {"grids": grids, **self._static,
                "outlines": outlines([(g, (80, 170, 255, 110), 1), (self.streets, (120, 210, 255, 230), 3)],
                                     layer_id="outlines") if len(g) else None,
                "alerts": alert_points(agdf, scale=1.6)}

    def _render(self, d: dict) -> None:
        now, k = d["now"], d["k"]
        red = sum(1 for a in d["alerts"] if a["level"] == "red")
        on_time = f"{100 * d['k30']['on_time_rate']:.0f}%" if d["k30"]["on_time_rate"] is not None else "-"
        tiles = [("Received today", f"{k['received']:,}", False), ("Closed today", f"{k['closed']:,}", False),
                 ("Open", f"{k['open']:,}", False), ("Overdue", f"{k['overdue']:,}", k["overdue"] > 0),
                 ("On time (30 d)", on_time, False), ("Active alerts", f"{len(d['alerts'])}", red > 0),
                 ("Red alerts", f"{red}", red > 0), ("Workers on duty", f"{d['on_duty']:,}", False)]
        self.kpis.object = BLOCK + "<div class='w kpis'>" + "".join(
            f"<div class='kpi{' alarm' if alarm else ''}'><div class='v'>{v}</div><div class='n'>{n}</div></div>"
            for n, v, alarm in tiles) + "</div>"
        self.title.object = (BLOCK + "<div class='w title'><span class='name'>OneMap command centre</span>"
                             f"<span class='clock'>{now:%Y-%m-%d %H:%M} UTC</span>"
                             f"<span class='dim'>live · updated {now:%H:%M:%S}</span></div>")
        # ticker: newest alerts and tickets, merged by time
        events = [(a["started_at"], f"<span class='{a['level']}'>{a['level'].upper()}</span> "
                   f"{_esc(a['message'] or a['rule'])}") for a in d["recent"]]
        events += [(r.created_at, f"<span class='dim'>#{r.id}</span> {_esc(r.category)} "
                    f"<span class='dim'>{_esc(r.grid)} · {_esc(r.status)}</span>")
                   for r in d["tickets"].itertuples()]
        events.sort(key=lambda e: pd.Timestamp(e[0]), reverse=True)
        self.ticker.object = BLOCK + "<div class='w box'><h3>Newest events</h3>" + "".join(
            f"<div class='row'><span>{text}</span><span class='dim'>{_ago(t, now)}</span></div>"
            for t, text in events[:9]) + "</div>"
        g = d["grids"].sort_values(["open", "received"], ascending=False).head(5) if len(d["grids"]) else []
        self.hottest.object = BLOCK + "<div class='w box'><h3>Hottest grids (open tickets)</h3>" + "".join(
            f"<div class='row'><span>{_esc(r.name)}</span><span><b>{int(r.open)}</b> "
            f"<span class='dim'>open · {int(r.received)} today</span></span></div>" for r in
            (g.itertuples() if len(g) else [])) + "</div>"
        self.flood.object = BLOCK + "<div class='w box'><h3>Weather and flood</h3>" + self._flood_html(d) + "</div>"

    def _flood_html(self, d: dict) -> str:
        flood = [a for a in d["alerts"] if a["source_kind"] == "flood" or a["rule"] in ("water_level", "rain")]
        levels = {lv: sum(1 for a in flood if a["level"] == lv) for lv in ("red", "orange", "yellow")}
        state = ("<span class='ok'>no flood warning</span>" if not flood else
                 " · ".join(f"<span class='{lv}'>{n} {lv}</span>" for lv, n in levels.items() if n))
        rows = [f"<div class='row'><span>Flood warnings</span><span>{state}</span></div>"]
        for sensor_type, unit, peak, n in d["gauges"]:
            label = "Rain (max of gauges)" if sensor_type == "rain_gauge" else "Water level (max)"
            rows.append(f"<div class='row'><span>{label}</span><span><b>{peak:.2f}</b> {_esc(unit)} "
                        f"<span class='dim'>{n} sensors</span></span></div>")
        run = d["run"]
        if run:
            summary = run.get("summary") or {}
            depth = summary.get("max_depth_m", run.get("max_depth_m"))
            label = run.get("scenario") or run.get("run_id")
            rows.append(f"<div class='row'><span>Last forecast: {_esc(label)}</span><span>max depth "
                        f"<b>{depth if depth is None else f'{float(depth):.2f}'}</b> m</span></div>")
        return "".join(rows)

    # ------------------------------------------------------------------ tour
    def _new_red_alerts(self) -> None:
        """Queue every red alert not seen before; start the tour if it is idle."""
        fresh = [a for a in self._data()["alerts"] if a["level"] == "red" and a["id"] not in self.red_seen]
        for a in sorted(fresh, key=lambda a: a["started_at"]):
            self.red_seen.add(a["id"])
            if a["lon"] is not None:
                self.tour.append(a)
        if self.stop is None and self.tour:
            self._next_stop()

    def _next_stop(self) -> None:
        doc = pn.state.curdoc
        if not self.tour:  # back to the whole district; the last alert's cameras keep playing
            self.stop = None
            self.banner.visible = False
            self.map.set_layers(self._layers(self._data()), view={**self.overview, "transitionDuration": 2500,
                                          "transitionInterpolator": {"@@type": "FlyToInterpolator"}})
            return
        a = self.tour.popleft()
        self.stop = a
        self.tours += 1
        with db() as s:
            cams = camera_service.covering(s, a["lon"], a["lat"], limit=4)
            tiles = camera_tiles(s, [c["id"] for c in cams], PRINCIPAL, note=f"alert {a['id']}")
        self.video.tiles = tiles
        self.banner.object = (BLOCK + f"<div class='w banner'>RED ALERT · {_esc(a['message'] or a['rule'])}"
                              f" <span style='font-weight:400'>· {len(cams)} camera(s) covering</span></div>")
        self.banner.visible = True
        view = {"longitude": float(a["lon"]), "latitude": float(a["lat"]), "zoom": STOP_ZOOM, "pitch": STOP_PITCH,
                "bearing": 20.0 * (self.tours % 3 - 1), "transitionDuration": 3000,
                "transitionInterpolator": {"@@type": "FlyToInterpolator"}}
        self.map.set_layers(self._layers(self._data()), view=view)
        if doc is not None and doc.session_context is not None:
            doc.add_timeout_callback(self._next_stop, int(DWELL_S * 1000))
