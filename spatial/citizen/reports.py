"""Citizen reports without an account: categories, nearby open reports, address search, submit, track, rate.

A report from the citizen page goes through the same intake as every channel
(``spatial.tickets.intake.intake``: grid, catalog deadlines, duplicate merge) as channel
``citizen_app``. The reporter gets a **tracking token** (192 random bits, URL-safe); only its
SHA-256 is stored (``citizen_report``), like API tokens. The page puts it in the URL *fragment*
(``/report/track#<token>``), which browsers never send to a server, so it is not in access logs
or ``Referer`` headers; the page sends it in the ``X-Tracking-Token`` header.

Each report has a pseudonymous **account** (``citizen:web:<16 hex>``) written as the ticket's
reporter account and on its ``ticket_reporter`` row: the owner checks of the API
(``queries.is_reported_by``), the privacy rules and the reporter's in-app messages all work with
it, and rating is ``lifecycle.rate`` as role ``citizen``.

**Idempotency**: the page sends an ``Idempotency-Key`` (a random UUID per report draft). The
intake external id is ``web:<sha256(key)[:40]>``, so a retried submit (the answer was lost)
returns the same ticket, with a new tracking token for it (the first one never arrived).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.auth import Principal
from spatial.clock import utc_now
from spatial.errors import NotFound, ValidationError
from spatial.media import service as media_service
from spatial.models import Category, CitizenReport, Media, TicketEvent
from spatial.notify import messages, texts
from spatial.notify.subscriptions import check_email
from spatial.tickets import duplicates, lifecycle
from spatial.tickets import intake as tickets
from spatial.tickets import queries as ticket_views
from spatial.tickets.lifecycle import FINAL_STATES, OPEN_STATES

CHANNEL = "citizen_app"
TRACK_PATH = "/report/track#{token}"
MAX_KEY = 100
#: Nearby reports listed before sending: within this many times the category's duplicate radius.
NEARBY_FACTOR = 2.0
NEARBY_MIN_M = 100.0
NEARBY_LIMIT = 10


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def categories(session: Session) -> list[dict]:
    """Active categories a citizen may report here: every one that is not sensitive."""
    rows = session.scalars(sa.select(Category).where(Category.active, sa.not_(Category.sensitive))
                           .order_by(Category.major_code, Category.code)).all()
    return [{"code": c.code, "name": c.name, "group": c.major_name, "description": c.description or ""}
            for c in rows]


def _public_category(session: Session, code: str) -> Category:
    cat = tickets.category_by_code(session, code)
    if cat.sensitive:
        raise ValidationError("this kind of problem is handled in confidence: please call the 12345 hotline")
    return cat


_NEARBY = sa.text("""
SELECT t.id, t.status, t.created_at, t.description, t.address,
       ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat,
       ST_Distance(t.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS distance_m
FROM ticket t
WHERE t.category_id = :cat AND t.status IN :open AND t.created_at >= :since
  AND t.geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :deg)
  AND ST_DWithin(t.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius)
ORDER BY distance_m LIMIT :n
""").bindparams(sa.bindparam("open", expanding=True))


def nearby(session: Session, category: str, lon: float, lat: float, *, lang: str = "zh") -> dict:
    """Open reports of ``category`` near (lon, lat) (EPSG:4326), nearest first, and the one this report would join.

    ``would_merge_into`` is the ticket the intake's duplicate rule (``onemap_duplicate_of``, the category's
    radius and window) would merge a report here into; the list reaches :data:`NEARBY_FACTOR` times that
    radius so people also see reports just outside it.
    """
    cat = _public_category(session, category)
    at = utc_now()
    window = cat.duplicate_window_h if cat.duplicate_window_h > 0 else 24.0
    dup = duplicates.find_duplicate(session, category_id=cat.id, lon=lon, lat=lat, at=at,
                                    radius_m=cat.duplicate_radius_m, window_h=cat.duplicate_window_h)
    radius = max(cat.duplicate_radius_m * NEARBY_FACTOR, NEARBY_MIN_M)
    params = duplicates.search_params(category_id=cat.id, lon=lon, lat=lat, at=at, radius_m=radius, window_h=window)
    rows = session.execute(_NEARBY, {"cat": cat.id, "lon": lon, "lat": lat, "since": params["since"],
                                     "deg": params["deg"], "radius": radius, "open": list(OPEN_STATES),
                                     "n": NEARBY_LIMIT}).all()
    return {"category": cat.code, "radius_m": radius, "would_merge_into": dup, "reports": [
        {"id": r.id, "status": r.status, "status_text": texts.status_text(r.status, lang),
         "created_at": r.created_at.isoformat(), "description": (r.description or "")[:200], "address": r.address,
         "lon": r.lon, "lat": r.lat, "distance_m": round(r.distance_m, 1)} for r in rows]}


_GEOCODE = sa.text("""
WITH q AS (SELECT '%' || :q || '%' AS pat)
(SELECT 'address' AS kind, concat_ws(' ', a.street, a.housenumber, a.name) AS label,
        ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat
 FROM address a, q WHERE concat_ws(' ', a.street, a.housenumber, a.name) ILIKE q.pat LIMIT :n)
