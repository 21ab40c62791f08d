"""Sensor readings ingest benchmark: the service path, the MQTT path, and the cost of firing rules.

Builds a separate database ``onemap_bench_sensors`` on the same cluster with
the small test district and ``--sensors`` water-level sensors (thresholds
0.15/0.30/0.50 m, rate-of-rise rule on), then:

1. ``spatial.sensors.readings.ingest_readings`` in batches of ``--batch`` readings, one
   transaction per batch (as the API and the MQTT subscriber do), readings at
   1-minute steps spread over every sensor; quiet water (below every
   threshold) -> readings/s;
2. the same with 5 % of sensors rising through yellow, orange and red
   (alerts, messages and tickets written in the same transactions);
3. re-sending a batch already stored (duplicates: ON CONFLICT no-ops);
4. end to end through a private Mosquitto: ``--mqtt`` readings published as
   JSON lists of 50 per message on ``onemap/sensors/{code}/readings`` (QoS 1),
   timed from the first publish until the last row is committed.

Run: ``.venv/bin/python bench/bench_readings.py [--sensors 1000] [--steps 100] [--batch 5000] [--mqtt 50000]``
Prints a Markdown table (copied into docs/sensors.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from spatial.db import migrate
from spatial.db.engine import drop_database, get_engine
from spatial.models import Sensor
from spatial.sensors import readings
from spatial.settings import get_settings

DB = "onemap_bench_sensors"
THRESHOLDS = {"yellow": 0.15, "orange": 0.30, "red": 0.50, "hysteresis": 0.05, "min_duration_s": 120,
              "rate_of_rise_per_h": 0.3, "offline_after_s": 1800, "valid_min": -1, "valid_max": 20,
              "category": "waterlogging"}


def _setup(n_sensors: int) -> str:
    from tests.district import seed_small_district

    url = get_settings().sqlalchemy_url(DB)
    drop_database(url)
    migrate.upgrade(url)
    eng = get_engine(url)
    rng = np.random.default_rng(7)
    with Session(eng) as s:
        district = seed_small_district(s)
        s.execute(sa.insert(Sensor), [dict(
            code=f"WL-{i:05d}", sensor_type="water_level", name=f"Water level {i}", unit="m",
            geom=f"SRID=4326;POINT({113.401 + 0.078 * rng.random()} {23.081 + 0.078 * rng.random()})",
            thresholds=THRESHOLDS, grid_id=None) for i in range(n_sensors)])
        s.commit()
        assert district
    return url


def _series(n_sensors: int, steps: int, t0: datetime, *, rising_frac: float, rng) -> list[dict]:
    rising = set(rng.choice(n_sensors, size=int(n_sensors * rising_frac), replace=False).tolist())
    out = []
    for k in range(steps):
        t = (t0 + timedelta(minutes=k)).isoformat()
        for i in range(n_sensors):
            v = 0.02 * k if i in rising else 0.03 + 0.01 * rng.random()
            out.append({"sensor": f"WL-{i:05d}", "t": t, "v": round(min(v, 0.8), 3)})
    return out


def _ingest(url: str, rows: list[dict], batch: int) -> tuple[float, dict]:
    eng = get_engine(url)
    totals: dict = {}
    t = time.perf_counter()
    for start in range(0, len(rows), batch):
        with Session(eng) as s:
            res = readings.ingest_readings(s, rows[start:start + batch])
            s.commit()
        for k, v in res.items():
            totals[k] = totals.get(k, 0) + (len(v) if isinstance(v, list) else v)
    return time.perf_counter() - t, totals


def _mqtt(url: str, n: int, n_sensors: int, t0: datetime) -> tuple[float, int]:
    import paho.mqtt.client as mqttc

    from spatial.sensors import mqtt

    eng = get_engine(url)
    with eng.begin() as c:
        before = c.scalar(sa.text("SELECT count(*) FROM sensor_reading"))
    broker = mqtt.start_broker()
    sub = mqtt.Subscriber(host=broker.host, port=broker.port, url=url, batch_ms=200, batch_max=500).start()
    pub = mqttc.Client(mqttc.CallbackAPIVersion.VERSION2, client_id="bench-pub")
    pub.max_inflight_messages_set(1000)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    per_msg = 50
    steps = max(1, n // n_sensors)
    t = time.perf_counter()
    sent = 0
    infos = []
    for i in range(n_sensors):
        code = f"WL-{i:05d}"
        for k0 in range(0, steps, per_msg):
            body = [{"t": (t0 + timedelta(minutes=k)).isoformat(), "v": 0.04}
                    for k in range(k0, min(steps, k0 + per_msg))]
            infos.append(pub.publish(f"onemap/sensors/{code}/readings", json.dumps(body), qos=1))
            sent += len(body)
    for info in infos:
        info.wait_for_publish(60)
    deadline = time.monotonic() + 300
    got = 0
    while time.monotonic() < deadline:
        with eng.begin() as c:
            got = c.scalar(sa.text("SELECT count(*) FROM sensor_reading")) - before
        if got >= sent:
            break
        time.sleep(0.05)
    dt = time.perf_counter() - t
    pub.loop_stop()
    pub.disconnect()
    sub.stop()
    broker.stop()
    return dt, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100, help="readings per sensor (1-minute steps)")
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--mqtt", type=int, default=50_000, help="readings through MQTT (0 = skip)")
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    url = _setup(args.sensors)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    t0 = now - timedelta(days=2)
    rows = []
    quiet = _series(args.sensors, args.steps, t0, rising_frac=0.0, rng=rng)
    dt, tot = _ingest(url, quiet, args.batch)
    rows.append(("quiet water, no rule fires", len(quiet), dt, tot))
    busy = _series(args.sensors, args.steps, t0 + timedelta(hours=6), rising_frac=0.05, rng=rng)
    dt, tot = _ingest(url, busy, args.batch)
    rows.append(("5 % of sensors rising to red (alerts, messages, tickets)", len(busy), dt, tot))
    dup = busy[: args.batch * 4]
    dt, tot = _ingest(url, dup, args.batch)
    rows.append(("re-sent readings (all duplicates)", len(dup), dt, tot))
    print(f"\n{args.sensors} water-level sensors, batches of {args.batch}, one transaction per batch, "
          f"{datetime.now(UTC):%Y-%m-%d}\n")
    print("| case | readings | seconds | readings/s | alerts raised | escalations | tickets |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, dt, tot in rows:
        print(f"| {name} | {n:,} | {dt:.2f} | {n / dt:,.0f} | {tot.get('alerts_raised', 0)} | "
              f"{tot.get('alerts_escalated', 0)} | {tot.get('tickets', 0)} |")
    if args.mqtt:
        dt, got = _mqtt(url, args.mqtt, args.sensors, t0 + timedelta(hours=12))
        print(f"| MQTT end to end (lists of 50 per message, QoS 1) | {got:,} | {dt:.2f} | {got / dt:,.0f} "
              "| - | - | - |")


if __name__ == "__main__":
    main()
