"""Dispatch: the K best workers for a ticket, and safe (atomic) assignment.

Who can take a ticket
    on duty, in the ticket's department (``ticket.department_id``, else the
    category's), with the category's skill when the catalog names one, a latest
    trusted GPS fix no older than ``max_age_s`` (default
    ``Settings.position_max_age_s``) and ``workload < max_workload``.

Skill fallback
    When the category requires a skill and no available worker has it, the
    department's nearest available workers are returned instead, marked
    ``skill_match=False`` and explained in ``reason``; :func:`auto_dispatch`
    never assigns such a fallback candidate (it records ``dispatch_pending``).

Ranking
    True metres on the sphere: KNN ``worker.geog <-> ticket point`` on the partial
    GiST index ``(geog) WHERE on_duty AND workload < max_workload`` (migration
    0003; department, freshness and skill are filters on the index scan). ``distance_m`` is the spherical great-circle
    distance (within ~0.5 % of the WGS84 ellipsoid), the same metric as the
    haversine oracle in the tests. When a road network is loaded
    (:mod:`spatial.workers.routing`), a shortlist of ``4 k`` (at least 20) is re-ranked by
    network travel time and ``travel_time_s`` is set; otherwise it is ``None``.

Assignment
    :func:`assign` locks the ticket row, then the worker row (always in this
    order), re-checks state and the workload cap under the locks, increments the
    workload and moves the ticket to ``dispatched`` through
    :func:`spatial.tickets.lifecycle.transition` (which writes the event). Two
    dispatchers racing on one ticket or one worker cannot double-book: the
    second waits for the first and then gets :class:`~spatial.errors.Conflict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session

from spatial.clock import utc_now
from spatial.db.copy import driver_connection
from spatial.errors import Conflict, NotFound, ValidationError
from spatial.models import Ticket, TicketEvent, Worker
from spatial.settings import get_settings
from spatial.tickets import lifecycle
from spatial.tickets.lifecycle import QUEUE_STATES
from spatial.workers import routing

#: Ticket states from which a ticket can be dispatched ("reported" is accepted first).
DISPATCHABLE = QUEUE_STATES
#: States in which a ticket holds a worker.
ACTIVE = ("dispatched", "in_progress")
#: Largest K a caller may ask for.
MAX_K = 100


class WorkerUnavailable(Conflict):
    """The chosen worker cannot take the ticket now (off duty, at the workload cap)."""

    code = "worker_unavailable"


@dataclass
class Candidate:
    """One worker who can take a ticket, with the reasons for its rank.

    ``lon``/``lat`` are EPSG:4326 degrees of the latest trusted fix;
    ``distance_m`` great-circle metres to the ticket; ``fix_age_s`` seconds since
    that fix; ``travel_time_s`` network seconds (None without a road network).
    """

    worker_id: int
    code: str
    name: str
    department_id: int
    lon: float
    lat: float
    distance_m: float
    fix_age_s: float
    workload: int
    max_workload: int
    travel_time_s: float | None
    reason: str
    skill_match: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


# The two hot statements go straight to the psycopg connection of the session (same
# transaction): SQLAlchemy's per-execute overhead (~0.12 ms) was a third of the call.
_TICKET_SQL = (
    "SELECT t.id, t.status, COALESCE(t.department_id, c.department_id) AS dept, c.skill, "
    "ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, c.code AS category, t.assigned_worker_id, "
    "EXISTS (SELECT 1 FROM road) AS has_roads "
    "FROM ticket t JOIN category c ON c.id = t.category_id WHERE t.id = %(tid)s"
)

# KNN on geography (sphere metres) with a constant point: uses ix_worker_avail_geog. Two
# variants (with / without the skill filter) rather than "(:skill IS NULL OR ...)", which ruins
# the planner's row estimate and turns the KNN index scan into a bitmap scan + sort.
_KNN = (
    "SELECT w.id, w.code, w.name, w.department_id, ST_X(w.geom), ST_Y(w.geom), "
    "ST_Distance(w.geog, CAST(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geography), false), "
    "EXTRACT(EPOCH FROM (CAST(%(now)s AS timestamptz) - w.position_at)), "
    "w.workload, w.max_workload "
    "FROM worker w "
    "WHERE w.on_duty AND w.workload < w.max_workload AND w.department_id = %(dept)s "
    "AND w.position_at >= %(since)s AND w.geog IS NOT NULL {skill}"
    "ORDER BY w.geog <-> CAST(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS geography) "
    "LIMIT %(k)s"
)
_KNN_SQL = _KNN.format(skill="")
_KNN_SKILL_SQL = _KNN.format(skill="AND w.skills @> ARRAY[CAST(%(skill)s AS text)] ")


def _fetch(session: Session, sql: str, params: dict, *, named: bool = False) -> list:
    """Run ``sql`` (psycopg ``%(name)s`` style) on the session's own connection and transaction."""
    raw = driver_connection(session)
    with raw.cursor(row_factory=namedtuple_row) if named else raw.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _ticket_row(session: Session, ticket_id: int):
    rows = _fetch(session, _TICKET_SQL, {"tid": ticket_id}, named=True)
    if not rows:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return rows[0]


