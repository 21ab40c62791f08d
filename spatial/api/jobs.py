"""Periodic tasks inside the one server process.

:func:`install` wraps the app's lifespan so that, while the server runs, each
job in :func:`scheduled_jobs` runs every ``period`` seconds in a worker
thread, each run in its own committed transaction:

======================  ===================================================  =================================
job                     what                                                 period (setting, 0 = off)
======================  ===================================================  =================================
``sla``                 deadline sweep and escalation (spatial.tickets.sla)  ``ONEMAP_SLA_SWEEP_SECONDS``
``sensors``             offline / inactivity alerts (spatial.sensors.rules)  ``ONEMAP_SENSOR_CHECK_SECONDS``
``incidents``           overdue incident tasks, geofence presences, event    ``ONEMAP_SLA_SWEEP_SECONDS``
                        tags (spatial.incidents.sweep)
``retention``           prune GPS history (spatial.workers.positions)        ``ONEMAP_RETENTION_SWEEP_SECONDS``
``reporter_retention``  blank old reporter contact                           ``ONEMAP_RETENTION_SWEEP_SECONDS``
                        (spatial.tickets.retention)
``flood_watch``         run each new rainfall forecast, publish warnings     ``ONEMAP_FLOOD_WATCH_SECONDS``
                        (spatial.flood.ops.watch_once)
``partitions``          next months' partitions of sensor_reading, drop      ``ONEMAP_RETENTION_SWEEP_SECONDS``
                        months past ONEMAP_READING_RETENTION_DAYS
                        (spatial.db.partitions)
``notify``              deliver the notification outbox: webhooks, e-mail    ``ONEMAP_NOTIFY_SECONDS``
                        (spatial.notify.delivery)
======================  ===================================================  =================================

Jobs with ``at_start`` (both retention jobs) also run once as soon as the
server starts, so personal data past its retention never outlives a restart
by a whole period.

The composition root adds jobs of its own (``app.create_server`` adds
``demo_positions``, moving on-duty demo workers every
``ONEMAP_DEMO_SIMULATE_SECONDS``).

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
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.orm import Session

import flood_model
from spatial.db import partitions
from spatial.db.engine import session_scope
from spatial.flood import ops as flood_ops
from spatial.incidents import sweep as incident_sweep
from spatial.notify import delivery
from spatial.sensors import rules
from spatial.settings import get_settings
from spatial.tickets import retention, sla
from spatial.workers import positions

log = logging.getLogger("onemap.jobs")


@dataclass(frozen=True)
class Job:
    """``run`` every ``period_s`` seconds; first at start-up when ``at_start``, else after one period."""

    name: str
    period_s: float
    run: Callable[[Session], object]
    at_start: bool = False


def scheduled_jobs(extra: Sequence[Job] = ()) -> list[Job]:
    """The jobs enabled by the current settings (period > 0), plus ``extra`` ones."""
    s = get_settings()
    jobs = [
        Job("sla", s.sla_sweep_seconds, sla.sweep),
        Job("incidents", s.sla_sweep_seconds, incident_sweep.run),
        Job("sensors", s.sensor_check_seconds, rules.check_offline),
        Job("retention", s.retention_sweep_seconds, positions.prune_positions, at_start=True),
        Job("reporter_retention", s.retention_sweep_seconds, retention.prune_reporters, at_start=True),
        Job("flood_watch", s.flood_watch_seconds, flood_ops.watch_once, at_start=True),
        Job("partitions", s.retention_sweep_seconds, partitions.maintain, at_start=True),
        Job("notify", s.notify_seconds, delivery.drain, at_start=True),
        *extra,
    ]
    return [j for j in jobs if j.period_s > 0]


def run_once(job: Job) -> object:
    """One run of ``job`` in its own committed transaction."""
    with session_scope() as session:
        return job.run(session)


def run_sla_sweep_once() -> dict:
    """One SLA sweep in its own committed transaction."""
    return run_once(Job("sla", 0, sla.sweep))  # type: ignore[return-value]


async def _loop(app: FastAPI, job: Job) -> None:
    first = True
    while True:
        if not (first and job.at_start):
            await asyncio.sleep(job.period_s)
        first = False
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
        app.state.flood_warmup = flood_model.warmup()
        log.info("flood kernels ready: %s", app.state.flood_warmup)
    except Exception:  # the planner still works, it just compiles on first use
        log.exception("flood warm-up failed")


def install(app: FastAPI, *, extra: Sequence[Job] = ()) -> None:
    """Run the periodic jobs for the lifetime of ``app`` (called by ``create_api(background=True)``)."""
    jobs = scheduled_jobs(extra)
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
