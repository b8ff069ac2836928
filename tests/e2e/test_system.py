"""The harness itself: every service comes up, answers its probes, survives kill -9."""

from __future__ import annotations

import httpx
import pytest

from tentenone.testing import wait_until
from tentenone.testing.system import System, installed_services
from tentenone.wire.oracle import EventIdRequest, rpc_methods

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=5) as client:
        try:
            reply = await client.get(f"{url}/readyz")
        except httpx.HTTPError:
            return False
    return reply.status_code == 200


async def test_every_installed_service_runs_and_is_ready(system: System) -> None:
    assert set(system.services) == set(installed_services())
    for name, service in system.services.items():
        assert service.url, f"{name} logged no URL"
        assert await _ready(service.url), f"{name} /readyz is not 200"


async def test_the_oracle_announces_the_coming_expiries(system: System) -> None:
    event_id = system.event_at_least(60)
    spec = rpc_methods("oracle")["get_announcement"]

    async def announced() -> object:
        try:
            return await system.rpc(spec, EventIdRequest(event_id=event_id), timeout_s=5)
        except Exception:  # not announced yet, or the oracle still starting
            return None

    found = await wait_until(announced, 60, interval=0.5, what=f"announcement of {event_id}")
    assert found.oracle_public_key == system.oracle_pubkey


@pytest.mark.parametrize("name", sorted(installed_services()))
async def test_a_killed_service_comes_back(system: System, name: str) -> None:
    assert system.kill(name) == -9
    service = await system.restart(name)
    assert service.url is not None
    assert await wait_until(lambda: _ready(service.url or ""), 60, what=f"{name} ready again")
