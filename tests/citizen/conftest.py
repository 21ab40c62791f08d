"""Fixtures of the citizen page, media and notification tests: the ticket loop's committed world and client,
and a private media folder per test."""

from __future__ import annotations

import pytest

from spatial.settings import get_settings
from tests.tickets.conftest import auth, client, world  # noqa: F401  (fixtures re-used)


@pytest.fixture(autouse=True)
def media_dir(tmp_path, monkeypatch):
    """ONEMAP_MEDIA_DIR in the test's temporary folder (settings re-read)."""
    root = tmp_path / "media"
    monkeypatch.setenv("ONEMAP_MEDIA_DIR", str(root))
    get_settings.cache_clear()
    yield root
    monkeypatch.delenv("ONEMAP_MEDIA_DIR")
    get_settings.cache_clear()


def blobs(root) -> list:
    """Every file in the media folder."""
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
