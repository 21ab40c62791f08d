"""Photos over HTTP: upload, metadata and the three copies, with the access rules of ``spatial.media.service``.

==================================  ====================================================================
``POST /api/media``                 multipart form, field ``file``: one photo (JPEG, PNG, WebP). No
                                    account needed (the citizen page); a bearer token is recorded as the
                                    uploader. 201 ``{id, url, thumb_url, width, height, ...}``; 413 over
                                    the byte or pixel limit, 415 not an image, 422 corrupt.
``GET  /api/media/{id}``            metadata; GPS position, capture time and the original's URL only
                                    for those who may see the evidence
``GET  /media/{id}``                the public copy (EXIF stripped)
``GET  /media/{id}/thumb``          the thumbnail (JPEG)
``GET  /media/{id}/original``       the original as uploaded (EXIF intact): authorised staff only
==================================  ====================================================================

Photos that may not be shown answer 404 (their existence is not confirmed). Responses carry
``ETag`` (the blob's SHA-256), ``X-Content-Type-Options: nosniff`` and private caching.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Header, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from spatial.api.deps import db_session, optional_principal
from spatial.auth import Principal
from spatial.errors import ValidationError
from spatial.media import service
from spatial.settings import get_settings

router = APIRouter(tags=["media"])

CACHE = "private, max-age=300"


def base_url(request: Request) -> str:
    """The server's public base URL (``ONEMAP_PUBLIC_URL``, else the request's), without a trailing slash."""
    configured = get_settings().public_url
    return (configured or str(request.base_url)).rstrip("/")


@router.post("/api/media", status_code=201, summary="Upload a photo (multipart field 'file')")
def upload(request: Request, file: UploadFile = File(..., description="JPEG, PNG or WebP"),
           principal: Principal | None = Depends(optional_principal),
           session: Session = Depends(db_session)) -> dict:
    data = file.file.read(get_settings().media_max_bytes + 1)
    if file.file.read(1):
        data += b"x"  # more than the limit: process() says so
    media = service.save_upload(session, data, uploaded_by=principal.actor if principal else None)
    return service.view(media, base_url(request), evidence=False)


@router.get("/api/media/{media_id}", summary="A photo's metadata (evidence fields for authorised staff)")
def metadata(media_id: str, request: Request, principal: Principal | None = Depends(optional_principal),
             session: Session = Depends(db_session)) -> dict:
    media = service.get(session, media_id)
    service.check_public(session, media, principal)
    evidence = service.may_see_evidence(session, media, principal)
    return service.view(media, base_url(request), evidence=evidence)


def _blob(sha: str, content_type: str, if_none_match: str | None) -> Response:
    headers = {"ETag": f'"{sha}"', "Cache-Control": CACHE, "X-Content-Type-Options": "nosniff",
               "Content-Disposition": "inline"}
    if if_none_match and sha in if_none_match:
        return Response(status_code=304, headers=headers)
    return Response(service.store().read(sha), media_type=content_type, headers=headers)


@router.get("/media/{media_id}", summary="The public copy of a photo (EXIF stripped)", response_class=Response)
def public_copy(media_id: str, principal: Principal | None = Depends(optional_principal),
                session: Session = Depends(db_session),
                if_none_match: str | None = Header(None)) -> Response:
    media = service.get(session, media_id)
    service.check_public(session, media, principal)
    return _blob(media.public_sha256, media.content_type, if_none_match)


@router.get("/media/{media_id}/thumb", summary="A photo's thumbnail (JPEG)", response_class=Response)
def thumbnail(media_id: str, principal: Principal | None = Depends(optional_principal),
              session: Session = Depends(db_session),
              if_none_match: str | None = Header(None)) -> Response:
    media = service.get(session, media_id)
    service.check_public(session, media, principal)
    return _blob(media.thumb_sha256, "image/jpeg", if_none_match)


@router.get("/media/{media_id}/original", summary="The original upload (EXIF intact): authorised staff only",
            response_class=Response)
def original(media_id: str, principal: Principal | None = Depends(optional_principal),
             session: Session = Depends(db_session),
             if_none_match: str | None = Header(None)) -> Response:
    media = service.get(session, media_id)
    service.check_evidence(session, media, principal)
    return _blob(media.sha256, media.original_type, if_none_match)


def parse_media_ids(value: object) -> list[str]:
    """A JSON list of media ids from a request body (422 otherwise)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("media must be a list of photo ids from POST /api/media")
    return value
