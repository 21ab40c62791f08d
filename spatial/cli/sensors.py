"""CLI of the perception loop: ``onemap sensors``, ``onemap mqtt``, ``onemap hotspots``, ``onemap cameras``.

Each command runs in one transaction (``spatial.db.engine.session_scope``): a
refused import writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time

import pandas as pd

from spatial.clock import parse_day
from spatial.db.engine import session_scope
from spatial.errors import ImportDataError
from spatial.sensors import cameras, hotspots, mqtt, readings, rules


def _import(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        df = pd.read_csv(args.path, dtype={"sensor": str, "sensor_code": str, "unit": str})
    except (OSError, ValueError) as exc:
        raise ImportDataError(f"Cannot read {args.path}: {exc}") from exc
    if not {"t", "time", "observed_at"} & set(df.columns) or not {"v", "value"} & set(df.columns):
        raise ImportDataError("The CSV needs columns sensor (or sensor_id), t and v (and optionally unit).")
    totals: dict = {}
    with session_scope() as session:
        for start in range(0, len(df), args.batch):
            res = readings.ingest_readings(session, df.iloc[start:start + args.batch],
                                           strict=not args.skip_invalid)
            for k, v in res.items():
                totals[k] = totals.get(k, 0) + (len(v) if isinstance(v, list) else v)
    dt = time.perf_counter() - t0
    print(json.dumps(totals))
    print(f"imported {totals.get('inserted', 0)} of {len(df)} readings in {dt:.2f} s "
          f"({len(df) / max(dt, 1e-9):,.0f} rows/s)")
    return 0


def _check_offline(args: argparse.Namespace) -> int:
    with session_scope() as session:
        print(json.dumps(rules.check_offline(session)))
    return 0


def _listen(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sub = mqtt.Subscriber(host=args.host, port=args.port, batch_ms=args.batch_ms, batch_max=args.batch_max,
                          client_id=args.client_id, clean_session=False)
    print(f"listening on mqtt://{args.host}:{args.port} topics "
          f"{', '.join(t for t, _ in mqtt.SUBSCRIPTIONS)} (Ctrl-C to stop)")
    with contextlib.suppress(KeyboardInterrupt):
        sub.run_forever()
    print(json.dumps(vars(sub.counters), default=str))
    return 0


def _broker(args: argparse.Namespace) -> int:
    b = mqtt.start_broker(port=args.port)
    print(f"mosquitto on {b.host}:{b.port} (log {b.log_path}); Ctrl-C to stop")
    try:
        while b.proc is not None and b.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        b.stop()
    return 0


def _hotspots(args: argparse.Namespace) -> int:
    as_of = parse_day(args.as_of, "--as-of") if args.as_of else None
    with session_scope() as session:
        df = hotspots.hotspots(session, weeks=args.weeks, baseline_weeks=args.baseline_weeks, alpha=args.alpha,
                               min_count=args.min_count, category=args.category, as_of=as_of)
    if args.json:
        print(json.dumps(hotspots.to_records(df), ensure_ascii=False, indent=1))
    elif df.empty:
        print(f"no hotspots in the {args.weeks} week(s) up to {args.as_of or 'now'}")
    else:
        cols = ["week", "category", "grid_code", "grid_name", "count", "baseline", "ratio", "p_value", "q_value"]
        print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


def _frequent(args: argparse.Namespace) -> int:
    with session_scope() as session:
        rows = cameras.frequent_locations(session, cls=args.cls, days=args.days, by=args.by,
                                          min_count=args.min_count, limit=args.limit)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
        return 0
    if not rows:
        print(f"no recurring {args.cls} locations in the last {args.days:g} days")
    for r in rows:
        print(f"{r['code']:>10}  {r['name'] or '':<24} episodes {r['episodes']:>4}  detections "
              f"{r['detections']:>5}  cameras {r['cameras']:>3}  last {r['last_at']:%Y-%m-%d %H:%M}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the sensors, mqtt, hotspots and cameras command groups."""
    sensors = sub.add_parser("sensors", help="sensor readings and rules").add_subparsers(dest="sensors_command",
                                                                                         required=True)
    imp = sensors.add_parser("import", help="import readings from a CSV (sensor,t,v[,unit])")
    imp.add_argument("path")
    imp.add_argument("--skip-invalid", action="store_true", help="skip bad rows instead of refusing the file")
    imp.add_argument("--batch", type=int, default=20_000, help="rows per ingest batch")
    imp.set_defaults(func=_import)
    sensors.add_parser("check-offline", help="raise offline and inactivity alerts now").set_defaults(
        func=_check_offline)

    mq = sub.add_parser("mqtt", help="MQTT ingest").add_subparsers(dest="mqtt_command", required=True)
    ls = mq.add_parser("listen", help="subscribe to onemap/# and ingest readings and detections")
    ls.add_argument("--host", default="127.0.0.1")
    ls.add_argument("--port", type=int, default=1883)
    ls.add_argument("--batch-ms", type=float, default=200.0)
    ls.add_argument("--batch-max", type=int, default=500)
    ls.add_argument("--client-id", default="onemap-ingest")
    ls.set_defaults(func=_listen)
    br = mq.add_parser("broker", help="run a private mosquitto on 127.0.0.1 (dev)")
    br.add_argument("--port", type=int)
    br.set_defaults(func=_broker)

    hs = sub.add_parser("hotspots", help="high-frequency events per category, grid and week")
    hs.add_argument("--weeks", type=int, default=1, help="recent weeks to evaluate")
    hs.add_argument("--baseline-weeks", type=int, default=8)
    hs.add_argument("--alpha", type=float, default=0.05)
    hs.add_argument("--min-count", type=int, default=5)
    hs.add_argument("--category")
    hs.add_argument("--as-of", help="YYYY-MM-DD: evaluate the weeks up to the end of this local day")
    hs.add_argument("--json", action="store_true")
    hs.set_defaults(func=_hotspots)

    cams = sub.add_parser("cameras", help="camera AI reports").add_subparsers(dest="cameras_command",
                                                                              required=True)
    fr = cams.add_parser("frequent", help="roads or grids where a detection class recurs")
    fr.add_argument("--class", dest="cls", required=True)
    fr.add_argument("--days", type=float, default=30.0)
    fr.add_argument("--by", choices=["road", "grid"], default="road")
    fr.add_argument("--min-count", type=int, default=2)
    fr.add_argument("--limit", type=int, default=50)
    fr.add_argument("--json", action="store_true")
    fr.set_defaults(func=_frequent)
