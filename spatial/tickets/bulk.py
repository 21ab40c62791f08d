"""Bulk ticket intake for back-office imports (12345 hotline exports, migrations from other systems).

Everything per row is vectorised: validation in pandas, the catalog's
deadlines with ``numpy.busday_offset`` (identical to
:func:`spatial.tickets.deadlines.due_at`, tested), point-in-polygon of the grid,
community and street with shapely ``STRtree`` on the admin units read once,
ticket ids drawn from the table's identity sequence in one query, then two
``COPY`` streams (tickets, their ``reported`` events and reporter rows) in the caller's
transaction; where allowed, the foreign keys are checked once per referenced
row instead of once per row (see :func:`_checked_references`). No duplicate
merge (imports are usually already deduplicated upstream); idempotent on ``(channel, external_id)``: ids already stored
(as tickets or as merged reports) are skipped and counted as ``existing``.
A concurrent import of the same ids makes the later one fail with
:class:`~spatial.errors.Conflict` (retry it: the retry skips them).

Live intake (the default) takes new reports: ``reported``, reported at most a
year back. ``history=True`` imports tickets as they happened, with no age
limit, their status and lifecycle times and one event per transition
(:mod:`spatial.tickets.history` owns those rules).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.db.copy import driver_connection
from spatial.errors import Conflict, ValidationError
from spatial.locate import locate_points
from spatial.models import CHANNELS
from spatial.profile import Profile, district_profile
from spatial.tickets.deadlines import due_at_many
from spatial.tickets.history import (
    HISTORY_COLUMNS,
    TICKET_TIME_COLUMNS,
    check_history,
    history_events,
    overdue_flags,
    parse_times,
)
from spatial.tickets.intake import MAX_BACKDATE, MAX_DESCRIPTION

BULK_COLUMNS = ("category", "lon", "lat", "external_id", "channel", "description", "address", "reporter_name",
                "reporter_phone", "reporter_account", "priority", "reported_at")
_TICKET_COLS = ("id", "channel", "external_id", "category_id", "department_id", "grid_id", "community_id",
                "street_id", "geom", "address", "description", "status", "priority", "reporter_name",
                "reporter_phone", "reporter_account", "created_at", "updated_at", "accept_due_at",
                "resolve_due_at", "created_by")
_HISTORY_TICKET_COLS = (*TICKET_TIME_COLUMNS, "accept_overdue", "resolve_overdue", "rating", "version")
_EVENT_COLS = ("ticket_id", "at", "kind", "to_status", "actor", "actor_role", "data")
_HISTORY_EVENT_COLS = (*_EVENT_COLS, "from_status")
_REPORTER_COLS = ("ticket_id", "channel", "external_id", "name", "phone", "account", "reported_at", "description",
                  "geom")
_TEXT_LIMITS = (("description", MAX_DESCRIPTION), ("address", 500), ("reporter_name", 200), ("reporter_phone", 40),
                ("reporter_account", 128))
_TS = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    s = df[col].astype("string").str.strip()
    return s.where(s.notna() & (s != ""))


def bulk_intake(
    session: Session,
    rows: pd.DataFrame | list[dict],
    *,
    actor: str,
    role: str,
    channel: str = "hotline",
    now: datetime | None = None,
    skip_invalid: bool = False,
    history: bool = False,
    replace: bool = False,
) -> dict:
    """Import many reports at once (no duplicate merge; idempotent on ``(channel, external_id)``).

    Parameters
    ----------
    rows : DataFrame or list of dict
        Columns :data:`BULK_COLUMNS`; ``category``, ``lon``, ``lat`` (EPSG:4326
        degrees) required. ``reported_at`` without a zone is read in the
        district's time zone. ``channel`` defaults to the argument.
    skip_invalid : bool
        False (default): any invalid row raises ValidationError and nothing is
        written. True: invalid rows are skipped and listed in ``rejected``.
    history : bool
        Import tickets as they happened (:mod:`spatial.tickets.history`):
        ``reported_at`` required and of any age, ``status`` and the lifecycle
        times of :data:`~spatial.tickets.history.HISTORY_COLUMNS` kept, one
        event per transition at its time; the actor gets an ``import:``
        prefix. False (live intake): those columns are refused and reports
        older than a year are rejected.
    replace : bool
        History only: first remove the tickets this actor imported before
        (``onemap_purge_imported_tickets``, migration 0012: their events too;
        refused if any was worked on after the import), so a corrected file
        replaces its earlier import instead of being skipped as ``existing``.

    Returns
    -------
    dict
        ``rows``, ``created``, ``existing`` (external id seen before),
        ``rejected`` (list of ``{"row", "reason"}``, at most 100).
    """
    at = utc_now(now)
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    missing = {"category", "lon", "lat"} - set(df.columns)
    if missing:
        raise ValidationError(f"bulk import needs columns {', '.join(sorted(missing))}")
    if channel not in CHANNELS:
        raise ValidationError(f"unknown channel {channel!r}")
    n = len(df)
    df = df.reset_index(drop=True)
    given = [c for c in HISTORY_COLUMNS if c in df.columns
             and (df[c].astype("string").str.strip().fillna("") != "").any()]
    if given and not history:
        raise ValidationError(f"columns {', '.join(given)} describe history: import them as history "
                              "(history=True, CLI --history); live intake takes new reports only")
    if history and not actor.startswith("import:"):
        actor = f"import:{actor}"
    if replace and not history:
        raise ValidationError("replace applies to history imports only")
    for col in BULK_COLUMNS:
        if col not in df.columns:
            df[col] = None
    reasons = pd.Series("", index=df.index, dtype=object)

    def reject(mask, why: str) -> None:
        mask = pd.Series(mask, index=df.index).fillna(False).astype(bool)
        reasons[mask & (reasons == "")] = why

    lon = pd.to_numeric(df["lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(df["lat"], errors="coerce").to_numpy(float)
    reject(~(np.isfinite(lon) & np.isfinite(lat)), "lon/lat missing or not numbers")
    reject((np.abs(lon) > 180) | (np.abs(lat) > 90), "lon/lat out of range")
    cats = pd.DataFrame(session.execute(sa.text(
        "SELECT code, id AS category_id, department_id, priority AS cat_priority, accept_limit, accept_unit, "
        "resolve_limit, resolve_unit FROM category WHERE active")).mappings().all())
    df["category"] = df["category"].astype("string").str.strip()
    reject(~df["category"].isin(cats["code"]) if len(cats) else True, "unknown category")
    df["channel"] = _text(df, "channel").fillna(channel)
    reject(~df["channel"].isin(CHANNELS), "unknown channel")
    df["external_id"] = _text(df, "external_id")
    reject(df["external_id"].str.len() > 128, "external_id longer than 128 characters")
    reject(df["external_id"].notna() & df.duplicated(["channel", "external_id"], keep="first"),
           "external_id repeated in the file")
    for col, limit in _TEXT_LIMITS:
        df[col] = _text(df, col)
        reject(df[col].str.len() > limit, f"{col} longer than {limit} characters")
    prio = pd.to_numeric(df["priority"], errors="coerce")
    reject(prio.notna() & ~prio.between(1, 5), "priority must be 1-5")
    profile = district_profile(session)
    tz = profile.timezone
    rep = parse_times(df["reported_at"], tz)
    reject(df["reported_at"].notna() & rep.isna(), "reported_at is not a time")
    reject(rep > at + timedelta(minutes=5), "reported_at is in the future")
    if history:
        reject(rep.isna(), "reported_at is required for history")
        hist, why = check_history(df, rep, tz=tz, now=at)
        reject(why != "", why)
    else:
        reject(rep < at - MAX_BACKDATE, "reported_at is more than a year ago")
    ok = (reasons == "").to_numpy()
    loc = locate_points(session, np.where(ok, lon, 0.0), np.where(ok, lat, 0.0))
    reject(ok & ~loc["inside"].to_numpy(), "outside the district")

    bad = reasons != ""
    rejected = [{"row": int(i), "reason": reasons[i]} for i in df.index[bad][:100]]
    if bad.any() and not skip_invalid:
        raise ValidationError(f"{int(bad.sum())} of {n} rows are invalid; nothing imported "
                              f"(first: row {rejected[0]['row']}: {rejected[0]['reason']})",
                              details={"rejected": rejected})
    good = pd.concat([df, loc], axis=1)[~bad.to_numpy()].copy()
    good["lon"], good["lat"] = lon[~bad.to_numpy()], lat[~bad.to_numpy()]
    good["created_at"] = rep[~bad].fillna(at).clip(upper=at)
    good["priority"] = prio[~bad]
    replaced = 0
    if replace:
        replaced = session.execute(sa.text(
            "SELECT onemap_purge_imported_tickets(ARRAY(SELECT id FROM ticket WHERE created_by = :actor))"),
            {"actor": actor}).scalar_one()
    if history:
        good = good.join(hist[~bad].add_prefix("h_"))
    good = _skip_existing(session, good)
    created = len(good)
    if created:
        _copy_in(session, good, cats, at=at, actor=actor, role=role, profile=profile, history=history)
    out = {"rows": n, "created": created, "existing": int((~bad).sum() - created), "rejected": rejected}
    if replace:
        out["replaced"] = replaced
    return out


def _skip_existing(session: Session, good: pd.DataFrame) -> pd.DataFrame:
    """Drop rows whose (channel, external_id) is already a ticket or a merged report."""
    keep = pd.Series(True, index=good.index)
    for ch, grp in good[good["external_id"].notna()].groupby("channel"):
        ids = grp["external_id"].astype(str).tolist()
        seen = set(session.execute(sa.text(
            "SELECT external_id FROM ticket WHERE channel = :ch AND external_id = ANY(CAST(:ids AS text[])) "
            "UNION SELECT external_id FROM ticket_reporter WHERE channel = :ch "
            "AND external_id = ANY(CAST(:ids AS text[]))"), {"ch": ch, "ids": ids}).scalars())
        if seen:
            keep[grp.index[grp["external_id"].isin(seen)]] = False
    return good[keep]


#: User INSERT triggers on the ticket tables that must fire. The audit trigger (``onemap_audit``,
#: migration 0013) counts only when an actor is bound (``spatial.audit.bind``): otherwise it records nothing.
_USER_INSERT_TRIGGERS = sa.text(
    "SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal "
    "AND (t.tgtype & 4) <> 0 "
    "AND t.tgrelid IN ('ticket'::regclass, 'ticket_event'::regclass, 'ticket_reporter'::regclass) "
    "AND NOT (p.proname = 'onemap_audit' AND coalesce(current_setting('onemap.actor', true), '') = '')"
)


def _checked_references(session: Session, good: pd.DataFrame) -> bool:
    """Check the rows' foreign keys once per referenced row instead of once per row, when allowed.

    The per-row foreign-key triggers cost ~40 % of the database time of a
    bulk load (30 of 65 us per ticket measured). When the role may set
    ``session_replication_role`` (a superuser, e.g. the managed cluster's
    owner role; never the application role) and no user trigger fires on
    INSERT into ``ticket`` or ``ticket_event``, this takes the same ``FOR KEY SHARE`` locks the
    triggers would take, on each distinct category, department and admin
    unit referenced (all were read in this transaction, and the event rows
    reference the tickets written here), then switches the triggers off for
    the COPY only (the caller switches them back on: ``origin``). Otherwise
    it returns False and the COPY runs with the ordinary per-row checks.
    """
    row = session.execute(sa.text(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one_or_none()
    if not row or session.execute(_USER_INSERT_TRIGGERS).scalar_one():
        return False
    units = pd.concat([good["grid_id"], good["community_id"], good["street_id"]]).dropna().astype(int).unique()
    for table, ids in (("category", good["category_id"].astype(int).unique()),
                       ("department", good["department_id"].dropna().astype(int).unique()),
                       ("admin_unit", units)):
        wanted = sorted(int(i) for i in ids)
        got = session.execute(sa.text(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY(:ids) "
                                      "FOR KEY SHARE) AS locked"), {"ids": wanted}).scalar_one()
        if got != len(wanted):  # a referenced row vanished meanwhile: let the ordinary checks report it
            return False
    session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    return True


def _copy_in(session: Session, good: pd.DataFrame, cats: pd.DataFrame, *, at: datetime, actor: str, role: str,
             profile: Profile, history: bool = False) -> None:
    good = good.merge(cats, left_on="category", right_on="code", how="left", sort=False)
    good["priority"] = good["priority"].fillna(good["cat_priority"]).astype(int)
    tz, cal = profile.timezone, profile.calendar
    good["accept_due_at"] = due_at_many(good["created_at"], good["accept_limit"].astype(float), good["accept_unit"],
                                        tz, calendar=cal)
    good["resolve_due_at"] = due_at_many(good["created_at"], good["resolve_limit"].astype(float),
                                         good["resolve_unit"], tz, calendar=cal)
    n = len(good)
    good["id"] = session.execute(sa.text(
        "SELECT nextval(pg_get_serial_sequence('ticket', 'id')) FROM generate_series(1, :n)"), {"n": n}).scalars().all()
    pts = shapely.set_srid(shapely.points(np.c_[good["lon"].to_numpy(), good["lat"].to_numpy()]), 4326)
    good["geom"] = shapely.to_wkb(pts, hex=True, include_srid=True)
    stamp = pd.Timestamp(at).strftime(_TS)
    ticket_cols, event_cols = _TICKET_COLS, _EVENT_COLS
    if history:
        hist = good[[c for c in good.columns if c.startswith("h_")]].rename(columns=lambda c: c[2:])
        events = history_events(good["id"], good["created_at"], hist, actor=actor, grid_ids=good["grid_id"],
                                channels=good["channel"])
        events["at"] = events["at"].dt.strftime(_TS)
        good["status"] = hist["status"]
        good["accept_overdue"], good["resolve_overdue"] = overdue_flags(hist, good["accept_due_at"],
                                                                        good["resolve_due_at"])
        good["rating"] = hist["rating"]
        good["version"] = events.groupby("ticket_id").size().reindex(good["id"]).to_numpy()
        good["updated_at"] = hist[[c for c in hist.columns if c.endswith("_at")]].max(axis=1).fillna(
            good["created_at"]).clip(lower=good["created_at"]).dt.strftime(_TS)
        for col in TICKET_TIME_COLUMNS:
            good[col] = hist[col].dt.strftime(_TS)
        ticket_cols, event_cols = _TICKET_COLS + _HISTORY_TICKET_COLS, _HISTORY_EVENT_COLS
    else:
        good["status"] = "reported"
        good["updated_at"] = stamp
        events = pd.DataFrame({
            "ticket_id": good["id"], "at": stamp, "kind": "reported", "to_status": "reported", "actor": actor,
            "actor_role": role,
            # channel codes need no JSON escaping; the external id is on the ticket itself
            "data": ('{"channel": "' + good["channel"].astype(str) + '", "grid_id": '
                     + good["grid_id"].astype("string").fillna("null") + ', "bulk": true}'),
        })
    good["created_by"] = actor
    for col in ("created_at", "accept_due_at", "resolve_due_at"):
        good[col] = good[col].dt.strftime(_TS)
    reporters = pd.DataFrame({
        "ticket_id": good["id"], "channel": good["channel"], "external_id": good["external_id"],
        "name": good["reporter_name"], "phone": good["reporter_phone"],
        "account": good["reporter_account"].fillna(actor), "reported_at": good["created_at"],
        "description": good["description"], "geom": good["geom"],
    })
    good["description"] = good["description"].fillna("")  # NOT NULL on the ticket, NULL on the reporter row
    buffers = []
    for frame, cols in ((good, ticket_cols), (events, event_cols), (reporters, _REPORTER_COLS)):
        buf = io.StringIO()
        frame[list(cols)].to_csv(buf, index=False, header=False, na_rep="\\N")
        buffers.append(buf.getvalue())
    fast = _checked_references(session, good)
    cur = driver_connection(session).cursor()
    try:
        for table, cols, text in (("ticket", ticket_cols, buffers[0]), ("ticket_event", event_cols, buffers[1]),
                                  ("ticket_reporter", _REPORTER_COLS, buffers[2])):
            with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
                copy.write(text)
        if fast:
            session.execute(sa.text("SET LOCAL session_replication_role = origin"))
    except Exception as exc:  # psycopg errors inside COPY: translate the one a user can cause
        if "uq_ticket_channel_external" in str(exc) or isinstance(exc, IntegrityError):
            raise Conflict("another import stored some of these external ids meanwhile; run it again "
                           "(rows already stored are skipped)") from exc
        raise
