"""Sign-in for people: ``/login``, ``/logout``, ``/account`` (password change) and ``/api/me`` (issue 13).

The pages are plain server-rendered HTML (no script). A successful sign-in
sets two cookies: ``onemap_session`` (HttpOnly, SameSite=Lax, Secure over
HTTPS; the session's random value) and ``onemap_csrf`` (readable by the page,
SameSite=Strict): unsafe requests authenticated by the session must echo it in
the ``X-CSRF-Token`` header or a ``csrf`` form field (double submit,
``spatial.api.deps``). Forms also check the ``Origin`` header when the browser
sends one. Wrong passwords count toward the lock-out
(``spatial.accounts.authenticate``); the answer never tells whether the user
name exists. Every outcome is in the audit trail.
"""

from __future__ import annotations

import hmac
from html import escape
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from spatial import accounts, audit
from spatial.api.deps import CSRF_COOKIE, SESSION_COOKIE, client_ip, current_principal, db_session, is_https
from spatial.auth import Principal, views_for
from spatial.errors import Forbidden, Locked, OneMapError, Unauthorized

router = APIRouter(tags=["account"])

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} - OneMap</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;background:#eef2f6;margin:0}}
header{{background:#1d3557;color:#fff;padding:14px 24px;font-size:20px;font-weight:600}}
main{{max-width:380px;margin:48px auto;background:#fff;padding:28px 32px;border-radius:8px;
box-shadow:0 2px 10px rgba(0,0,0,.08)}}h1{{font-size:22px;margin:0 0 18px}}
label{{display:block;margin:14px 0 4px;font-size:14px;color:#333}}
input{{width:100%;box-sizing:border-box;padding:9px;font-size:15px;border:1px solid #bbb;border-radius:4px}}
button,.sso{{display:block;width:100%;margin-top:20px;padding:10px;font-size:15px;border:0;border-radius:4px;
background:#1d3557;color:#fff;cursor:pointer;text-align:center;text-decoration:none;box-sizing:border-box}}
.sso{{background:#457b9d}}.msg{{padding:10px;border-radius:4px;margin-bottom:8px;font-size:14px}}
.err{{background:#fde2e2;color:#8a1c1c}}.ok{{background:#e3f5e1;color:#1e5f1a}}
.note{{font-size:13px;color:#666;margin-top:16px}}</style></head>
<body><header>OneMap</header><main><h1>{title}</h1>{body}</main></body></html>"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=body), status_code=status,
                        headers={"cache-control": "no-store"})


def safe_next(value: str | None) -> str:
    """A redirect target on this server only (a path; never ``//host`` or a scheme): default ``/app``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/app"
    parts = urlsplit(value)
    return "/app" if parts.scheme or parts.netloc else value


def _login_form(next_url: str, message: str = "", kind: str = "err", username: str = "") -> str:
    from spatial.api import sso  # the SSO button when single sign-on is configured

    msg = f'<div class="msg {kind}" role="alert">{escape(message)}</div>' if message else ""
    sso_link = (f'<a class="sso" href="/auth/oidc/login?next={escape(next_url)}">Sign in with single sign-on</a>'
                if sso.configured() else "")
    return (f'{msg}<form method="post" action="/login"><input type="hidden" name="next" value="{escape(next_url)}">'
            f'<label for="username">User name</label><input id="username" name="username" autocomplete="username" '
            f'value="{escape(username)}" required autofocus>'
            '<label for="password">Password</label><input id="password" name="password" type="password" '
            'autocomplete="current-password" required><button type="submit">Sign in</button></form>'
            f'{sso_link}')


def _same_origin(request: Request) -> bool:
    """A form post from this site (``Origin`` absent, or naming this Host)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def set_session_cookies(request: Request, response: Response, new: accounts.NewSession) -> None:
    """Put a started session's cookies on ``response`` (Secure over HTTPS)."""
    secure = is_https(request)
    max_age = max(60, int((new.expires_at - new.expires_at.now(new.expires_at.tzinfo)).total_seconds()))
    response.set_cookie(SESSION_COOKIE, new.cookie, max_age=max_age, httponly=True, samesite="lax", secure=secure,
                        path="/")
    response.set_cookie(CSRF_COOKIE, new.csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure,
                        path="/")


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/login", include_in_schema=False)
def login_page(request: Request, session: Session = Depends(db_session)) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    if accounts.signed_in(session, request.cookies.get(SESSION_COOKIE)) is not None:
        return RedirectResponse(next_url, status_code=303)
    return page("Sign in", _login_form(next_url))


@router.post("/login", include_in_schema=False)
async def login(request: Request, session: Session = Depends(db_session)) -> Response:
    form = await request.form()
    username = str(form.get("username") or "").strip().lower()[:64]
    password = str(form.get("password") or "")[:accounts.MAX_PASSWORD + 1]
    next_url = safe_next(str(form.get("next") or ""))
    if not _same_origin(request):
        return page("Sign in", _login_form(next_url, "This form must be sent from this site."), 403)
    ip = client_ip(request)
    try:
        user = accounts.authenticate(session, username, password)
    except (Unauthorized, Locked, Forbidden) as exc:
        audit.record(session, "sign_in_failed", actor=accounts.actor_of(username or "?"), ip=ip,
                     request="POST /login", after={"reason": exc.code})
        return page("Sign in", _login_form(next_url, exc.message, username=username), exc.status_code)
    new = accounts.start_session(session, user, ip=ip, user_agent=request.headers.get("user-agent"))
    audit.record(session, "sign_in", actor=accounts.actor_of(user.username), user_id=user.id, ip=ip,
                 request="POST /login", after={"via": "password"})
    target = "/account?must_change=1" if user.must_change_password else next_url
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(request, response, new)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, session: Session = Depends(db_session)) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    signed = accounts.signed_in(session, cookie)
    if signed is not None:
        form = await request.form()
        sent = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
        if not hmac.compare_digest(sent, signed.csrf) or not _same_origin(request):
            return page("Sign out", '<div class="msg err">This sign-out was not sent from OneMap.</div>', 403)
        accounts.end_session(session, cookie or "")
        audit.record(session, "sign_out", actor=accounts.actor_of(signed.username), user_id=signed.user_id,
                     ip=client_ip(request), request="POST /logout")
    response = page("Signed out", '<div class="msg ok" role="status">You are signed out.</div>'
                                   '<a class="sso" href="/login">Sign in again</a>')
    _clear_cookies(response)
    return response


def _account_form(signed: accounts.SignedIn, message: str = "", kind: str = "err") -> str:
    msg = f'<div class="msg {kind}" role="alert">{escape(message)}</div>' if message else ""
    return (f'{msg}<p>Signed in as <b>{escape(signed.display_name)}</b> ({escape(signed.username)}); roles: '
            f'{escape(", ".join(signed.roles))}.</p>'
            f'<form method="post" action="/account/password"><input type="hidden" name="csrf" '
            f'value="{escape(signed.csrf)}"><label for="current">Current password</label>'
            '<input id="current" name="current" type="password" autocomplete="current-password" required>'
            f'<label for="new">New password ({accounts.MIN_PASSWORD}+ characters)</label>'
            '<input id="new" name="new" type="password" autocomplete="new-password" required>'
            '<button type="submit">Change password</button></form>'
            '<p class="note"><a href="/app">Back to the map</a></p>')


@router.get("/account", include_in_schema=False)
def account_page(request: Request, session: Session = Depends(db_session)) -> Response:
    signed = accounts.signed_in(session, request.cookies.get(SESSION_COOKIE))
    if signed is None:
        return RedirectResponse("/login?next=/account", status_code=303)
    note = "Your password was reset by an administrator: choose a new one." if signed.must_change_password else ""
    return page("Your account", _account_form(signed, note, "err"))


@router.post("/account/password", include_in_schema=False)
async def change_password(request: Request, session: Session = Depends(db_session)) -> Response:
    signed = accounts.signed_in(session, request.cookies.get(SESSION_COOKIE))
    if signed is None:
        return RedirectResponse("/login?next=/account", status_code=303)
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf") or ""), signed.csrf) or not _same_origin(request):
        return page("Your account", _account_form(signed, "This form was not sent from OneMap."), 403)
    principal = signed.principal()
    audit.bind(session, principal, ip=client_ip(request), request="POST /account/password")
    try:
        accounts.change_password(session, signed.user_id, str(form.get("current") or ""),
                                 str(form.get("new") or ""), keep_session=signed.session_id)
    except OneMapError as exc:
        session.rollback()
        return page("Your account", _account_form(signed, exc.message), exc.status_code)
    return page("Your account", _account_form(signed, "Your password was changed.", "ok"))


@router.get("/api/me", summary="Who is calling: actor, role, roles, scope and the app views they get")
def me(principal: Principal = Depends(current_principal)) -> dict:
    return {"actor": principal.actor, "role": principal.role, "roles": list(principal.roles or (principal.role,)),
            "department_id": principal.department_id, "admin_unit_id": principal.admin_unit_id,
            "worker_id": principal.worker_id, "user_id": principal.user_id, "token_id": principal.token_id,
            "views": views_for(principal.roles or (principal.role,))}
