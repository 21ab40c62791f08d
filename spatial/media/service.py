"""Media rows: store an upload, attach photos to a ticket, decide who may see which copy.

An upload (:func:`save_upload`) writes three blobs to the content store (original, public
copy, thumbnail; ``spatial.media.store``) and one ``media`` row in the caller's transaction.
The blobs are written first and are harmless if the transaction then fails: they are
unreferenced and :func:`collect_garbage` removes them later. The row's ``id`` is 128 random
bits, the only handle clients get; it is unguessable, so a photo that is not yet attached to a
ticket is visible only to whoever uploaded it (and whoever they share the link with).

Who sees what (the rules of ``spatial.privacy``):

* the **public copy** and the **thumbnail**: anyone, unless the photo belongs to a ticket of a
  sensitive category, which only staff (``privacy.sees_sensitive``) and the ticket's reporter see;
* the **original** (EXIF intact) and the EXIF **GPS position and capture time**: private
  evidence, seen by those who see the ticket's reporter contact (``privacy.sees_reporter``:
  dispatchers, leadership, admin, the ticket's department) and never by the public.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy.orm import Session

from spatial import privacy
from spatial.auth import Principal
from spatial.errors import Conflict, NotFound, ValidationError
from spatial.media.images import Photo, process
from spatial.media.store import ContentStore
from spatial.models import Category, Media, Ticket
from spatial.settings import get_settings
from spatial.tickets.queries import is_reported_by

#: Public URL paths of a photo's copies (``{id}`` is the media id).
PUBLIC_PATH = "/media/{id}"
THUMB_PATH = "/media/{id}/thumb"
ORIGINAL_PATH = "/media/{id}/original"
#: Unattached uploads older than this are removed by :func:`collect_garbage`.
UNATTACHED_TTL = timedelta(days=2)


def store() -> ContentStore:
    """The content store of the current settings (``ONEMAP_MEDIA_DIR`` or ``<home>/media``)."""
    return ContentStore(get_settings().media_root)


def check_and_copy(data: bytes) -> Photo:
    """The settings' limits applied to ``data`` (see :func:`spatial.media.images.process`)."""
    s = get_settings()
    return process(data, max_bytes=s.media_max_bytes, max_pixels=s.media_max_pixels, thumb_px=s.media_thumb_px)


def save_upload(session: Session, data: bytes, *, uploaded_by: str | None) -> Media:
    """Check an uploaded photo, store its three copies and add its row (flushed, not committed)."""
    photo = check_and_copy(data)
    st = store()
    sha, public_sha, thumb_sha = st.put(photo.original), st.put(photo.public), st.put(photo.thumb)
    media = Media(id=secrets.token_hex(16), sha256=sha, public_sha256=public_sha, thumb_sha256=thumb_sha,
                  content_type=photo.public_type, original_type=photo.original_type, width=photo.width,
                  height=photo.height, bytes=len(photo.original), uploaded_by=uploaded_by,
                  taken_at=photo.taken_at,
                  gps=from_shape(Point(*photo.gps), srid=4326) if photo.gps else None)
    session.add(media)
    session.flush()
    return media


def get(session: Session, media_id: str) -> Media:
    """The media row or NotFound (ids are 32 hex characters)."""
    if len(media_id) != 32 or not all(c in "0123456789abcdef" for c in media_id):
        raise NotFound("no such photo")
    media = session.get(Media, media_id)
    if media is None:
        raise NotFound("no such photo")
    return media


def _ticket_facts(session: Session, ticket_id: int) -> tuple[bool, int | None]:
    """(sensitive category, department id) of a ticket."""
    row = session.execute(sa.select(Category.sensitive, Ticket.department_id)
                          .join(Category, Category.id == Ticket.category_id).where(Ticket.id == ticket_id)).one()
    return bool(row.sensitive), row.department_id


def _owns(session: Session, media: Media, principal: Principal | None) -> bool:
    return principal is not None and media.ticket_id is not None and is_reported_by(
        session, media.ticket_id, principal.actor)


def may_see_public(session: Session, media: Media, principal: Principal | None) -> bool:
    """Whether ``principal`` (None = anonymous) may see the public copy and the thumbnail."""
    if media.ticket_id is None:
        return True  # only the uploader knows the unguessable id
    sensitive, _ = _ticket_facts(session, media.ticket_id)
    return not sensitive or privacy.sees_sensitive(principal) or _owns(session, media, principal)


