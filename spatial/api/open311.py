"""Open311 GeoReport v2 under ``/open311/v2``, in XML (required) and JSON.

=========================================  ==================================================
``GET  discovery.{xml,json}``              endpoint discovery
``GET  services.{xml,json}``               the catalog (service_code = category code)
``GET  services/{code}.{xml,json}``        service definition (one optional ``priority`` attribute)
``POST requests.{xml,json}``               new request (form-encoded, ``api_key`` required;
                                           ``Idempotency-Key`` header: a retry answers the same request)
``GET  requests.{xml,json}``               search: service_request_id, service_code, start_date,
                                           end_date (<= 90 days), status open/closed; extensions:
                                           page, page_size, bbox
``GET  requests/{id}.{xml,json}``          one request (an array of one)
=========================================  ==================================================

A request may be located by ``lat``/``long`` or, as the spec allows, by
``address_string`` or ``address_id`` only: the local geocoder
(:mod:`spatial.geocode`, trigram search over the district's address points)
places it, or the request is refused with 400 when no address matches.

``service_request_id`` is the ticket id. Status mapping: ``closed`` for
tickets closed, rejected or merged; everything else is ``open`` and the
internal state is in ``status_notes``. ``jurisdiction_id`` is accepted and
ignored (one district per endpoint). Errors follow the spec: a list of
``{code, description}`` with 404 (missing resource), 403 (bad or missing
``api_key``) or 400 (anything else). The reporter's name, phone and e-mail
are stored but never returned; reads are anonymous, so tickets of sensitive
categories are omitted or redacted (``spatial.privacy``, ``ONEMAP_SENSITIVE_PUBLIC``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from spatial import audit, geocode
from spatial.api.deps import client_ip, db_session, parse_bbox
from spatial.api.open311_xml import XML_MEDIA_TYPE, render
from spatial.auth import INTAKE_ROLES, Principal, principal_for_token
from spatial.bounds import INT8_MAX, MAX_PAGE, int_in
from spatial.clock import as_utc, utc_now
from spatial.errors import Forbidden, NotFound, OneMapError, Unauthorized, ValidationError
from spatial.models import TICKET_STATES, Category
from spatial.tickets import intake as tickets
from spatial.tickets import queries as ticket_views
from spatial.tickets.lifecycle import FINAL_STATES

router = APIRouter(prefix="/open311/v2", tags=["open311"])

SPEC = "http://wiki.open311.org/GeoReport_v2"
CLOSED_STATES = FINAL_STATES
MAX_RESULTS = 1000
DEFAULT_DAYS = 90
MAX_IDEMPOTENCY_KEY = 100
PRIORITY_VALUES = [{"key": str(k), "name": n} for k, n in
                   ((1, "urgent"), (2, "high"), (3, "normal"), (4, "low"), (5, "lowest"))]


def open311_status(state: str) -> str:
    """Open311 status of an internal ticket state: ``closed`` for final states, otherwise ``open``."""
    return "closed" if state in CLOSED_STATES else "open"


def _respond(fmt: str, root: str, payload, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(render(root, payload), status_code=status, media_type=XML_MEDIA_TYPE)
    return JSONResponse(payload, status_code=status, media_type="application/json; charset=utf-8")


def _error(fmt: str, exc: OneMapError) -> Response:
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, Unauthorized | Forbidden):
        status = 403
    else:
        status = 400
    return _respond(fmt if fmt in ("xml", "json") else "json", "errors",
                    [{"code": status, "description": exc.message}], status)


def _guard(fmt: str, session: Session, fn: Callable[[], Response]) -> Response:
    """Run ``fn`` and turn OneMap errors into Open311 errors, rolling back anything it wrote."""
    try:
        if fmt not in ("xml", "json"):
            raise NotFound(f"unknown format {fmt!r}; use .xml or .json")
        return fn()
    except OneMapError as exc:
        session.rollback()
        return _error(fmt, exc)


def idempotency_external_id(request: Request, principal: Principal) -> str | None:
    """The ticket's external id from an ``Idempotency-Key`` header, scoped to the caller's token.

    Open311 has no id of its own for a request and every client shares the ``open311`` channel:
    ``t<token id>:<key>`` makes a retried POST (the answer was lost, the server restarted) return the
    same request instead of filing it again, and never mixes two clients' keys.
    """
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
        raise ValidationError(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    return f"t{principal.token_id}:{key}"


#: Ticket fields named as the Open311 arguments they come from, for error messages.
OPEN311_NAMES = {"category": "service_code", "lon": "long", "lat": "lat", "description": "description",
                 "address": "address_string", "photo_urls": "media_url", "reporter_name": "first_name/last_name",
                 "reporter_phone": "phone", "reporter_account": "account_id/email", "priority": "attribute[priority]",
                 "external_id": "Idempotency-Key", "attrs": "email/device_id"}


def in_open311_terms(message: str) -> str:
    """A validation message with the ticket's field names replaced by the Open311 arguments."""
    parts = []
    for part in message.split("; "):
        field, sep, rest = part.partition(": ")
        head = field.split(".")[0]
        parts.append(f"{OPEN311_NAMES[head]}{sep}{rest}" if sep and head in OPEN311_NAMES else part)
    return "; ".join(parts)


