"""The market maker as a tentenone service: an RPC client of the order book.

``tentenone-maker`` follows the oracle's ``oracle.index_price`` feed, keeps
its inventory from ``trade.matched`` (its own table, each event applied
once) and runs the quoting loop (``maker.Maker``) as a background task. On a
graceful stop it cancels its quotes; after a kill it finds them again.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.events import ReceivedEvent
from tentenone.errors import TentenoneError, Unavailable
from tentenone.service import Service, ServiceContext
from tentenone.wire.oracle import IndexPriceUpdated
from tentenone.wire.orderbook import TradeMatched
from tentenone_maker.maker import Maker
from tentenone_maker.models import MakerTable
from tentenone_maker.positions import apply_trade, read_positions
from tentenone_maker.settings import MakerSettings

__all__ = ["demo_settings", "main", "service"]

_log = logging.getLogger(__name__)
_MAKER = "maker"
#: ready while a cycle ended within this many intervals (and at least this many seconds)
_STALL_INTERVALS, _STALL_MIN_S = 10, 10.0


def demo_settings(data_dir: Path) -> dict[str, Any]:
    """The embedded demo: smaller quotes, tighter around the simulated index."""
    del data_dir
    return {"size": 500, "spread_bps": 10, "level_spacing_bps": 5}


service = Service(
    "maker",
    settings=MakerSettings,
    metadata=MakerTable.metadata,
    migrations="tentenone_maker",
    description="the coordinator's market maker: quotes both sides of every open market",
    demo_settings=demo_settings,
)


def main(argv: list[str] | None = None) -> int:
    return service.main(argv)


def _settings(ctx: ServiceContext) -> MakerSettings:
    settings = ctx.settings
    assert isinstance(settings, MakerSettings)
    return settings


def _maker(ctx: ServiceContext) -> Maker:
    maker = ctx.extras.get(_MAKER)
    if not isinstance(maker, Maker):
        raise Unavailable("the maker is not started")
    return maker


@service.on_startup
async def _start(ctx: ServiceContext) -> None:
    async def positions() -> dict[str, int]:
        async with ctx.transaction() as session:
            return await read_positions(session)

    maker = Maker(ctx.bus, _settings(ctx), positions)
    ctx.extras[_MAKER] = maker

    async def on_price(event: ReceivedEvent[IndexPriceUpdated]) -> None:
        maker.on_price(event.payload)

    # A feed, not a record: no inbox claim; old prices lose to newer ones by time.
    await ctx.bus.subscribe(IndexPriceUpdated, on_price, name="index_price")


@service.on_shutdown
async def _stop(ctx: ServiceContext) -> None:
    maker = ctx.extras.get(_MAKER)
    if isinstance(maker, Maker):
        try:
            await maker.pull_all()
        except TentenoneError as exc:
            # Left resting: the next start finds and reconciles them.
            _log.warning("quotes not pulled on stop: %s", exc)


@service.consumer(TradeMatched)
async def on_trade_matched(
    ctx: ServiceContext, session: AsyncSession, event: ReceivedEvent[TradeMatched]
) -> None:
    if await apply_trade(session, event.payload, _settings(ctx).trader_id):
        _maker(ctx).wake()


@service.background
async def quoting(ctx: ServiceContext) -> None:
    await _maker(ctx).run()


@service.probe("quoting")
async def _quoting_loop(ctx: ServiceContext) -> object:
    """Ready while the loop turns (a stale index pulls quotes but is not a failure)."""
    maker = _maker(ctx)
    limit = max(_STALL_INTERVALS * _settings(ctx).interval_s, _STALL_MIN_S)
    if time.monotonic() - maker.last_cycle > limit:
        raise Unavailable(f"no quoting cycle finished in {limit:g} s (order book unreachable?)")
    return {"quoting": maker.quoting, "anchor": maker.anchor}
