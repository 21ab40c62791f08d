"""Retention of reporters' personal data on finished tickets.

:func:`prune_reporters` blanks the reporter's name, phone and account
(``ticket.reporter_*``, the Open311 ``email``/``device_id`` in ``ticket.attrs``
and ``name``/``phone``/``account`` of every ``ticket_reporter`` row, and the e-mail a citizen left on
the citizen page, ``citizen_report.email``) of tickets
in a final state (``spatial.tickets.lifecycle.FINAL_STATES``) whose last change
(``updated_at``, never earlier than the move to the final state) is older than
``Settings.reporter_retention_days``. Each pruned ticket gets a
``reporter_pruned`` event (``ticket_event`` is append-only: only INSERT).
The ticket's ``updated_at`` and ``version`` are left alone: the ticket itself
did not change for its users. Runs in the server at start and every
``ONEMAP_RETENTION_SWEEP_SECONDS`` (``spatial.api.jobs``) and by hand with
``onemap ticket prune-reporters``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.errors import ValidationError
from spatial.privacy import REPORTER_ATTRS
from spatial.settings import get_settings
from spatial.tickets.lifecycle import FINAL_STATES

#: E-mail addresses citizens left for status updates (``citizen_report``, issue 14), on the same tickets.
_PRUNE_EMAILS = sa.text(
    "UPDATE citizen_report c SET email = NULL FROM ticket t "
    "WHERE c.ticket_id = t.id AND c.email IS NOT NULL AND t.status = ANY(:final) AND t.updated_at < :cutoff")

#: The actor written on the events.
ACTOR = "system:retention"

_PRUNE = sa.text(
    """
    WITH due AS (
        SELECT t.id FROM ticket t
        WHERE t.status = ANY(:final) AND t.updated_at < :cutoff
          AND (t.reporter_name IS NOT NULL OR t.reporter_phone IS NOT NULL OR t.reporter_account IS NOT NULL
               OR t.attrs ?| CAST(:attrs AS text[])
               OR EXISTS (SELECT 1 FROM ticket_reporter r WHERE r.ticket_id = t.id
                          AND (r.name IS NOT NULL OR r.phone IS NOT NULL OR r.account IS NOT NULL)))
        ORDER BY t.id
        FOR UPDATE OF t SKIP LOCKED),
    tk AS (
        UPDATE ticket t SET reporter_name = NULL, reporter_phone = NULL, reporter_account = NULL,
                            attrs = t.attrs - CAST(:attrs AS text[])
        FROM due WHERE t.id = due.id
        RETURNING t.id, t.status),
    rep AS (
        UPDATE ticket_reporter r SET name = NULL, phone = NULL, account = NULL
        FROM due WHERE r.ticket_id = due.id AND (r.name IS NOT NULL OR r.phone IS NOT NULL OR r.account IS NOT NULL)
        RETURNING r.ticket_id),
    n AS (SELECT ticket_id, count(*) AS reporters FROM rep GROUP BY ticket_id),
    ev AS (
        INSERT INTO ticket_event (ticket_id, at, kind, actor, actor_role, data)
        SELECT tk.id, :now, 'reporter_pruned', :actor, 'system',
               CAST(:data AS jsonb) || jsonb_build_object('status', tk.status,
                                                          'reporters', coalesce(n.reporters, 0))
        FROM tk LEFT JOIN n ON n.ticket_id = tk.id
        RETURNING ticket_id)
    SELECT (SELECT count(*) FROM tk), (SELECT count(*) FROM rep), (SELECT count(*) FROM ev)
    """
)


def prune_reporters(session: Session, *, older_than_days: float | None = None,
                    now: datetime | None = None) -> dict:
    """Blank reporter contact of tickets final for longer than the retention period.

    Parameters
    ----------
    older_than_days
        Default ``Settings.reporter_retention_days``.
    now
        Reference time (tz-aware; default now).

    Returns
    -------
    dict
        ``tickets`` pruned, ``reporters`` (ticket_reporter rows blanked),
        ``events`` written, ``cutoff`` (ISO 8601 UTC). Tickets locked by
        another transaction are skipped until the next run.
    """
    days = get_settings().reporter_retention_days if older_than_days is None else older_than_days
    if days < 0:
        raise ValidationError("retention must be zero or more days")
    now = utc_now(now)
    cutoff = now - timedelta(days=days)
    tickets, reporters, events = session.execute(_PRUNE, {
        "final": list(FINAL_STATES), "cutoff": cutoff, "attrs": list(REPORTER_ATTRS), "now": now,
        "actor": ACTOR, "data": json.dumps({"retention_days": days}),
    }).one()
    emails = session.execute(_PRUNE_EMAILS, {"final": list(FINAL_STATES), "cutoff": cutoff}).rowcount
    session.flush()
    return {"tickets": tickets, "reporters": reporters, "events": events, "citizen_emails": emails,
            "cutoff": cutoff.isoformat()}
