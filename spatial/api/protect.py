"""Protection of the HTTP server: rate limits, security headers, CORS, the signed-in-only gate (issue 13).

* **Rate limits** (the ``limits`` library, slowapi's engine, moving windows in
  memory per process): sign-in attempts per client IP
  (``Settings.login_rate``) and anonymous calls to the public API and Open311
  per client IP (``Settings.public_rate``); calls with a token or a session
  are not limited here. 429 with ``Retry-After``.
* **Security headers** on every HTTP answer: ``X-Content-Type-Options``,
  ``Referrer-Policy``, ``X-Frame-Options``/``frame-ancestors``, a strict
  ``Content-Security-Policy`` on the API's JSON and the sign-in pages, and
  ``Strict-Transport-Security`` over HTTPS.
* **CORS** is closed unless ``Settings.cors_origins`` lists origins
  (:func:`install_cors`).
* :class:`SignInGate` sends browsers that are not signed in from the app's
  paths to ``/login`` (and closes its websocket), so the app never renders for
  an anonymous visitor.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from fastapi import FastAPI
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from spatial import accounts
from spatial.api.boundary import ASGIApp, Receive, Scope, Send
from spatial.db.engine import new_session
from spatial.settings import get_settings

SESSION_COOKIE = "onemap_session"
#: Paths under these prefixes are public API reads that anonymous callers are rate-limited on.
PUBLIC_PREFIXES = ("/api/", "/open311/")
#: CSP of JSON answers and of the server's own HTML pages (sign-in, account).
API_CSP = "default-src 'none'; frame-ancestors 'none'"
PAGE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; " \
           "form-action 'self'"
PAGE_PATHS = ("/login", "/logout", "/account", "/auth/")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _client_ip(scope: Scope, headers: dict[str, str], trust_proxy: bool) -> str:
    if trust_proxy and headers.get("x-forwarded-for"):
        return headers["x-forwarded-for"].split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


class Protection:
    """ASGI middleware: rate limits and security headers (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        settings = get_settings()
        self.trust_proxy = settings.trust_proxy
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.login_rate = parse(settings.login_rate)
        self.public_rate = parse(settings.public_rate)

    def _limited(self, scope: Scope, headers: dict[str, str]) -> int | None:
        """Seconds to wait when this request is over its limit, else None."""
        path, method = scope.get("path", ""), scope.get("method", "GET")
        ip = _client_ip(scope, headers, self.trust_proxy)
        if method == "POST" and path == "/login":
            rate = self.login_rate
        elif (path.startswith(PUBLIC_PREFIXES) and "authorization" not in headers
              and _cookie(headers, SESSION_COOKIE) is None and "api_key=" not in scope.get("query_string", b"").decode(
                  "latin-1")):
            rate = self.public_rate
        else:
            return None
        key = "login" if rate is self.login_rate else "public"
        if self.limiter.hit(rate, key, ip):
            return None
        reset = self.limiter.get_window_stats(rate, key, ip).reset_time
        return max(1, int(reset - time.time()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        wait = self._limited(scope, headers)
        https = scope.get("scheme") == "https" or (
            self.trust_proxy and headers.get("x-forwarded-proto", "").split(",")[0].strip().lower() == "https")
        path = scope.get("path", "")
        if wait is not None:
            body = json.dumps({"error": "rate_limited",
                               "message": f"too many requests from your address; retry in {wait} s"}).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", str(wait).encode()),
                                    (b"content-length", str(len(body)).encode()), *_security(path, https, True)]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                ctype = next((v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b"")
                extra = [h for h in _security(path, https, b"json" in ctype) if h[0] not in have]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _security(path: str, https: bool, is_json: bool) -> list[tuple[bytes, bytes]]:
    out = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY" if not path.startswith("/app") else b"SAMEORIGIN")]
    if is_json:
        out.append((b"content-security-policy", API_CSP.encode()))
    elif path.startswith(PAGE_PATHS):
        out.append((b"content-security-policy", PAGE_CSP.encode()))
    else:
        out.append((b"content-security-policy", b"frame-ancestors 'self'"))
    if https:
        out.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return out


def install_cors(api: FastAPI) -> None:
    """Allow the browsers of ``Settings.cors_origins`` to call the API (closed when empty)."""
    origins = get_settings().cors_origins
    if origins:
        api.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"], allow_credentials=False,
                           max_age=600)


class SignInGate:
    """ASGI middleware: paths under ``prefixes`` need a sign-in session; others pass untouched."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/app",)) -> None:
        self.app = app
        self.prefixes = prefixes

    def _gated(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._gated(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        cookie = _cookie(_headers(scope), SESSION_COOKIE)
        if cookie is not None and await run_in_threadpool(_valid, cookie):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "sign in first"})
            return
        target = scope.get("path", "/app")
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        location = "/login?next=" + quote(target, safe="")
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0"),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})


def _valid(cookie: str) -> bool:
    with new_session() as s:
        ok = accounts.signed_in(s, cookie) is not None
        s.commit()
        return ok
