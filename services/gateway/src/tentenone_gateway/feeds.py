"""From the bus to the WebSocket channels: consumers of the services' events, and the sources.

Each replica's consumers share one queue per event type (competing
consumers), so each event is taken by one replica, which appends it to the
channel's history in Redis; the history's announcement reaches the hubs of
all replicas. Where each channel's updates, catch-up and snapshots come from:

- ``price``: ``oracle.index_price``; snapshot: the latest price kept (or asked);
- ``positions``: ``position.*`` with the DLC service's state number as seq;
  snapshot: ``dlc.list_positions`` (active ones) at its state number;
- ``protocol``: ``dlc.protocol_message``, announced only: the DLC service keeps
  every message, so catch-up asks it (``dlc.list_protocol_messages``) and
  never needs a snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tentenone.bus.events import ReceivedEvent
from tentenone.bus.policy import ConsumerPolicy
from tentenone.errors import Unavailable
from tentenone.wire import dlc as wdlc
from tentenone.wire import oracle as woracle
from tentenone.wire.base import Event
from tentenone.wire.gateway import IndexPricePublic, PositionPublic, ProtocolMessagePublic
from tentenone_gateway.channels import Channel, ChannelKind, Entry
from tentenone_gateway.connection import Snapshot, Source
from tentenone_gateway.state import GatewayState
from tentenone_gateway.upstream import call

__all__ = ["LoggedSource", "ProtocolSource", "build_sources", "subscribe_feeds"]

_log = logging.getLogger(__name__)
#: index prices older than this when they arrive are dropped (the feed has moved on)
_PRICE_MAX_AGE = dt.timedelta(seconds=60)

type SnapshotFn = Callable[[Channel], Awaitable[Snapshot]]
#: Redis may be away for a while (a failover): keep retrying for about three
#: minutes before an event goes to the dead-letter queue. A hole it leaves is
#: seen as a gap and filled by a snapshot.
_POLICY = ConsumerPolicy(max_attempts=20, backoff_base_s=0.5, backoff_max_s=10.0)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class LoggedSource:
    """Catch-up from the shared channel history; a snapshot when it no longer reaches."""

    def __init__(self, state: GatewayState, snapshot: SnapshotFn, max_pages: int = 5) -> None:
        self._state = state
        self._snapshot = snapshot
        self.max_pages: int | None = max_pages

    async def catch_up(self, channel: Channel, after: int, limit: int) -> list[Entry] | None:
        return await self._state.log.since(channel.key, after, limit)

    async def snapshot(self, channel: Channel) -> Snapshot:
        return await self._snapshot(channel)


class ProtocolSource:
    """Protocol messages: the DLC service keeps them all and numbers them per trader."""

    max_pages: int | None = None

    def __init__(self, state: GatewayState) -> None:
        self._state = state

    async def _list(self, owner: str, after: int, limit: int) -> wdlc.ProtocolMessageList:
        request = wdlc.ListProtocolMessagesRequest(
            trader_pubkey=owner, after_seq=after, limit=min(limit, 200)
        )
        timeout = self._state.settings.rpc_timeout_s
        return await call(self._state.ctx, wdlc.LIST_PROTOCOL_MESSAGES, request, timeout)

    async def catch_up(self, channel: Channel, after: int, limit: int) -> list[Entry] | None:
        assert channel.arg is not None
        found = await self._list(channel.arg, after, limit)
        return [Entry(m.seq, ProtocolMessagePublic.of(m).model_dump_json()) for m in found.messages]

    async def snapshot(self, channel: Channel) -> Snapshot:
        assert channel.arg is not None
        # Nothing to send: a new subscriber starts at the latest message.
        found = await self._list(channel.arg, 2**62, 1)
        return Snapshot(found.last_seq, None)


def _price_snapshot(state: GatewayState) -> SnapshotFn:
    async def snapshot(channel: Channel) -> Snapshot:
        latest = await state.log.latest(channel.key)
        if latest is not None:
            return Snapshot(latest.seq, latest.data)
        timeout = state.settings.rpc_timeout_s
        try:
            index = await call(state.ctx, woracle.GET_INDEX_PRICE, woracle.NoArguments(), timeout)
        except Unavailable:
            return Snapshot(0, None)  # no price yet: the first update will be one
        return Snapshot(0, IndexPricePublic.of(index).model_dump_json())

    return snapshot


def _positions_snapshot(state: GatewayState) -> SnapshotFn:
    async def snapshot(channel: Channel) -> Snapshot:
        assert channel.arg is not None
        request = wdlc.ListPositionsRequest(trader_pubkey=channel.arg, status="active", limit=500)
        found = await call(state.ctx, wdlc.LIST_POSITIONS, request, state.settings.rpc_timeout_s)
        positions = [PositionPublic.of(p).model_dump(mode="json") for p in found.positions]
        return Snapshot(found.state_number, _json({"positions": positions}))

    return snapshot


def build_sources(state: GatewayState) -> dict[ChannelKind, Source]:
    sources: dict[ChannelKind, Source] = {
        ChannelKind.PRICE: LoggedSource(state, _price_snapshot(state)),
        ChannelKind.POSITIONS: LoggedSource(state, _positions_snapshot(state)),
        ChannelKind.PROTOCOL: ProtocolSource(state),
    }
    return sources


# -- consumers ---------------------------------------------------------------------


async def _on_price(state: GatewayState, event: ReceivedEvent[woracle.IndexPriceUpdated]) -> None:
    if event.occurred_at < dt.datetime.now(dt.UTC) - _PRICE_MAX_AGE:
        return
    data = IndexPricePublic.of(event.payload).model_dump_json()
    await state.log.append(
        "price", data, event_id=event.event_id, history=state.settings.channel_history
    )


async def _on_position(state: GatewayState, event: ReceivedEvent[wdlc.PositionChanged]) -> None:
    change = event.payload
    key = Channel(ChannelKind.POSITIONS, change.position.trader_pubkey).key
    data = _json(
        {
            "event": event.event_type,
            "position": PositionPublic.of(change.position).model_dump(mode="json"),
        }
    )
    await state.log.append(
        key,
        data,
        event_id=event.event_id,
        seq=change.state_number,
        history=state.settings.channel_history,
    )


async def _on_protocol(state: GatewayState, event: ReceivedEvent[wdlc.ProtocolMessageSent]) -> None:
    message = event.payload
    key = Channel(ChannelKind.PROTOCOL, message.trader_pubkey).key
    await state.log.announce(key, message.seq, ProtocolMessagePublic.of(message).model_dump_json())


async def subscribe_feeds(state: GatewayState) -> None:
    """Consume the events the channels are made of (one queue per event type, shared)."""
    bus = state.ctx.bus

    def handler[E: Event](
        fn: Callable[[GatewayState, ReceivedEvent[Any]], Awaitable[None]],
    ) -> Callable[[ReceivedEvent[E]], Awaitable[None]]:
        async def handle(event: ReceivedEvent[E]) -> None:
            await fn(state, event)

        return handle

    await bus.subscribe(woracle.IndexPriceUpdated, handler(_on_price), name="ws_price")
    for cls in (
        wdlc.PositionCreated,
        wdlc.PositionUpdated,
        wdlc.PositionOpened,
        wdlc.PositionClosed,
    ):
        name = "ws_" + cls.event_type.replace(".", "_")
        await bus.subscribe(cls, handler(_on_position), name=name)
    await bus.subscribe(wdlc.ProtocolMessageSent, handler(_on_protocol), name="ws_protocol")