def _reason(distance_m: float, age_s: float, workload: int, cap: int, travel_s: float | None,
            skill: str | None, skill_match: bool) -> str:
    parts = [f"{distance_m:,.0f} m away"]
    if travel_s is not None:
        parts.append(f"about {travel_s / 60:.1f} min by road")
    parts.append(f"GPS fix {age_s:,.0f} s old")
    parts.append(f"{workload}/{cap} open jobs")
    if skill:
        parts.append(f"has skill '{skill}'" if skill_match else f"lacks skill '{skill}' (no skilled worker free)")
    return ", ".join(parts)


def candidates(
    session: Session,
    ticket_id: int,
    *,
    k: int = 5,
    max_age_s: float | None = None,
    now: datetime | None = None,
    use_routing: bool = True,
) -> list[Candidate]:
    """The ``k`` best available workers for a ticket, nearest first.

    Parameters
    ----------
    session
        Open session (read only).
    ticket_id
        The ticket.
    k
        How many candidates (1..100).
    max_age_s
        Freshness limit of the latest GPS fix in seconds (default
        ``Settings.position_max_age_s``).
    now
        Reference time for freshness (default: now, UTC).
    use_routing
        Re-rank by road travel time when a road network is loaded.

    Returns
    -------
    list[Candidate]
        Empty when nobody is available; :func:`availability` says why.

    Raises
    ------
    NotFound
        No such ticket.
    ValidationError
        ``k`` or ``max_age_s`` out of range.
    """
    if not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be between 1 and {MAX_K}, got {k}")
    max_age = get_settings().position_max_age_s if max_age_s is None else max_age_s
    if max_age <= 0:
        raise ValidationError("max_age_s must be positive")
    now = utc_now(now)
    t = _ticket_row(session, ticket_id)
    router = None
    if use_routing and t.has_roads:
        router = routing.network_for(session)
    fetch = max(4 * k, 20) if router is not None else k
    params = {"lon": t.lon, "lat": t.lat, "dept": t.dept, "since": now - timedelta(seconds=max_age),
              "now": now, "k": fetch, "skill": t.skill}
    rows = _fetch(session, _KNN_SQL if t.skill is None else _KNN_SKILL_SQL, params)
    skill_match = True
    if not rows and t.skill is not None:
        rows = _fetch(session, _KNN_SQL, params)
        skill_match = False
    travel: list[float | None] = [None] * len(rows)
    if router is not None and rows:
        travel = router.travel_times((t.lon, t.lat), [(r[4], r[5]) for r in rows])
    out = [
        Candidate(worker_id=r[0], code=r[1], name=r[2], department_id=r[3], lon=r[4], lat=r[5],
                  distance_m=float(r[6]), fix_age_s=max(0.0, float(r[7])), workload=r[8], max_workload=r[9],
                  travel_time_s=tt,
                  reason=_reason(float(r[6]), max(0.0, float(r[7])), r[8], r[9], tt, t.skill, skill_match),
                  skill_match=skill_match)
        for r, tt in zip(rows, travel, strict=True)
    ]
    if router is not None:
        out.sort(key=lambda c: (c.travel_time_s is None, c.travel_time_s or 0.0, c.distance_m))
    return out[:k]


