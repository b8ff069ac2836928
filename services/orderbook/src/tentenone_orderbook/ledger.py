"""From engine results to what one transaction writes: rows, transitions, events.

The ledger mirrors what is persisted of every live order (its view, its
state-machine version, when it was created), so that a fill, which names the
maker only by id and remaining quantity, becomes the maker's new row and
``order.*`` event without asking the engine for more. A ``Batch`` collects
everything a group of commands changed; the repository writes it in one
transaction. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tentenone.logging import get_correlation_id
from tentenone.wire import orderbook as wire
from tentenone.wire.base import Event
from tentenone_orderbook.events import BookDelta, CommandResult, Fill
from tentenone_orderbook.models import ORDER
from tentenone_orderbook.orders import OrderStatus, OrderView
from tentenone_orderbook.views import (
    delta_event,
    fill_row,
    order_id_text,
    order_public,
    order_row,
    trade_matched,
)

__all__ = ["Batch", "Known", "Ledger"]

_LIVE = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
_STATUS_EVENT: dict[
    OrderStatus, type[wire.OrderPartiallyFilled | wire.OrderFilled | wire.OrderCancelled]
] = {
    OrderStatus.PARTIALLY_FILLED: wire.OrderPartiallyFilled,
    OrderStatus.FILLED: wire.OrderFilled,
    OrderStatus.CANCELLED: wire.OrderCancelled,
}


@dataclass(frozen=True, slots=True)
class Known:
    """What is persisted of a live order."""

    view: OrderView
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Batch:
    """Everything a group of commands changed, to be written in one transaction."""

    now: dt.datetime
    new_orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    accounts: set[tuple[str, str]] = field(default_factory=set)
    markets: set[str] = field(default_factory=set)
    new_markets: list[tuple[str, dt.datetime]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def order_row(self, order_id: str) -> dict[str, Any] | None:
        """The row this batch writes for ``order_id``, if any."""
        return self.new_orders.get(order_id) or self.changed_orders.get(order_id)


class Ledger:
    def __init__(self) -> None:
        self._live: dict[tuple[str, int], Known] = {}

    def __len__(self) -> int:
        return len(self._live)

    def clear(self) -> None:
        self._live.clear()

    def load(self, market: str, known: Iterable[Known]) -> None:
        for k in known:
            self._live[(market, k.view.order_id)] = k

    def forget_market(self, market: str) -> None:
        for key in [key for key in self._live if key[0] == market]:
            del self._live[key]

    def known(self, market: str, order_id: int) -> Known | None:
        return self._live.get((market, order_id))

    # ----------------------------------------------------------- recording

    def placed(self, batch: Batch, market: str, result: CommandResult) -> None:
        """A new order and everything its matching did."""
        order = result.order
        self._transition(batch, market, order.order_id, 1, None, OrderStatus.NEW, "placed")
        created = Known(order._replace(status=OrderStatus.NEW), 0, batch.now, batch.now)
        self._change(batch, market, created, order, _reason(order, "accepted"), new=True)
        batch.events.append(wire.OrderAccepted(**self._public(market, order, batch)))
        self._fills(batch, market, result.fills, order.leverage)
        self._self_trade(batch, market, result.cancelled)
        if order.status is not OrderStatus.OPEN:
            batch.events.append(_STATUS_EVENT[order.status](**self._public(market, order, batch)))
        self._deltas(batch, market, result.deltas)
        batch.accounts.add((market, order.trader_id))

    def amended(self, batch: Batch, market: str, result: CommandResult) -> None:
        order = result.order
        known = self._live[(market, order.order_id)]
        self._fills(batch, market, result.fills, order.leverage)
        self._self_trade(batch, market, result.cancelled)
        self._change(batch, market, known, order, _reason(order, "amended"))
        batch.events.append(wire.OrderAmended(**self._public(market, order, batch)))
        if order.status is not known.view.status and order.status in _STATUS_EVENT:
            batch.events.append(_STATUS_EVENT[order.status](**self._public(market, order, batch)))
        self._deltas(batch, market, result.deltas)
        batch.accounts.add((market, order.trader_id))

    def cancelled(
        self,
        batch: Batch,
        market: str,
        views: Iterable[OrderView],
        deltas: Iterable[BookDelta],
    ) -> None:
        """Orders taken out of the book: by request, or all of them when a market closes."""
        for view in views:
            known = self._live[(market, view.order_id)]
            self._change(batch, market, known, view, _reason(view, "cancelled"))
            batch.events.append(wire.OrderCancelled(**self._public(market, view, batch)))
            batch.accounts.add((market, view.trader_id))
        self._deltas(batch, market, deltas)

    def rejected(
        self,
        batch: Batch,
        market: str,
        trader_id: str,
        client_order_id: str | None,
        order_id: int | None,
        code: str,
        message: str,
    ) -> None:
        batch.events.append(
            wire.OrderRejected(
                market=market,
                trader_id=trader_id,
                client_order_id=client_order_id,
                order_id=order_id,
                reason=code,
                message=message,
            )
        )

    # ------------------------------------------------------------ internals

    def _fills(self, batch: Batch, market: str, fills: Iterable[Fill], taker_lev: int) -> None:
        for f in fills:
            known = self._live[(market, f.maker_order_id)]
            v = known.view
            rem = f.maker_remaining
            new = v._replace(
                filled=v.filled + f.quantity,
                remaining=rem,
                status=OrderStatus.PARTIALLY_FILLED if rem else OrderStatus.FILLED,
                reserved_margin_sat=v.reserved_margin_sat - f.maker_margin_sat,
            )
            batch.fills.append(fill_row(market, f, batch.now))
            batch.events.append(trade_matched(market, f, taker_lev, v.leverage))
            self._change(batch, market, known, new, f"trade {f.trade_id}")
            batch.events.append(_STATUS_EVENT[new.status](**self._public(market, new, batch)))
            batch.accounts.add((market, f.maker_trader_id))

    def _self_trade(self, batch: Batch, market: str, views: Iterable[OrderView]) -> None:
        self.cancelled(batch, market, views, ())

    def _deltas(self, batch: Batch, market: str, deltas: Iterable[BookDelta]) -> None:
        batch.events.extend(delta_event(market, d) for d in deltas)
        batch.markets.add(market)

    def _change(
        self,
        batch: Batch,
        market: str,
        known: Known,
        view: OrderView,
        reason: str,
        *,
        new: bool = False,
    ) -> None:
        version = known.version + (1 if new else 0)
        if view.status is not known.view.status:
            version += 1
            self._transition(
                batch, market, view.order_id, version, known.view.status, view.status, reason
            )
        key = order_id_text(market, view.order_id)
        row = order_row(market, view, version, known.created_at, batch.now)
        if new or key in batch.new_orders:
            batch.new_orders[key] = row
        else:
            batch.changed_orders[key] = row
        if view.status in _LIVE:
            self._live[(market, view.order_id)] = Known(view, version, known.created_at, batch.now)
        else:
            self._live.pop((market, view.order_id), None)

    def _transition(
        self,
        batch: Batch,
        market: str,
        order_id: int,
        version: int,
        old: OrderStatus | None,
        new: OrderStatus,
        reason: str,
    ) -> None:
        entity = order_id_text(market, order_id)
        ORDER.check(entity, old, new)  # the engine's statuses follow the table; prove it
        batch.transitions.append(
            {
                "machine": ORDER.name,
                "entity_id": entity,
                "version": version,
                "from_state": None if old is None else int(old),
                "to_state": int(new),
                "reason": reason,
                "data": json.dumps({}),
                "correlation_id": get_correlation_id(),
                "at": batch.now,
            }
        )

    def _public(self, market: str, view: OrderView, batch: Batch) -> dict[str, Any]:
        known = self._live.get((market, view.order_id))
        created = known.created_at if known else self._created(batch, market, view)
        return order_public(market, view, created, batch.now).model_dump()

    @staticmethod
    def _created(batch: Batch, market: str, view: OrderView) -> dt.datetime:
        row = batch.order_row(order_id_text(market, view.order_id))
        return row["created_at"] if row else batch.now


def _reason(view: OrderView, default: str) -> str:
    return view.cancel_reason.value if view.cancel_reason else default
