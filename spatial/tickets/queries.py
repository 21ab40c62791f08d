"""Read side of tickets: filter builders and the public / staff views.

One Core ``SELECT`` joins a ticket to its category, department and admin
units (codes, not ids, are what users know) and returns ``lon``/``lat`` in
EPSG:4326 degrees. :func:`ticket_view` turns a row into a dict; reporter name,
phone and account appear only with ``pii=True``. :func:`views_for` is what
every endpoint serves: the rows as one caller may see them, by the rules of
``spatial.privacy`` (sensitive tickets, reporter contact), and
:func:`visible_to` adds those rules to a list filter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from spatial import privacy
from spatial.auth import Principal, in_scope, ticket_scope_clause
from spatial.errors import Forbidden, NotFound, ValidationError
from spatial.models import (
    TICKET_STATES,
    AdminUnit,
    Category,
    Department,
    Ticket,
    TicketEvent,
    TicketReporter,
    build_lookup_indexes,
)

MAX_PAGE_SIZE = 500

_grid = aliased(AdminUnit, name="g")
_community = aliased(AdminUnit, name="c")
_street = aliased(AdminUnit, name="s")
# Shared by every request thread: complete their lookup indexes now (see build_lookup_indexes).
build_lookup_indexes(*(sa.inspect(a).selectable for a in (_grid, _community, _street)))

PUBLIC_FIELDS = (
    "id", "status", "category", "category_name", "department", "department_name", "channel", "description",
    "address", "lon", "lat", "grid", "community", "street", "photo_urls", "priority", "created_at",
    "updated_at", "accepted_at", "dispatched_at", "resolved_at", "closed_at", "accept_due_at",
    "resolve_due_at", "accept_overdue", "resolve_overdue", "escalation_level", "merged_into_id", "rating",
    "rating_comment", "version",
)
STAFF_FIELDS = ("external_id", "assigned_worker_id", "grid_id", "street_id", "created_by", "attrs")
PII_FIELDS = ("reporter_name", "reporter_phone", "reporter_account")


def base_query() -> sa.Select:
    """Every field of the views, one row per ticket."""
    t = Ticket
    return (
        sa.select(
            t.id, t.status, Category.code.label("category"), Category.name.label("category_name"),
            Department.code.label("department"), Department.name.label("department_name"), t.channel,
            t.description, t.address, sa.func.ST_X(t.geom).label("lon"), sa.func.ST_Y(t.geom).label("lat"),
            _grid.code.label("grid"), _community.code.label("community"), _street.code.label("street"),
            t.photo_urls, t.priority, t.created_at, t.updated_at, t.accepted_at, t.dispatched_at,
            t.resolved_at, t.closed_at, t.accept_due_at, t.resolve_due_at, t.accept_overdue,
            t.resolve_overdue, t.escalation_level, t.merged_into_id, t.rating, t.rating_comment, t.version,
            t.external_id, t.assigned_worker_id, t.grid_id, t.street_id, t.created_by, t.attrs,
            t.reporter_name, t.reporter_phone, t.reporter_account, t.department_id, t.category_id,
            Category.sensitive.label("sensitive"),
        )
        .join(Category, Category.id == t.category_id)
        .outerjoin(Department, Department.id == t.department_id)
        .outerjoin(_grid, _grid.id == t.grid_id)
        .outerjoin(_community, _community.id == t.community_id)
        .outerjoin(_street, _street.id == t.street_id)
    )


#: One ticket's row; built once at import (not on the first concurrent requests), so its cache key and
#: SQL compilation are reused on every call.
_ROW_STMT = base_query().where(Ticket.id == sa.bindparam("tid"))


def _iso(v):
    return v.isoformat() if isinstance(v, datetime) else v


def ticket_view(row: sa.Row | Mapping[str, Any], *, staff: bool = False, pii: bool = False) -> dict:
    """A ticket row (or its mapping) as a JSON-ready dict; ``staff`` adds internal fields, ``pii`` the
    reporter's contact.

    No privacy decision is taken here: :func:`views_for` decides ``staff``,
    ``pii`` and redaction for a caller.
    """
    m = row._mapping if isinstance(row, sa.Row) else row
    names = PUBLIC_FIELDS + (STAFF_FIELDS if staff else ()) + (PII_FIELDS if pii else ())
    out = {k: _iso(m[k]) for k in names}
    out["photo_urls"] = list(out["photo_urls"] or [])
    if m.get("redacted"):
        out["redacted"] = True
    return out if pii else privacy.strip_reporter(out)


def as_seen_by(row: sa.Row, principal: Principal | None, *, owned: bool = False) -> Mapping[str, Any]:
    """The row's fields for ``principal``: redacted (``spatial.privacy.redact``) when the ticket is
    sensitive and the caller neither is staff nor reported it (``owned``)."""
    m = row._mapping
    if m["sensitive"] and not owned and not privacy.sees_sensitive(principal):
        return privacy.redact(m)
    return m


def primary_reporter(row: sa.Row, principal: Principal | None) -> bool:
    """Whether the caller is the citizen who filed the ticket (its ``reporter_account``)."""
    return (principal is not None and principal.role == "citizen"
            and row._mapping["reporter_account"] == principal.actor)


def views_for(session: Session, rows: Sequence[sa.Row], principal: Principal | None, *,
              with_reporters: bool = False) -> list[dict]:
    """The rows as ``principal`` may see them (``spatial.privacy``).

    Staff get the internal fields; reporter contact follows
    :func:`spatial.privacy.sees_reporter` (a citizen sees their own report's
    contact only); sensitive tickets the caller may not see in full are
    redacted (callers that omit them filter them out first, :func:`visible_to`).
    ``with_reporters`` adds the ``reporters`` list where contact is visible.
    """
    staff = privacy.is_staff(principal)
    owned = set() if privacy.sees_sensitive(principal) else owned_ids(
        session, [r.id for r in rows if r._mapping["sensitive"]], principal)
    out = []
    for r in rows:
        dept = r._mapping["department_id"]
        by_role = privacy.sees_reporter(principal, department_id=dept)
        pii = privacy.sees_reporter(principal, department_id=dept, owned=primary_reporter(r, principal))
        view = ticket_view(as_seen_by(r, principal, owned=r.id in owned), staff=staff, pii=pii)
        if pii and with_reporters:
            reps = reporters(session, r.id)
            view["reporters"] = reps if by_role else [p for p in reps if p["account"] == principal.actor]
        out.append(view)
    return out


def owner_clause(actor: str) -> sa.ColumnElement[bool]:
    """SQL: ``actor`` reported the ticket (or a report merged into it)."""
    return sa.or_(Ticket.created_by == actor,
                  sa.exists().where(TicketReporter.ticket_id == Ticket.id, TicketReporter.account == actor))


def owned_ids(session: Session, ids: Sequence[int], principal: Principal | None) -> set[int]:
    """The ids among ``ids`` of tickets ``principal`` reported (or a report merged into them)."""
    if principal is None or not ids:
        return set()
    q = sa.select(Ticket.id).where(Ticket.id.in_(list(ids)), owner_clause(principal.actor))
    return set(session.scalars(q).all())


def visible_to(f: TicketFilter, principal: Principal | None) -> TicketFilter:
    """``f`` restricted to the tickets ``principal`` may find (``spatial.privacy.hides_sensitive_rows``).

    Sensitive tickets are left out for the public when the setting omits them
    or when ``f`` selects by location (bbox, grid, street), unless the caller
    reported them.
    """
    scope = ticket_scope_clause(principal, Ticket.street_id)
    if scope is not None:  # a street's staff: their street's tickets only
        f = dataclasses.replace(f, extra=[*f.extra, scope])
    located = f.bbox is not None or bool(f.grid) or bool(f.street)
    if not privacy.hides_sensitive_rows(principal, located=located):
        return f
    clause = sa.not_(Category.sensitive)
    if principal is not None:
        clause = sa.or_(clause, owner_clause(principal.actor))
    return dataclasses.replace(f, extra=[*f.extra, clause])


def visible_row(session: Session, ticket_id: int, principal: Principal | None) -> sa.Row:
    """One ticket's row if ``principal`` may find it (NotFound otherwise, like a missing ticket)."""
    row = ticket_row(session, ticket_id)
    m = row._mapping
    if not in_scope(principal, street_id=m["street_id"]):
        raise NotFound(f"ticket {ticket_id} does not exist")
    if (row._mapping["sensitive"] and privacy.hides_sensitive_rows(principal)
            and not owned_ids(session, [ticket_id], principal)):
        raise NotFound(f"ticket {ticket_id} does not exist")
    return row


