"""Content-addressed file storage on disk: every blob is stored once, named by its SHA-256.

Layout: ``<root>/<aa>/<bb>/<sha256>`` (two levels of 256 folders keep directories small).
A write goes to a temporary file in the target folder, is fsynced and renamed into place
(``os.replace``), so a reader never sees a half-written blob and a crash leaves at most a
``.tmp-*`` file behind. Writing a blob that exists is a no-op (same name, same bytes).

Only local disk is implemented; an S3-compatible backend would implement the same three
methods (``put``, ``open_path``/``read``, ``exists``) and is not done (see docs/media.md).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from spatial.errors import NotFound

_HEX = frozenset("0123456789abcdef")


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lower-case hex characters."""
    return hashlib.sha256(data).hexdigest()


class ContentStore:
    """Blobs under ``root`` named by their SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, sha: str) -> Path:
        """Where blob ``sha`` lives (whether or not it exists); ValueError for a malformed hash."""
        if len(sha) != 64 or not set(sha) <= _HEX:
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha[:2] / sha[2:4] / sha

    def exists(self, sha: str) -> bool:
        return self.path(sha).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data`` (atomically, durably) and return its SHA-256."""
        sha = sha256_hex(data)
        target = self.path(sha)
        if target.is_file():
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def read(self, sha: str) -> bytes:
        """The bytes of blob ``sha``; NotFound when missing."""
        try:
            return self.path(sha).read_bytes()
        except FileNotFoundError:
            raise NotFound("the file of this photo is missing from the media store") from None

    def delete(self, sha: str) -> None:
        """Remove blob ``sha`` if present (garbage collection of unreferenced blobs)."""
        self.path(sha).unlink(missing_ok=True)
