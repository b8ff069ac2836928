"""The order book's events on the WebSocket: ``book:<market>``, ``trades:<market>``, ``orders``.

- ``book:<market>``: ``book.delta`` with the order book's own per-market
  sequence number (gapless, so a lost delta shows as a gap and is refilled
  from the history or a snapshot); snapshot: ``orderbook.get_book`` at its
  ``seq``. Concurrent snapshots of one market share one call (a thousand
  subscribers arriving at once make one RPC); whatever moved between that
  call and a later subscriber's arrival is caught up from the history.
  ``book.snapshot`` events are not needed: every snapshot is read when a
  subscriber needs it, exactly at a sequence number.
- ``trades:<market>``: ``trade.matched`` without traders or orders, numbered
  by the gateway; snapshot: the newest kept (or, with none kept, the order
  book's recent trades).
- ``orders`` (private): ``order.*`` of the authenticated key, numbered by
  the gateway per key; snapshot: the key's open orders.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from tentenone.bus.events import ReceivedEvent
from tentenone.bus.policy import ConsumerPolicy
from tentenone.wire import orderbook as wob
from tentenone.wire.base import Event
from tentenone.wire.gateway import (
    BookDeltaPublic,
    BookPublic,
    MarketTradePublic,
    OrderRejectedPublic,
    TraderOrderPublic,
    cents_to_usd,
)
from tentenone_gateway.channels import Channel, ChannelKind
from tentenone_gateway.connection import Snapshot, Source
from tentenone_gateway.feeds import LoggedSource
from tentenone_gateway.state import GatewayState
from tentenone_gateway.upstream import call

__all__ = ["BOOK_SNAPSHOT_DEPTH", "book_sources", "subscribe_book_feeds"]

#: levels per side in a ``book:<market>`` snapshot
BOOK_SNAPSHOT_DEPTH = 50
_TRADES_SNAPSHOT = 50
_TRADER_KEY = re.compile(r"^[0-9a-f]{64}$")
_POLICY = ConsumerPolicy(max_attempts=20, backoff_base_s=0.5, backoff_max_s=10.0)
_ORDER_EVENTS: tuple[type[Event], ...] = (
    wob.OrderAccepted,
    wob.OrderAmended,
    wob.OrderPartiallyFilled,
    wob.OrderFilled,
    wob.OrderCancelled,
)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class _Snapshots:
    """``Source.snapshot`` of one channel kind, one call at a time per channel."""

    def __init__(self, read: Callable[[Channel], Awaitable[Snapshot]]) -> None:
        self._read = read
        self._running: dict[str, asyncio.Future[Snapshot]] = {}

    async def __call__(self, channel: Channel) -> Snapshot:
        running = self._running.get(channel.key)
        if running is None:
            running = asyncio.ensure_future(self._read(channel))
            self._running[channel.key] = running
            running.add_done_callback(lambda _: self._running.pop(channel.key, None))
        # shield: one subscriber giving up does not cancel the others' call
        return await asyncio.shield(running)


def _book_snapshot(state: GatewayState) -> Callable[[Channel], Awaitable[Snapshot]]:
    async def read(channel: Channel) -> Snapshot:
        assert channel.arg is not None
        request = wob.BookRequest(market=channel.arg, depth=BOOK_SNAPSHOT_DEPTH)
        book = await call(state.ctx, wob.GET_BOOK, request, state.settings.rpc_timeout_s)
        return Snapshot(book.seq, BookPublic.of(book).model_dump_json())

    return read


def _trades_snapshot(state: GatewayState) -> Callable[[Channel], Awaitable[Snapshot]]:
    async def read(channel: Channel) -> Snapshot:
        assert channel.arg is not None
        kept = await state.log.tail(channel.key, _TRADES_SNAPSHOT)
        if kept:
            trades = [json.loads(e.data) for e in reversed(kept)]
            return Snapshot(kept[-1].seq, _json({"trades": trades}))
        request = wob.ListTradesRequest(market=channel.arg, limit=_TRADES_SNAPSHOT)
        found = await call(state.ctx, wob.LIST_TRADES, request, state.settings.rpc_timeout_s)
        trades = [MarketTradePublic.of(t).model_dump(mode="json") for t in found.trades]
        return Snapshot(0, _json({"trades": trades}))

    return read


def _orders_snapshot(state: GatewayState) -> Callable[[Channel], Awaitable[Snapshot]]:
    async def read(channel: Channel) -> Snapshot:
        assert channel.arg is not None
        # The number first: an update racing the list is sent again, never lost.
        latest = await state.log.latest(channel.key)
        request = wob.ListOrdersRequest(trader_id=channel.arg, open_only=True, limit=500)
        found = await call(state.ctx, wob.LIST_ORDERS, request, state.settings.rpc_timeout_s)
        orders = [TraderOrderPublic.of(o).model_dump(mode="json") for o in found.orders]
        return Snapshot(latest.seq if latest else 0, _json({"orders": orders}))

    return read


def book_sources(state: GatewayState) -> dict[ChannelKind, Source]:
    return {
        ChannelKind.BOOK: LoggedSource(state, _Snapshots(_book_snapshot(state))),
        ChannelKind.TRADES: LoggedSource(state, _Snapshots(_trades_snapshot(state))),
        ChannelKind.ORDERS: LoggedSource(state, _orders_snapshot(state)),
    }


# -- consumers ---------------------------------------------------------------------


async def _on_delta(state: GatewayState, event: ReceivedEvent[wob.BookDeltaEvent]) -> None:
    delta = event.payload
    await state.log.append(
        Channel(ChannelKind.BOOK, delta.market).key,
        BookDeltaPublic.of(delta).model_dump_json(),
        event_id=event.event_id,
        seq=delta.seq,
        history=state.settings.book_history,
    )


async def _on_trade(state: GatewayState, event: ReceivedEvent[wob.TradeMatched]) -> None:
    t = event.payload
    trade = MarketTradePublic(
        trade_id=t.trade_id,
        market=t.market,
        price=cents_to_usd(t.price),
        quantity=t.quantity,
        taker_side="buy" if t.taker_side == "long" else "sell",
        created_at=event.occurred_at,
    )
    await state.log.append(
        Channel(ChannelKind.TRADES, t.market).key,
        trade.model_dump_json(),
        event_id=event.event_id,
        history=state.settings.channel_history,
    )


async def _on_order(state: GatewayState, event: ReceivedEvent[Any]) -> None:
    payload = event.payload
    if not _TRADER_KEY.fullmatch(payload.trader_id):
        return  # the house's own orders: nobody's private channel
    if isinstance(payload, wob.OrderRejected):
        rejected = OrderRejectedPublic.model_validate(payload.model_dump())
        data = {"event": event.event_type, "rejected": rejected.model_dump(mode="json")}
    else:
        order = TraderOrderPublic.of(payload)
        data = {"event": event.event_type, "order": order.model_dump(mode="json")}
    await state.log.append(
        Channel(ChannelKind.ORDERS, payload.trader_id).key,
        _json(data),
        event_id=event.event_id,
        history=state.settings.channel_history,
    )


async def subscribe_book_feeds(state: GatewayState) -> None:
    bus = state.ctx.bus

    def handler[E: Event](
        fn: Callable[[GatewayState, ReceivedEvent[Any]], Awaitable[None]],
    ) -> Callable[[ReceivedEvent[E]], Awaitable[None]]:
        async def handle(event: ReceivedEvent[E]) -> None:
            await fn(state, event)

        return handle

    await bus.subscribe(wob.BookDeltaEvent, handler(_on_delta), name="ws_book", policy=_POLICY)
    await bus.subscribe(wob.TradeMatched, handler(_on_trade), name="ws_trades", policy=_POLICY)
    order_events: list[type[Event]] = [*_ORDER_EVENTS, wob.OrderRejected]
    for cls in order_events:
        name = "ws_" + cls.event_type.replace(".", "_")
        await bus.subscribe(cls, handler(_on_order), name=name, policy=_POLICY)
