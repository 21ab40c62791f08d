"""Concurrent ingest of the same sensor over separate connections: one alert, one ticket."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.models import Alert, Ticket
from spatial.sensors import readings, rules
from tests.district import seed_small_district
from tests.sensors.conftest import at, seed_sensors


def _run_parallel(engine, jobs) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(job) -> None:
        try:
            with Session(engine) as s:
                barrier.wait()
                job(s)
                s.commit()
        except BaseException as exc:  # pragma: no cover - reported by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_same_readings_from_four_gateways_raise_one_alert_and_one_ticket(committed):
    with Session(committed) as s:
        seed_sensors(s, seed_small_district(s))
        s.commit()
    batch = [{"sensor": "WL-1", "t": at(i).isoformat(), "v": 0.02 * i} for i in range(31)]
    rain = [{"sensor": "RG-1", "t": at(i).isoformat(), "v": 1.0} for i in range(31)]
    jobs = [lambda s: readings.ingest_readings(s, batch + rain)] * 3 + [lambda s: rules.check_offline(s)]
    assert _run_parallel(committed, jobs) == []
    with Session(committed) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Alert).where(Alert.rule == "level")) == 1
        a = s.scalars(sa.select(Alert).where(Alert.rule == "level")).one()
        assert [h["level"] for h in a.data["history"]] == ["yellow", "orange", "red"]
        assert s.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
        assert s.scalar(sa.text("SELECT count(*) FROM sensor_reading")) == 62
