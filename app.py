"""The one-map app: three roles on one Panel page, served by the one FastAPI server.

Composition only; the views live in ``_app_leadership.py``,
``_app_dispatcher.py`` and ``_app_planner.py``, the pure layer builders in
``layers/``, the queries in ``spatial.mapdata``.

* ``mount_panel(api)`` mounts the app at ``/app`` (bokeh-fastapi, the same
  uvicorn process as the HTTP API) and redirects ``/`` to it.
* ``create_app_view()`` builds one browser session's page for one role:
  ``/app?role=leadership`` (default), ``dispatcher`` or ``planner``; the header links switch roles.

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


#: Panel extensions each role needs (only these are loaded: less JS, faster first paint).
EXTENSIONS: dict[str, tuple[str, ...]] = {"leadership": ("deckgl",), "dispatcher": ("deckgl", "tabulator"),
                                          "planner": ("deckgl", "tabulator")}


def _role_links(current: str) -> pn.pane.HTML:
    """Header links to the three roles (a full page load each: a role loads only its own components)."""
    items = []
    for label, role in ROLES.items():
        style = ("background:#fff;color:#1d3557;font-weight:600" if role == current
                 else "color:#fff;border:1px solid rgba(255,255,255,.5)")
        items.append(f'<a href="?role={role}" style="{style};padding:6px 14px;border-radius:4px;'
                     f'text-decoration:none;margin-right:8px;font-size:14px">{label}</a>')
    return pn.pane.HTML("".join(items), margin=(12, 20))


def create_app_view(role: str | None = None) -> pn.template.BootstrapTemplate:
    """Build the page for one browser session.

    Parameters
    ----------
    role : str, optional
        ``leadership`` (default), ``dispatcher`` or ``planner``; read from the
        ``?role=`` query parameter when not given.
    """
    if role is None:
        args = pn.state.session_args or {}
        raw = (args.get("role") or [b"leadership"])[0]
        role = raw.decode() if isinstance(raw, bytes) else str(raw)
    if role not in ROLES.values():
        role = "leadership"
    pn.extension(*EXTENSIONS[role], raw_css=[CSS], notifications=False)
    view = _factories()[role]()
    title = f"OneMap - {next(k for k, v in ROLES.items() if v == role)}"
    return pn.template.BootstrapTemplate(title=title, sidebar=list(view.sidebar()), main=[view.main()],
                                         header=[_role_links(role)], sidebar_width=240,
                                         header_background="#1d3557")


def mount_panel(api: FastAPI) -> None:
    """Mount the app at ``/app`` on the FastAPI server and redirect ``/`` there."""
    from panel.io.fastapi import add_applications

    add_applications({"/app": create_app_view}, app=api, title="OneMap")

    @api.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/app")
