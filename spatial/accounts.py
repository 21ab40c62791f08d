"""People's accounts: argon2 passwords, lock-out, sign-in sessions (issue 13).

Passwords are hashed with argon2id (``argon2-cffi``; :data:`HASHER`: OWASP's
recommended minimum, 2 passes over 19 MiB, 1 lane; about 0.14 s per sign-in on
a loaded 2-core machine, ``bench/bench_auth.py``, where the library's default
RFC 9106 low-memory profile, 64 MiB x 3 passes x 4 lanes, took 1.2 s) and
re-hashed on sign-in when the parameters change. After
``Settings.lockout_failures`` wrong passwords in a row an account is locked
for ``Settings.lockout_minutes``; an admin's reset unlocks it. A sign-in
creates a ``user_session`` row; the browser holds a random cookie value whose
SHA-256 is stored (as for API tokens), plus a CSRF secret for the double-submit
check of ``spatial.api.deps``. Sessions expire after ``Settings.session_hours``
and end at sign-out, on a password change or reset, and when the account is
disabled.

The principal of a person is ``user:<username>``: the actor on every ticket
event and audit row they cause.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from spatial import authcache
from spatial.audit import valid_ip
from spatial.auth import PERSON_ROLES, Principal, hash_token
from spatial.clock import utc_now
from spatial.errors import Forbidden, Locked, NotFound, Unauthorized, ValidationError
from spatial.models import AdminUnit, Department, UserAccount, UserSession, Worker
from spatial.settings import get_settings

#: argon2id with OWASP's recommended minimum cost (t=2, m=19 MiB, p=1); docs/auth.md has the measurements.
HASH_TIME_COST, HASH_MEMORY_KIB, HASH_PARALLELISM = 2, 19_456, 1
HASHER = PasswordHasher(time_cost=HASH_TIME_COST, memory_cost=HASH_MEMORY_KIB, parallelism=HASH_PARALLELISM)
#: Shortest and longest password accepted (NIST SP 800-63B: at least 8; we ask 10).
MIN_PASSWORD, MAX_PASSWORD = 10, 256
#: Verified against when the user does not exist, so that timing does not reveal user names.
_DUMMY_HASH = HASHER.hash("not a password of anyone")
#: Cookie values are ``oms_`` + 32 random bytes.
SESSION_PREFIX = "oms_"
#: ``last_seen_at`` is refreshed at most this often (seconds), not on every request.
TOUCH_SECONDS = 300


def actor_of(username: str) -> str:
    """The actor string of a person (ticket events, audit rows)."""
    return f"user:{username}"


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (PHC string with its parameters)."""
    return HASHER.hash(password)


