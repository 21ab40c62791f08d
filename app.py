"""Composition root: the one server (API + one-map app + jobs) and the ``onemap`` command.

* :func:`create_app_view` builds one browser session's page for the signed-in
  person (``spatial.accounts``; the ``/app`` paths are behind
  ``spatial.api.protect.SignInGate``): the role comes from the session, and
  ``?role=`` picks among the views the person's roles get
  (``spatial.auth.APP_VIEWS``); the header links switch between those only.
  The views (``views/``) are UI only and act as the person.
* :func:`create_server` is the uvicorn factory of ``onemap serve``: the HTTP
  API (``spatial.api.main.create_api``) with the Panel app mounted at
  ``/app`` (bokeh-fastapi, the same process), ``/`` redirected there, and the
  demo worker simulator added to the periodic jobs when
  ``ONEMAP_DEMO_SIMULATE_SECONDS`` > 0.
* :func:`main` is the ``onemap`` entry point: the core commands of
  ``spatial.cli.main`` plus ``load-demo`` (``data.load``) and ``serve``.

Offline by design: no base map tiles, deck.gl and every script come from the
Panel/Bokeh wheels on this server (the browser tests block every other host).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import time
from collections.abc import Sequence

import panel as pn
import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from panel.io.fastapi import add_applications

from data import accounts as demo_accounts
from data import load as demo_load
from data import simulate
from spatial import accounts
from spatial.api.deps import SESSION_COOKIE
from spatial.api.jobs import Job
from spatial.api.main import create_api
from spatial.auth import views_for
from spatial.cli import main as core_cli
from spatial.db import migrate
from spatial.db.engine import session_scope
from spatial.db.profile import app_profile
from spatial.maps import live
from spatial.settings import get_settings
from views.audit import AuditView
from views.common import CSS
from views.dispatcher import DispatcherView
from views.leadership import LeadershipView
from views.planner import PlannerView
from views.wall import CSS as WALL_CSS
from views.wall import WallView

ROLES: dict[str, str] = {"Leadership": "leadership", "Dispatcher": "dispatcher", "Planner": "planner",
                         "Audit": "audit"}

#: The view class of each app view (who gets which: ``spatial.auth.APP_VIEWS``).
VIEWS = {"leadership": LeadershipView, "dispatcher": DispatcherView, "planner": PlannerView, "audit": AuditView}

#: Panel extensions each view needs (only these are loaded: less JS, faster first paint).
EXTENSIONS: dict[str, tuple[str, ...]] = {"leadership": ("deckgl",), "dispatcher": ("deckgl", "tabulator"),
                                          "planner": ("deckgl", "tabulator"), "audit": ("tabulator",)}
#: The role a person acts in on each view.
VIEW_ROLE = {"leadership": "leadership", "dispatcher": "dispatcher", "planner": "planner", "audit": "admin"}


def _header(current: str, views: list[str], signed: accounts.SignedIn, csrf: str) -> pn.pane.HTML:
    """Header links to the views the person may open (a full page load each), their name, account, sign-out."""
    items = []
    for label, view in ROLES.items():
        if view not in views:
            continue
        style = ("background:#fff;color:#1d3557;font-weight:600" if view == current
                 else "color:#fff;border:1px solid rgba(255,255,255,.5)")
        items.append(f'<a href="?role={view}" style="{style};padding:6px 14px;border-radius:4px;'
                     f'text-decoration:none;margin-right:8px;font-size:14px">{label}</a>')
    who = html.escape(signed.display_name or signed.username)
    items.append(f'<span style="color:#fff;margin:0 10px 0 24px;font-size:14px" class="om-user">{who}</span>'
                 '<a href="/account" style="color:#fff;font-size:13px;margin-right:10px">Account</a>'
                 '<form method="post" action="/logout" style="display:inline">'
                 f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
                 '<button type="submit" class="om-signout" style="background:none;border:1px solid '
                 'rgba(255,255,255,.6);color:#fff;border-radius:4px;padding:4px 10px;cursor:pointer">'
                 'Sign out</button></form>')
    return pn.pane.HTML("".join(items), margin=(12, 20))


def _no_view(signed: accounts.SignedIn | None) -> pn.template.BootstrapTemplate:
    pn.extension(raw_css=[CSS], notifications=False)
    text = ("Your session has ended: <a href='/login?next=/app'>sign in again</a>." if signed is None else
            f"Your role(s) ({html.escape(', '.join(signed.roles))}) have no view in the one-map app. "
            "<form method='post' action='/logout'><input type='hidden' name='csrf' "
            f"value='{html.escape(signed.csrf)}'><button type='submit'>Sign out</button></form>")
    return pn.template.BootstrapTemplate(title="OneMap", main=[pn.pane.HTML(f"<p style='font-size:16px'>{text}</p>")],
                                         header_background="#1d3557")


def _session_arg(name: str) -> str | None:
    args = pn.state.session_args or {}
    raw = (args.get(name) or [None])[0]
    return raw.decode() if isinstance(raw, bytes) else raw


def create_app_view(role: str | None = None) -> pn.template.BootstrapTemplate:
    """Build the page for one browser session of the signed-in person.

    Parameters
    ----------
    role : str, optional
        The view to open (``leadership``, ``dispatcher``, ``planner``,
        ``audit``); read from ``?role=`` when not given. Only views the
        person's roles get (``spatial.auth.APP_VIEWS``) open; otherwise their
        first one does.
    """
    cookie = (pn.state.cookies or {}).get(SESSION_COOKIE)
    with session_scope() as s:
        signed = accounts.signed_in(s, cookie)
    views = views_for(signed.roles) if signed else []
    if not views:
        return _no_view(signed)
    view_name = role or _session_arg("role")
    if view_name not in views:
        view_name = views[0]
    acting = VIEW_ROLE[view_name] if VIEW_ROLE[view_name] in signed.roles else "admin"
    principal = signed.principal(acting)
    pn.extension(*EXTENSIONS[view_name], raw_css=[CSS], notifications=False)
    view = VIEWS[view_name](principal)
    district = app_profile()
    name = district.spec.name if district.stored else "OneMap"
    title = f"{name} - {next(k for k, v in ROLES.items() if v == view_name)}"
    return pn.template.BootstrapTemplate(title=title, sidebar=list(view.sidebar()), main=[view.main()],
                                         header=[_header(view_name, views, signed, signed.csrf)], sidebar_width=240,
                                         header_background="#1d3557")


#: Roles that may open the big screen (it plays camera streams: ``spatial.privacy.STREAM_ROLES``).
WALL_ROLES = frozenset({"wall", "leadership", "admin"})


def create_wall_view() -> pn.viewable.Viewable:
    """The command centre's big screen (``/wall``, role ``wall``): read-only, no controls (``views.wall``).

    Signed-in people only (the gate sends others to ``/login``), and only with a role in :data:`WALL_ROLES`.
    """
    cookie = (pn.state.cookies or {}).get(SESSION_COOKIE)
    with session_scope() as s:
        signed = accounts.signed_in(s, cookie)
    if signed is None or not WALL_ROLES & set(signed.roles):
        return _no_view(signed)
    pn.extension("deckgl", raw_css=[WALL_CSS], notifications=False)
    return WallView().page()


def mount_panel(api: FastAPI) -> None:
    """Mount the app at ``/app`` and the wall at ``/wall`` (signed-in people only) on the FastAPI server and
    redirect ``/`` there."""
    add_applications({"/app": create_app_view, "/wall": create_wall_view}, app=api, title="OneMap")

    @api.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/app")


def demo_jobs() -> list[Job]:
    """Demo mode: keep on-duty demo workers moving (``ONEMAP_DEMO_SIMULATE_SECONDS``, 0 = off)."""
    return [Job("demo_positions", get_settings().demo_simulate_seconds, simulate.step_positions)]


def create_server(*, with_panel: bool = True, background: bool = True) -> FastAPI:
    """The one server: API, the one-map app at ``/app`` (``with_panel``) and the periodic jobs."""
    api = create_api(background=background, extra_jobs=demo_jobs(),
                     signed_in_only=("/app", "/wall") if with_panel else ())
    if with_panel:
        live.install(api)  # the one LISTEN connection that feeds the open sessions
        mount_panel(api)
    return api


def _load_demo(args: argparse.Namespace) -> int:
    migrate.upgrade()
    t0 = time.perf_counter()
    summary = demo_load.load_demo(seed=args.seed, tickets=args.tickets, replace=not args.keep)
    print(json.dumps(summary, indent=2, default=str))
    print(f"demo district loaded in {time.perf_counter() - t0:.1f} s")
    print(f"demo accounts ({', '.join(summary['accounts'])}), all with the password "
          f"{demo_accounts.demo_password()!r}: sign in at /login (README 'Demo accounts')")
    return 0


def _serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    have, want = migrate.current(), migrate.head()
    if have != want:  # a server on an older schema fails on the first query that needs the new columns
        print(f"the database schema is at revision {have or 'none'}, this code needs {want}: "
              "run `onemap db migrate` (or `onemap db up`) first", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"OneMap on http://{host}:{port}/  (app at /app, API docs at /docs)")
    uvicorn.run(create_server, factory=True, host=host, port=port, log_level="info")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The commands that need the demo data or the app: ``load-demo`` and ``serve``."""
    ld = sub.add_parser("load-demo", help="generate and load the demo district")
    ld.add_argument("--seed", type=int, default=42)
    ld.add_argument("--tickets", type=int, default=20_000)
    ld.add_argument("--keep", action="store_true", help="do not clear existing data first")
    ld.set_defaults(func=_load_demo)

    sv = sub.add_parser("serve", help="serve the HTTP API and the one-map app")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.set_defaults(func=_serve)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``onemap`` command (entry point)."""
    return core_cli.main(argv, extra=(add_commands,))


if __name__ == "__main__":
    sys.exit(main())
