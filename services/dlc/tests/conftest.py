"""DLC service tests: the helpers (``dlc_world``) live beside the tests."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which leaves sys.path alone; the
# helper module here has a name unique to this service.
sys.path.insert(0, str(Path(__file__).parent))

from dlc_world import Start, start_fixture


@pytest.fixture
async def start(amqp_url: str, pg_url: str) -> AsyncIterator[Start]:
    async for go in start_fixture(amqp_url, pg_url):
        yield go


@pytest.fixture
async def sqlite_start(amqp_url: str, tmp_path: Path) -> AsyncIterator[Start]:
    """The same world on SQLite (the embedded default's database)."""
    async for go in start_fixture(amqp_url, f"sqlite+aiosqlite:///{tmp_path / 'dlc.db'}"):
        yield go
