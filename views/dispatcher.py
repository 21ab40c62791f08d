"""Dispatcher view: the queue sorted by deadline, nearest candidates, one-click assignment, incidents.

Click a ticket on the map or a row of the queue: the nearest available
workers (``spatial.tickets.dispatch.candidates``) are listed and drawn (blue rings and
lines); "Assign" calls ``spatial.tickets.dispatch.assign`` (row locks, workload cap)
and the map and queue update. A second dispatcher who assigned the same
ticket first makes the click fail with a clear message, nothing is written.
The incident panel (``views.incident_panel``) declares an incident from the
selected ticket, draws its impact zone and the resources nearby, and
dispatches every department of its template in one click.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import panel as pn

from layers import view_for_bounds
from layers.grids import outlines
from layers.incidents import resource_tooltip
from layers.incidents import tooltip as incident_tooltip
from layers.legend import status_legend_html, worker_legend_html
from layers.tickets import ticket_points
from layers.tickets import tooltip as ticket_tooltip
from layers.workers import candidate_links, worker_points
from layers.workers import tooltip as worker_tooltip
from spatial import audit
from spatial.auth import Principal
from spatial.errors import OneMapError
from spatial.maps import mapdata
from spatial.tickets import queries as ticket_queries
from views.common import MAP_H, MAP_W, MapPane, Timer, client_ip, db, follow_live, guarded, new_alert, show
from views.incident_panel import IncidentPanel

QUEUE_LIMIT = 500
MAX_K = 10
#: Who acts when the view is built without a signed-in person (tests of the view alone).
ANONYMOUS = Principal(actor="app:dispatcher", role="dispatcher")


class DispatcherView:
    """The dispatcher role: one instance per browser session, acting as ``principal``.

    A street-scoped dispatcher (``principal.admin_unit_id``) sees and assigns
    the tickets of that street only; a handler those of their department.
    """

    def __init__(self, principal: Principal | None = None) -> None:
        self.principal = principal or ANONYMOUS
        self.alert = new_alert()
        self.status = pn.pane.HTML("", styles={"font-size": "11px", "color": "#666"})
        with db() as s:
            self.bounds = mapdata.district_bounds(s)
            self.streets_gdf = mapdata.admin_units(s, level=2)
            self.grids_gdf = mapdata.admin_units(s, level=4)
            cats = mapdata.categories(s)
        # grid and street outlines never change: one light layer, built once
        self.outlines = outlines([(self.grids_gdf, (170, 170, 170, 160), 1), (self.streets_gdf, (30, 30, 30, 230), 2)])
        self.cats = pn.widgets.MultiChoice(name="Categories (none = all)", width=200,
                                           options={f"{r.name} ({r.code})": r.code for r in cats.itertuples()})
        self.k = pn.widgets.IntSlider(name="Candidates", start=1, end=MAX_K, value=5, width=200)
        self.reload = pn.widgets.Button(name="Refresh queue", width=200)
        self.queue = pn.widgets.Tabulator(
            pd.DataFrame(), show_index=False, disabled=True, selectable=1, height=560, width=370,
            layout="fit_columns", widths={"id": 60, "category": 140, "status": 85, "due (min)": 75},
            theme="simple", pagination=None)
        self.queue_empty = pn.pane.HTML("<i>No ticket is waiting for dispatch.</i>", visible=False,
                                        styles={"font-size": "12px", "color": "#666"})
        self.ticket_info = pn.pane.HTML("<i>Click a ticket on the map or in the queue.</i>",
                                        sizing_mode="stretch_width")
        # candidate rows are built once and only patched on a click (new Bokeh models are slow to render)
        self.cand_msg = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self.cand_rows = []
        for _ in range(MAX_K):
            text = pn.pane.HTML("", width=210)
            btn = pn.widgets.Button(name="Assign", button_type="primary", width=110)
            btn.on_click(self._on_assign_button)
            self.cand_rows.append((text, btn, pn.Row(text, btn, visible=False, css_classes=["onemap-candidate"])))
        self.cand_box = pn.Column(self.cand_msg, *[r for _, _, r in self.cand_rows], sizing_mode="stretch_width")
        self.map = MapPane(view_for_bounds(self.bounds, width_px=MAP_W, height_px=MAP_H),
                           tooltips={"tickets": ticket_tooltip(), "workers": worker_tooltip(),
                                     "incident_zone": incident_tooltip(), "resources": resource_tooltip()})
        self.queue_df: gpd.GeoDataFrame = gpd.GeoDataFrame()
        self.shown: gpd.GeoDataFrame = gpd.GeoDataFrame()
        self.workers: gpd.GeoDataFrame = gpd.GeoDataFrame()
        self.recent: dict[int, str] = {}      # ticket id -> status after an assignment here
        self.selected: int | None = None
        self.candidates: list = []
        self.last_click_ms: float | None = None

        self.incident = IncidentPanel(self.alert, self._draw, self.principal)
        g = guarded(self.alert)
        self.refresh = g(self._do_refresh)
        self.select = g(self._do_select)
        self.assign = g(self._do_assign)
        self.map.pane.param.watch(g(self._on_map_click), "click_state")
        self.queue.on_click(g(self._on_queue_click))
        self.reload.on_click(lambda e: self.refresh())
        self.cats.param.watch(lambda e: self.refresh(), "value")
        self.refresh()
        self.on_live = g(self._on_live)
        self.live = follow_live({"ticket", "worker"}, self.on_live)

    # ------------------------------------------------------------------ layout
    def sidebar(self) -> list:
        return [self.cats, self.k, self.reload, pn.pane.HTML(status_legend_html()),
                pn.pane.HTML(worker_legend_html())]

    def main(self) -> pn.viewable.Viewable:
        side = pn.Column("#### Selected ticket", self.ticket_info, "#### Nearest available workers",
                         self.cand_box, self.incident.view(), width=330)
        return pn.Column(self.alert,
                         pn.Row(pn.Column("#### Waiting for dispatch (deadline first)", self.queue, self.queue_empty,
                                          width=380),
                                pn.Column(self.map.pane, sizing_mode="stretch_width", min_width=480), side,
                                sizing_mode="stretch_width"),
                         self.status, sizing_mode="stretch_width")

    # ------------------------------------------------------------------ data
    def _do_refresh(self) -> None:
        with Timer() as t, db() as s:
            q = mapdata.dispatch_queue(s, limit=QUEUE_LIMIT, categories=list(self.cats.value) or None,
                                       street_id=self.principal.admin_unit_id,
                                       department_id=self.principal.department_id
                                       if self.principal.role == "handler" else None)
            workers = mapdata.workers(s)
            extra = [i for i in self.recent if i not in set(q["id"])] if len(q) else list(self.recent)
            briefs = [mapdata.ticket_brief(s, i) for i in extra]
        self.workers = workers
        self._show_queue(q, briefs)
        self._draw()
        self.status.object = f"{len(q)} tickets waiting, {len(workers)} workers on duty; queries {t.ms:.0f} ms"

    def _show_queue(self, q: gpd.GeoDataFrame, briefs: list) -> None:
        """Put the queue into the table and the map's ticket points (queue + tickets assigned here)."""
        self.queue_df = q
        view = q[["id", "category_name", "status", "due_in_min"]].rename(
            columns={"category_name": "category", "due_in_min": "due (min)"}) if len(q) else pd.DataFrame(
            {"id": [], "category": [], "status": [], "due (min)": []})
        self.queue.value = view
        self.queue.visible, self.queue_empty.visible = bool(len(q)), not len(q)
        self.queue.selection = []
        pts = q[["id", "status", "category", "overdue", "geometry"]] if len(q) else gpd.GeoDataFrame(
            {"id": [], "status": [], "category": [], "overdue": []}, geometry=[], crs="EPSG:4326")
        rows = [b for b in briefs if b]
        if rows:
            add = gpd.GeoDataFrame(
                {"id": [b["id"] for b in rows], "status": [b["status"] for b in rows],
                 "category": [b["category"] for b in rows], "overdue": [False] * len(rows)},
                geometry=gpd.points_from_xy([b["lon"] for b in rows], [b["lat"] for b in rows]), crs="EPSG:4326")
            pts = pd.concat([pts, add], ignore_index=True)
        self.shown = gpd.GeoDataFrame(pts, geometry="geometry", crs="EPSG:4326").reset_index(drop=True)

    def _on_live(self, batch) -> None:
        """Committed changes of tickets/workers (``spatial.maps.live``): patch the queue and the dots.

        Only the changed rows are read (by id) and only the changed layer is redrawn; a change too
        large to list (bulk import) reloads the queue.
        """
        tickets, workers = batch.ids("ticket"), batch.ids("worker")
        if tickets is None or workers is None:
            self.refresh()
            return
        with Timer() as t, db() as s:
            q = (mapdata.dispatch_queue(s, limit=QUEUE_LIMIT, categories=list(self.cats.value) or None,
                                        ids=sorted(tickets)) if tickets else None)
            w = mapdata.workers(s, ids=sorted(workers)) if workers else None
            briefs = [mapdata.ticket_brief(s, i) for i in self.recent if tickets and i not in set(
                self.queue_df["id"] if len(self.queue_df) else ())]
        layers: dict = {}
        if q is not None:
            keep = self.queue_df[~self.queue_df["id"].isin(tickets)] if len(self.queue_df) else self.queue_df
            merged = pd.concat([keep, q], ignore_index=True) if len(keep) else q
            merged = merged.sort_values(["due_at", "priority", "id"], na_position="last").head(QUEUE_LIMIT)
            merged = gpd.GeoDataFrame(merged.reset_index(drop=True), geometry="geometry", crs="EPSG:4326")
            self._show_queue(merged, [b for b in briefs if b and b["id"] not in set(merged["id"])])
            layers["tickets"] = ticket_points(self.shown, highlight_id=self.selected, radius_px=5)
        if w is not None:
            keep = self.workers[~self.workers["id"].isin(workers)] if len(self.workers) else self.workers
            merged = pd.concat([keep, w], ignore_index=True) if len(keep) else w
            self.workers = gpd.GeoDataFrame(merged.sort_values("id").reset_index(drop=True), geometry="geometry",
                                            crs="EPSG:4326")
            layers["workers"] = (worker_points(self.workers, now=datetime.now(UTC),
                                               highlight_ids=[c.worker_id for c in self.candidates])
                                 if len(self.workers) else None)
        if layers:
            self.map.set_layers(layers)
        self.status.object = (f"{len(self.queue_df)} tickets waiting, {len(self.workers)} workers on duty; "
                              f"live update #{batch.last_seq} ({len(batch.changes)} changes) in {t.ms:.0f} ms")

    def _draw(self) -> None:
        now = datetime.now(UTC)
        cand_ids = [c.worker_id for c in self.candidates]
        layers = {
            "boundaries": self.outlines,
            "tickets": ticket_points(self.shown, highlight_id=self.selected, radius_px=5),
            "workers": worker_points(self.workers, now=now, highlight_ids=cand_ids)
            if len(self.workers) else None,
            "links": None,
            **self.incident.layers(),
        }
        if self.candidates and self.selected is not None:
            row = self.shown[self.shown["id"] == self.selected]
            if len(row):
                origin = (row.geometry.iloc[0].x, row.geometry.iloc[0].y)
                cg = gpd.GeoDataFrame({"rank": range(1, len(self.candidates) + 1),
                                       "distance_m": [c.distance_m for c in self.candidates]},
                                      geometry=gpd.points_from_xy([c.lon for c in self.candidates],
                                                                  [c.lat for c in self.candidates]),
                                      crs="EPSG:4326")
                layers["links"] = candidate_links(origin, cg, layer_id="links")
        view = None
        if self.incident.focus is not None:  # a new incident: fit its zone and the resources around it
            w, s, e, n = self.incident.focus
            pad = max(e - w, n - s, 0.01)
            view = view_for_bounds((w - pad, s - pad, e + pad, n + pad), width_px=MAP_W, height_px=MAP_H)
            self.incident.focus = None
        self.map.set_layers(layers, order=["boundaries", "incident_zone", "links", "workers", "resources", "tickets"],
                            view=view)

    # ------------------------------------------------------------------ interaction
    def _on_map_click(self, event) -> None:
        cs = event.new or {}
        if cs.get("layer") != "tickets":
            return
        i = cs.get("index")
        if i is not None and 0 <= i < len(self.shown):
            self.select(int(self.shown.iloc[int(i)]["id"]))

    def _on_queue_click(self, event) -> None:
        if event.row is not None and event.row < len(self.queue_df):
            self.select(int(self.queue_df.iloc[event.row]["id"]))

    def _do_select(self, ticket_id: int) -> None:
        from spatial.tickets import dispatch

        show(self.alert, "")
        with Timer() as t, db() as s:
            try:
                ticket_queries.check_in_scope(s, self.principal, ticket_id)
            except OneMapError as exc:
                self.ticket_info.object = html.escape(exc.message)
                return
            brief = mapdata.ticket_brief(s, ticket_id)
            cands = dispatch.candidates(s, ticket_id, k=self.k.value) if brief else []
            why = (dispatch.availability(s, ticket_id)["message"]
                   if brief and not cands and brief["status"] in mapdata.QUEUE_STATES else "")
        self.selected = ticket_id
        self.candidates = cands
        self.last_click_ms = t.ms
        if brief is None:
            self.ticket_info.object = f"Ticket {ticket_id} no longer exists."
            self.incident.set_ticket(None)
            return
        self.incident.set_ticket(ticket_id, brief.get("category"))
        due = brief["accept_due_at"] if brief["status"] == "reported" else brief["resolve_due_at"]
        self.ticket_info.object = (
            f"<b>#{brief['id']}</b> {html.escape(brief['category_name'])} &mdash; <b>{brief['status']}</b><br/>"
            f"{html.escape(brief['grid'] or '')} {html.escape(brief['address'] or '')}<br/>"
            f"due {due:%Y-%m-%d %H:%M} UTC" + (f"<br/>assigned to {brief['worker']}" if brief["worker"] else ""))
        self._render_candidates(brief, why)
        # send the list first, redraw the map on the next tick (the map update is the heavier one)
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(self._draw)
        else:
            self._draw()
        self.status.object = f"ticket #{ticket_id}: {len(cands)} candidates in {t.ms:.0f} ms"

    def _render_candidates(self, brief: dict, why: str = "") -> None:
        """Patch the pre-built rows: text, button label, worker id (in the button's tags), visibility."""
        dispatchable = brief["status"] in mapdata.QUEUE_STATES
        if not dispatchable:
            self._message(f"Ticket is {brief['status']}; nothing to dispatch.", "info")
        elif not self.candidates:
            self._message(why or "No available worker.", "warning")
        else:
            self._message("")
        for i, (text, btn, row) in enumerate(self.cand_rows):
            if i >= len(self.candidates):
                row.visible = False
                continue
            c = self.candidates[i]
            travel = f", {c.travel_time_s / 60:.0f} min drive" if c.travel_time_s else ""
            text.object = (f"<b>{i + 1}. {html.escape(c.code)}</b> {html.escape(c.name)}<br/>"
                           f"{c.distance_m:,.0f} m{travel}, fix {c.fix_age_s:.0f} s old, "
                           f"load {c.workload}/{c.max_workload}"
                           + ("" if c.skill_match else " <i>(no skill match)</i>"))
            btn.name = f"Assign {c.code}"
            btn.tags = [int(brief["id"]), int(c.worker_id)]
            btn.disabled = not dispatchable
            row.visible = True

    def _message(self, text: str, kind: str = "info") -> None:
        self.cand_msg.object = text
        self.cand_msg.alert_type = kind
        self.cand_msg.visible = bool(text)

    def _on_assign_button(self, event) -> None:
        tags = event.obj.tags
        if len(tags) == 2:
            self.assign(*tags)

    def _do_assign(self, ticket_id: int, worker_id: int) -> None:
        from spatial.tickets import dispatch

        with Timer() as t, db() as s:
            ticket_queries.check_in_scope(s, self.principal, ticket_id)  # the server refuses what the UI hides
            audit.bind(s, self.principal, ip=client_ip(), request="app: assign")
            ticket = dispatch.assign(s, ticket_id, worker_id, actor=self.principal.actor, role=self.principal.role)
            status = ticket.status
        self.recent[ticket_id] = status
        self.candidates = []
        for _, btn, row in self.cand_rows:
            row.visible = False
            btn.tags = []
        self._message(f"Ticket #{ticket_id} {status}: assigned to worker {worker_id}.", "success")
        show(self.alert, "")
        self.refresh()
        self.ticket_info.object = f"<b>#{ticket_id}</b> &mdash; <b>{status}</b>"
        self.status.object += f"; assigned in {t.ms:.0f} ms"
