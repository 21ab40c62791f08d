"""The one-map app: three roles on one Panel page, served by the one FastAPI server.

Composition only; the views live in ``_app_leadership.py``,
``_app_dispatcher.py`` and ``_app_planner.py``, the pure layer builders in
``layers/``, the queries in ``spatial.mapdata``.

* ``mount_panel(api)`` mounts the app at ``/app`` (bokeh-fastapi, the same
  uvicorn process as the HTTP API) and redirects ``/`` to it.
* ``create_app_view()`` builds one browser session's page; ``/app?role=dispatcher``
  (or ``leadership``, ``planner``) opens a role directly.

Offline by design: no base map tiles, deck.gl and every script come from the
Panel/Bokeh wheels on this server (the browser tests block every other host).
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from _app_common import CSS

ROLES: dict[str, str] = {"Leadership": "leadership", "Dispatcher": "dispatcher", "Planner": "planner"}


def _factories() -> dict[str, Callable]:
    from _app_dispatcher import DispatcherView
    from _app_leadership import LeadershipView
    from _app_planner import PlannerView

    return {"leadership": LeadershipView, "dispatcher": DispatcherView, "planner": PlannerView}


def create_app_view(role: str | None = None) -> pn.template.BootstrapTemplate:
    """Build the page for one browser session.

    Parameters
    ----------
    role : str, optional
        ``leadership`` (default), ``dispatcher`` or ``planner``; read from the
        ``?role=`` query parameter when not given.
    """
    pn.extension("deckgl", "tabulator", raw_css=[CSS], notifications=False)
    if role is None:
        args = pn.state.session_args or {}
        raw = (args.get("role") or [b"leadership"])[0]
        role = raw.decode() if isinstance(raw, bytes) else str(raw)
    if role not in ROLES.values():
        role = "leadership"
    factories = _factories()
    views: dict = {}
    sidebar = pn.Column(sizing_mode="stretch_width")
    main = pn.Column(sizing_mode="stretch_both")
    picker = pn.widgets.RadioButtonGroup(options=ROLES, value=role, button_type="light", margin=(8, 20),
                                         width=360)

    def show_role(r: str) -> None:
        if r not in views:
            views[r] = factories[r]()
        v = views[r]
        sidebar.objects = list(v.sidebar())
        main.objects = [v.main()]

    picker.param.watch(lambda e: show_role(e.new), "value")
    show_role(role)
    tpl = pn.template.BootstrapTemplate(title="OneMap", sidebar=[sidebar], main=[main], header=[picker],
                                        sidebar_width=240, header_background="#1d3557")
    return tpl


def mount_panel(api: FastAPI) -> None:
    """Mount the app at ``/app`` on the FastAPI server and redirect ``/`` there."""
    from panel.io.fastapi import add_applications

    add_applications({"/app": create_app_view}, app=api, title="OneMap")

    @api.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/app")