@dataclass
class TicketFilter:
    """List filters; every field is optional and combines with AND.

    ``bbox`` is (min_lon, min_lat, max_lon, max_lat) in EPSG:4326 degrees;
    ``since``/``until`` bound ``created_at`` (timezone-aware, until exclusive).
    """

    ids: Sequence[int] = ()
    status: Sequence[str] = ()
    category: Sequence[str] = ()
    grid: Sequence[str] = ()
    street: Sequence[str] = ()
    department: Sequence[str] = ()
    bbox: tuple[float, float, float, float] | None = None
    since: datetime | None = None
    until: datetime | None = None
    overdue: bool | None = None
    owner: str | None = None
    extra: list = field(default_factory=list)

    def validate(self) -> TicketFilter:
        bad = [s for s in self.status if s not in TICKET_STATES]
        if bad:
            raise ValidationError(f"unknown status {', '.join(bad)}; one of {', '.join(TICKET_STATES)}")
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
                raise ValidationError("bbox must be min_lon,min_lat,max_lon,max_lat in degrees with min < max")
        for t in (self.since, self.until):
            if t is not None and t.tzinfo is None:
                raise ValidationError("since/until must carry a time zone")
        if self.since and self.until and self.since >= self.until:
            raise ValidationError("since must be before until")
        return self


