"""Maker tests: the ``stack`` fixture (see ``maker_stack``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which leaves sys.path alone; the
# helper module here has a name unique to this service.
sys.path.insert(0, str(Path(__file__).parent))

from maker_stack import Stack, started

from tentenone.bus import Bus


@pytest.fixture
async def stack(amqp_url: str, pg_url: str) -> AsyncIterator[Stack]:
    bus = await started(lambda: Bus.for_url("tt-maker-test", amqp_url))
    result = Stack(bus, pg_url, amqp_url)
    await result.start_orderbook()
    yield result
    for runner in reversed(result.runners):
        await runner.stop(grace_s=3)
    await bus.close()
