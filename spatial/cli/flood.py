"""``onemap flood``: the model's ``run`` (``flood_model.cli``) plus the operational loop.

``onemap flood watch [--once] [--period S] [--no-publish]``
    take each new forecast from the inbox (``ONEMAP_FLOOD_INBOX``) and run every
    queued one (:func:`spatial.flood.ops.watch_once`), every ``--period`` seconds;
``onemap flood submit PATH [--issued-at T] [--interval S]``
    queue a forecast file or radar folder now;
``onemap flood runs [--limit N]``
    the run history as JSON lines;
``onemap flood confirm RUN_ID`` / ``onemap flood reject RUN_ID``
    decide on a run waiting above the cap.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from flood_model import cli as flood_cli
from spatial.db.engine import session_scope
from spatial.flood import ops as flood_ops
from spatial.settings import get_settings


def _watch(args: argparse.Namespace) -> int:
    period = args.period if args.period is not None else get_settings().flood_watch_seconds or 30
    while True:
        with session_scope() as session:
            out = flood_ops.watch_once(session, publish=not args.no_publish)
        if out.get("queued") or out.get("runs") or out.get("rejected") or args.once:
            print(json.dumps(out, default=str), flush=True)
        if args.once:
            return 0
        time.sleep(period)


def _submit(args: argparse.Namespace) -> int:
    with session_scope() as session:
        run = flood_ops.enqueue(session, Path(args.path), source="cli", issued_at=args.issued_at,
                                interval_s=args.interval)
        print(json.dumps(flood_ops.run_record(run), default=str))
    return 0


def _runs(args: argparse.Namespace) -> int:
    with session_scope() as session:
        for rec in flood_ops.list_runs(session, limit=args.limit):
            print(json.dumps({k: rec[k] for k in ("run_id", "issued_at", "status", "publication",
                                                  "hot_start_from", "error")} | {
                "max_depth_m": rec["outputs"].get("max_depth_m"),
                "grids_at_risk": rec["outputs"].get("grids_at_risk")}, default=str))
    return 0


def _decide(confirm: bool):
    def handler(args: argparse.Namespace) -> int:
        with session_scope() as session:
            rec = flood_ops.decide(session, args.run_id, confirm=confirm, actor=f"cli:{args.actor}")
        print(json.dumps({"run_id": rec["run_id"], "publication": rec["publication"],
                          "publish_result": rec["publish_result"]}, default=str))
        return 0
    return handler


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``flood`` with ``run`` (the model) and ``watch``, ``submit``, ``runs``, ``confirm``, ``reject``."""
    sub = flood_cli.add_parser(subparsers)
    w = sub.add_parser("watch", help="run each new rainfall forecast of the inbox and publish its warnings")
    w.add_argument("--once", action="store_true", help="one pass, then exit")
    w.add_argument("--period", type=float, help="seconds between passes (ONEMAP_FLOOD_WATCH_SECONDS, 30)")
    w.add_argument("--no-publish", action="store_true", help="run and store, publish no warnings")
    w.set_defaults(func=_watch)
    s = sub.add_parser("submit", help="queue a forecast (GeoTIFF, hyetograph CSV or radar folder)")
    s.add_argument("path")
    s.add_argument("--issued-at", help="t = 0 of the run, ISO 8601 with zone (default: tag or file time)")
    s.add_argument("--interval", type=float, help="seconds per band / row / radar step")
    s.set_defaults(func=_submit)
    r = sub.add_parser("runs", help="operational run history, newest first (JSON lines)")
    r.add_argument("--limit", type=int, default=20)
    r.set_defaults(func=_runs)
    for name, confirm in (("confirm", True), ("reject", False)):
        d = sub.add_parser(name, help=f"{name} a run that waits above the warning cap")
        d.add_argument("run_id")
        d.add_argument("--actor", default="duty-officer", help="who decides (kept on the run)")
        d.set_defaults(func=_decide(confirm))
