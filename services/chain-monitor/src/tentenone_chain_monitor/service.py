"""The chain monitor as a tentenone service: RPC (``tentenone.wire.chain``), events, readiness.

``tentenone-chain-monitor`` runs it; ``TENTENONE_ELECTRUM_SERVERS`` (or
``TENTENONE_CHAIN_MONITOR_ELECTRUM_SERVERS``) names the Electrum servers.
One monitor per database schema: rounds are serialised in the process, and
the outbox's unique event ids stop a second one from writing an event twice.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.chain import ChainSource, ElectrumChainSource, FileHeaderStore
from tentenone.chain.block import BitcoindBlockSource
from tentenone.errors import ConfigError, Unavailable
from tentenone.service import Service, ServiceContext
from tentenone.store import add_events
from tentenone.wire import chain as wire
from tentenone_chain_monitor import queries, watches
from tentenone_chain_monitor.blocks import BlockMatcher
from tentenone_chain_monitor.models import ChainMonitorTable
from tentenone_chain_monitor.monitor import ChainMonitor
from tentenone_chain_monitor.reconcile import Emitted
from tentenone_chain_monitor.settings import ChainMonitorSettings

__all__ = ["SOURCE_FACTORY", "demo_settings", "main", "service"]

_OUTBOX_CHUNK = 1000


def demo_settings(data_dir: Path) -> dict[str, Any]:
    return {"header_file": data_dir / "chain-monitor" / "headers"}


service = Service(
    wire.SERVICE,
    settings=ChainMonitorSettings,
    metadata=ChainMonitorTable.metadata,
    migrations="tentenone_chain_monitor",
    description="watched scripts and outpoints: confirmations, spends and reorgs as events",
    demo_settings=demo_settings,
)


def _electrum_source(settings: ChainMonitorSettings) -> ChainSource:
    servers = settings.electrum_servers
    if not servers:
        # Read again at start: in `tentenone demo` the devnet component exports the
        # address after the services' settings were read.
        servers = ChainMonitorSettings().electrum_servers
    if not servers:
        raise ConfigError(
            "no Electrum server configured: set TENTENONE_ELECTRUM_SERVERS "
            "(tcp://host:port or ssl://host:port, comma-separated)"
        )
    tls = None
    if settings.tls_cafile is not None:
        tls = ssl.create_default_context(cafile=str(settings.tls_cafile))
    return ElectrumChainSource(
        servers,
        settings.network,
        header_store=FileHeaderStore(settings.header_file) if settings.header_file else None,
        tls_context=tls,
        request_timeout=settings.request_timeout_s,
        call_timeout=settings.call_timeout_s,
        ban_s=settings.ban_s,
        max_reorg_depth=settings.max_reorg_depth,
        name=wire.SERVICE,
    )


#: builds the chain source from the settings; a test may put another ``ChainSource`` first
SOURCE_FACTORY: list[Callable[[ChainMonitorSettings], ChainSource]] = [_electrum_source]


def _settings(ctx: ServiceContext) -> ChainMonitorSettings:
    settings = ctx.settings
    assert isinstance(settings, ChainMonitorSettings)
    return settings


def _monitor(ctx: ServiceContext) -> ChainMonitor:
    monitor = ctx.extras.get("monitor")
    if not isinstance(monitor, ChainMonitor):
        raise Unavailable("the chain monitor is not started")
    return monitor


def _source(ctx: ServiceContext) -> ChainSource:
    source: ChainSource = ctx.extras["source"]
    return source


@service.on_startup
async def _start(ctx: ServiceContext) -> None:
    settings = _settings(ctx)
    source = SOURCE_FACTORY[0](settings)

    async def publish(session: AsyncSession, events: Sequence[Emitted]) -> None:
        # One statement per chunk: a block can confirm thousands of watched outputs.
        for start in range(0, len(events), _OUTBOX_CHUNK):
            chunk = events[start : start + _OUTBOX_CHUNK]
            await add_events(
                session,
                [
                    {"event_type": e.event.event_type, "payload": e.event, "event_id": e.event_id}
                    for e in chunk
                ],
                source=ctx.name,
            )

    ctx.extras["source"] = source
    ctx.extras["blocks"] = blocks = _block_matcher(settings)
    ctx.extras["monitor"] = ChainMonitor(ctx.db, source, publish, settings, blocks)


def _block_matcher(settings: ChainMonitorSettings) -> BlockMatcher | None:
    if not settings.bitcoind_rpc_url:
        return None
    password = settings.bitcoind_rpc_password
    node = BitcoindBlockSource(
        settings.bitcoind_rpc_url,
        settings.bitcoind_rpc_user or "",
        password.get_secret_value() if password else "",
        timeout_s=settings.request_timeout_s,
    )
    return BlockMatcher(node)


@service.on_shutdown
async def _stop(ctx: ServiceContext) -> None:
    source = ctx.extras.get("source")
    if source is not None:
        await source.close()
    blocks = ctx.extras.get("blocks")
    if isinstance(blocks, BlockMatcher):
        await blocks.close()


@service.background
async def monitor_chain(ctx: ServiceContext) -> None:
    await _monitor(ctx).run()


@service.probe("chain")
async def chain_ready(ctx: ServiceContext) -> None:
    await _monitor(ctx).readiness()


# -- RPC ------------------------------------------------------------------------------------


@service.rpc(wire.WATCH)
async def watch(ctx: ServiceContext, req: wire.WatchRequest) -> wire.Watch:
    limit = _settings(ctx).max_watches
    return await watches.register(ctx.db, _source(ctx), _monitor(ctx), req, limit)


@service.rpc(wire.UNWATCH)
async def unwatch(ctx: ServiceContext, req: wire.UnwatchRequest) -> wire.Watch:
    return await watches.unregister(ctx.db, _monitor(ctx), req)


@service.rpc(wire.LIST_WATCHES)
async def list_watches(ctx: ServiceContext, req: wire.ListWatchesRequest) -> wire.WatchList:
    return await watches.list_watches(ctx.db, req)


@service.rpc(wire.GET_WATCH)
async def get_watch(ctx: ServiceContext, req: wire.WatchIdRequest) -> wire.WatchStatus:
    tip = await _source(ctx).tip()
    return await watches.get_watch(
        ctx.db, req.watch_id, wire.BlockRef(height=tip.height, hash=tip.hash)
    )


@service.rpc(wire.BROADCAST)
async def broadcast(ctx: ServiceContext, req: wire.BroadcastRequest) -> wire.BroadcastResult:
    return await queries.broadcast(_source(ctx), req)


@service.rpc(wire.TX_STATUS)
async def tx_status(ctx: ServiceContext, req: wire.TxStatusRequest) -> wire.TxStatus:
    return await queries.tx_status(_source(ctx), req)


@service.rpc(wire.OUTPOINT_STATUS)
async def outpoint_status(
    ctx: ServiceContext, req: wire.OutpointStatusRequest
) -> wire.OutpointStatus:
    return await queries.outpoint_status(_source(ctx), req)


@service.rpc(wire.TIP)
async def tip(ctx: ServiceContext, req: wire.NoArguments) -> wire.ChainTip:
    del req
    monitor = _monitor(ctx)
    current = await _source(ctx).tip()
    processed = monitor.processed
    return wire.ChainTip(
        height=current.height,
        hash=current.hash,
        synced=monitor.synced and processed is not None and processed.hash == current.hash,
        server=getattr(_source(ctx), "current_server", None),
    )


def main(argv: list[str] | None = None) -> int:
    return service.main(argv)