def may_see_evidence(session: Session, media: Media, principal: Principal | None) -> bool:
    """Whether ``principal`` may see the original (EXIF intact) and its GPS position."""
    if principal is None or media.ticket_id is None:
        return False
    _, department = _ticket_facts(session, media.ticket_id)
    return privacy.sees_reporter(principal, department_id=department)


def check_public(session: Session, media: Media, principal: Principal | None) -> None:
    """NotFound (not 403: a hidden photo's existence is not confirmed) unless the public copy is visible."""
    if not may_see_public(session, media, principal):
        raise NotFound("no such photo")


def check_evidence(session: Session, media: Media, principal: Principal | None) -> None:
    """NotFound unless ``principal`` may see the private original."""
    check_public(session, media, principal)
    if not may_see_evidence(session, media, principal):
        raise NotFound("no such photo (the original is evidence for authorised staff only)")


def urls(media: Media, base_url: str) -> dict:
    """Absolute URLs of the public copy and the thumbnail (``base_url`` without a trailing slash)."""
    return {"url": base_url + PUBLIC_PATH.format(id=media.id), "thumb_url": base_url + THUMB_PATH.format(id=media.id)}


def view(media: Media, base_url: str, *, evidence: bool) -> dict:
    """The JSON of a media row; ``evidence`` adds the private GPS position, capture time and original URL."""
    out = {"id": media.id, "content_type": media.content_type, "width": media.width, "height": media.height,
           "bytes": media.bytes, "ticket_id": media.ticket_id, "created_at": media.created_at.isoformat()
           if media.created_at else None, **urls(media, base_url)}
    if evidence:
        pt = to_shape(media.gps) if media.gps is not None else None
        out.update({"original_url": base_url + ORIGINAL_PATH.format(id=media.id), "sha256": media.sha256,
                    "original_type": media.original_type,
                    "gps": {"lon": pt.x, "lat": pt.y} if pt is not None else None,
                    "taken_at": media.taken_at.isoformat() if media.taken_at else None})
    return out


def attach(session: Session, media: list[Media], *, ticket_id: int) -> None:
    """Attach photos checked by :func:`check_claimable` to ``ticket_id`` (only where still unattached).

    One UPDATE guarded by ``ticket_id IS NULL``: of two reports racing for one photo, the second
    finds it taken and gets 409 (its transaction, ticket included, is rolled back).
    """
    ids = [m.id for m in media]
    if not ids:
        return
    done = session.execute(sa.update(Media).where(Media.id.in_(ids), Media.ticket_id.is_(None))
                           .values(ticket_id=ticket_id).returning(Media.id)).scalars().all()
    if len(done) != len(ids):
        raise Conflict("a photo was attached to another report meanwhile; nothing was saved, upload it again")
    for m in media:
        session.refresh(m)


def check_claimable(session: Session, media_ids: list[str]) -> list[Media]:
    """The rows of photos about to be attached: each exists and is not attached yet (422/409 otherwise)."""
    if len(set(media_ids)) != len(media_ids):
        raise ValidationError("a photo is listed twice")
    out = []
    for mid in media_ids:
        try:
            media = get(session, mid)
        except NotFound:
            raise ValidationError(f"photo {mid[:40]!r} does not exist; upload it first") from None
        if media.ticket_id is not None:
            raise Conflict(f"photo {mid} already belongs to a report")
        out.append(media)
    return out


def collect_garbage(session: Session, *, now: datetime | None = None) -> dict:
    """Delete unattached uploads older than :data:`UNATTACHED_TTL` and blobs no row references.

    Blobs younger than the TTL are kept even when unreferenced (an upload whose transaction is
    still running). Returns counts.
    """
    now = now or datetime.now(UTC)
    cutoff = now - UNATTACHED_TTL
    dropped = session.execute(sa.delete(Media).where(Media.ticket_id.is_(None), Media.created_at < cutoff)
                              .returning(Media.id)).scalars().all()
    referenced = set()
    for row in session.execute(sa.select(Media.sha256, Media.public_sha256, Media.thumb_sha256)):
        referenced.update(row)
    st = store()
    removed = 0
    root = Path(st.root)
    if root.is_dir():
        for p in root.glob("*/*/*"):
            try:
                old = datetime.fromtimestamp(p.stat().st_mtime, UTC) < cutoff
            except FileNotFoundError:
                continue
            if p.is_file() and old and (p.name.startswith(".tmp-") or p.name not in referenced):
                p.unlink(missing_ok=True)
                removed += 1
    return {"rows_dropped": len(dropped), "blobs_removed": removed}
