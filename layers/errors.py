"""Errors raised by the pure layer builders.

``layers`` imports neither ``spatial`` nor ``panel``; the app translates a
:class:`LayerError` into a user-facing message.
"""

from __future__ import annotations


class LayerError(ValueError):
    """The input cannot be drawn: too many features, no CRS, missing columns.

    ``str(err)`` is a message that can be shown to a user as is.
    """