def _param(request: Request, name: str) -> str | None:
    """A query parameter; empty counts as absent (spec rule)."""
    v = request.query_params.get(name)
    return v.strip() if v and v.strip() else None


def _dt(value: str | None, name: str) -> datetime | None:
    """An optional W3C/ISO 8601 time parameter with its zone (``spatial.clock.as_utc``: range checked too)."""
    return None if value is None else as_utc(value, what=name)


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _service(c: Category) -> dict:
    return {"service_code": c.code, "service_name": c.name, "description": c.description or c.name,
            "metadata": True, "type": "realtime", "keywords": ",".join(c.keywords or []),
            "group": c.major_name}


def _request_view(row: sa.Row) -> dict:
    m = ticket_views.as_seen_by(row, None)  # Open311 reads are anonymous: the public view
    notice = None
    if m["status"] == "merged" and m["merged_into_id"]:
        notice = f"duplicate of request {m['merged_into_id']}"
    photos = list(m["photo_urls"] or [])
    return {
        "service_request_id": str(m["id"]), "status": open311_status(m["status"]), "status_notes": m["status"],
        "service_name": m["category_name"], "service_code": m["category"], "description": m["description"],
        "agency_responsible": m["department_name"], "service_notice": notice,
        "requested_datetime": _iso(m["created_at"]),
        "updated_datetime": _iso(m["closed_at"] if m["status"] == "closed" and m["closed_at"] else m["updated_at"]),
        "expected_datetime": _iso(m["resolve_due_at"]), "address": m["address"], "address_id": None,
        "zipcode": None, "lat": m["lat"], "long": m["lon"], "media_url": photos[0] if photos else None,
    }


@router.get("/discovery.{fmt}", summary="Open311 discovery")
def discovery(fmt: str, request: Request, session: Session = Depends(db_session)) -> Response:
    def run() -> Response:
        base = str(request.url_for("services", fmt="json")).rsplit("/services.json", 1)[0] + "/"
        doc = {"changeset": "2026-11-01T00:00:00Z", "contact": "OneMap command centre",
               "key_service": "Ask the command centre for an API key (onemap token create).",
               "endpoints": [{"specification": SPEC, "url": base, "changeset": "2026-11-01T00:00:00Z",
                              "type": "production", "formats": ["text/xml", "application/json"]}]}
        return _respond(fmt, "discovery", doc)
    return _guard(fmt, session, run)


@router.get("/services.{fmt}", name="services", summary="Open311 service list")
def services(fmt: str, session: Session = Depends(db_session)) -> Response:
    def run() -> Response:
        cats = ticket_views.active_categories(session)
        return _respond(fmt, "services", [_service(c) for c in cats])
    return _guard(fmt, session, run)


