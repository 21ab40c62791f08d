"""The HTTP API of the one server (FastAPI): every router, listed explicitly.

:func:`create_api` builds the API with its routers and, when ``background``,
the periodic jobs (``spatial.api.jobs``), and keeps secrets out of the access
log (``spatial.api.access_log``). The Panel one-map app is mounted on it
by the composition root, ``app.create_server()`` (``onemap serve``); the core
never imports the app. Every router is mounted with
``spatial.api.deps.commit_before_response``: a 2xx answer means its transaction is committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Depends, FastAPI

from spatial.api import (
    access_log,
    citizen,
    dispatch,
    exports,
    flood,
    incidents,
    jobs,
    media,
    messages,
    ogc,
    open311,
    protect,
    sensors,
    signin,
    sso,
    tickets,
    tiles,
    video,
)
from spatial.api import map as map_routes
from spatial.api.boundary import InputBoundary
from spatial.api.deps import commit_before_response, install_error_handlers
from spatial.api.protect import Protection, SignInGate

#: Every router of the API, in the order they are mounted.
ROUTERS: tuple[APIRouter, ...] = (signin.router, sso.router, tickets.router, open311.router, dispatch.router,
                                  sensors.router, map_routes.router, exports.router, tiles.router, flood.router,
                                  media.router, citizen.router, messages.router, incidents.router, video.router)


def create_api(*, background: bool = True, extra_jobs: Sequence[jobs.Job] = (),
               signed_in_only: tuple[str, ...] = ()) -> FastAPI:
    """The FastAPI app with every router; ``background`` runs the periodic jobs (plus ``extra_jobs``).

    ``signed_in_only``: path prefixes (the app's ``/app``) that need a sign-in session.
    """
    api = FastAPI(title="OneMap", version="0.1.0",
                  description="City district operations: tickets (Open311 GeoReport v2), dispatch, sensors.")
    install_error_handlers(api)
    protect.install_cors(api)
    if signed_in_only:
        api.add_middleware(SignInGate, prefixes=signed_in_only)
    api.add_middleware(Protection)  # rate limits, security headers
    api.add_middleware(InputBoundary)  # added last: runs first
    access_log.install()  # no api_key or token in the access log

    @api.get("/health", tags=["meta"])
    def health() -> dict:
        return {"status": "ok"}

    # Every route commits its transaction before its response is sent: a 2xx means committed.
    commit = Depends(commit_before_response, scope="function")
    for router in ROUTERS:
        api.include_router(router, dependencies=[commit])
    ogc.install(api)  # OGC API – Features and Tiles at /ogc (tipg), same sign-in rules
    if background:
        jobs.install(api, extra=extra_jobs)
    return api
