"""Shared fixtures of the data-layer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# ../shared/data next to the repository root (this file is tests/data/conftest.py).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The read-only real data folder; skips the test where it is absent (e.g. on a user's machine)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA
