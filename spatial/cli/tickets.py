"""``onemap`` sub-commands for tickets: sla, score, report, token, ticket.

::

    onemap sla sweep [--now 2026-10-05T10:00:00+08:00]
    onemap score --month 2026-10 [--as-of 2026-10-15] [--by department|street] [--json]   (alias: scores)
    onemap report monthly --month 2026-10 [--as-of 2026-10-15] [--out assessment.pdf]
    onemap token create --name hotline-gw --role channel [--department CODE] [--worker CODE]
    onemap token list
    onemap token revoke ID
    onemap ticket show ID [--json]
    onemap ticket import FILE.csv [--channel hotline] [--skip-invalid] [--history [--replace]] [--columns MAPPING.yaml]
    onemap ticket prune-reporters [--days 365] [--now 2027-10-05T10:00:00+08:00]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from spatial import audit
from spatial.auth import TOKEN_SCOPES, create_token, revoke_token
from spatial.cli.users import cli_principal
from spatial.clock import as_utc, parse_day, utc_now
from spatial.db.engine import read_session_scope, session_scope
from spatial.errors import NotFound, ValidationError
from spatial.io import monthly_report, ticket_export
from spatial.models import AdminUnit, ApiToken, Department, Worker
from spatial.tickets import queries as ticket_views
from spatial.tickets import retention, scoring, sla
from spatial.tickets.bulk import bulk_intake
from spatial.tickets.mapping import read_mapped


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"--now {value!r} is not an ISO 8601 time") from exc
    if t.tzinfo is None:
        raise ValidationError("--now needs a time zone, e.g. 2026-10-05T10:00:00+08:00")
    return t


def _sla_sweep(args: argparse.Namespace) -> int:
    with session_scope() as session:
        out = sla.sweep(session, now=_parse_now(args.now))
    print(json.dumps(out, indent=2))
    return 0


def _month_args(args: argparse.Namespace) -> tuple[date, date | None]:
    """``--month YYYY-MM`` (default: the month of ``--as-of``) as its first day, and ``--as-of`` as a date."""
    as_of = parse_day(args.as_of, "--as-of") if args.as_of else None
    if not args.month and as_of is None:
        raise ValidationError("give --month YYYY-MM or --as-of YYYY-MM-DD")
    args.month = args.month or as_of.strftime("%Y-%m")
    try:
        year, month = (int(p) for p in args.month.split("-"))
        return date(year, month, 1), as_of
    except ValueError as exc:
        raise ValidationError(f"--month {args.month!r} must be YYYY-MM") from exc


def _score(args: argparse.Namespace) -> int:
    first, as_of = _month_args(args)
    with session_scope() as session:
        df = scoring.monthly_scores(session, month=first, by=args.by, as_of=as_of)
    if args.json:
        out = {"month": args.month, "by": args.by, "rows": scoring.to_records(df)}
        if as_of is not None:
            out["as_of"] = as_of.isoformat()
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    if df.empty:
        print(f"no {args.by}s to score")
        return 0
    show = df.drop(columns=["unit_id"]).copy()
    for col in ("on_time_accept_rate", "on_time_resolve_rate"):
        show[col] = (show[col] * 100).round(1)
    show = show.rename(columns={"on_time_accept_rate": "accept_on_time_%", "on_time_resolve_rate":
                                "resolve_on_time_%", "avg_resolve_hours": "avg_resolve_h"})
    print(f"Scores for {args.month} by {args.by}" + (f" as of {as_of}" if as_of else ""))
    print(show.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.1f}"))
    return 0


def _report_monthly(args: argparse.Namespace) -> int:
    first, as_of = _month_args(args)
    out = Path(args.out or f"assessment-{args.month}.pdf")
    with read_session_scope() as session:  # the replica when one is configured
        pdf = monthly_report.monthly_report_pdf(session, month=first, as_of=as_of)
    out.write_bytes(pdf)
    print(f"monthly assessment {args.month}: {out} ({len(pdf) / 1024:.0f} KiB)")
    return 0


def _token_create(args: argparse.Namespace) -> int:
    with session_scope() as session:
        dept_id = worker_id = None
        if args.department:
            dept_id = session.scalar(sa.select(Department.id).where(Department.code == args.department))
            if dept_id is None:
                raise NotFound(f"no department with code {args.department!r}")
        if args.worker:
            worker_id = session.scalar(sa.select(Worker.id).where(Worker.code == args.worker))
            if worker_id is None:
                raise NotFound(f"no worker with code {args.worker!r}")
        street_id = None
        if args.street:
            street_id = session.scalar(sa.select(AdminUnit.id).where(AdminUnit.code == args.street,
                                                                     AdminUnit.level == 2))
            if street_id is None:
                raise NotFound(f"no street with code {args.street!r}")
        expires = (utc_now() + timedelta(days=args.expires_days)) if args.expires_days else None
        audit.bind(session, cli_principal(), request="cli: token create")
        token = create_token(session, name=args.name, role=args.role, department_id=dept_id,
                             worker_id=worker_id, admin_unit_id=street_id, expires_at=expires,
                             scopes=[x.strip() for x in args.scopes.split(",")] if args.scopes else None)
    print(token)
    print("Store it now: only its hash is kept. Use it as 'Authorization: Bearer <token>' "
          "(or api_key=<token> on Open311 POSTs).", flush=True)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    with session_scope() as session:
        rows = session.scalars(sa.select(ApiToken).order_by(ApiToken.id)).all()
        for t in rows:
            state = (f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at
                     else f"expires {t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "active")
            if t.scopes is not None:
                state += f" scopes={','.join(t.scopes)}"
            print(f"{t.id:>5}  {t.name:<30} {t.role:<12} dept={t.department_id or '-'} "
                  f"worker={t.worker_id or '-'}  {state}")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    with session_scope() as session:
        audit.bind(session, cli_principal(), request="cli: token revoke")
        revoke_token(session, args.id)
    print(f"token {args.id} revoked")
    return 0


def _ticket_show(args: argparse.Namespace) -> int:
    with session_scope() as session:
        row = ticket_views.ticket_row(session, args.id)
        view = ticket_views.ticket_view(row, staff=True, pii=True)
        view["reporters"] = ticket_views.reporters(session, args.id)
        view["events"] = ticket_views.events(session, args.id, pii=True)
    if args.json:
        print(json.dumps(view, indent=2, ensure_ascii=False, default=str))
        return 0
    print(f"ticket {view['id']}  {view['status']}  {view['category']} ({view['category_name']})  "
          f"dept={view['department']}  grid={view['grid']} street={view['street']}")
    print(f"  at ({view['lon']:.6f}, {view['lat']:.6f})  {view['address'] or ''}")
    print(f"  {view['description']}")
    print(f"  accept due {view['accept_due_at']}  resolve due {view['resolve_due_at']}  "
          f"overdue accept={view['accept_overdue']} resolve={view['resolve_overdue']}  "
          f"escalation={view['escalation_level']}  version={view['version']}")
    for ev in view["events"]:
        move = f"{ev['from_status'] or ''}->{ev['to_status']}" if ev["to_status"] else ""
        print(f"  {ev['at']}  {ev['kind']:<16} {move:<24} {ev['actor']} ({ev['actor_role']})"
              f"{'  ' + ev['note'] if ev['note'] else ''}")
    return 0


def _ticket_import(args: argparse.Namespace) -> int:
    if args.columns:
        df = read_mapped(args.path, args.columns)
    else:
        df = pd.read_csv(args.path, dtype=str, keep_default_na=False)
    actor = f"import:{Path(args.path).name}" if args.history else f"cli:{args.actor}"
    t0 = time.perf_counter()
    with session_scope() as session:
        out = bulk_intake(session, df, actor=actor, role="admin", channel=args.channel,
                          skip_invalid=args.skip_invalid, history=args.history, replace=args.replace)
    dt = time.perf_counter() - t0
    out["seconds"] = round(dt, 3)
    print(json.dumps(out, indent=2, default=str))
    return 0


def _ticket_export(args: argparse.Namespace) -> int:
    f = ticket_views.TicketFilter(
        status=args.status or (), category=args.category or (), street=args.street or (),
        department=args.department or (), grid=args.grid or (),
        since=as_utc(args.since, what="--since") if args.since else None,
        until=as_utc(args.until, what="--until") if args.until else None)
    with session_scope() as session:
        n = ticket_export.export_tickets(session, args.path, f)
    print(f"exported {n} tickets to {args.path}")
    return 0


def _prune_reporters(args: argparse.Namespace) -> int:
    with session_scope() as session:
        out = retention.prune_reporters(session, older_than_days=args.days, now=_parse_now(args.now))
    print(json.dumps(out, indent=2))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``sla``, ``score``, ``report``, ``token`` and ``ticket`` on the ``onemap`` parser."""
    sla_p = subparsers.add_parser("sla", help="ticket deadlines").add_subparsers(dest="sla_command",
                                                                                   required=True)
    sw = sla_p.add_parser("sweep", help="mark overdue tickets and escalate (street -> district)")
    sw.add_argument("--now", help="evaluate at this ISO 8601 time (with zone) instead of now")
    sw.set_defaults(func=_sla_sweep)

    sc = subparsers.add_parser("score", aliases=["scores"], help="monthly department/street scores and ranking")
    sc.add_argument("--month", help="YYYY-MM (district local time); default: the month of --as-of")
    sc.add_argument("--as-of", help="YYYY-MM-DD: the month as it stood at the end of this local day")
    sc.add_argument("--by", choices=["department", "street"], default="department")
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(func=_score)

    rp = subparsers.add_parser("report", help="reports").add_subparsers(dest="report_command", required=True)
    mo = rp.add_parser("monthly", help="the monthly assessment as PDF: department and street ranking, charts, map")
    mo.add_argument("--month", help="YYYY-MM (district local time); default: the month of --as-of")
    mo.add_argument("--as-of", help="YYYY-MM-DD: the month as it stood at the end of this local day")
    mo.add_argument("--out", help="PDF file to write (default: assessment-YYYY-MM.pdf)")
    mo.set_defaults(func=_report_monthly)

    tok = subparsers.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    tc = tok.add_parser("create", help="create a token (printed once)")
    tc.add_argument("--name", required=True)
    tc.add_argument("--role", required=True,
                    choices=["citizen", "channel", "grid_worker", "dispatcher", "handler", "leadership", "admin"])
    tc.add_argument("--department", help="department code (handler tokens)")
    tc.add_argument("--worker", help="worker code (grid_worker tokens)")
    tc.add_argument("--street", help="street code: limit the token to that street's tickets")
    tc.add_argument("--scopes", help=f"comma list of routers the token may call ({', '.join(TOKEN_SCOPES)})")
    tc.add_argument("--expires-days", type=float, help="the token stops working after this many days")
    tc.set_defaults(func=_token_create)
    tok.add_parser("list", help="list tokens (never the secrets)").set_defaults(func=_token_list)
    tr = tok.add_parser("revoke", help="revoke a token by id")
    tr.add_argument("id", type=int)
    tr.set_defaults(func=_token_revoke)

    tk = subparsers.add_parser("ticket", help="tickets").add_subparsers(dest="ticket_command", required=True)
    ts = tk.add_parser("show", help="a ticket with its reporters and history")
    ts.add_argument("id", type=int)
    ts.add_argument("--json", action="store_true")
    ts.set_defaults(func=_ticket_show)
    ti = tk.add_parser("import", help="bulk import a CSV (category, lon, lat, external_id, description, ...)")
    ti.add_argument("path")
    ti.add_argument("--channel", default="hotline")
    ti.add_argument("--actor", default="import")
    ti.add_argument("--skip-invalid", action="store_true", help="import the valid rows, report the others")
    ti.add_argument("--history", action="store_true",
                    help="tickets as they happened: status, lifecycle times and events kept, no age limit "
                         "(actor import:<file name>)")
    ti.add_argument("--replace", action="store_true",
                    help="with --history: remove this file's earlier import first (its tickets and events)")
    ti.add_argument("--columns", help="YAML column/value mapping of another system's export "
                                      "(e.g. data/catalogs/los_angeles_311.yaml)")
    ti.set_defaults(func=_ticket_import)
    te = tk.add_parser("export", help="export tickets with filters to .csv, .xlsx, .gpkg or .geojson "
                                      "(lifecycle times in UTC, no reporter contact)")
    te.add_argument("path")
    for name in ("status", "category", "street", "department", "grid"):
        te.add_argument(f"--{name}", action="append", help=f"{name} code (repeat for several)")
    te.add_argument("--since", help="created at or after (ISO 8601 with zone)")
    te.add_argument("--until", help="created before (ISO 8601 with zone)")
    te.set_defaults(func=_ticket_export)
    tp = tk.add_parser("prune-reporters",
                       help="blank reporter name/phone/account of tickets final for longer than the retention")
    tp.add_argument("--days", type=float, help="retention in days (default ONEMAP_REPORTER_RETENTION_DAYS)")
    tp.add_argument("--now", help="evaluate at this ISO 8601 time (with zone) instead of now")
    tp.set_defaults(func=_prune_reporters)
