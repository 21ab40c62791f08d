"""``onemap dispatch ...`` and ``onemap positions ...`` commands.

- ``onemap dispatch candidates TICKET_ID [-k 5] [--max-age S] [--json]``
- ``onemap dispatch assign TICKET_ID WORKER_ID [--actor NAME] [--note TEXT]``
- ``onemap dispatch auto TICKET_ID``
- ``onemap positions prune [--days N]`` (retention; default ``ONEMAP_POSITION_RETENTION_DAYS``)

Each command runs in one transaction (``spatial.db.engine.session_scope``); errors a
user can cause print their message and exit with status 2.
"""

from __future__ import annotations

import argparse
import json

from spatial.db.engine import session_scope
from spatial.settings import get_settings
from spatial.tickets import dispatch
from spatial.workers import positions


def _candidates(args: argparse.Namespace) -> int:
    with session_scope() as s:
        found = dispatch.candidates(s, args.ticket_id, k=args.k, max_age_s=args.max_age)
        info = None if found else dispatch.availability(s, args.ticket_id, max_age_s=args.max_age)
    if args.json:
        out: dict = {"ticket_id": args.ticket_id, "candidates": [c.to_dict() for c in found]}
        if info is not None:
            out["message"] = info.pop("message")
            out["availability"] = info
        print(json.dumps(out, indent=2))
        return 0
    if not found:
        print(info["message"])
        return 0
    print(f"{'#':>2} {'worker':<12} {'name':<20} {'metres':>8} {'road min':>8} {'fix s':>6} {'load':>5}  why")
    for i, c in enumerate(found, 1):
        road = "" if c.travel_time_s is None else f"{c.travel_time_s / 60:.1f}"
        print(f"{i:>2} {c.code:<12} {c.name[:20]:<20} {c.distance_m:>8.0f} {road:>8} {c.fix_age_s:>6.0f} "
              f"{c.workload:>2}/{c.max_workload:<2}  {c.reason}")
    return 0


def _assign(args: argparse.Namespace) -> int:
    with session_scope() as s:
        t = dispatch.assign(s, args.ticket_id, args.worker_id, actor=args.actor, role="dispatcher", note=args.note)
        print(f"ticket {t.id} {t.status} to worker {t.assigned_worker_id}")
    return 0


def _auto(args: argparse.Namespace) -> int:
    with session_scope() as s:
        t = dispatch.auto_dispatch(s, args.ticket_id, actor=args.actor)
        if t is None:
            print(f"ticket {args.ticket_id}: " + dispatch.availability(s, args.ticket_id)["message"])
        else:
            print(f"ticket {t.id} {t.status} to worker {t.assigned_worker_id}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    days = get_settings().position_retention_days if args.days is None else args.days
    with session_scope() as s:
        n = positions.prune_positions(s, older_than_days=days)
    print(f"deleted {n} GPS fixes older than {days:g} days")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``dispatch`` and ``positions`` command groups."""
    dp = subparsers.add_parser("dispatch", help="nearest available workers and assignment")
    sub = dp.add_subparsers(dest="dispatch_command", required=True)
    c = sub.add_parser("candidates", help="the K best available workers for a ticket")
    c.add_argument("ticket_id", type=int)
    c.add_argument("-k", type=int, default=5)
    c.add_argument("--max-age", type=float, default=None, help="GPS freshness limit in seconds")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_candidates)
    a = sub.add_parser("assign", help="dispatch a ticket to a worker (atomic)")
    a.add_argument("ticket_id", type=int)
    a.add_argument("worker_id", type=int)
    a.add_argument("--actor", default="cli")
    a.add_argument("--note")
    a.set_defaults(func=_assign)
    au = sub.add_parser("auto", help="assign the best skilled candidate, or record dispatch_pending")
    au.add_argument("ticket_id", type=int)
    au.add_argument("--actor", default="system:auto-dispatch")
    au.set_defaults(func=_auto)

    pp = subparsers.add_parser("positions", help="worker GPS history")
    psub = pp.add_subparsers(dest="positions_command", required=True)
    pr = psub.add_parser("prune", help="delete GPS history older than the retention period")
    pr.add_argument("--days", type=float, default=None)
    pr.set_defaults(func=_prune)