def availability(
    session: Session,
    ticket_id: int,
    *,
    max_age_s: float | None = None,
    now: datetime | None = None,
) -> dict:
    """Counts that explain who can take a ticket, and a one-line ``message``.

    Returns a dict with ``department_id``, ``skill``, ``workers`` (in the
    department), ``on_duty``, ``no_position``, ``stale``, ``at_cap``,
    ``lacking_skill``, ``available`` and ``message``. Workers can be counted
    in several of stale/at_cap/lacking_skill.
    """
    max_age = get_settings().position_max_age_s if max_age_s is None else max_age_s
    now = utc_now(now)
    t = _ticket_row(session, ticket_id)
    r = session.execute(sa.text(
        "SELECT count(*), count(*) FILTER (WHERE on_duty), "
        "count(*) FILTER (WHERE on_duty AND (geom IS NULL OR position_at IS NULL)), "
        "count(*) FILTER (WHERE on_duty AND position_at < :since), "
        "count(*) FILTER (WHERE on_duty AND workload >= max_workload), "
        "count(*) FILTER (WHERE on_duty AND CAST(:skill AS text) IS NOT NULL "
        "  AND NOT skills @> ARRAY[CAST(:skill AS text)]), "
        "count(*) FILTER (WHERE on_duty AND workload < max_workload AND position_at >= :since "
        "  AND geom IS NOT NULL AND (CAST(:skill AS text) IS NULL OR skills @> ARRAY[CAST(:skill AS text)])) "
        "FROM worker WHERE department_id = :dept"
    ), {"dept": t.dept, "since": now - timedelta(seconds=max_age), "skill": t.skill}).one()
    out = {"department_id": t.dept, "skill": t.skill, "workers": r[0], "on_duty": r[1], "no_position": r[2],
           "stale": r[3], "at_cap": r[4], "lacking_skill": r[5], "available": r[6], "max_age_s": max_age}
    dept = session.execute(sa.text("SELECT name FROM department WHERE id = :d"), {"d": t.dept}).scalar()
    if r[6]:
        out["message"] = f"{r[6]} worker(s) of {dept} can take this ticket."
    elif r[0] == 0:
        out["message"] = f"No worker is registered in {dept}."
    elif r[1] == 0:
        out["message"] = f"Nobody in {dept} is on duty ({r[0]} worker(s) registered)."
    else:
        why = [f"{r[3]} with a GPS fix older than {max_age / 60:g} min" if r[3] else "",
               f"{r[2]} without any GPS fix" if r[2] else "",
               f"{r[4]} at their workload cap" if r[4] else "",
               f"{r[5]} without skill '{t.skill}'" if r[5] else ""]
        out["message"] = (f"No available worker in {dept}: {r[1]} on duty, "
                          + "; ".join(w for w in why if w) + ".")
    return out


