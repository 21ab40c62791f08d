"""Deadline sweep: mark overdue tickets and escalate street -> district.

Rules (times in UTC; the due times were computed at intake from the catalog):

* **accept overdue**: a ticket still ``reported`` after ``accept_due_at`` gets
  ``accept_overdue = true`` (accepting late sets it too, in ``lifecycle``).
* **resolve overdue**: an open ticket (reported, accepted, dispatched,
  in_progress, reopened) after ``resolve_due_at`` gets ``resolve_overdue = true``.
  Each flag flips once and writes one ``overdue`` event.
* **escalation level 1 (street)**: an open ticket whose pending deadline has
  passed (accept while ``reported``, or resolve) and ``escalation_level = 0``.
* **escalation level 2 (district)**: a level-1 open ticket that is overdue by
  more than its own limit again, i.e. ``now > due + (due - created_at)``:
  a 24 h accept limit escalates to the district 24 h after the deadline,
  a 5-working-day resolve limit after twice its span.
  Each escalation writes one ``escalated`` event with the level, the target
  (``street``/``district``), the street id and the deadline that caused it.

The sweep is idempotent (flags and levels only move forward, conditions are
re-checked row by row under the update's row locks) and a transaction-level
advisory lock makes concurrent sweeps skip rather than queue. It only
flushes; ``onemap sla sweep`` and the in-server job (``spatial.api.jobs``)
commit.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.tickets.lifecycle import OPEN_STATES, sql_list

ACTOR = "system:sla-sweep"
_LOCK = (0x0E11, 0x5A5A)
_OPEN = sql_list(OPEN_STATES)

_MARK = """
WITH up AS (
  UPDATE ticket SET {flag} = true
  WHERE {where} AND NOT {flag} AND {due} < :now
  RETURNING id, {due} AS due
)
INSERT INTO ticket_event (ticket_id, at, kind, actor, actor_role, data)
SELECT id, :now, 'overdue', CAST(:actor AS text), 'system',
       jsonb_build_object('deadline', CAST(:deadline AS text), 'due_at', due)
FROM up
"""

_ACCEPT_LATE = "(t.status = 'reported' AND t.accept_due_at < :now)"
_RESOLVE_LATE = "(t.resolve_due_at < :now)"
_ACCEPT_LATE2 = "(t.status = 'reported' AND :now > t.accept_due_at + (t.accept_due_at - t.created_at))"
_RESOLVE_LATE2 = "(:now > t.resolve_due_at + (t.resolve_due_at - t.created_at))"

_ESCALATE = """
WITH up AS (
  UPDATE ticket t SET escalation_level = CAST(:level AS int)
  WHERE t.status IN {open} AND t.escalation_level = CAST(:level AS int) - 1 AND ({a} OR {r})
  RETURNING t.id, t.street_id, CASE WHEN {a} THEN 'accept' ELSE 'resolve' END AS deadline,
            CASE WHEN {a} THEN t.accept_due_at ELSE t.resolve_due_at END AS due
)
INSERT INTO ticket_event (ticket_id, at, kind, actor, actor_role, data)
SELECT id, :now, 'escalated', CAST(:actor AS text), 'system',
       jsonb_build_object('level', CAST(:level AS int), 'to', CAST(:target AS text),
                          'street_id', street_id, 'deadline', deadline, 'due_at', due,
                          'overdue_s', round(extract(epoch FROM CAST(:now AS timestamptz) - due)))
FROM up
"""


def sweep(session: Session, *, now: datetime | None = None) -> dict:
    """Run one deadline sweep at ``now`` (timezone-aware; default: current time).

    Returns
    -------
    dict
        Counts: ``accept_overdue``, ``resolve_overdue`` (newly flagged),
        ``escalated_street``, ``escalated_district``; ``skipped`` is True when
        another sweep held the lock.
    """
    now = utc_now(now)
    got = session.execute(sa.text("SELECT pg_try_advisory_xact_lock(:a, :b)"),
                          {"a": _LOCK[0], "b": _LOCK[1]}).scalar_one()
    out = {"accept_overdue": 0, "resolve_overdue": 0, "escalated_street": 0, "escalated_district": 0,
           "skipped": not got, "at": now.isoformat()}
    if not got:
        return out
    out["accept_overdue"] = session.execute(sa.text(_MARK.format(
        flag="accept_overdue", where="status = 'reported'", due="accept_due_at")),
        {"now": now, "actor": ACTOR, "deadline": "accept"}).rowcount
    out["resolve_overdue"] = session.execute(sa.text(_MARK.format(
        flag="resolve_overdue", where=f"status IN {_OPEN}", due="resolve_due_at")),
        {"now": now, "actor": ACTOR, "deadline": "resolve"}).rowcount
    out["escalated_street"] = session.execute(sa.text(_ESCALATE.format(
        open=_OPEN, a=_ACCEPT_LATE, r=_RESOLVE_LATE)),
        {"now": now, "actor": ACTOR, "level": 1, "target": "street"}).rowcount
    out["escalated_district"] = session.execute(sa.text(_ESCALATE.format(
        open=_OPEN, a=_ACCEPT_LATE2, r=_RESOLVE_LATE2)),
        {"now": now, "actor": ACTOR, "level": 2, "target": "district"}).rowcount
    session.flush()
    return out
