"""What a command produces, as plain values for the service to persist and publish."""

from __future__ import annotations

from typing import NamedTuple

from tentenone_orderbook.orders import OrderView, Side

__all__ = ["BookDelta", "BookDepth", "CommandResult", "Fill", "PriceLevel"]


class Fill(NamedTuple):
    """One trade between a resting (maker) and an incoming (taker) order, at the maker's price.

    Margins: the taker's is that of the filled quantity at the fill price; the
    maker's is the part of its order's reserved margin the fill releases, so
    an order's fills add up to exactly the margin reserved for it.
    """

    trade_id: int
    price: int
    quantity: int
    taker_side: Side
    taker_order_id: int
    taker_trader_id: str
    maker_order_id: int
    maker_trader_id: str
    taker_fee_sat: int
    maker_fee_sat: int
    taker_margin_sat: int
    maker_margin_sat: int
    maker_remaining: int  # the maker order's open quantity after this fill


class BookDelta(NamedTuple):
    """A price level after a change: ``quantity`` 0 means the level is gone.

    ``seq`` increases by exactly one per delta, per market, so a consumer of
    ``book.delta`` sees a gap when it missed one.
    """

    seq: int
    side: Side
    price: int
    quantity: int
    orders: int


class CommandResult(NamedTuple):
    """The outcome of an accepted place, amend or cancel.

    ``order`` is the command's order after it; ``cancelled`` are resting orders
    of the same owner that self-trade prevention removed.
    """

    order: OrderView
    fills: tuple[Fill, ...]
    deltas: tuple[BookDelta, ...]
    cancelled: tuple[OrderView, ...]


class PriceLevel(NamedTuple):
    price: int
    quantity: int
    orders: int


class BookDepth(NamedTuple):
    """Aggregated levels, best first, as of book sequence number ``seq``."""

    seq: int
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]