@router.get("/services/{code}.{fmt}", summary="Open311 service definition")
def service_definition(code: str, fmt: str, session: Session = Depends(db_session)) -> Response:
    def run() -> Response:
        cat = tickets.category_by_code(session, code)
        doc = {"service_code": cat.code, "attributes": [{
            "variable": True, "code": "priority", "datatype": "singlevaluelist", "required": False,
            "datatype_description": "1 (urgent) to 5 (lowest); default from the catalog", "order": 1,
            "description": "How urgent is it?", "values": PRIORITY_VALUES}]}
        return _respond(fmt, "service_definition", doc)
    return _guard(fmt, session, run)


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _content(items: dict) -> dict:
    """Both Open311 formats of an answer: a JSON array of ``items`` objects, or XML (``.xml``)."""
    return {"application/json": {"schema": {"type": "array", "items": {"type": "object", "properties": items}}},
            "text/xml": {"schema": {"type": "string", "description": "the same, as Open311 XML (utf-8)"}}}


_ERRORS = {"description": "Open311 error list: [{code, description}] (XML <errors><error> for .xml)",
           "content": _content({"code": {"type": "integer"}, "description": {"type": "string"}})}
_CREATED = _content({"service_request_id": {"type": "string"}, "service_notice": {"type": "string"},
                     "account_id": {"type": "string", "nullable": True}})
#: The OpenAPI description of the Open311 form (the handler reads the form itself, as the spec is form-encoded).
POST_REQUEST_DOC = {
    "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["api_key", "service_code"],
        "properties": {
            "api_key": {"type": "string", "description": "an API token (onemap token create)"},
            "service_code": {"type": "string", "description": "a code from services.json"},
            "lat": {"type": "number", "description": "WGS84 latitude"},
            "long": {"type": "number", "description": "WGS84 longitude"},
            "address_string": {"type": "string", "description": "without lat/long: located by the local "
                               "geocoder over the district's address points (400 when nothing matches)"},
            "address_id": {"type": "string", "description": "without lat/long: an address point's id or OSM id"},
            "description": {"type": "string", "maxLength": 4000},
            "media_url": {"type": "string", "format": "uri"},
            "first_name": {"type": "string"}, "last_name": {"type": "string"},
            "phone": {"type": "string", "description": "digits, spaces, dashes, dots, brackets"},
            "email": {"type": "string"}, "device_id": {"type": "string"}, "account_id": {"type": "string"},
            "attribute[priority]": {"type": "string", "enum": ["1", "2", "3", "4", "5"]},
        }}}}},
    "responses": {"201": {"description": "created: [{service_request_id, service_notice, account_id}]",
                          "content": _CREATED},
                  "200": {"description": "merged into an open duplicate, or an Idempotency-Key retry",
                          "content": _CREATED},
                  "400": _ERRORS, "403": _ERRORS, "404": _ERRORS},
}
GET_REQUESTS_DOC = {"parameters": [
    _query("service_request_id", "comma list of ids (the other filters are then ignored)"),
    _query("service_code", "comma list of service codes"),
    _query("start_date", "ISO 8601 with zone; default: end_date - 90 days", {"type": "string", "format": "date-time"}),
    _query("end_date", "ISO 8601 with zone; at most 90 days after start_date",
           {"type": "string", "format": "date-time"}),
    _query("status", "open, closed or both (comma list)"),
    _query("page", "extension: page number from 1", {"type": "integer", "minimum": 1}),
    _query("page_size", f"extension: 1-{MAX_RESULTS}", {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS}),
    _query("bbox", "extension: min_lon,min_lat,max_lon,max_lat (EPSG:4326)"),
], "responses": {"200": {"description": "service_requests (service_request_id, status, service_code, "
                                        "requested_datetime, lat, long, address, ...)",
                         "content": _content({"service_request_id": {"type": "string"},
                                              "status": {"type": "string", "enum": ["open", "closed"]}})},
                 "400": _ERRORS}}


@router.post("/requests.{fmt}", summary="Open311: submit a request (form-encoded, api_key required)",
             openapi_extra=POST_REQUEST_DOC)
