"""Secrets never reach the server's logs.

uvicorn's access log writes every request line with its query string, and
Open311 clients send ``api_key`` there. :class:`RedactSecrets` is a logging
filter that rewrites each record's message and arguments through
:func:`spatial.privacy.redact_secrets` (values of ``api_key``, ``token`` and
``access_token`` query parameters, bearer credentials and ``om_`` tokens
become ``***``). :func:`install` puts it on the ``uvicorn.access`` and
``uvicorn.error`` loggers; ``create_api`` calls it, so every way of serving
the API (``onemap serve``, ``uvicorn app:create_server --factory``) is covered.
"""

from __future__ import annotations

import logging

from spatial.privacy import redact_secrets

#: Loggers whose records are redacted.
LOGGERS = ("uvicorn.access", "uvicorn.error")


class RedactSecrets(logging.Filter):
    """Rewrite a record's message and string arguments without secrets (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact_secrets(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install() -> None:
    """Add one :class:`RedactSecrets` to each of :data:`LOGGERS` (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
