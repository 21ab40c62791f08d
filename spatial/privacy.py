"""Who sees which personal data: the one owner of the privacy rules (issue 11).

Three rules, each a function here, called by every serializer (JSON API,
Open311 JSON and XML, map data, sensor and alert lists):

* **Sensitive categories** (``category.sensitive``, e.g. ``elderly_help``):
  their tickets are never public. Callers who are not staff (anonymous,
  citizens, channels) get them omitted or, with
  ``ONEMAP_SENSITIVE_PUBLIC=redacted``, without location (lon/lat, address,
  grid, community), description and photos (:data:`REDACTED_FIELDS`). A
  reporter still sees their own ticket in full. Filters that select by
  location (bbox, grid, street) never match a sensitive ticket for the public,
  so a redacted ticket cannot be located by narrowing the box. Aggregates by
  grid (counts) include them.
* **Private sensors** (``sensor.private``, e.g. door sensors of elderly people
  living alone): they, their readings and the alerts and messages derived from
  them are staff-only.
* **Camera video** (``camera.stream_url``, ``snapshot_url``): only for
  :data:`STREAM_ROLES` (:func:`sees_streams`); the map shows everyone else
  the camera and its view cone without any URL.
* **Reporter contact** (:data:`REPORTER_FIELDS` on tickets, name/phone/account
  on ``ticket_reporter`` rows, and :data:`REPORTER_ATTRS` in ``ticket.attrs``)
  is seen by the citizen who filed the ticket (their own report only; callers
  pass ``owned``), dispatchers, leadership, admin and the internal system, and
  by handlers and grid workers of the ticket's own
  department (``ticket.department_id`` equals the principal's department: the
  token's, or for a grid worker their worker's department).

"Staff" is :data:`spatial.auth.STAFF_ROLES`. Everything here is pure (no SQL
run); the SQL fragments are for the read queries to add to their WHERE clause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from spatial.auth import STAFF_ROLES, Principal
from spatial.settings import get_settings

#: Roles that see every ticket's reporter contact.
REPORTER_ROLES = frozenset({"dispatcher", "leadership", "admin", "system"})
#: Roles that may get camera stream URLs: staff, intake channels (the video platform itself) and the wall screen.
STREAM_ROLES = STAFF_ROLES | {"channel", "wall"}
#: Roles that see reporter contact on their own department's tickets only.
DEPARTMENT_ROLES = frozenset({"handler", "grid_worker"})
#: Reporter contact columns of ``ticket`` (the view's names).
REPORTER_FIELDS = ("reporter_name", "reporter_phone", "reporter_account")
#: Reporter contact kept in ``ticket.attrs`` (Open311 e-mail and device id).
REPORTER_ATTRS = ("email", "device_id")
#: Categories sensitive by default (catalog files without a ``sensitive`` column; migration 0008).
SENSITIVE_CATEGORY_CODES = ("elderly_help", "personal_safety", "domestic_violence", "child_protection")
#: Sensor types private by default (sensor files without a ``private`` column; migration 0008).
PRIVATE_SENSOR_TYPES = ("door",)
#: Fields of a sensitive ticket blanked for the public (``sensitive_public = "redacted"``).
REDACTED_FIELDS = ("lon", "lat", "address", "description", "photo_urls", "grid", "community", "grid_id")

#: Query parameters whose values never reach a log line.
SECRET_PARAMS = ("api_key", "token", "access_token")
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s?\"']+)=([^&;#\s\"']*)")
_TOKEN_TEXT = re.compile(r"\bom_[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def is_staff(principal: Principal | None) -> bool:
    """Whether the caller is staff (:data:`spatial.auth.STAFF_ROLES`; anonymous is not)."""
    return principal is not None and principal.is_staff


def sees_sensitive(principal: Principal | None) -> bool:
    """Whether the caller sees sensitive tickets in full (staff only; reporters see their own)."""
    return is_staff(principal)


def sees_private_sensors(principal: Principal | None) -> bool:
    """Whether the caller sees private sensors, their readings, alerts and messages (staff only)."""
    return is_staff(principal)


def sees_streams(principal: Principal | None) -> bool:
    """Whether the caller may get camera stream and snapshot URLs (:data:`STREAM_ROLES`).

    Everyone else gets a camera's position and view cone but never a URL to its video.
    """
    return principal is not None and principal.role in STREAM_ROLES


def sees_reporter(principal: Principal | None, *, department_id: int | None, owned: bool = False) -> bool:
    """Whether the caller sees the reporter contact of a ticket of ``department_id``.

    ``owned``: the caller reported the ticket (or a report merged into it).
    """
    if principal is None:
        return False
    if owned or principal.role in REPORTER_ROLES:
        return True
    return (principal.role in DEPARTMENT_ROLES and principal.department_id is not None
            and department_id is not None and principal.department_id == department_id)


def public_mode() -> str:
    """``omit`` or ``redacted``: what the public gets of sensitive tickets (``ONEMAP_SENSITIVE_PUBLIC``)."""
    return get_settings().sensitive_public


def hides_sensitive_rows(principal: Principal | None, *, located: bool = False) -> bool:
    """Whether a ticket query for this caller must leave out sensitive tickets it does not own.

    ``located``: the query selects by location (bbox, grid, street), which would
    reveal where a redacted ticket is.
    """
    if sees_sensitive(principal):
        return False
    return located or public_mode() == "omit"


def redact(view: Mapping[str, Any]) -> dict:
    """A ticket mapping with :data:`REDACTED_FIELDS` blanked (present keys only) and ``redacted: True``."""
    out = dict(view)
    for k in REDACTED_FIELDS:
        if k in out:
            out[k] = [] if k == "photo_urls" else ("" if k == "description" else None)
    out["redacted"] = True
    return out


def strip_reporter(view: Mapping[str, Any]) -> dict:
    """A ticket mapping without reporter contact: :data:`REPORTER_FIELDS`, ``reporters`` and attrs keys."""
    out = {k: v for k, v in view.items() if k not in REPORTER_FIELDS and k != "reporters"}
    attrs = out.get("attrs")
    if isinstance(attrs, Mapping) and any(k in attrs for k in REPORTER_ATTRS):
        out["attrs"] = {k: v for k, v in attrs.items() if k not in REPORTER_ATTRS}
    return out


def sensitive_category_sql(alias: str = "t") -> str:
    """SQL: ticket ``alias`` is of a sensitive category."""
    return f"{alias}.category_id IN (SELECT id FROM category WHERE sensitive)"


def public_ticket_sql(alias: str = "t") -> str:
    """SQL: ticket ``alias`` is of a category the public may see located."""
    return f"NOT ({sensitive_category_sql(alias)})"


def public_sensor_sql(alias: str = "s") -> str:
    """SQL: sensor ``alias`` is public."""
    return f"NOT {alias}.private"


def _mask_param(m: re.Match) -> str:
    name = unquote_plus(m.group(2)).strip().lower()
    return f"{m.group(1)}{m.group(2)}=***" if name in SECRET_PARAMS else m.group(0)


def redact_secrets(text: str) -> str:
    """``text`` with the values of :data:`SECRET_PARAMS`, bearer credentials and ``om_`` tokens masked."""
    text = _QUERY_PARAM.sub(_mask_param, text)
    text = _BEARER.sub(r"\1***", text)
    return _TOKEN_TEXT.sub("om_***", text)