def apply_filter(q: sa.Select, f: TicketFilter) -> sa.Select:
    """Add the filter's WHERE clauses to a :func:`base_query`."""
    t = Ticket
    if f.ids:
        q = q.where(t.id.in_(list(f.ids)))
    if f.status:
        q = q.where(t.status.in_(list(f.status)))
    if f.category:
        q = q.where(Category.code.in_(list(f.category)))
    if f.grid:
        q = q.where(_grid.code.in_(list(f.grid)))
    if f.street:
        q = q.where(_street.code.in_(list(f.street)))
    if f.department:
        q = q.where(Department.code.in_(list(f.department)))
    if f.bbox is not None:
        q = q.where(t.geom.op("&&")(sa.func.ST_MakeEnvelope(*f.bbox, 4326)))
    if f.since is not None:
        q = q.where(t.created_at >= f.since)
    if f.until is not None:
        q = q.where(t.created_at < f.until)
    if f.overdue is not None:
        cond = sa.or_(t.accept_overdue, t.resolve_overdue)
        q = q.where(cond if f.overdue else sa.not_(cond))
    if f.owner is not None:
        q = q.where(owner_clause(f.owner))
    for clause in f.extra:
        q = q.where(clause)
    return q


def list_tickets(
    session: Session, f: TicketFilter, *, limit: int = 50, offset: int = 0, order: str = "-created_at",
) -> tuple[list[sa.Row], bool]:
    """Rows matching ``f`` (newest first by default) and whether more follow."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"page size must be 1-{MAX_PAGE_SIZE}")
    if offset < 0:
        raise ValidationError("offset must be >= 0")
    key = {"created_at": (Ticket.created_at, Ticket.id), "-created_at": (Ticket.created_at.desc(), Ticket.id.desc()),
           "updated_at": (Ticket.updated_at, Ticket.id), "-updated_at": (Ticket.updated_at.desc(), Ticket.id.desc())}
    if order not in key:
        raise ValidationError(f"order must be one of {', '.join(key)}")
    q = apply_filter(base_query(), f.validate()).order_by(*key[order]).limit(limit + 1).offset(offset)
    rows = session.execute(q).all()
    return rows[:limit], len(rows) > limit


def ticket_row(session: Session, ticket_id: int) -> sa.Row:
    """One ticket's view row; raises NotFound."""
    row = session.execute(_ROW_STMT, {"tid": ticket_id}).one_or_none()
    if row is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return row


def events(session: Session, ticket_id: int, *, pii: bool = False) -> list[dict]:
    """The ticket's history, oldest first. Without ``pii`` the actor is reduced to its role."""
    rows = session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                           .order_by(TicketEvent.at, TicketEvent.id)).all()
    out = []
    for e in rows:
        out.append({
            "id": e.id, "at": e.at.isoformat(), "kind": e.kind, "from_status": e.from_status,
            "to_status": e.to_status, "actor": e.actor if pii else None, "actor_role": e.actor_role,
            "note": e.note, "data": e.data,
        })
    return out