def check_password_rules(password: str, username: str = "") -> None:
    """Refuse a password that is too short, too long, or the user name."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if username and password.strip().lower() == username.lower():
        raise ValidationError("the password may not be the user name")


def _user(session: Session, username: str, *, lock: bool = False) -> UserAccount:
    q = sa.select(UserAccount).where(UserAccount.username == (username or "").strip().lower())
    if lock:
        q = q.with_for_update()
    row = session.scalars(q).one_or_none()
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    return row


def _check_roles(roles: list[str]) -> list[str]:
    roles = [r.strip() for r in roles if r.strip()]
    unknown = sorted(set(roles) - set(PERSON_ROLES))
    if not roles or unknown:
        raise ValidationError(f"unknown or missing role(s) {', '.join(unknown)}; choose from {', '.join(PERSON_ROLES)}")
    return list(dict.fromkeys(roles))


def _code_id(session: Session, model, code: str | None, what: str, *, level: int | None = None) -> int | None:
    if code is None:
        return None
    q = sa.select(model.id).where(model.code == code)
    if level is not None:
        q = q.where(model.level == level)
    found = session.scalar(q)
    if found is None:
        raise NotFound(f"{what} {code!r} does not exist")
    return found


def create_user(session: Session, username: str, roles: list[str], *, password: str | None = None,
                display_name: str = "", email: str | None = None, department: str | None = None,
                street: str | None = None, worker_id: int | None = None, oidc_issuer: str | None = None,
                oidc_subject: str | None = None) -> UserAccount:
    """Create an account; ``department`` and ``street`` are codes that scope the person's data.

    ``password`` None makes a single-sign-on-only account (no password sign-in).
    """
    username = (username or "").strip().lower()
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._@-" for c in username):
        raise ValidationError("a user name is 1-64 characters: letters, digits, '.', '_', '@', '-'")
    roles = _check_roles(roles)
    if session.scalar(sa.select(UserAccount.id).where(UserAccount.username == username)) is not None:
        raise ValidationError(f"user {username!r} already exists")
    if "handler" in roles and department is None:
        raise ValidationError("a handler needs a department (--department CODE)")
    if worker_id is not None and session.get(Worker, worker_id) is None:
        raise NotFound(f"worker {worker_id} does not exist")
    pw_hash = None
    if password is not None:
        check_password_rules(password, username)
        pw_hash = hash_password(password)
    user = UserAccount(username=username, roles=roles, display_name=display_name or username, email=email,
                       department_id=_code_id(session, Department, department, "department"),
                       admin_unit_id=_code_id(session, AdminUnit, street, "street", level=2),
                       worker_id=worker_id, password_hash=pw_hash,
                       password_changed_at=utc_now() if pw_hash else None,
                       oidc_issuer=oidc_issuer, oidc_subject=oidc_subject)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[dict]:
    """Every account as a dict (no hash), by user name."""
    q = (sa.select(UserAccount, Department.code.label("department"), AdminUnit.code.label("street"))
         .outerjoin(Department, Department.id == UserAccount.department_id)
         .outerjoin(AdminUnit, AdminUnit.id == UserAccount.admin_unit_id).order_by(UserAccount.username))
    out = []
    for u, dept, street in session.execute(q):
        out.append({"id": u.id, "username": u.username, "display_name": u.display_name, "roles": list(u.roles),
                    "department": dept, "street": street, "worker_id": u.worker_id,
                    "sso": u.oidc_subject is not None, "password": u.password_hash is not None,
                    "disabled": u.disabled_at is not None,
                    "locked": u.locked_until is not None and u.locked_until > utc_now(),
                    "last_login_at": u.last_login_at})
    return out


def _end_sessions(session: Session, user_id: int) -> None:
    authcache.evict()  # this user's sessions, whichever they are
    session.execute(sa.update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
                    .values(revoked_at=sa.func.now()))


def disable_user(session: Session, username: str, *, enable: bool = False) -> UserAccount:
    """Disable (or re-enable) an account; disabling ends its sessions."""
    user = _user(session, username, lock=True)
    if enable:
        user.disabled_at = None
    elif user.disabled_at is None:
        user.disabled_at = utc_now()
        _end_sessions(session, user.id)
    session.flush()
    return user


def reset_password(session: Session, username: str, password: str | None = None) -> str:
    """Admin reset: set ``password`` (or a random one, returned), unlock, end sessions, ask for a change."""
    user = _user(session, username, lock=True)
    password = password or secrets.token_urlsafe(12)
    check_password_rules(password, user.username)
    user.password_hash = hash_password(password)
    user.password_changed_at = utc_now()
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    _end_sessions(session, user.id)
    session.flush()
    return password


def change_password(session: Session, user_id: int, old: str, new: str, *, keep_session: int | None = None) -> None:
    """The person changes their own password (the old one is checked); other sessions end."""
    user = session.get(UserAccount, user_id, with_for_update=True)
    if user is None or user.password_hash is None:
        raise Forbidden("this account signs in through single sign-on; change the password there")
    if not _verify(user.password_hash, old):
        raise Unauthorized("the current password is wrong")
    check_password_rules(new, user.username)
    if new == old:
        raise ValidationError("the new password must differ from the current one")
    user.password_hash = hash_password(new)
    user.password_changed_at = utc_now()
    user.must_change_password = False
    authcache.evict()
    session.execute(sa.update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
                                                 UserSession.id != (keep_session or 0))
                    .values(revoked_at=sa.func.now()))
    session.flush()


def _verify(pw_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(pw_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str) -> UserAccount:
    """The account for ``username``/``password``, counting failures (the caller commits either way).

    Raises Unauthorized for a wrong name or password (one message for both),
    Locked (423) while locked out, Forbidden for a disabled account.
    """
    settings = get_settings()
    now = utc_now()
    try:
        user = _user(session, username, lock=True)
    except NotFound:
        _verify(_DUMMY_HASH, password or "")
        raise Unauthorized("wrong user name or password") from None
    if user.locked_until is not None and user.locked_until > now:
        raise Locked(f"too many failed sign-ins: the account is locked until {user.locked_until:%H:%M} UTC; "
                     "ask an administrator to reset it or try later")
    if user.password_hash is None or not _verify(user.password_hash, password or ""):
        user.failed_logins += 1
        if user.failed_logins >= settings.lockout_failures:
            user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
            user.failed_logins = 0
        session.flush()
        raise Unauthorized("wrong user name or password")
    if user.disabled_at is not None:
        raise Forbidden("this account is disabled; ask an administrator")
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user


@dataclass(frozen=True)
class NewSession:
    """A started session: the cookie value (shown once) and the CSRF secret."""

    cookie: str
    csrf: str
    expires_at: datetime


def start_session(session: Session, user: UserAccount, *, ip: str | None, user_agent: str | None,
                  via: str = "password") -> NewSession:
    """Create a sign-in session for ``user``; returns the cookie value and CSRF secret."""
    cookie = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    expires = utc_now() + timedelta(hours=get_settings().session_hours)
    session.add(UserSession(token_hash=hash_token(cookie), user_id=user.id, csrf=csrf, via=via, expires_at=expires,
                            ip=valid_ip(ip), user_agent=(user_agent or "")[:256] or None))
    session.flush()
    return NewSession(cookie, csrf, expires)


def end_session(session: Session, cookie: str) -> None:
    """Sign out: revoke the session of this cookie value (idempotent)."""
    authcache.evict("s:" + hash_token(cookie))
    session.execute(sa.update(UserSession).where(UserSession.token_hash == hash_token(cookie),
                                                 UserSession.revoked_at.is_(None)).values(revoked_at=sa.func.now()))


@dataclass(frozen=True)
class SignedIn:
    """A valid session: its id and CSRF secret, the account, and its roles."""

    session_id: int
    csrf: str
    user_id: int
    username: str
    display_name: str
    roles: tuple[str, ...]
    department_id: int | None
    admin_unit_id: int | None
    worker_id: int | None
    must_change_password: bool

    def principal(self, role: str | None = None) -> Principal:
        """The principal acting in ``role`` (one of the person's roles; default: the first)."""
        role = role or self.roles[0]
        if role not in self.roles:
            raise Forbidden(f"you do not hold the role {role!r} (yours: {', '.join(self.roles)})")
        return Principal(actor=actor_of(self.username), role=role, department_id=self.department_id,
                         worker_id=self.worker_id, admin_unit_id=self.admin_unit_id, user_id=self.user_id,
                         roles=self.roles)


_LOOKUP = sa.text(
    "SELECT s.id, s.csrf, s.last_seen_at < now() - make_interval(secs => :touch) AS stale, u.id AS user_id, "
    "EXTRACT(EPOCH FROM s.expires_at - now()) AS left_s, "
    "u.username, u.display_name, u.roles, COALESCE(u.department_id, w.department_id) AS department_id, "
    "u.admin_unit_id, u.worker_id, u.must_change_password "
    "FROM user_session s JOIN user_account u ON u.id = s.user_id LEFT JOIN worker w ON w.id = u.worker_id "
    "WHERE s.token_hash = :h AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL")


def signed_in(session: Session, cookie: str | None) -> SignedIn | None:
    """The session of a cookie value, or None (unknown, expired, signed out, account disabled)."""
    if not cookie or not cookie.startswith(SESSION_PREFIX) or len(cookie) > 100:
        return None
    key = "s:" + hash_token(cookie)
    cached = authcache.get(key)
    if cached is not None:
        return cached
    row = session.execute(_LOOKUP, {"h": key[2:], "touch": TOUCH_SECONDS}).one_or_none()
    if row is None:
        return None
    if row.stale:
        session.execute(sa.text("UPDATE user_session SET last_seen_at = now() WHERE id = :i"), {"i": row.id})
    signed = SignedIn(row.id, row.csrf, row.user_id, row.username, row.display_name, tuple(row.roles),
                      row.department_id, row.admin_unit_id, row.worker_id, row.must_change_password)
    authcache.put(key, signed, max_seconds=float(row.left_s))
    return signed


def cli_like(actor: str) -> Principal:
    """A principal for binding the audit trail to ``actor`` before the person's account exists (SSO)."""
    return Principal(actor=actor, role="admin")
