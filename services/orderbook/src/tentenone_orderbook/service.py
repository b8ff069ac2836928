"""The order book as a tentenone service: RPC, events, markets rolling with the schedule.

``tentenone-orderbook`` waits to be the writer (``leader``), rebuilds every
open market's engine from the database, then serves. Commands (place,
cancel, amend) go through the ``Sequencer``: applied in arrival order,
committed in batches with their events before any reply. Queries of orders
read the database; the book and the markets are read from the engines.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from tentenone.bus.events import ReceivedEvent
from tentenone.errors import Unavailable
from tentenone.market.schedule import DEMO_SPEC
from tentenone.service import Service, ServiceContext
from tentenone.wire import orderbook as wire
from tentenone.wire.dlc_lifecycle import DlcReleased
from tentenone_orderbook import repository, trades
from tentenone_orderbook.errors import OrderNotFound
from tentenone_orderbook.leader import Leadership
from tentenone_orderbook.models import OrderbookTable
from tentenone_orderbook.sequencer import Sequencer
from tentenone_orderbook.settings import OrderbookSettings
from tentenone_orderbook.views import order_public, order_view

__all__ = ["demo_settings", "main", "service"]

_SEQUENCER = "sequencer"
_LEADERSHIP = "leadership"


def demo_settings(data_dir: Path) -> dict[str, Any]:
    """The embedded demo: markets roll with the demo's short expiries."""
    del data_dir
    return {"expiry_schedule": DEMO_SPEC, "snapshot_interval_s": 2.0, "roll_interval_s": 1.0}


service = Service(
    "orderbook",
    settings=OrderbookSettings,
    metadata=OrderbookTable.metadata,
    migrations="tentenone_orderbook",
    description="central limit order book per expiry; the coordinator takes every trade",
    demo_settings=demo_settings,
)


def main(argv: list[str] | None = None) -> int:
    return service.main(argv)


def _settings(ctx: ServiceContext) -> OrderbookSettings:
    settings = ctx.settings
    assert isinstance(settings, OrderbookSettings)
    return settings


def _sequencer(ctx: ServiceContext) -> Sequencer:
    sequencer = ctx.extras.get(_SEQUENCER)
    if not isinstance(sequencer, Sequencer):
        raise Unavailable("the order book is not started")
    return sequencer


def _stop_this_process() -> None:
    # Fenced out: another replica writes. Stop gracefully; the pod restarts as a standby.
    os.kill(os.getpid(), signal.SIGTERM)


@service.on_startup
async def _start(ctx: ServiceContext) -> None:
    settings = _settings(ctx)
    leadership = Leadership(ctx.db, f"{socket.gethostname()}:{os.getpid()}", settings.leader_poll_s)
    ctx.extras[_LEADERSHIP] = leadership
    epoch = await leadership.acquire()
    sequencer = Sequencer(ctx.db, settings, epoch, on_fenced=_stop_this_process)
    await sequencer.load()
    await sequencer.open_markets()
    ctx.extras[_SEQUENCER] = sequencer


@service.on_shutdown
async def _stop(ctx: ServiceContext) -> None:
    leadership = ctx.extras.get(_LEADERSHIP)
    if isinstance(leadership, Leadership):
        await leadership.release()


@service.background
async def sequencer(ctx: ServiceContext) -> None:
    await _sequencer(ctx).run()


@service.background
async def markets(ctx: ServiceContext) -> None:
    """Open markets as their expiries come into reach, close them when trading ends."""
    while True:
        await _sequencer(ctx).roll()
        await asyncio.sleep(_settings(ctx).roll_interval_s)


@service.background
async def snapshots(ctx: ServiceContext) -> None:
    """``book.snapshot`` of every open market, for the gateway's subscribers."""
    while True:
        await asyncio.sleep(_settings(ctx).snapshot_interval_s)
        await _sequencer(ctx).publish_snapshots()


@service.consumer(DlcReleased)
async def on_dlc_released(
    ctx: ServiceContext, session: AsyncSession, event: ReceivedEvent[DlcReleased]
) -> None:
    """A fill whose DLC was not signed in time stops counting (once, however often delivered)."""
    del session  # the sequencer writes in its own batch; fill_releases makes it idempotent
    await _sequencer(ctx).release(event.payload)


@service.rpc(wire.PLACE_ORDER)
async def place_order(ctx: ServiceContext, req: wire.PlaceOrderRequest) -> wire.PlaceOrderReply:
    return await _sequencer(ctx).place(req)


@service.rpc(wire.CANCEL_ORDER)
async def cancel_order(ctx: ServiceContext, req: wire.CancelOrderRequest) -> wire.OrderPublic:
    return await _sequencer(ctx).cancel(req)


@service.rpc(wire.AMEND_ORDER)
async def amend_order(ctx: ServiceContext, req: wire.AmendOrderRequest) -> wire.OrderPublic:
    return await _sequencer(ctx).amend(req)


@service.rpc(wire.GET_ORDER)
async def get_order(ctx: ServiceContext, req: wire.GetOrderRequest) -> wire.OrderPublic:
    async with ctx.transaction() as session:
        row = await repository.get_order_row(session, req.market, req.order_id)
    # Another trader's order answers like a missing one.
    if row is None or row["trader_id"] != req.trader_id:
        raise OrderNotFound(
            f"no order {req.order_id} of trader {req.trader_id!r} in market {req.market}",
            order_id=req.order_id,
        )
    return order_public(row["market_id"], order_view(row), row["created_at"], row["updated_at"])


@service.rpc(wire.LIST_ORDERS)
async def list_orders(ctx: ServiceContext, req: wire.ListOrdersRequest) -> wire.OrderList:
    async with ctx.transaction() as session:
        rows = await repository.list_order_rows(
            session, req.trader_id, req.market, req.open_only, req.limit
        )
    return wire.OrderList(
        orders=[
            order_public(r["market_id"], order_view(r), r["created_at"], r["updated_at"])
            for r in rows
        ]
    )


@service.rpc(wire.GET_BOOK)
async def get_book(ctx: ServiceContext, req: wire.BookRequest) -> wire.BookSnapshot:
    return await _sequencer(ctx).book(req)


@service.rpc(wire.LIST_MARKETS)
async def list_markets(ctx: ServiceContext, req: wire.ListMarketsRequest) -> wire.MarketList:
    del req
    return await _sequencer(ctx).market_list()


@service.rpc(wire.LIST_TRADES)
async def list_trades(ctx: ServiceContext, req: wire.ListTradesRequest) -> wire.TradeList:
    async with ctx.transaction() as session:
        return await trades.list_trades(session, req)


@service.rpc(wire.LIST_FILLS)
async def list_fills(ctx: ServiceContext, req: wire.ListFillsRequest) -> wire.FillList:
    async with ctx.transaction() as session:
        return await trades.list_fills(session, req)
