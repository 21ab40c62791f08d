"""The one server process: HTTP API (FastAPI) plus the Panel one-map app.

``create_app()`` is a factory for uvicorn (``onemap serve``). Feature modules
contribute routers through :data:`ROUTERS` (each module exposes ``router``);
the Panel app is mounted by ``app.mount_panel(api)`` when ``app.py`` provides
it. Background jobs (deadline sweep) start with the server.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from spatial.web import install_error_handlers

#: Modules exposing a FastAPI ``router``.
ROUTERS = (
    "spatial.api_tickets",
    "spatial.api_open311",
    "spatial.api_dispatch",
    "spatial.api_sensors",
    "spatial.api_map",
)


def _optional(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def create_app(*, with_panel: bool = True, background: bool = True) -> FastAPI:
    """Build the FastAPI app; ``with_panel`` mounts the one-map app at /app."""
    api = FastAPI(title="OneMap", version="0.1.0",
                  description="City district operations: tickets (Open311 GeoReport v2), dispatch, sensors.")
    install_error_handlers(api)

    @api.get("/health", tags=["meta"])
    def health() -> dict:
        return {"status": "ok"}

    for name in ROUTERS:
        mod = _optional(name)
        if mod is not None:
            api.include_router(mod.router)

    if background:
        jobs = _optional("spatial.jobs")
        if jobs is not None:
            jobs.install(api)

    if with_panel:
        app_mod = _optional("app")
        if app_mod is not None and hasattr(app_mod, "mount_panel"):
            app_mod.mount_panel(api)
    return api
