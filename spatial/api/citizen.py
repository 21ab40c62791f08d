"""The citizen page and its public API: report a problem without an account, follow it, rate it.

==========================================  =============================================================
``GET  /report``                            the page (mobile-first, zh/en, keyboard and screen reader)
``GET  /report/track``                      the same page showing a report (token in the URL fragment)
``GET  /report/assets/{name}``              its script and style; ``deck.gl.min.js`` is the deck.gl
                                            bundle shipped in Panel's wheel (the one the app uses)
``GET  /api/citizen/setup``                 categories (non-sensitive), district bounds (EPSG:4326)
``GET  /api/citizen/nearby``                open reports of a category near a point; ``would_merge_into``
``GET  /api/citizen/geocode?q=``            places matching an address (the address-only path)
``POST /api/citizen/reports``               JSON {category, lon, lat, description, address, media, phone,
                                            email, lang}; ``Idempotency-Key`` header; 201 (or 200 when
                                            merged into an open report / a retry) with the tracking link
``GET  /api/citizen/track``                 status, public history, photos, messages (``X-Tracking-Token``)
``POST /api/citizen/track/rating``          {rating 1-5, comment} once the ticket is closed
==========================================  =============================================================

Everything here is anonymous; rate limits for these public routes come with the accounts
issue. Photos are uploaded first with ``POST /api/media`` (``spatial.api.media``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy.orm import Session

from spatial.api.deps import db_session
from spatial.api.media import base_url
from spatial.citizen import reports
from spatial.errors import NotFound

router = APIRouter(tags=["citizen"])

STATIC = Path(reports.__file__).parent / "static"
#: Files of the page, by the name in its URL.
ASSETS = {"report.js": ("report.js", "text/javascript"), "report.css": ("report.css", "text/css")}
#: Content-Security-Policy of the page: nothing but this server (deck.gl needs workers from blob: and eval-free
#: WebGL; images include blob: previews).
CSP = ("default-src 'self'; img-src 'self' blob: data:; worker-src 'self' blob:; child-src blob:; "
       "connect-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")


def deck_bundle() -> Path:
    """deck.gl's browser bundle inside the installed Panel wheel (found without importing Panel)."""
    spec = importlib.util.find_spec("panel")
    if spec is None or not spec.submodule_search_locations:
        raise NotFound("the deck.gl bundle (Panel's wheel) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "dist" / "bundled" / "deckglplot" / \
        "deck.gl@9.1.14" / "dist.min.js"


def _page() -> HTMLResponse:
    return HTMLResponse((STATIC / "report.html").read_text(encoding="utf-8"),
                        headers={"Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer",
                                 "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


@router.get("/report", response_class=HTMLResponse, include_in_schema=False)
def report_page() -> HTMLResponse:
    return _page()


@router.get("/report/track", response_class=HTMLResponse, include_in_schema=False)
def track_page() -> HTMLResponse:
    return _page()


@router.get("/report/assets/{name}", include_in_schema=False)
def asset(name: str) -> FileResponse:
    if name == "deck.gl.min.js":
        path, ctype = deck_bundle(), "text/javascript"
    elif name in ASSETS:
        file, ctype = ASSETS[name]
        path = STATIC / file
    else:
        raise NotFound("no such asset")
    if not path.is_file():
        raise NotFound("no such asset")
    return FileResponse(path, media_type=ctype, headers={"Cache-Control": "no-cache",
                                                          "X-Content-Type-Options": "nosniff"})


_BOUNDS = sa.text("""
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
  SELECT coalesce((SELECT ST_Extent(geom) FROM admin_unit WHERE level = 1),
                  (SELECT ST_Extent(geom) FROM admin_unit)) AS e) b
""")


@router.get("/api/citizen/setup", summary="Categories a citizen may report and the district's bounds")
def setup(session: Session = Depends(db_session)) -> dict:
    b = session.execute(_BOUNDS).one()
    bounds = None if b[0] is None else [float(v) for v in b]
    return {"categories": reports.categories(session), "bounds": bounds}


@router.get("/api/citizen/nearby", summary="Open reports of a category near a point (duplicate avoidance)")
def nearby(category: str = Query(..., max_length=64), lon: float = Query(..., ge=-180, le=180),
           lat: float = Query(..., ge=-90, le=90), lang: str = Query("zh", max_length=8),
           session: Session = Depends(db_session)) -> dict:
    return reports.nearby(session, category, lon, lat, lang=lang)


@router.get("/api/citizen/geocode", summary="Places matching an address or place name (EPSG:4326)")
def geocode(q: str = Query(..., max_length=200), session: Session = Depends(db_session)) -> list[dict]:
    return reports.geocode(session, q)


@router.post("/api/citizen/reports", status_code=201, summary="File a report (no account needed)")
def submit(request: Request, response: Response, body: dict[str, Any] = Body(...),
           idempotency_key: str | None = Header(None), session: Session = Depends(db_session)) -> dict:
    base = base_url(request)
    done = reports.submit(session, body, idempotency_key=idempotency_key, base_url=base)
    if done.outcome != "created":
        response.status_code = 200
    path = reports.TRACK_PATH.format(token=done.token)
    return {"ticket_id": done.ticket_id, "outcome": done.outcome, "token": done.token,
            "tracking_path": path, "tracking_url": base + path}


@router.get("/api/citizen/track", summary="A report as its reporter sees it (X-Tracking-Token header)")
def track(response: Response, x_tracking_token: str | None = Header(None), lang: str = Query("zh", max_length=8),
          session: Session = Depends(db_session)) -> dict:
    response.headers["Cache-Control"] = "no-store"
    return reports.track(session, x_tracking_token, lang="en" if lang.startswith("en") else "zh")


@router.post("/api/citizen/track/rating", summary="Rate the closed report once (1-5, optional comment)")
def rate(body: dict[str, Any] = Body(...), x_tracking_token: str | None = Header(None),
         session: Session = Depends(db_session)) -> dict:
    reports.rate(session, x_tracking_token, body.get("rating"), body.get("comment"))
    return {"rated": True}
