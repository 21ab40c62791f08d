"""Periodic tasks inside the one server process.

:func:`install` wraps the app's lifespan so that, while the server runs, the
SLA deadline sweep (``spatial.sla.sweep``) runs every
``Settings.sla_sweep_seconds`` seconds (0 switches it off) in a worker thread,
each run in its own transaction. A failed run is logged and retried at the
next period; the last result is kept in ``app.state.sla_last``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from spatial.settings import get_settings

log = logging.getLogger("onemap.jobs")


def run_sla_sweep_once() -> dict:
    """One sweep in its own committed transaction."""
    from spatial import sla
    from spatial.db import session_scope

    with session_scope() as session:
        return sla.sweep(session)


async def _sla_loop(app: FastAPI, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)
        try:
            app.state.sla_last = await asyncio.to_thread(run_sla_sweep_once)
            counts = app.state.sla_last
            if any(counts[k] for k in ("accept_overdue", "resolve_overdue", "escalated_street",
                                       "escalated_district")):
                log.info("SLA sweep: %s", counts)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the server up; try again next period
            log.exception("SLA sweep failed")


def install(app: FastAPI) -> None:
    """Run the periodic jobs for the lifetime of ``app`` (called by ``create_app(background=True)``)."""
    period = get_settings().sla_sweep_seconds
    if period <= 0:
        return
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a) -> AsyncIterator:
        task = asyncio.create_task(_sla_loop(app, float(period)), name="onemap-sla-sweep")
        try:
            async with inner(a) as state:
                yield state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.router.lifespan_context = lifespan
