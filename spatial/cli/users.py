"""``onemap user`` and ``onemap audit``: people's accounts and the audit trail from the command line.

    onemap user create NAME --role dispatcher [--role planner] [--street CODE] [--department CODE]
                       [--worker CODE] [--password-stdin]    (else a random password is printed once)
    onemap user list
    onemap user disable NAME [--enable]
    onemap user reset NAME [--password-stdin]               (unlocks; the person must change it)
    onemap audit [--actor A] [--table T] [--row ID] [--since ISO] [--limit N] [--json]

Every change made here is in the audit trail as ``cli:<operating-system user>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial import accounts, audit
from spatial.auth import PERSON_ROLES, Principal
from spatial.clock import as_utc
from spatial.db.engine import session_scope
from spatial.errors import NotFound
from spatial.models import Worker


def cli_principal() -> Principal:
    """The operator at the command line (the audit trail's actor)."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Principal(actor=f"cli:{who}", role="admin")


def _bind(session: Session, what: str) -> None:
    audit.bind(session, cli_principal(), request=f"cli: {what}")


def _read_password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\n")
    return None


def _create(args: argparse.Namespace) -> int:
    password = _read_password(args)
    shown = None
    if password is None and not args.sso_only:
        password = shown = secrets.token_urlsafe(12)
    with session_scope() as s:
        _bind(s, "user create")
        worker_id = None
        if args.worker:
            worker_id = s.scalar(sa.select(Worker.id).where(Worker.code == args.worker))
            if worker_id is None:
                raise NotFound(f"no worker with code {args.worker!r}")
        user = accounts.create_user(s, args.name, args.role, password=password, display_name=args.display_name or "",
                                    email=args.email, department=args.department, street=args.street,
                                    worker_id=worker_id)
        name = user.username
    print(f"user {name} created ({', '.join(args.role)})")
    if shown:
        print(f"password: {shown}\nGive it to the person; they sign in at /login.")
    return 0


def _list(args: argparse.Namespace) -> int:
    with session_scope() as s:
        rows = accounts.list_users(s)
    for u in rows:
        state = "disabled" if u["disabled"] else "locked" if u["locked"] else "active"
        print(f"{u['id']:>4}  {u['username']:<24} {','.join(u['roles']):<28} street={u['street'] or '-'} "
              f"dept={u['department'] or '-'}  {'sso' if u['sso'] else ''}{state}")
    return 0


def _disable(args: argparse.Namespace) -> int:
    with session_scope() as s:
        _bind(s, "user enable" if args.enable else "user disable")
        accounts.disable_user(s, args.name, enable=args.enable)
    print(f"user {args.name} {'enabled' if args.enable else 'disabled (sessions ended)'}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    given = _read_password(args)
    with session_scope() as s:
        _bind(s, "user reset")
        password = accounts.reset_password(s, args.name, given)
    print(f"user {args.name}: password reset, lock-out cleared, sessions ended; they must choose a new one.")
    if given is None:
        print(f"password: {password}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    since = as_utc(args.since, what="--since") if args.since else None
    with session_scope() as s:
        rows = audit.entries(s, actor=args.actor, table=args.table, row_id=args.row, since=since, limit=args.limit)
    if args.json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
        return 0
    for r in reversed(rows):
        target = f"{r['table']}#{r['row_id']}" if r["table"] else ""
        print(f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['actor']:<22} {r['ip'] or '-':<15} {r['action']:<14} {target:<18} "
              f"{audit.brief(r['before'], 60)} -> {audit.brief(r['after'], 60)}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``user`` and ``audit`` on the ``onemap`` parser."""
    us = subparsers.add_parser("user", help="people's accounts").add_subparsers(dest="user_command", required=True)
    uc = us.add_parser("create", help="create an account (prints a random password unless --password-stdin)")
    uc.add_argument("name")
    uc.add_argument("--role", action="append", required=True, choices=PERSON_ROLES, help="repeatable")
    uc.add_argument("--display-name")
    uc.add_argument("--email")
    uc.add_argument("--department", help="department code (handlers; limits them to its tickets)")
    uc.add_argument("--street", help="street code (admin unit level 2): limits the person to its tickets")
    uc.add_argument("--worker", help="worker code (grid workers)")
    uc.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    uc.add_argument("--sso-only", action="store_true", help="no password: signs in through single sign-on only")
    uc.set_defaults(func=_create)
    us.add_parser("list", help="list accounts (never the hashes)").set_defaults(func=_list)
    ud = us.add_parser("disable", help="disable an account and end its sessions (--enable to undo)")
    ud.add_argument("name")
    ud.add_argument("--enable", action="store_true")
    ud.set_defaults(func=_disable)
    ur = us.add_parser("reset", help="set a new password (random unless --password-stdin), unlock")
    ur.add_argument("name")
    ur.add_argument("--password-stdin", action="store_true")
    ur.set_defaults(func=_reset)

    au = subparsers.add_parser("audit", help="the audit trail, oldest of the selection first")
    au.add_argument("--actor", help="e.g. user:dispatcher, hotline#3, cli:root")
    au.add_argument("--table", help="ticket, worker, user_account, api_token, alert, ...")
    au.add_argument("--row", help="row id within --table")
    au.add_argument("--since", help="ISO 8601 time with zone")
    au.add_argument("--limit", type=int, default=50)
    au.add_argument("--json", action="store_true")
    au.set_defaults(func=_audit)
