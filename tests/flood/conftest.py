"""Fixtures for the flood-model tests.

Shared reference data live outside the repository: ``$ONEMAP_SHARED_DATA``
(default ``<repo>/../shared/data``). Tests needing them FAIL when missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """Directory of the shared read-only data sets."""
    return Path(os.environ.get("ONEMAP_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "flood_validation").is_dir() or not (path / "03_dem_rainfall").is_dir():
        pytest.fail(f"shared data not found at {path} (set ONEMAP_SHARED_DATA)")
    return path