UNION ALL
(SELECT 'place', p.name, ST_X(p.geom), ST_Y(p.geom) FROM poi p, q WHERE p.name ILIKE q.pat LIMIT :n)
UNION ALL
(SELECT 'road', r.name, ST_X(ST_LineInterpolatePoint(ST_LineMerge(r.geom), 0.5)),
        ST_Y(ST_LineInterpolatePoint(ST_LineMerge(r.geom), 0.5))
 FROM road r, q WHERE r.name ILIKE q.pat AND ST_GeometryType(ST_LineMerge(r.geom)) = 'ST_LineString' LIMIT :n)
UNION ALL
(SELECT 'area', u.name, ST_X(ST_PointOnSurface(u.geom)), ST_Y(ST_PointOnSurface(u.geom))
 FROM admin_unit u, q WHERE u.level >= 2 AND u.name ILIKE q.pat LIMIT :n)
""")


def geocode(session: Session, q: str, *, limit: int = 8) -> list[dict]:
    """Places whose name contains ``q`` (addresses, POIs, roads, communities), for the address-only path.

    Coordinates are EPSG:4326; roads are placed at their midpoint, areas on their surface.
    """
    q = " ".join(q.split())
    if len(q) < 2:
        raise ValidationError("type at least 2 characters of an address or place name")
    if len(q) > 100:
        raise ValidationError("the address is too long (at most 100 characters)")
    pat = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(_GEOCODE, {"q": pat, "n": limit}).all()
    seen, out = set(), []
    for r in rows:
        key = (r.label, round(r.lon, 5), round(r.lat, 5))
        if r.label and key not in seen:
            seen.add(key)
            out.append({"kind": r.kind, "label": r.label, "lon": r.lon, "lat": r.lat})
    return out[:limit]


@dataclass(frozen=True)
class Submitted:
    """The answer to a submitted report: the tracking token (plaintext, shown once) and the intake outcome."""

    token: str
    ticket_id: int
    outcome: str


def submit(session: Session, body: dict, *, idempotency_key: str | None, base_url: str) -> Submitted:
    """File a citizen report (see the module docstring). ``body``: category, lon, lat, description,
    address, media (photo ids), phone, email, lang. Flushes; the caller commits."""
    allowed = {"category", "lon", "lat", "description", "address", "media", "phone", "email", "lang"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise ValidationError(f"unknown fields: {', '.join(extra)[:200]}")
    code = body.get("category")
    if not isinstance(code, str) or not code:
        raise ValidationError("category: choose what kind of problem it is")
    _public_category(session, code)
    media_ids = body.get("media") or []
    if not isinstance(media_ids, list) or not all(isinstance(m, str) for m in media_ids):
        raise ValidationError("media must be a list of photo ids from POST /api/media")
    if len(media_ids) > tickets.MAX_PHOTOS:
        raise ValidationError(f"at most {tickets.MAX_PHOTOS} photos per report")
    email = body.get("email") or None
    if email is not None:
        if not isinstance(email, str):
            raise ValidationError("email must be text")
        email = check_email(email)
    lang = "en" if str(body.get("lang") or "zh").startswith("en") else "zh"
    ext = None
    idem = None
    if idempotency_key is not None:
        key = idempotency_key.strip()
        if not 8 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
            raise ValidationError(f"Idempotency-Key must be 8-{MAX_KEY} printable ASCII characters")
        idem = hashlib.sha256(key.encode()).hexdigest()
        ext = "web:" + idem[:40]
    previous = None
    if idem is not None:
        previous = session.scalars(sa.select(CitizenReport).where(CitizenReport.idem_hash == idem)
                                   .order_by(CitizenReport.id).limit(1)).first()
    account = previous.account if previous else f"citizen:web:{secrets.token_hex(8)}"
    photos: list[Media] = [] if previous else media_service.check_claimable(session, media_ids)
    data = tickets.TicketCreate.parse({
        "category": code, "lon": body.get("lon"), "lat": body.get("lat"), "channel": CHANNEL,
        "description": body.get("description") or "", "address": body.get("address") or None,
        "photo_urls": [media_service.urls(m, base_url)["url"] for m in photos],
        "reporter_phone": body.get("phone") or None, "reporter_account": account, "external_id": ext,
        "attrs": {"lang": lang, "media": [m.id for m in photos]} if photos else {"lang": lang},
    })
    result = tickets.intake(session, data, actor=account, role="citizen")
    ticket_id = result.ticket.id
    if result.outcome != "existing":
        media_service.attach(session, photos, ticket_id=ticket_id)
    token = secrets.token_urlsafe(24)
    session.add(CitizenReport(token_hash=token_hash(token), idem_hash=idem, ticket_id=ticket_id, account=account,
                              email=email if not previous else previous.email, lang=lang))
    session.flush()
    return Submitted(token=token, ticket_id=ticket_id, outcome=result.outcome)


def report_for(session: Session, token: str | None) -> CitizenReport:
    """The report of a tracking token (404 for an unknown or malformed one)."""
    if not token or len(token) > 100:
        raise NotFound("unknown tracking link")
    rep = session.scalars(sa.select(CitizenReport).where(CitizenReport.token_hash == token_hash(token))).first()
    if rep is None:
        raise NotFound("unknown tracking link")
    return rep


def _history(session: Session, ticket_id: int, lang: str) -> list[dict]:
    rows = session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.kind.in_(("reported", "transition", "rated")))
        .order_by(TicketEvent.at, TicketEvent.id)).all()
    out = []
    for e in rows:
        status = e.to_status or ("rated" if e.kind == "rated" else None)
        label = (("已评价" if lang == "zh" else "Rated") if e.kind == "rated"
                 else texts.status_text(status, lang))
        out.append({"at": e.at.isoformat(), "status": status, "text": label})
    return out


def track(session: Session, token: str | None, *, lang: str = "zh") -> dict:
    """What the reporter sees: status, public history, photos, messages, rating (no staff names or notes)."""
    rep = report_for(session, token)
    principal = Principal(actor=rep.account, role="citizen")
    row = ticket_views.ticket_row(session, rep.ticket_id)
    view = ticket_views.views_for(session, [row], principal)[0]
    photos = session.scalars(sa.select(Media).where(Media.ticket_id == rep.ticket_id)
                             .order_by(Media.created_at, Media.id)).all()
    merged = None
    if view["status"] == "merged" and view.get("merged_into_id"):
        target = ticket_views.ticket_row(session, view["merged_into_id"])
        merged = {"id": target.id, "status": target.status, "status_text": texts.status_text(target.status, lang)}
    return {
        "ticket_id": view["id"], "status": view["status"], "status_text": texts.status_text(view["status"], lang),
        "final": view["status"] in FINAL_STATES, "category": view["category"],
        "category_name": view["category_name"], "description": view["description"], "address": view["address"],
        "lon": view["lon"], "lat": view["lat"], "created_at": view["created_at"],
        "updated_at": view["updated_at"], "rating": view["rating"],
        "can_rate": view["status"] == "closed" and view["rating"] is None,
        "merged_into": merged, "photos": [{"id": m.id, "thumb": media_service.THUMB_PATH.format(id=m.id),
                                           "url": media_service.PUBLIC_PATH.format(id=m.id)} for m in photos],
        "history": _history(session, rep.ticket_id, lang),
        "messages": messages.for_account(session, rep.account, lang=lang),
    }


def rate(session: Session, token: str | None, rating: object, comment: object) -> None:
    """The reporter rates the closed ticket once (``lifecycle.rate`` as role citizen)."""
    rep = report_for(session, token)
    if not isinstance(rating, int) or isinstance(rating, bool):
        raise ValidationError("rating must be an integer from 1 to 5")
    if comment is not None and not isinstance(comment, str):
        raise ValidationError("comment must be text")
    lifecycle.rate(session, rep.ticket_id, rating, comment=comment, actor=rep.account, role="citizen")
