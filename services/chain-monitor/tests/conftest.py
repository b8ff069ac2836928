"""Chain monitor tests: the service in this process on a real devnet node + ElectrumX,
PostgreSQL and RabbitMQ, and a bus client that keeps every event it receives."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which leaves sys.path alone; the
# helper module here has a name unique to this service.
sys.path.insert(0, str(Path(__file__).parent))

from cm_world import World, start_world


@pytest.fixture
async def world(
    devnet_electrum, pg_url: str, amqp_url: str, tmp_path: Path
) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    async with start_world(devnet_electrum, pg_url, amqp_url, tmp_path) as w:
        yield w


@pytest.fixture
def world_factory(pg_url: str, amqp_url: str, tmp_path: Path) -> Callable[..., object]:
    def make(net, **settings: object):  # type: ignore[no-untyped-def]
        return start_world(net, pg_url, amqp_url, tmp_path, **settings)

    return make
