"""Notification subscriptions: who hears about which ticket events, by role, department and category.

A subscription has a ``channel`` and a ``target``:

=========  ==============================================================================
webhook    ``target`` an http(s) URL; a random ``secret`` (shown once, at creation) signs every
           delivery (``spatial.notify.delivery.signature``)
email      ``target`` an e-mail address (sent over SMTP, ``ONEMAP_SMTP_*``)
inapp      ``target`` a role (``spatial.auth.ROLES``): an in-app message for every user of that
           role (of the subscription's department, when it has one)
=========  ==============================================================================

and filters: ``topics`` (a transition's target state such as ``dispatched``, ``resolved``,
``closed``, ``reopened``; or an event kind: ``reported``, ``duplicate_report``, ``overdue``,
``escalated``, ``rated``, ``merged_in``; empty = every topic), ``department`` and ``category``
(codes; unset = any). Workers (new task, reopened, overdue) and reporters (status changes) get
their in-app messages without subscribing.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.auth import ROLES
from spatial.errors import NotFound, ValidationError
from spatial.models import TICKET_STATES, Category, Department, NotificationSubscription

#: Topics that are event kinds (the others are ticket states, the targets of transitions).
EVENT_TOPICS = ("reported", "duplicate_report", "overdue", "escalated", "rated", "merged_in", "dispatch_pending")
TOPICS = tuple(dict.fromkeys((*TICKET_STATES, *EVENT_TOPICS)))
_EMAIL = re.compile(r"^[^@\s<>,;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$|^[^@\s<>,;]{1,64}@localhost$")


def check_email(address: str) -> str:
    """A plausible single e-mail address (422 otherwise)."""
    address = address.strip()
    if not _EMAIL.match(address):
        raise ValidationError(f"{address[:80]!r} is not an e-mail address")
    return address


def _check_target(channel: str, target: str) -> str:
    if channel == "webhook":
        p = urlparse(target)
        if p.scheme not in ("http", "https") or not p.netloc or any(c.isspace() for c in target):
            raise ValidationError("a webhook target must be an http(s) URL")
        return target
    if channel == "email":
        return check_email(target)
    if channel == "inapp":
        if target not in ROLES:
            raise ValidationError(f"an in-app target is a role: one of {', '.join(ROLES)}")
        return target
    raise ValidationError("channel must be webhook, email or inapp")


def add(session: Session, *, name: str, channel: str, target: str, topics: list[str] | None = None,
        department: str | None = None, category: str | None = None) -> tuple[NotificationSubscription, str | None]:
    """Create a subscription; returns it and, for a webhook, its signing secret (shown only now)."""
    target = _check_target(channel, target.strip())
    topics = sorted(set(topics or []))
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise ValidationError(f"unknown topics {unknown}; known: {', '.join(TOPICS)}")
    dept_id = cat_id = None
    if department:
        dept_id = session.scalar(sa.select(Department.id).where(Department.code == department))
        if dept_id is None:
            raise NotFound(f"unknown department {department!r}")
    if category:
        cat_id = session.scalar(sa.select(Category.id).where(Category.code == category))
        if cat_id is None:
            raise NotFound(f"unknown category {category!r}")
    secret = "whsec_" + secrets.token_urlsafe(32) if channel == "webhook" else None
    sub = NotificationSubscription(name=name.strip()[:128] or channel, channel=channel, target=target, secret=secret,
                                   topics=topics, department_id=dept_id, category_id=cat_id)
    session.add(sub)
    session.flush()
    return sub, secret


def listing(session: Session) -> list[dict]:
    """Every subscription, without secrets."""
    rows = session.execute(
        sa.select(NotificationSubscription, Department.code, Category.code)
        .outerjoin(Department, Department.id == NotificationSubscription.department_id)
        .outerjoin(Category, Category.id == NotificationSubscription.category_id)
        .order_by(NotificationSubscription.id)).all()
    return [{"id": s.id, "name": s.name, "channel": s.channel, "target": s.target, "topics": list(s.topics or []),
             "department": d, "category": c, "active": s.active} for s, d, c in rows]


def set_active(session: Session, sub_id: int, active: bool) -> None:
    """Pause or resume a subscription (pending deliveries stay in the outbox)."""
    sub = session.get(NotificationSubscription, sub_id)
    if sub is None:
        raise NotFound(f"subscription {sub_id} does not exist")
    sub.active = active
    session.flush()


def remove(session: Session, sub_id: int) -> None:
    """Delete a subscription and its undelivered outbox rows."""
    sub = session.get(NotificationSubscription, sub_id)
    if sub is None:
        raise NotFound(f"subscription {sub_id} does not exist")
    session.delete(sub)
    session.flush()
