"""Error hierarchy: every error a user can cause carries a user-facing message.

The API maps these to 4xx JSON responses (see ``spatial.api``); the CLI prints
the message and exits with status 2. Database driver errors are translated to
these at the service edge, never leaked.
"""

from __future__ import annotations


class OneMapError(Exception):
    """Root of all OneMap errors; ``message`` is safe to show to a user."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict:
        out: dict = {"error": self.code, "message": self.message}
        if self.details:
            out["details"] = self.details
        return out


class ConfigError(OneMapError):
    """Settings or environment are wrong (missing binaries, bad URL)."""

    code = "config_error"
    status_code = 500


class DatabaseUnavailable(OneMapError):
    """The database cannot be reached or lacks PostGIS."""

    code = "database_unavailable"
    status_code = 503


class ValidationError(OneMapError):
    """Input is malformed: wrong type, missing field, out-of-range value."""

    code = "invalid_input"
    status_code = 422


class ImportDataError(ValidationError):
    """A file to import is unusable: wrong CRS, invalid geometry, missing columns."""

    code = "import_error"


class OutsideDistrict(ValidationError):
    """A point or geometry lies outside the district boundary."""

    code = "outside_district"


class NotFound(OneMapError):
    """A referenced object does not exist."""

    code = "not_found"
    status_code = 404


class Conflict(OneMapError):
    """The request conflicts with current state (e.g. a concurrent change)."""

    code = "conflict"
    status_code = 409


class Forbidden(OneMapError):
    """The caller's role may not do this."""

    code = "forbidden"
    status_code = 403


class Unauthorized(OneMapError):
    """No valid credentials were given."""

    code = "unauthorized"
    status_code = 401


class UnsupportedMedia(ValidationError):
    """An upload whose bytes are not an accepted image type."""

    code = "unsupported_media"
    status_code = 415


class TooLarge(ValidationError):
    """An upload over a size or pixel limit."""

    code = "too_large"
    status_code = 413
class Locked(OneMapError):
    """Too many failed sign-ins: the account is locked for a while."""

    code = "locked"
    status_code = 423
