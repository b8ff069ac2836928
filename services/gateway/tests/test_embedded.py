"""The gateway as ``tentenone demo`` runs it: in-process bus, no Redis (state in memory)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tentenone.bus import MemoryBroker
from tentenone.service import ServiceRunner, discover_services
from tentenone_gateway.service import service
from tentenone_gateway.settings import GatewaySettings

from .conftest import TraderKey, WsClient, bearer
from .fake_dlc import make_fake_dlc


def test_the_gateway_is_an_installed_service() -> None:
    assert "gateway" in {s.name for s in discover_services()}


async def test_sign_in_rest_and_websocket_without_redis(tmp_path: Path) -> None:
    broker = MemoryBroker()
    dlc_service, fake = make_fake_dlc()
    dlc = ServiceRunner(
        dlc_service,
        dlc_service.settings_cls(database_url=f"sqlite+aiosqlite:///{tmp_path}/dlc.db"),
        broker=broker,
        serve_http=False,
    )
    settings = GatewaySettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/gw.db", redis_url=None, amqp_url=None
    )
    gateway = ServiceRunner(service, settings, broker=broker)
    await dlc.start()
    await gateway.start()
    try:
        assert gateway.url is not None
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
            alice = TraderKey()
            token = await alice.sign_in(http)
            await fake.open_position(alice.public_key, "p-1")
            listed = await http.get("/api/v1/positions", headers=bearer(token))
            assert [p["position_id"] for p in listed.json()["positions"]] == ["p-1"]
            ws = await WsClient.open(gateway)
            await ws.send(op="auth", token=token)
            await ws.expect("authenticated")
            await ws.send(op="subscribe", channels=["positions"])
            await ws.expect("snapshot", channel="positions", seq=1)
            await ws.expect("subscribed", channel="positions", seq=1)
            await fake.open_position(alice.public_key, "p-1", state="accepted")
            update = await ws.expect("update", channel="positions", seq=2)
            assert update["data"]["position"]["state"] == "accepted"
            await ws.close()
    finally:
        await gateway.stop(grace_s=3)
        await dlc.stop(grace_s=3)
