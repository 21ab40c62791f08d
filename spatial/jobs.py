"""Periodic tasks inside the one server process.

:func:`install` wraps the app's lifespan so that, while the server runs, each
job in :func:`scheduled_jobs` runs every ``period`` seconds in a worker
thread, each run in its own committed transaction:

=================  ===========================================  ==============================
job                what                                         period (setting, 0 = off)
=================  ===========================================  ==============================
``sla``            deadline sweep and escalation (spatial.sla)  ``ONEMAP_SLA_SWEEP_SECONDS``
``sensors``        offline / inactivity alerts (spatial.rules)  ``ONEMAP_SENSOR_CHECK_SECONDS``
``retention``      prune GPS history (spatial.positions)        ``ONEMAP_RETENTION_SWEEP_SECONDS``
``demo_positions`` move on-duty demo workers (data.simulate)    ``ONEMAP_DEMO_SIMULATE_SECONDS``
=================  ===========================================  ==============================

A failed run is logged and retried at the next period; the last result of a
job is kept in ``app.state.<name>_last``. At start-up a daemon thread also
compiles (or loads from numba's cache) the flood kernels
(``ONEMAP_FLOOD_WARMUP``), so the planner's first forecast does not pay ~8 s
of compilation; its timings land in ``app.state.flood_warmup``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.orm import Session

from spatial.settings import get_settings

log = logging.getLogger("onemap.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    period_s: float
    run: Callable[[Session], object]


def _sla(session: Session) -> dict:
    from spatial import sla

    return sla.sweep(session)


def _sensors(session: Session) -> dict:
    from spatial import rules

    return rules.check_offline(session)


def _retention(session: Session) -> int:
    from spatial import positions

    return positions.prune_positions(session)


def _demo_positions(session: Session) -> int:
    from data import simulate

    return simulate.step_positions(session)


def scheduled_jobs() -> list[Job]:
    """The jobs enabled by the current settings."""
    s = get_settings()
    jobs = [
        Job("sla", s.sla_sweep_seconds, _sla),
        Job("sensors", s.sensor_check_seconds, _sensors),
        Job("retention", s.retention_sweep_seconds, _retention),
        Job("demo_positions", s.demo_simulate_seconds, _demo_positions),
    ]
    return [j for j in jobs if j.period_s > 0]


def run_once(job: Job) -> object:
    """One run of ``job`` in its own committed transaction."""
    from spatial.db import session_scope

    with session_scope() as session:
        return job.run(session)


def run_sla_sweep_once() -> dict:
    """One SLA sweep in its own committed transaction."""
    return run_once(Job("sla", 0, _sla))  # type: ignore[return-value]


async def _loop(app: FastAPI, job: Job) -> None:
    while True:
        await asyncio.sleep(job.period_s)
        try:
            result = await asyncio.to_thread(run_once, job)
            setattr(app.state, f"{job.name}_last", result)
            log.debug("job %s: %s", job.name, result)
        except asyncio.CancelledError:
            raise
        except Exception:  # keep the server up; try again next period
            log.exception("job %s failed", job.name)


def _warm_flood(app: FastAPI) -> None:
    try:
        import flood_model

        app.state.flood_warmup = flood_model.warmup()
        log.info("flood kernels ready: %s", app.state.flood_warmup)
    except Exception:  # the planner still works, it just compiles on first use
        log.exception("flood warm-up failed")


def install(app: FastAPI) -> None:
    """Run the periodic jobs for the lifetime of ``app`` (called by ``create_app(background=True)``)."""
    jobs = scheduled_jobs()
    warm = get_settings().flood_warmup
    if not jobs and not warm:
        return
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a) -> AsyncIterator:
        if warm:
            threading.Thread(target=_warm_flood, args=(app,), name="onemap-flood-warmup", daemon=True).start()
        tasks = [asyncio.create_task(_loop(app, j), name=f"onemap-{j.name}") for j in jobs]
        try:
            async with inner(a) as state:
                yield state
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    app.router.lifespan_context = lifespan