async def post_request(fmt: str, request: Request, session: Session = Depends(db_session)) -> Response:
    form = await request.form()
    fields = {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items()}

    def get(name: str) -> str | None:
        v = fields.get(name)
        return v if isinstance(v, str) and v else None

    def run() -> Response:
        key = get("api_key") or _param(request, "api_key")
        if key is None:
            raise Forbidden("api_key is required")
        try:
            principal = principal_for_token(session, key)
        except Unauthorized as exc:
            raise Forbidden("api_key is invalid or revoked") from exc
        if principal.role not in INTAKE_ROLES:
            raise Forbidden(f"role {principal.role!r} may not submit requests")
        audit.bind(session, principal, ip=client_ip(request), request=f"POST /open311/v2/requests.{fmt}")
        code = get("service_code")
        if code is None:
            raise ValidationError("service_code is required")
        lat, lon = get("lat"), get("long")
        address = get("address_string")
        if lat is None or lon is None:
            if not (address or get("address_id")):
                raise ValidationError("a location is required: lat and long, address_string or address_id")
            # the spec allows a report located by its address only: the local geocoder places it
            found = (geocode.locate_address_id(session, get("address_id")) if get("address_id")
                     else geocode.locate_address(session, address))
            lat, lon, address = str(found.lat), str(found.lon), address or found.label
        try:
            latf, lonf = float(lat), float(lon)
        except ValueError as exc:
            raise ValidationError("lat and long must be decimal degrees (WGS84)") from exc
        name = " ".join(p for p in (get("first_name"), get("last_name")) if p) or None
        body = {"category": code, "lon": lonf, "lat": latf, "channel": "open311",
                "description": get("description") or "", "address": address,
                "photo_urls": [get("media_url")] if get("media_url") else [], "reporter_name": name,
                "reporter_phone": get("phone"), "reporter_account": get("account_id") or get("email"),
                "attrs": {k: v for k, v in (("email", get("email")), ("device_id", get("device_id"))) if v}}
        prio = get("attribute[priority]")
        if prio is not None:
            if prio not in {v["key"] for v in PRIORITY_VALUES}:
                raise ValidationError("attribute[priority] must be 1-5")
            body["priority"] = int(prio)
        if principal.role == "citizen":
            body["reporter_account"] = principal.actor
        body["external_id"] = idempotency_external_id(request, principal)
        tickets.category_by_code(session, code)  # 404 for an unknown service_code
        try:
            data = tickets.TicketCreate.parse(body)
        except ValidationError as exc:
            raise ValidationError(in_open311_terms(exc.message)) from None
        result = tickets.intake(session, data, actor=principal.actor, role=principal.role)
        notice = {"created": "Thank you; your request was registered.",
                  "merged": f"This was already reported as request {result.ticket.id}; your report was added "
                            "to it.",
                  "existing": "This request was already received."}[result.outcome]
        doc = [{"service_request_id": str(result.ticket.id), "service_notice": notice,
                "account_id": get("account_id")}]
        return _respond(fmt, "service_requests", doc, 201 if result.outcome == "created" else 200)
    return await run_in_threadpool(_guard, fmt, session, run)  # the database work off the event loop


