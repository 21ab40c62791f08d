"""The demo's people: one account per role, so that ``./dev.sh run`` opens into a working app.

Every account's password is :data:`DEMO_PASSWORD` (``ONEMAP_DEMO_PASSWORD``
overrides it), printed by ``onemap load-demo`` and documented in the README.
For a demo only: a real district creates its people with ``onemap user create``.

==================  ======================  ===============================================
user name           roles                   scope
==================  ======================  ===============================================
admin               admin                   everything (every view, the audit trail)
leadership          leadership              reads the whole district
dispatcher          dispatcher              the whole district
street-dispatcher   dispatcher              the first street only
planner             planner                 flood forecasts and warnings
handler             handler                 the first department's tickets
grid-worker         grid_worker             the first worker (their department)
citizen             citizen                 their own reports
channel             channel                 an intake system's own tickets
chief               leadership, dispatcher,  picks a view among the three
                    planner
==================  ======================  ===============================================
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from spatial import accounts
from spatial.db.engine import session_scope
from spatial.models import AdminUnit, Department, UserAccount, Worker

#: The demo accounts' password (documented; override with ONEMAP_DEMO_PASSWORD).
DEMO_PASSWORD = "onemap-demo"
#: (user name, roles, scope): scope is None, "street" (first street) or "department" (first department).
DEMO_ACCOUNTS: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("admin", ("admin",), None),
    ("leadership", ("leadership",), None),
    ("dispatcher", ("dispatcher",), None),
    ("street-dispatcher", ("dispatcher",), "street"),
    ("planner", ("planner",), None),
    ("handler", ("handler",), "department"),
    ("grid-worker", ("grid_worker",), "worker"),
    ("citizen", ("citizen",), None),
    ("channel", ("channel",), None),
    ("chief", ("leadership", "dispatcher", "planner"), None),
    ("wall", ("wall",), None),  # the command centre's big screen (/wall)
)


def demo_password() -> str:
    """The demo accounts' password: ``ONEMAP_DEMO_PASSWORD`` or :data:`DEMO_PASSWORD`."""
    return os.environ.get("ONEMAP_DEMO_PASSWORD") or DEMO_PASSWORD


def load_demo_accounts(url: str | None = None) -> list[dict]:
    """(Re)create the demo accounts in the database at ``url``; returns who got which roles and scope."""
    password = demo_password()
    out = []
    with session_scope(url) as s:
        street = s.scalar(sa.select(AdminUnit.code).where(AdminUnit.level == 2).order_by(AdminUnit.code).limit(1))
        dept = s.scalar(sa.select(Department.code).order_by(Department.code).limit(1))
        worker = s.scalar(sa.select(Worker.id).order_by(Worker.id).limit(1))
        names = [n for n, _, _ in DEMO_ACCOUNTS]
        s.execute(sa.delete(UserAccount).where(UserAccount.username.in_(names)))
        for name, roles, scope in DEMO_ACCOUNTS:
            accounts.create_user(s, name, list(roles), password=password, display_name=name.replace("-", " ").title(),
                                 street=street if scope == "street" else None,
                                 department=dept if scope in ("department",) else None,
                                 worker_id=worker if scope == "worker" else None)
            out.append({"username": name, "roles": list(roles),
                        "scope": {"street": street, "department": dept, "worker": worker}.get(scope or "")})
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m data.accounts [--if-none]``: (re)create the demo accounts; print who and the password."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--if-none", action="store_true", help="only when the database has no account at all")
    args = ap.parse_args(argv)
    if args.if_none:
        with session_scope() as s:
            if s.scalar(sa.select(sa.func.count()).select_from(UserAccount)):
                return 0
    made = load_demo_accounts()
    print(f"demo accounts ({', '.join(a['username'] for a in made)}), all with the password {demo_password()!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
