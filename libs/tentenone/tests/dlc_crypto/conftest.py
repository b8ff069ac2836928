from __future__ import annotations

from pathlib import Path

import pytest

# The repository sits beside shared/ (../shared from its root), in CI as here.
_REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="session")
def dlcspecs_vectors() -> Path:
    path = _REPO.parent / "shared" / "vectors" / "dlcspecs"
    assert path.is_dir(), f"dlcspecs vectors not found at {path}"
    return path
