"""One side of the book: price levels in price order, each a FIFO queue of orders.

Levels are found by price in a dict; their order is kept in a plain sorted
list of keys (``price`` for bids, ``-price`` for asks) so that the best
level is always the last key on both sides. A book near the touch has tens
to hundreds of levels, where ``bisect.insort`` on a list beats a balanced
tree; removals are nearly always at the best end (a ``pop``).

A resting order is a small mutable record (``Resting``): fills and amends
change it in place, and its ``OrderView`` is built when someone asks.
Cancelling an order in the middle of a queue marks it inactive instead of
searching the deque; inactive entries are dropped when they reach the front
and the queue is compacted when they outnumber the live ones.
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import TYPE_CHECKING

from tentenone_orderbook.events import PriceLevel
from tentenone_orderbook.orders import (
    CancelReason,
    OrderStatus,
    OrderType,
    OrderView,
    Side,
    TimeInForce,
)

if TYPE_CHECKING:
    from tentenone_orderbook.accounts import Account

__all__ = ["BookSide", "Level", "Resting"]

# A queue with more dead than live entries (plus this slack) is rebuilt.
_COMPACT_SLACK = 16


_LIMIT = OrderType.LIMIT
_OPEN, _PARTIAL = OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED
_new = tuple.__new__  # see matching._new


class Resting:
    """The engine's mutable record of one resting order (a GTC or post-only limit order)."""

    __slots__ = (
        "account",
        "active",
        "client_order_id",
        "leverage",
        "order_id",
        "price",
        "priority",
        "quantity",
        "remaining",
        "reserved_sat",
        "side",
        "time_in_force",
        "trader_id",
    )

    def __init__(
        self,
        order_id: int,
        account: Account,
        side: Side,
        time_in_force: TimeInForce,
        price: int,
        quantity: int,
        remaining: int,
        leverage: int,
        client_order_id: str | None,
        priority: int,
        reserved_sat: int,
    ) -> None:
        self.order_id = order_id
        self.account = account
        self.trader_id = account.trader_id
        self.side = side
        self.time_in_force = time_in_force
        self.price = price
        self.quantity = quantity
        self.remaining = remaining
        self.leverage = leverage
        self.client_order_id = client_order_id
        self.priority = priority
        self.reserved_sat = reserved_sat
        # False once it left the book: levels drop inactive entries lazily.
        self.active = True

    def view(
        self, status: OrderStatus | None = None, cancel_reason: CancelReason | None = None
    ) -> OrderView:
        """The order as a plain value; ``status`` defaults to open or partially filled."""
        qty, rem = self.quantity, self.remaining
        if status is None:
            status = _OPEN if rem == qty else _PARTIAL
        return _new(
            OrderView,
            (
                self.order_id,
                self.trader_id,
                self.client_order_id,
                self.side,
                _LIMIT,
                self.time_in_force,
                self.price,
                qty,
                qty - rem,
                rem,
                self.leverage,
                status,
                self.priority,
                self.reserved_sat,
                cancel_reason,
            ),
        )


class Level:
    __slots__ = ("count", "orders", "price", "quantity")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Resting] = deque()
        self.quantity = 0  # open quantity of the live orders
        self.count = 0  # number of live orders


class BookSide:
    __slots__ = ("keys", "levels", "side", "sign")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.sign = 1 if side is Side.BUY else -1
        self.levels: dict[int, Level] = {}
        self.keys: list[int] = []  # ascending sign * price: the best level is last

    def best_price(self) -> int | None:
        keys = self.keys
        return keys[-1] * self.sign if keys else None

    def crosses(self, limit: int) -> bool:
        """Whether an opposite order limited at ``limit`` meets this side's best level."""
        keys = self.keys
        return bool(keys) and keys[-1] >= self.sign * limit

    def append(self, order: Resting) -> Level:
        """Queue a live order at the back of its price level (a new level if needed)."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.add_level(price)
        level.orders.append(order)
        level.quantity += order.remaining
        level.count += 1
        return level

    def add_level(self, price: int) -> Level:
        """A new, empty level at ``price`` (there is none yet)."""
        level = self.levels[price] = Level(price)
        bisect.insort(self.keys, self.sign * price)
        return level

    def tidy(self, level: Level) -> None:
        """After orders left ``level``: drop it when empty, else trim its dead entries."""
        if level.count == 0:
            self._remove(level)
            return
        queue = level.orders
        while not queue[0].active:
            queue.popleft()
        if len(queue) > 2 * level.count + _COMPACT_SLACK:
            level.orders = deque(o for o in queue if o.active)

    def _remove(self, level: Level) -> None:
        key = self.sign * level.price
        keys = self.keys
        if keys[-1] == key:  # the usual case: the best level emptied
            keys.pop()
        else:
            del keys[bisect.bisect_left(keys, key)]
        del self.levels[level.price]

    def depth(self, limit: int | None) -> tuple[PriceLevel, ...]:
        keys = self.keys
        chosen = keys[::-1] if limit is None else keys[: -limit - 1 : -1]
        sign = self.sign
        levels = self.levels
        out = []
        for key in chosen:
            level = levels[key * sign]
            out.append(PriceLevel(level.price, level.quantity, level.count))
        return tuple(out)
