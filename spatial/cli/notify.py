"""CLI of notifications and media: ``onemap notify ...`` (subscriptions, outbox) and ``onemap media gc``.

Each command runs in one transaction (``spatial.db.engine.session_scope``).
"""

from __future__ import annotations

import argparse
import json

from spatial.db.engine import session_scope
from spatial.media import service as media_service
from spatial.notify import delivery, subscriptions


def _add(args: argparse.Namespace) -> int:
    topics = [t.strip() for t in (args.topics or "").split(",") if t.strip()]
    with session_scope() as session:
        sub, secret = subscriptions.add(session, name=args.name or args.channel, channel=args.channel,
                                        target=args.target, topics=topics, department=args.department,
                                        category=args.category)
        sub_id = sub.id
    print(f"subscription {sub_id}: {args.channel} -> {args.target}")
    if secret:
        print(f"signing secret (shown once; give it to the receiver): {secret}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with session_scope() as session:
        rows = subscriptions.listing(session)
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    return 0


def _remove(args: argparse.Namespace) -> int:
    with session_scope() as session:
        subscriptions.remove(session, args.id)
    print(f"subscription {args.id} removed")
    return 0


def _pause(args: argparse.Namespace, active: bool) -> int:
    with session_scope() as session:
        subscriptions.set_active(session, args.id, active)
    print(f"subscription {args.id} {'resumed' if active else 'paused'}")
    return 0


def _deliver(args: argparse.Namespace) -> int:
    with session_scope() as session:
        print(json.dumps(delivery.drain(session)))
    return 0


def _status(args: argparse.Namespace) -> int:
    with session_scope() as session:
        print(json.dumps(delivery.stats(session)))
    return 0


def _retry(args: argparse.Namespace) -> int:
    with session_scope() as session:
        n = delivery.retry_dead(session, args.ids or None)
    print(f"{n} dead deliveries queued again")
    return 0


def _media_gc(args: argparse.Namespace) -> int:
    with session_scope() as session:
        print(json.dumps(media_service.collect_garbage(session)))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``notify`` and ``media`` command groups."""
    notify = sub.add_parser("notify", help="notification subscriptions and the outbox").add_subparsers(
        dest="notify_command", required=True)
    add = notify.add_parser("add", help="subscribe a webhook, an e-mail address or a role (in-app)")
    add.add_argument("channel", choices=["webhook", "email", "inapp"])
    add.add_argument("target", help="webhook URL, e-mail address, or role for in-app messages")
    add.add_argument("--name", help="a label")
    add.add_argument("--topics", help=f"comma list of topics (default: all): {', '.join(subscriptions.TOPICS)}")
    add.add_argument("--department", help="only tickets of this department (code)")
    add.add_argument("--category", help="only tickets of this category (code)")
    add.set_defaults(func=_add)
    notify.add_parser("list", help="the subscriptions (no secrets)").set_defaults(func=_list)
    rm = notify.add_parser("remove", help="delete a subscription and its undelivered rows")
    rm.add_argument("id", type=int)
    rm.set_defaults(func=_remove)
    for name, active in (("pause", False), ("resume", True)):
        p = notify.add_parser(name, help=f"{name} a subscription")
        p.add_argument("id", type=int)
        p.set_defaults(func=lambda a, active=active: _pause(a, active))
    notify.add_parser("deliver", help="deliver the due outbox rows now (the server does it every "
                                      "ONEMAP_NOTIFY_SECONDS)").set_defaults(func=_deliver)
    notify.add_parser("status", help="outbox rows by channel and state").set_defaults(func=_status)
    rt = notify.add_parser("retry", help="queue dead deliveries again")
    rt.add_argument("ids", type=int, nargs="*")
    rt.set_defaults(func=_retry)
    media = sub.add_parser("media", help="uploaded photos").add_subparsers(dest="media_command", required=True)
    media.add_parser("gc", help="remove unattached uploads older than 2 days and unreferenced files").set_defaults(
        func=_media_gc)
