"""Single sign-on with OpenID Connect: authorization code + PKCE, through ``authlib`` (issue 13).

Configured by ``ONEMAP_OIDC_ISSUER``, ``ONEMAP_OIDC_CLIENT_ID`` and
``ONEMAP_OIDC_CLIENT_SECRET`` (register ``https://<host>/auth/oidc/callback``
at the provider); without them the routes answer 404 and the sign-in page
shows no SSO button.

``/auth/oidc/login`` sends the browser to the provider with a random
``state``, ``nonce`` and a PKCE ``S256`` challenge; the state is also bound to
the browser by a short-lived HttpOnly cookie (no login CSRF). The pending
sign-ins live in this process's memory for :data:`PENDING_SECONDS` (one server
process; behind several, pin ``/auth/oidc/*`` to one or share nothing else).
``/auth/oidc/callback`` exchanges the code (with the verifier), validates the
ID token (signature from the provider's JWKS, issuer, audience, expiry, nonce)
and reads the user info. The person's OneMap roles are the values of the
``ONEMAP_OIDC_ROLES_CLAIM`` claim (default ``roles``) that are OneMap roles;
none means no access (403). The account (issuer, subject) is created on the
first sign-in (SSO only, no password) and its roles follow the claim on every
sign-in; then a normal session starts, as for a password sign-in.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from functools import lru_cache
from html import escape
from typing import Any

import requests
import sqlalchemy as sa
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from spatial import accounts, audit, authcache
from spatial.api.deps import client_ip, db_session, is_https
from spatial.auth import PERSON_ROLES
from spatial.errors import NotFound
from spatial.models import UserAccount
from spatial.settings import get_settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["account"])

#: How long a started single sign-on may take, seconds.
PENDING_SECONDS = 600
STATE_COOKIE = "onemap_oidc_state"
CALLBACK = "GET /auth/oidc/callback"
_pending: dict[str, tuple[float, str, str, str]] = {}  # state -> (expires, nonce, verifier, next)
_lock = threading.Lock()


def configured() -> bool:
    """Whether single sign-on is set up."""
    s = get_settings()
    return bool(s.oidc_issuer and s.oidc_client_id)


@lru_cache(maxsize=4)
def _metadata(issuer: str) -> dict[str, Any]:
    r = requests.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10)
    r.raise_for_status()
    meta = r.json()
    if meta.get("issuer") != issuer.rstrip("/") and meta.get("issuer") != issuer:
        raise ValueError("the provider's discovery document names another issuer")
    return meta


def _client(request: Request) -> OAuth2Session:
    s = get_settings()
    return OAuth2Session(s.oidc_client_id, s.oidc_client_secret, scope=s.oidc_scope,
                         redirect_uri=_redirect_uri(request), code_challenge_method="S256",
                         token_endpoint_auth_method="client_secret_basic")


def _redirect_uri(request: Request) -> str:
    base = str(request.base_url).rstrip("/")
    if is_https(request) and base.startswith("http://"):
        base = "https://" + base[len("http://"):]
    return base + "/auth/oidc/callback"


def _require() -> None:
    if not configured():
        raise NotFound("single sign-on is not configured")


def _fail(message: str, status: int) -> Response:
    from spatial.api.signin import page

    return page("Single sign-on", f'<div class="msg err" role="alert">{escape(message)}</div>'
                                   '<a class="sso" href="/login">Back to sign-in</a>', status)


@router.get("/auth/oidc/login", include_in_schema=False)
def sso_login(request: Request) -> Response:
    from spatial.api.signin import safe_next

    _require()
    meta = _metadata(get_settings().oidc_issuer or "")
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    now = time.monotonic()
    with _lock:
        for k in [k for k, v in _pending.items() if v[0] < now]:
            del _pending[k]
        _pending[state] = (now + PENDING_SECONDS, nonce, verifier, safe_next(request.query_params.get("next")))
    url, _ = _client(request).create_authorization_url(meta["authorization_endpoint"], state=state, nonce=nonce,
                                                       code_verifier=verifier)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(STATE_COOKIE, state, max_age=PENDING_SECONDS, httponly=True, samesite="lax",
                        secure=is_https(request), path="/auth/oidc")
    return response


def _username(claims: dict[str, Any], session: Session) -> str:
    raw = str(claims.get("preferred_username") or claims.get("email") or claims["sub"]).lower()
    base = re.sub(r"[^a-z0-9._@-]", "-", raw).strip("-.")[:56] or "sso"
    name, n = base, 1
    while session.scalar(sa.select(UserAccount.id).where(UserAccount.username == name)) is not None:
        n += 1
        name = f"{base}-{n}"
    return name


@router.get("/auth/oidc/callback", include_in_schema=False)
def sso_callback(request: Request, session: Session = Depends(db_session)) -> Response:
    from spatial.api.signin import set_session_cookies

    _require()
    settings = get_settings()
    q = request.query_params
    if q.get("error"):
        return _fail(f"the identity provider refused: {q.get('error_description') or q['error']}"[:300], 401)
    state = q.get("state") or ""
    with _lock:
        pending = _pending.pop(state, None)
    if pending is None or request.cookies.get(STATE_COOKIE) != state or pending[0] < time.monotonic():
        return _fail("this single sign-on is unknown or expired; start again", 400)
    _, nonce, verifier, next_url = pending
    meta = _metadata(settings.oidc_issuer or "")
    client = _client(request)
    try:
        token = client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=q.get("code", ""),
                                   code_verifier=verifier, timeout=10)
        keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
        decoded = jwt.decode(token["id_token"], keys)
        claims = CodeIDToken(decoded.claims, decoded.header,
                             {"iss": {"essential": True, "values": [meta["issuer"]]}},
                             {"nonce": nonce, "client_id": settings.oidc_client_id,
                              "access_token": token.get("access_token")})
        claims.validate(leeway=60)
        info = dict(claims)
        if meta.get("userinfo_endpoint"):
            r = client.get(meta["userinfo_endpoint"], timeout=10)
            r.raise_for_status()
            extra = r.json()
            if extra.get("sub") == info["sub"]:
                info.update(extra)
    except Exception as exc:  # any protocol failure: no sign-in, a clear page, the reason logged and audited
        log.warning("single sign-on failed at the callback: %s: %s", type(exc).__name__, exc)
        audit.record(session, "sign_in_failed", actor="oidc:?", ip=client_ip(request), request=CALLBACK,
                     after={"reason": type(exc).__name__})
        return _fail("the identity provider's answer could not be verified; start again", 401)
    raw_roles = info.get(settings.oidc_roles_claim) or []
    roles = [r for r in ([raw_roles] if isinstance(raw_roles, str) else raw_roles) if r in PERSON_ROLES]
    issuer, subject = meta["issuer"], str(info["sub"])
    user = session.scalars(sa.select(UserAccount).where(UserAccount.oidc_issuer == issuer,
                                                        UserAccount.oidc_subject == subject)
                           .with_for_update()).one_or_none()
    actor = accounts.actor_of(user.username) if user else f"oidc:{subject}"[:200]
    if not roles:
        audit.record(session, "sign_in_failed", actor=actor, ip=client_ip(request), request=CALLBACK,
                     after={"reason": "no_role", "claim": settings.oidc_roles_claim})
        return _fail("your identity provider grants you no OneMap role; ask an administrator", 403)
    if user is not None and user.disabled_at is not None:
        return _fail("this account is disabled; ask an administrator", 403)
    audit.bind(session, accounts.cli_like(actor), ip=client_ip(request), request=CALLBACK)
    if user is None:
        user = accounts.create_user(session, _username(info, session), roles,
                                    display_name=str(info.get("name") or "")[:128], email=info.get("email"),
                                    oidc_issuer=issuer, oidc_subject=subject)
    elif list(user.roles) != roles:
        user.roles = roles
        authcache.evict()  # sessions cached with the old roles
    user.last_login_at = sa.func.now()
    session.flush()
    new = accounts.start_session(session, user, ip=client_ip(request), user_agent=request.headers.get("user-agent"),
                                 via="oidc")
    audit.record(session, "sign_in", actor=accounts.actor_of(user.username), user_id=user.id, ip=client_ip(request),
                 request=CALLBACK, after={"via": "oidc", "roles": roles})
    response = RedirectResponse(next_url, status_code=303)
    set_session_cookies(request, response, new)
    response.delete_cookie(STATE_COOKIE, path="/auth/oidc")
    return response
