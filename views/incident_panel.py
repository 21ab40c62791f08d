"""The dispatcher's incident panel: declare an incident from the selected ticket, see its impact zone and
the resources nearby, and dispatch every department of its template in one click.

The panel owns two map layers (``incident_zone``, ``resources``) that the dispatcher view draws
(:meth:`IncidentPanel.layers`); everything goes through :mod:`spatial.incidents` in one
transaction per click.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import geopandas as gpd
import panel as pn

from layers.incidents import frame, incident_zones, resource_points
from spatial import audit
from spatial.auth import Principal
from spatial.incidents import incidents
from views.common import Timer, client_ip, db, guarded, show

#: Who acts when the panel is built without a signed-in person (tests of the view alone).
ANONYMOUS = Principal(actor="app:dispatcher", role="dispatcher")


def _min(s: float | None) -> str:
    return "no road" if s is None else f"{s / 60:.1f} min"


class IncidentPanel:
    """Declare, analyse and jointly dispatch an incident for the dispatcher's selected ticket."""

    def __init__(self, alert: pn.pane.Alert, redraw: Callable[[], None], principal: Principal | None = None) -> None:
        self.principal = principal or ANONYMOUS
        self.alert = alert
        self.redraw = redraw
        with db() as s:
            self.types = incidents.incident_types(s)
        self.type = pn.widgets.Select(name="Incident type", width=200,
                                      options={t["name"]: t["code"] for t in self.types})
        self.depts = pn.widgets.CheckBoxGroup(name="Departments", options=[], value=[], inline=True)
        self.declare_btn = pn.widgets.Button(name="Declare incident", button_type="danger", width=200,
                                             disabled=True)
        self.dispatch_btn = pn.widgets.Button(name="Dispatch departments", button_type="primary", width=260,
                                              visible=False)
        self.summary = pn.pane.HTML("", sizing_mode="stretch_width", styles={"font-size": "12px"})
        self.resources_html = pn.pane.HTML("", sizing_mode="stretch_width", styles={"font-size": "12px"})
        self.tasks_html = pn.pane.HTML("", sizing_mode="stretch_width", styles={"font-size": "12px"})
        self.ticket_id: int | None = None
        #: (W, S, E, N) degrees the map should fit once (set when an incident is declared)
        self.focus: tuple[float, float, float, float] | None = None
        self.incident: dict | None = None
        self.nearby: dict | None = None
        self.type.param.watch(lambda e: self._template_departments(), "value")
        g = guarded(alert)
        self.declare_btn.on_click(g(lambda e: self._declare()))
        self.dispatch_btn.on_click(g(lambda e: self._dispatch()))
        self._template_departments()

    def view(self) -> pn.viewable.Viewable:
        return pn.Column("#### Incident", self.type, self.depts, self.declare_btn, self.summary, self.resources_html,
                         self.dispatch_btn, self.tasks_html, sizing_mode="stretch_width",
                         css_classes=["onemap-incident"])

    # ------------------------------------------------------------------ state
    def _template_departments(self) -> None:
        t = next((x for x in self.types if x["code"] == self.type.value), None)
        codes = list(dict.fromkeys(task["department"] for task in (t["tasks"] if t else [])))
        self.depts.options = codes
        self.depts.value = codes
        self.dispatch_btn.name = f"Dispatch {len(codes)} departments"

    def set_ticket(self, ticket_id: int | None, category_code: str | None = None) -> None:
        """Show the open incident of this ticket, or offer to declare one."""
        self.ticket_id = ticket_id
        self.incident = self.nearby = None
        self.summary.object = self.resources_html.object = self.tasks_html.object = ""
        self.dispatch_btn.visible = False
        if ticket_id is None:
            self.declare_btn.disabled = True
            return
        codes = [t["code"] for t in self.types]
        if category_code in codes:
            self.type.value = category_code
        with db() as s:
            open_id = next((i["id"] for i in incidents.list_incidents(s, status="open")
                            if i["source_kind"] == "ticket" and i["source_id"] == ticket_id), None)
            if open_id is not None:
                self._load(s, open_id)
        self.declare_btn.disabled = open_id is not None
        if open_id is not None:
            self._render()

    def _load(self, s, incident_id: int) -> None:
        self.incident = incidents.incident_view(s, incident_id)
        self.impact = incidents.impact(s, incident_id, viewer=self.principal)
        self.nearby = incidents.nearby(s, incident_id, k=3)

    # ------------------------------------------------------------------ actions
    def _declare(self) -> None:
        if self.ticket_id is None:
            return
        with Timer() as t, db() as s:
            audit.bind(s, self.principal, ip=client_ip(), request="app: declare an incident")
            inc = incidents.declare(s, type_code=self.type.value, source_kind="ticket", source_id=self.ticket_id,
                                    actor=self.principal.actor)
            self._load(s, inc.id)
        self.declare_btn.disabled = True
        self.focus = tuple(frame([self.incident]).total_bounds)
        show(self.alert, "")
        self._render(f"declared, zone, impact and resources in {t.ms:.0f} ms")
        self.redraw()

    def _dispatch(self) -> None:
        if self.incident is None:
            return
        chosen = list(self.depts.value)
        if not chosen:
            show(self.alert, "Tick at least one department to dispatch.", "warning")
            return
        with db() as s:
            audit.bind(s, self.principal, ip=client_ip(), request="app: joint dispatch of an incident")
            out = incidents.dispatch(s, self.incident["id"], departments=chosen, actor=self.principal.actor)
            self._load(s, self.incident["id"])
        made = len(out["tasks"])
        skipped = "; ".join(f"{x['department']}: {x['reason']}" for x in out["skipped"])
        self._render()
        self.tasks_html.object = (f"<b>{made} tasks dispatched</b>" + (f" (skipped {html.escape(skipped)})"
                                                                      if skipped else "") + self.tasks_html.object)
        self.redraw()

    # ------------------------------------------------------------------ rendering
    def _render(self, note: str = "") -> None:
        inc, imp, near = self.incident, self.impact, self.nearby
        if inc is None:
            return
        zone = (f"{inc['band_s'] / 60:g} min by road" if inc["zone_kind"] == "isochrone"
                else f"{inc['radius_m']:,.0f} m around")
        b, sens = imp["buildings"], imp["sensitive"]["counts"]
        roads = imp["roads"]["items"][:3]
        road_txt = ", ".join(f"{html.escape(r['name'] or r['code'])}"
                             + (f" (detour {_min(r['detour_s'])})" if r.get("detour_s") else "") for r in roads)
        cams = imp["cameras"]["items"][:3]
        cam_txt = ", ".join(f"<a href='{html.escape(c['stream_url'])}' target='_blank'>{html.escape(c['code'])}</a>"
                            if c.get("stream_url") else html.escape(c["code"]) for c in cams)
        self.summary.object = (
            f"<b>#{inc['id']} {html.escape(inc['title'])}</b> &mdash; level {inc['level']}, {inc['status']}<br/>"
            f"Zone: {zone}<br/>"
            f"<b>{b['count']}</b> buildings, about <b>{b['people']:,}</b> people<br/>"
            f"Sensitive: {sens['school']} schools, {sens['hospital']} hospitals, {sens['care_home']} care homes, "
            f"{sens['elderly_alone']} elderly living alone<br/>"
            f"Roads to close: {imp['roads']['count']} ({imp['roads']['length_m']:,.0f} m) {road_txt}<br/>"
            f"Grids {imp['grids']['count']}, communities {imp['communities']['count']}, "
            f"cameras {imp['cameras']['count']} {cam_txt}, sensors {imp['sensors']['count']}"
            + (f"<br/><i>{note}</i>" if note else ""))
        lines = []
        for d in near["workers"]:
            w = d["workers"][:1]
            who = (f"{html.escape(w[0]['code'])} {html.escape(w[0]['name'])}, {_min(w[0]['travel_time_s'])}"
                   if w else "<i>nobody free</i>")
            lines.append(f"{html.escape(d['department'])}: {who}")
        eq = ", ".join(f"{k} {v['quantity']:g} {v['unit'] or ''} ({v['sites']} sites)"
                       for k, v in near["equipment"]["totals"].items()) or "none within 5 km"
        sh = ", ".join(f"{html.escape(x['name'])} ({x['free'] if x['free'] is not None else '?'} places, "
                       f"{x['distance_m'] / 1000:.1f} km)" for x in near["shelters"][:2]) or "none within 5 km"
        self.resources_html.object = ("<b>Nearest available</b><br/>" + "<br/>".join(lines)
                                      + f"<br/><b>Equipment</b>: {eq}<br/><b>Shelters</b>: {sh}")
        done = {t["department"] for t in inc["tasks"]}
        todo = [c for c in self.depts.value if c not in done]
        self.dispatch_btn.visible = inc["status"] == "open" and bool(todo)
        self.dispatch_btn.name = f"Dispatch {len(todo)} departments"
        self.tasks_html.object = "".join(
            f"<br/>{html.escape(t['department'] or '')}: {html.escape(t['title'])} &mdash; "
            f"lead {html.escape(t['lead_name'] or 'none free')}, due {t['deadline_at']:%H:%M} UTC, {t['status']}"
            for t in inc["tasks"])

    def layers(self) -> dict:
        """``incident_zone`` and ``resources`` layers (None when no incident is shown)."""
        if self.incident is None:
            return {"incident_zone": None, "resources": None}
        zone = incident_zones(frame([self.incident]), layer_id="incident_zone", selected_id=self.incident["id"])
        pts = []
        for d in self.nearby["workers"]:
            for w in d["workers"][:3]:
                pts.append({"kind": "worker", "label": f"{d['department']} {w['code']} {_min(w['travel_time_s'])}",
                            "lon": w["lon"], "lat": w["lat"]})
        for it in self.nearby["equipment"]["items"][:50]:
            pts.append({"kind": "equipment", "label": f"{it['type']} {it['quantity']:g} {it['unit'] or ''}",
                        "lon": it["lon"], "lat": it["lat"]})
        for x in self.nearby["shelters"][:10]:
            pts.append({"kind": "shelter", "label": f"{x['name']} ({x['free']} free)", "lon": x["lon"],
                        "lat": x["lat"]})
        gdf = gpd.GeoDataFrame({"kind": [p["kind"] for p in pts], "label": [p["label"] for p in pts]},
                               geometry=gpd.points_from_xy([p["lon"] for p in pts], [p["lat"] for p in pts]),
                               crs="EPSG:4326")
        return {"incident_zone": zone, "resources": resource_points(gdf) if len(gdf) else None}
