"""Orders: sides, types, time in force, the status state machine and the commands.

Units: quantities are whole USD contracts, prices integer US cents, margins
and fees integer satoshis. ``Decimal`` prices exist only at the API edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Final, NamedTuple

__all__ = [
    "ORDER_TRANSITIONS",
    "AmendOrder",
    "CancelOrder",
    "CancelReason",
    "DeclareMargin",
    "OrderStatus",
    "OrderType",
    "OrderView",
    "PlaceOrder",
    "Side",
    "TimeInForce",
    "can_transition",
]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "gtc"  # rests until filled or cancelled
    IOC = "ioc"  # takes what it can now, the rest is cancelled
    FOK = "fok"  # fills entirely now or is refused
    POST_ONLY = "post_only"  # rests like GTC, refused if it would take


class OrderStatus(IntEnum):
    NEW = 0  # accepted, not matched yet: where the persisted state machine starts
    OPEN = 1  # resting, nothing filled
    PARTIALLY_FILLED = 2  # resting with part filled
    FILLED = 3
    CANCELLED = 4  # by request, self-trade prevention or an IOC/market remainder


ORDER_TRANSITIONS: Final[Mapping[OrderStatus, frozenset[OrderStatus]]] = MappingProxyType(
    {
        OrderStatus.NEW: frozenset(
            {
                OrderStatus.OPEN,
                OrderStatus.PARTIALLY_FILLED,
                OrderStatus.FILLED,
                OrderStatus.CANCELLED,
            }
        ),
        OrderStatus.OPEN: frozenset(
            {OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}
        ),
        OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED}),
        OrderStatus.FILLED: frozenset(),
        OrderStatus.CANCELLED: frozenset(),
    }
)


def can_transition(old: OrderStatus, new: OrderStatus) -> bool:
    """Whether the table allows ``old -> new`` (staying in a state is not a transition)."""
    return new in ORDER_TRANSITIONS[old]


class CancelReason(StrEnum):
    REQUESTED = "requested"
    SELF_TRADE = "self_trade"  # a newer order of the same owner met it
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"  # IOC/market remainder, nothing left to take
    PRICE_BAND = "price_band"  # market remainder: the rest of the book is outside the band
    MARKET_CLOSED = "market_closed"  # the market stopped trading (its expiry came)


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    trader_id: str
    side: Side
    quantity: int
    leverage: int
    price: int | None = None
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None
    #: a new declaration of the trader's free collateral, applied only if the order is accepted
    available_margin_sat: int | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder:
    trader_id: str
    order_id: int


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """New total quantity and/or price; only a pure size reduction keeps priority."""

    trader_id: str
    order_id: int
    quantity: int | None = None
    price: int | None = None


@dataclass(frozen=True, slots=True)
class DeclareMargin:
    """The trader's free collateral now; fills after it count against it."""

    trader_id: str
    available_sat: int


class OrderView(NamedTuple):
    """An order as a plain, immutable value: what the engine keeps and what it returns.

    The engine never changes a view; a new state of an order is a new view.
    """

    order_id: int
    trader_id: str
    client_order_id: str | None
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: int | None  # None for a market order
    quantity: int  # total, as placed or amended
    filled: int
    remaining: int  # quantity - filled while the order lives; what was cancelled after
    leverage: int
    status: OrderStatus
    priority: int  # book sequence number of its entry into the book; 0 if it never rested
    reserved_margin_sat: int  # margin held while it rests
    cancel_reason: CancelReason | None