def _lock_worker(session: Session, worker_id: int) -> Worker:
    worker = session.execute(
        sa.select(Worker).where(Worker.id == worker_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if worker is None:
        raise NotFound(f"worker {worker_id} does not exist")
    return worker


def assign(
    session: Session,
    ticket_id: int,
    worker_id: int,
    *,
    actor: str,
    role: str,
    now: datetime | None = None,
    note: str | None = None,
) -> Ticket:
    """Dispatch a ticket to a worker, atomically.

    Locks the ticket then the worker (``SELECT ... FOR UPDATE``), re-checks
    under the locks, accepts a ``reported`` ticket first (same actor), sets
    ``ticket.assigned_worker_id``, increments ``worker.workload`` and moves the
    ticket to ``dispatched`` via :func:`spatial.tickets.lifecycle.transition` (event data
    ``worker_id``, ``distance_m``, ``fix_age_s``). All or nothing: any error
    leaves the session as it was.

    Raises
    ------
    NotFound
        No such ticket or worker.
    Conflict
        The ticket is already dispatched or in a state that cannot be dispatched.
    WorkerUnavailable
        The worker is off duty or at the workload cap (a :class:`Conflict`).
    ValidationError
        The worker belongs to another department than the ticket.
    Forbidden
        ``role`` may not dispatch (from the lifecycle table).
    """
    now = utc_now(now)
    with session.begin_nested():
        ticket = lifecycle.lock_ticket(session, ticket_id)
        if ticket.status in ACTIVE:
            raise Conflict(f"ticket {ticket_id} is already {ticket.status} to worker {ticket.assigned_worker_id}",
                           details={"status": ticket.status, "worker_id": ticket.assigned_worker_id})
        if ticket.status not in DISPATCHABLE:
            raise Conflict(f"ticket {ticket_id} is {ticket.status} and cannot be dispatched",
                           details={"status": ticket.status})
        worker = _lock_worker(session, worker_id)
        t = _ticket_row(session, ticket_id)
        if worker.department_id != t.dept:
            raise ValidationError(f"worker {worker.code} is not in the ticket's department",
                                  details={"worker_department_id": worker.department_id, "department_id": t.dept})
        if not worker.on_duty:
            raise WorkerUnavailable(f"worker {worker.code} is off duty", details={"worker_id": worker_id})
        if worker.workload >= worker.max_workload:
            raise WorkerUnavailable(
                f"worker {worker.code} already has {worker.workload}/{worker.max_workload} open jobs",
                details={"worker_id": worker_id, "workload": worker.workload})
        geo = session.execute(sa.text(
            "SELECT ST_Distance(w.geog, CAST(t.geom AS geography), false), "
            "EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - w.position_at)) "
            "FROM worker w, ticket t WHERE w.id = :w AND t.id = :t"), {"w": worker_id, "t": ticket_id, "now": now}
        ).one()
        data = {"worker_id": worker_id, "worker_code": worker.code,
                "distance_m": None if geo[0] is None else round(float(geo[0]), 1),
                "fix_age_s": None if geo[1] is None else round(float(geo[1]), 1)}
        if ticket.status == "reported":
            lifecycle.transition(session, ticket_id, "accepted", actor=actor, role=role, now=now,
                                 note="accepted on dispatch")
        worker.workload = worker.workload + 1
        ticket.assigned_worker_id = worker_id
        session.flush()
        ticket = lifecycle.transition(session, ticket_id, "dispatched", actor=actor, role=role, now=now,
                                      note=note, data=data)
    return ticket


def auto_dispatch(
    session: Session,
    ticket_id: int,
    *,
    actor: str = "system:auto-dispatch",
    now: datetime | None = None,
) -> Ticket | None:
    """Assign the best skilled candidate, or record a ``dispatch_pending`` event.

    Tries the candidates nearest first (a worker filled by a concurrent
    dispatcher is skipped). Returns the dispatched ticket, or ``None`` when
    nobody is available; the event's note and data then say why.
    """
    now = utc_now(now)
    for c in candidates(session, ticket_id, k=5, now=now):
        if not c.skill_match:
            break
        try:
            return assign(session, ticket_id, c.worker_id, actor=actor, role="system", now=now,
                          note=f"auto-dispatch: {c.reason}")
        except WorkerUnavailable:
            continue
    info = availability(session, ticket_id, now=now)
    status = session.execute(sa.select(Ticket.status).where(Ticket.id == ticket_id)).scalar_one()
    session.add(TicketEvent(ticket_id=ticket_id, at=now, kind="dispatch_pending", from_status=status,
                            to_status=status, actor=actor, actor_role="system", note=info["message"],
                            data={k: v for k, v in info.items() if k != "message"}))
    session.flush()
    return None
