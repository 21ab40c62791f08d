"""The one input boundary of the HTTP server: sizes, text, JSON, hosts and origins.

Every request passes :class:`InputBoundary` (pure ASGI middleware) before any
router sees it:

* **Host**: only the names in ``Settings.allowed_hosts`` (400 otherwise), so a
  DNS-rebinding page cannot talk to a server on loopback;
* **websocket Origin** (the one-map app's Bokeh socket): same origin as the
  Host, or a host in ``Settings.allowed_origins`` (closed with 1008 otherwise);
* **body size**: at most :data:`DEFAULT_BODY_LIMIT` bytes, more for the
  endpoints in :data:`BODY_LIMITS`; 413 from the ``Content-Length`` header
  before reading, or as soon as a streamed body passes the limit;
* **text**: no NUL character (PostgreSQL cannot store it) nor unpaired UTF-16
  surrogate (not encodable as UTF-8) in the path, the query, a form field, a
  CSV upload or any JSON string or key; 400;
* **JSON**: valid UTF-8, finite numbers only (``NaN``, ``Infinity`` and
  ``1e400`` are refused), nesting at most :data:`MAX_JSON_DEPTH`; 400.

Typed ranges (integers within the column, times within PostgreSQL's range)
are the request models' job (:mod:`spatial.api.types`); database refusals that
still get through are mapped to 422 by :mod:`spatial.api.deps`. Every refusal
here has the API's error body ``{"error", "message"}``, short: the input is
never echoed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from spatial.api.open311_xml import XML_MEDIA_TYPE, render
from spatial.settings import get_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Request body limit, bytes, of every endpoint not in :data:`BODY_LIMITS`.
DEFAULT_BODY_LIMIT = 1_000_000
#: Larger limits, bytes, by (method, path): batch ingest and file imports.
BODY_LIMITS: dict[tuple[str, str], int] = {
    ("POST", "/api/tickets/import"): 50_000_000,
    ("POST", "/api/workers/positions"): 5_000_000,
    ("POST", "/api/sensors/readings"): 5_000_000,
    ("POST", "/api/cameras/detections"): 5_000_000,
    ("POST", "/api/flood/forecasts"): 200_000_000,
    ("POST", "/api/media"): 16_000_000,  # one photo (ONEMAP_MEDIA_MAX_BYTES, 15 MB) plus the form around it
}
#: Deepest nesting accepted in a JSON body (objects and arrays).
MAX_JSON_DEPTH = 32

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class BoundaryError(Exception):
    """A request refused at the boundary: HTTP status, error code and a short message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def body_limit(method: str, path: str) -> int:
    """The body limit in bytes of ``method path``."""
    return BODY_LIMITS.get((method.upper(), path.rstrip("/") or "/"), DEFAULT_BODY_LIMIT)


def check_text(value: str, where: str) -> None:
    """Refuse NUL and unpaired surrogates in ``value`` (``where`` names it in the message)."""
    if _BAD_TEXT.search(value):
        raise BoundaryError(400, "invalid_text", f"{where} contains a NUL character or an unpaired surrogate; "
                                                 "remove it")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BoundaryError(400, "invalid_json", "JSON numbers must be finite (no NaN, Infinity or overflow)")
    return value


def _no_constant(name: str) -> None:
    raise BoundaryError(400, "invalid_json", f"JSON numbers must be finite ({name} is not JSON)")


def _walk(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise BoundaryError(400, "invalid_json", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, "a JSON string")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(k, "a JSON key")
            _walk(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _walk(v, depth + 1)


def check_json(body: bytes) -> None:
    """Refuse a JSON body that is not UTF-8, not JSON, not finite, too deep or holds bad text.

    Not-JSON is left to the endpoint (it answers 422 with the field named).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BoundaryError(400, "invalid_json", "the JSON body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except RecursionError:
        raise BoundaryError(400, "invalid_json", f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        return
    _walk(value, 1)


def check_query(query_string: bytes) -> None:
    """Refuse NUL characters in query parameter names and values."""
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        check_text(k, "a query parameter name")
        check_text(v, f"query parameter {k[:40]!r}")


def _check_body(content_type: str, body: bytes) -> None:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        check_json(body)
    elif ctype == "application/x-www-form-urlencoded":
        for k, v in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            check_text(k, "a form field name")
            check_text(v, f"form field {k[:40]!r}")
    elif ctype.startswith("text/") and b"\x00" in body:
        raise BoundaryError(400, "invalid_text", "the uploaded text contains NUL characters; remove them")


def _host_of(netloc: str) -> str:
    """The host name of ``host[:port]`` (IPv6 literals keep their brackets), lower case."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[: netloc.find("]") + 1]
    return netloc.rsplit(":", 1)[0] if ":" in netloc else netloc


def _error_body(path: str, err: BoundaryError) -> tuple[bytes, bytes]:
    """(body, content type) of a refusal: Open311's error list under ``/open311``, else the API's format."""
    if path.startswith("/open311/"):
        errors = [{"code": err.status, "description": err.message}]
        if path.endswith(".xml"):  # the Open311 router's own XML writer
            return render("errors", errors), XML_MEDIA_TYPE.encode()
        return json.dumps(errors).encode(), b"application/json"
    return json.dumps({"error": err.code, "message": err.message}).encode(), b"application/json"


async def _send_error(send: Send, err: BoundaryError, path: str) -> None:
    body, ctype = _error_body(path, err)
    await send({"type": "http.response.start", "status": err.status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class InputBoundary:
    """ASGI middleware applying the checks in the module docstring to every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        settings = get_settings()
        self.hosts = frozenset(_host_of(h) for h in settings.allowed_hosts)
        self.origins = frozenset(_host_of(h) for h in settings.allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        try:
            if "*" not in self.hosts and _host_of(host) not in self.hosts:
                raise BoundaryError(400, "invalid_host", "unknown Host header; see ONEMAP_ALLOWED_HOSTS")
            if scope["type"] == "websocket":
                origin = headers.get("origin")
                if origin and not self._origin_ok(origin, host):
                    await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
                    return
                await self.app(scope, receive, send)
                return
            check_text(scope.get("path", ""), "the path")
            check_query(scope.get("query_string", b""))
        except BoundaryError as err:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": err.message})
                return
            await _send_error(send, err, scope.get("path", ""))
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and "content-length" not in headers \
                and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(scope, headers, receive)
            _check_body(headers.get("content-type", ""), body)
        except BoundaryError as err:
            await _send_error(send, err, scope.get("path", ""))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _origin_ok(self, origin: str, host: str) -> bool:
        netloc = urlsplit(origin).netloc.lower()
        return netloc == host.strip().lower() or _host_of(netloc) in self.origins

    async def _read_body(self, scope: Scope, headers: dict[str, str], receive: Receive) -> bytes:
        limit = body_limit(scope["method"], scope.get("path", ""))
        too_large = BoundaryError(413, "too_large", f"the request body is larger than {limit:,} bytes")
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise BoundaryError(400, "bad_request", "invalid Content-Length header")
            if int(declared) > limit:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)
