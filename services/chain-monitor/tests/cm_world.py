"""The chain monitor running in this process with a client on the bus, for the tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tentenone.bus import Bus
from tentenone.service import ServiceRunner
from tentenone.testing import wait_until
from tentenone.wire import chain as wire
from tentenone_chain_monitor.service import service
from tentenone_chain_monitor.settings import ChainMonitorSettings
from tentenone_chain_monitor.testing import EventLog, start_client
from tentenone_devnet.codec import OutPoint, Tx, TxOut
from tentenone_devnet.signer import Key, Spendable
from tentenone_devnet.testing import Devnet


@dataclass
class World:
    net: Devnet
    runner: ServiceRunner
    bus: Bus
    log: EventLog

    async def call(self, spec: Any, request: Any) -> Any:
        return await self.bus.request(spec, request, timeout_s=60)

    async def mine(self, blocks: int = 1) -> list[str]:
        return await asyncio.to_thread(self.net.mine, blocks)

    async def fund(self, key: Key, sats: int, confirm: bool = False) -> Spendable:
        txid, vout = await asyncio.to_thread(self.net.fund, key.address(), sats, confirm)
        return Spendable(OutPoint(bytes.fromhex(txid)[::-1], vout), TxOut(sats, key.p2wpkh))

    async def synced(self, height: int | None = None, within_s: float = 60) -> wire.ChainTip:
        """Until the monitor processed the node's tip (or ``height``)."""
        want = height if height is not None else self.net.rpc.call("getblockcount")

        async def done() -> wire.ChainTip | None:
            tip = await self.call(wire.TIP, wire.NoArguments())
            return tip if tip.synced and tip.height >= want else None

        return await wait_until(done, within_s, interval=0.05, what=f"monitor at {want}")

    async def events(self, predicate: Any, within_s: float = 60, what: str = "events") -> Any:
        return await wait_until(lambda: predicate(self.log), within_s, interval=0.05, what=what)


def spend(key: Key, coin: Spendable, to: bytes, fee: int = 500) -> Tx:
    return key.spend([coin], [TxOut(coin.out.value - fee, to)])


def txid_of(coin: Spendable) -> str:
    return coin.outpoint.txid[::-1].hex()


@contextlib.asynccontextmanager
async def start_world(
    net: Devnet, pg_url: str, amqp_url: str, tmp_path: Path, **settings: Any
) -> AsyncIterator[World]:
    # New blocks come from the node as deployed (ADR 0055); a test may pass None.
    settings.setdefault("bitcoind_rpc_url", net.rpc_url)
    settings.setdefault("bitcoind_rpc_user", net.rpc_auth[0])
    settings.setdefault("bitcoind_rpc_password", net.rpc_auth[1])
    config = ChainMonitorSettings(
        database_url=pg_url,
        amqp_url=amqp_url,
        electrum_servers=[f"tcp://{net.electrum_address}"],
        header_file=tmp_path / "headers",
        http_port=0,
        **settings,
    )
    runner = ServiceRunner(service, config)
    await runner.start()
    bus, log = await start_client(amqp_url)
    world = World(net, runner, bus, log)
    try:
        await world.synced()
        yield world
    finally:
        await bus.close()
        await runner.stop()