@router.get("/requests.{fmt}", summary="Open311: search requests", openapi_extra=GET_REQUESTS_DOC)
def get_requests(fmt: str, request: Request, session: Session = Depends(db_session)) -> Response:
    def run() -> Response:
        ids = _param(request, "service_request_id")
        page_s, size_s = _param(request, "page") or "1", _param(request, "page_size") or str(MAX_RESULTS)
        page = int(page_s) if page_s.isdigit() else 0
        size = int(size_s) if size_s.isdigit() else 0
        if not 1 <= page <= MAX_PAGE or not 1 <= size <= MAX_RESULTS:
            raise ValidationError(f"page must be 1-{MAX_PAGE} and page_size 1-{MAX_RESULTS}")
        if ids is not None:
            try:
                id_list = [int(v) for v in ids.split(",") if v.strip()]
            except ValueError as exc:
                raise ValidationError("service_request_id must be a comma list of ids") from exc
            id_list = [i for i in id_list if int_in(i, 1, INT8_MAX)]  # others exist nowhere
            f = ticket_views.TicketFilter(ids=id_list)
        else:
            start, end = _dt(_param(request, "start_date"), "start_date"), _dt(_param(request, "end_date"),
                                                                            "end_date")
            if start and end and end - start > timedelta(days=DEFAULT_DAYS):
                raise ValidationError("the date range may span at most 90 days")
            if start is None and end is None:
                start = utc_now() - timedelta(days=DEFAULT_DAYS)
            elif start is None:
                start = end - timedelta(days=DEFAULT_DAYS)
            states: list[str] = []
            for s in (v.strip() for v in (_param(request, "status") or "").split(",") if v.strip()):
                if s == "open":
                    states += [x for x in TICKET_STATES if x not in CLOSED_STATES]
                elif s == "closed":
                    states += list(CLOSED_STATES)
                else:
                    raise ValidationError("status must be open, closed or both (comma list)")
            bbox = _param(request, "bbox")
            f = ticket_views.TicketFilter(
                category=[c.strip() for c in (_param(request, "service_code") or "").split(",") if c.strip()],
                status=sorted(set(states)), since=start, until=end + timedelta(microseconds=1) if end else None,
                bbox=parse_bbox(bbox))
        rows = ticket_views.page(session, ticket_views.visible_to(f, None), size, page)
        return _respond(fmt, "service_requests", [_request_view(r) for r in rows])
    return _guard(fmt, session, run)


@router.get("/requests/{request_id}.{fmt}", summary="Open311: one request")
def get_request(request_id: str, fmt: str, session: Session = Depends(db_session)) -> Response:
    def run() -> Response:
        if not request_id.isdigit() or not int_in(int(request_id), 1, INT8_MAX):
            raise NotFound(f"request {request_id!r} does not exist")
        row = ticket_views.visible_row(session, int(request_id), None)
        return _respond(fmt, "service_requests", [_request_view(row)])
    return _guard(fmt, session, run)



#: Open311 status of each ticket state in FixMyStreet's ``servicerequestupdates`` extension.
UPDATE_STATUS = {"reported": "open", "accepted": "investigating", "dispatched": "action_scheduled",
                 "in_progress": "in_progress", "resolved": "fixed", "verified": "fixed", "closed": "closed",
                 "rejected": "no_further_action", "merged": "duplicate", "reopened": "open"}


@router.get("/servicerequestupdates.{fmt}", summary="Open311 extension (FixMyStreet): status changes since a time")
def get_updates(fmt: str, request: Request, session: Session = Depends(db_session)) -> Response:
    """``start_date`` / ``end_date`` (ISO 8601 with zone; default: the last 24 hours, at most 90 days):
    every state change of a public request, oldest first, as ``request_update`` items with
    ``update_id``, ``service_request_id``, ``status`` (FixMyStreet's words), ``updated_datetime``,
    ``description``, ``media_url`` and ``external_status_code`` (the internal state)."""
    def run() -> Response:
        end = _dt(_param(request, "end_date"), "end_date") or utc_now()
        start = _dt(_param(request, "start_date"), "start_date") or end - timedelta(days=1)
        if end < start or end - start > timedelta(days=DEFAULT_DAYS):
            raise ValidationError("start_date must precede end_date by at most 90 days")
        rows = ticket_views.status_updates(session, start, end, None, limit=MAX_RESULTS)
        doc = [{"update_id": str(r.id), "service_request_id": str(r.ticket_id),
                "status": UPDATE_STATUS.get(r.to_status, "open"), "updated_datetime": _iso(r.at),
                "description": r.note or "", "media_url": None, "external_status_code": r.to_status}
               for r in rows]
        return _respond(fmt, "service_requests_updates", doc)
    return _guard(fmt, session, run)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
def unknown(path: str) -> Response:
    """Anything else under ``/open311/v2`` answers Open311's own 404 (XML for ``.xml`` paths)."""
    fmt = "xml" if path.endswith(".xml") else "json"
    return _error(fmt, NotFound(f"no Open311 resource at /open311/v2/{path[:100]}"))
