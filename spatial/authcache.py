"""A short-lived in-process cache of credential lookups (tokens and sign-in sessions).

Checking a token or a session cookie is one indexed query; on a loaded
machine that round trip costs milliseconds, paid on every API call. Answers
are kept here for ``Settings.auth_cache_seconds`` (default 5 s; 0 turns the
cache off), keyed by the SHA-256 of the credential, never by the secret.
Sign-out, password changes, disabling an account and revoking a token in
this process evict at once; done in another process (the CLI), they take
effect within that many seconds. An entry never outlives the credential's own
expiry. Unknown credentials are not cached (no cache filling by guessing).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from spatial.settings import get_settings

#: Entries kept at most; the cache is emptied when full (cheap, and rare).
MAX_ENTRIES = 20_000

_entries: dict[str, tuple[float, Any]] = {}
_lock = threading.Lock()


def get(key: str) -> Any | None:
    """The cached value of ``key`` (a credential hash), or None."""
    hit = _entries.get(key)
    if hit is None:
        return None
    if hit[0] < time.monotonic():
        _entries.pop(key, None)
        return None
    return hit[1]


def put(key: str, value: Any, *, max_seconds: float | None = None) -> None:
    """Keep ``value`` for the configured time (or less: ``max_seconds``, the credential's remaining life)."""
    ttl = get_settings().auth_cache_seconds
    if max_seconds is not None:
        ttl = min(ttl, max_seconds)
    if ttl <= 0:
        return
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (time.monotonic() + ttl, value)


def evict(key: str | None = None) -> None:
    """Forget ``key``, or everything (after a change that may touch many credentials)."""
    with _lock:
        if key is None:
            _entries.clear()
        else:
            _entries.pop(key, None)