def reporters(session: Session, ticket_id: int) -> list[dict]:
    """The reports merged into a ticket, with contact (serve through :func:`views_for`)."""
    rows = session.scalars(sa.select(TicketReporter).where(TicketReporter.ticket_id == ticket_id)
                           .order_by(TicketReporter.id)).all()
    return [{"id": r.id, "channel": r.channel, "external_id": r.external_id, "name": r.name, "phone": r.phone,
             "account": r.account, "reported_at": r.reported_at.isoformat(), "description": r.description}
            for r in rows]


def catalog(session: Session) -> list[dict]:
    """The active category catalog with each category's department code, by major group then code."""
    rows = session.execute(
        sa.select(Category, Department.code).join(Department, Department.id == Category.department_id)
        .where(Category.active).order_by(Category.major_code, Category.code)
    ).all()
    return [{
        "code": c.code, "name": c.name, "major_code": c.major_code, "major_name": c.major_name,
        "description": c.description, "department": dept, "accept_limit": c.accept_limit,
        "accept_unit": c.accept_unit, "resolve_limit": c.resolve_limit, "resolve_unit": c.resolve_unit,
        "closing_standard": c.closing_standard, "on_the_spot": c.on_the_spot, "auto_dispatch": c.auto_dispatch,
        "duplicate_radius_m": c.duplicate_radius_m, "duplicate_window_h": c.duplicate_window_h,
        "priority": c.priority, "keywords": list(c.keywords or []),
    } for c, dept in rows]


def active_categories(session: Session) -> list[Category]:
    """Active categories ordered by code (the Open311 service list)."""
    return list(session.scalars(sa.select(Category).where(Category.active).order_by(Category.code)).all())


def check_in_scope(session: Session, principal: Principal | None, ticket_id: int) -> None:
    """Refuse a write on a ticket outside ``principal``'s scope.

    Another street's ticket is NotFound (as for a missing ticket: a street's
    staff do not see it); another department's ticket is Forbidden for a handler.
    """
    row = session.execute(sa.text(
        "SELECT t.street_id, COALESCE(t.department_id, c.department_id) AS department_id FROM ticket t "
        "JOIN category c ON c.id = t.category_id WHERE t.id = :t"), {"t": ticket_id}).one_or_none()
    if row is None or not in_scope(principal, street_id=row.street_id):
        raise NotFound(f"ticket {ticket_id} does not exist")
    if not in_scope(principal, street_id=row.street_id, department_id=row.department_id, acting=True):
        raise Forbidden("this ticket belongs to another department")


def ticket_department(session: Session, ticket_id: int) -> int:
    """The department responsible for a ticket (its own, else its category's); NotFound if no such ticket."""
    dept = session.execute(sa.text(
        "SELECT COALESCE(t.department_id, c.department_id) FROM ticket t JOIN category c ON c.id = t.category_id "
        "WHERE t.id = :t"), {"t": ticket_id}).scalar()
    if dept is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return dept


def is_reported_by(session: Session, ticket_id: int, actor: str) -> bool:
    """Whether ``actor`` reported the ticket (or a report merged into it)."""
    q = apply_filter(sa.select(Ticket.id), TicketFilter(ids=[ticket_id], owner=actor))
    return session.execute(q).first() is not None


def page(session: Session, f: TicketFilter, size: int, page_no: int) -> list[sa.Row]:
    """One page (1-based ``page_no``) of matching tickets, newest first."""
    q = apply_filter(base_query(), f.validate())
    return list(session.execute(q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(size)
                                .offset((page_no - 1) * size)).all())


def status_updates(session: Session, start: datetime, end: datetime, principal: Principal | None, *,
                   limit: int) -> list[sa.Row]:
    """State changes (``ticket_event`` rows with a ``to_status``) made in ``[start, end)``, oldest first.

    Tickets the caller may not find (``visible_to``: sensitive ones for the public) are left out.
    Rows: ``id, ticket_id, at, to_status, note``.
    """
    hidden = privacy.hides_sensitive_rows(principal)
    q = (sa.select(TicketEvent.id, TicketEvent.ticket_id, TicketEvent.at, TicketEvent.to_status, TicketEvent.note)
         .where(TicketEvent.to_status.is_not(None), TicketEvent.at >= start, TicketEvent.at < end)
         .order_by(TicketEvent.at, TicketEvent.id).limit(limit))
    if hidden:
        q = q.join(Ticket, Ticket.id == TicketEvent.ticket_id).join(Category, Category.id == Ticket.category_id) \
            .where(sa.not_(Category.sensitive))
    return list(session.execute(q).all())
