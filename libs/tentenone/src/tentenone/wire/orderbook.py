"""The order book on the bus: its RPC methods and events.

One market per expiry; a market's id is the oracle event id of that expiry
(``btcusd1764316800``, see ``tentenone.market.schedule``), which is what the
DLC service settles against. Prices are integer US cents, quantities whole
USD contracts, money integer satoshis. Order ids are integers per market.

RPC (``orderbook.<method>``): ``place_order``, ``cancel_order``,
``amend_order``, ``get_order``, ``list_orders``, ``get_book``,
``list_markets``, ``list_trades`` (a market's recent trades), ``list_fills``
(a trader's own fills).

Events (exchange ``orderbook.events``), in the order they happened:

- ``order.accepted``, ``order.amended``, ``order.partially_filled``,
  ``order.filled``, ``order.cancelled``: the order after the change;
- ``order.rejected``: a refused place or amend, with the reason code;
- ``trade.matched``: one fill, both legs (the coordinator is the counterparty
  of each trader leg; house legs are its market maker);
- ``book.delta``: a price level after a change, numbered per market without
  gaps (``seq``), and ``book.snapshot``: the top of the book at a ``seq``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, StrictBool, StrictInt

from tentenone.wire.base import Event, RpcMethod, WireModel

__all__ = [
    "AMEND_ORDER",
    "CANCEL_ORDER",
    "GET_BOOK",
    "GET_ORDER",
    "LIST_FILLS",
    "LIST_MARKETS",
    "LIST_ORDERS",
    "LIST_TRADES",
    "PLACE_ORDER",
    "AmendOrderRequest",
    "BookDeltaEvent",
    "BookLevel",
    "BookRequest",
    "BookSnapshot",
    "BookSnapshotEvent",
    "CancelOrderRequest",
    "CancelReason",
    "FillList",
    "FillPublic",
    "FillReleased",
    "GetOrderRequest",
    "ListFillsRequest",
    "ListMarketsRequest",
    "ListOrdersRequest",
    "ListTradesRequest",
    "MarketList",
    "MarketPublic",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderFilled",
    "OrderList",
    "OrderPartiallyFilled",
    "OrderPublic",
    "OrderRejected",
    "OrderStatus",
    "OrderType",
    "PlaceOrderReply",
    "PlaceOrderRequest",
    "Side",
    "TimeInForce",
    "TradeList",
    "TradeMatched",
    "TradePublic",
    "TraderFill",
]

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market"]
TimeInForce = Literal["gtc", "ioc", "fok", "post_only"]
OrderStatus = Literal["open", "partially_filled", "filled", "cancelled"]
CancelReason = Literal[
    "requested", "self_trade", "immediate_or_cancel", "price_band", "market_closed"
]

_MARKET = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
#: traders are named by their x-only public key (hex); the house by a name
_TRADER = Field(min_length=1, max_length=64)
_ORDER_ID = Field(ge=1)


class OrderPublic(WireModel):
    """An order as the order book keeps it."""

    market: str
    order_id: int
    trader_id: str
    client_order_id: str | None
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    #: limit price in US cents; None for a market order
    price: int | None
    quantity: int
    filled: int
    #: open while the order lives; what was cancelled once it is cancelled
    remaining: int
    leverage: int
    status: OrderStatus
    reserved_margin_sat: int
    cancel_reason: CancelReason | None
    created_at: dt.datetime
    updated_at: dt.datetime


class FillPublic(WireModel):
    """One fill of an order, from that order's point of view."""

    trade_id: str
    price: int
    quantity: int
    liquidity: Literal["maker", "taker"]
    fee_sat: int
    margin_sat: int


class PlaceOrderRequest(WireModel):
    market: str = _MARKET
    trader_id: str = _TRADER
    side: Side
    quantity: StrictInt
    leverage: StrictInt
    order_type: OrderType = "limit"
    price: StrictInt | None = None
    time_in_force: TimeInForce = "gtc"
    #: placing twice with the same id gives the same order, never two
    client_order_id: str | None = Field(default=None, min_length=1, max_length=64)
    #: the trader's free collateral now (sat); fills from now on count against it
    available_margin_sat: StrictInt | None = Field(default=None, ge=0)


class PlaceOrderReply(WireModel):
    order: OrderPublic
    fills: list[FillPublic]
    #: True when ``client_order_id`` named an order placed before: that order, unchanged
    duplicate: StrictBool = False


class CancelOrderRequest(WireModel):
    market: str = _MARKET
    trader_id: str = _TRADER
    order_id: StrictInt = _ORDER_ID


class AmendOrderRequest(WireModel):
    """New total quantity and/or price. Only a pure size reduction keeps priority."""

    market: str = _MARKET
    trader_id: str = _TRADER
    order_id: StrictInt = _ORDER_ID
    quantity: StrictInt | None = None
    price: StrictInt | None = None


class GetOrderRequest(WireModel):
    market: str = _MARKET
    trader_id: str = _TRADER
    order_id: StrictInt = _ORDER_ID


class ListOrdersRequest(WireModel):
    trader_id: str = _TRADER
    market: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"
    )
    open_only: StrictBool = True
    limit: StrictInt = Field(default=100, ge=1, le=500)


class OrderList(WireModel):
    orders: list[OrderPublic]


class BookRequest(WireModel):
    market: str = _MARKET
    depth: StrictInt = Field(default=20, ge=1, le=500)


class BookLevel(WireModel):
    price: int
    quantity: int
    orders: int


class BookSnapshot(WireModel):
    """The top ``depth`` levels per side, best first, as of book sequence number ``seq``."""

    market: str
    seq: int
    bids: list[BookLevel]
    asks: list[BookLevel]


class ListMarketsRequest(WireModel):
    pass


class ListTradesRequest(WireModel):
    """A market's recent trades, newest first."""

    market: str = _MARKET
    limit: StrictInt = Field(default=50, ge=1, le=500)


class TradePublic(WireModel):
    """A trade as everyone may see it: no trader, no order."""

    trade_id: str
    market: str
    price: int
    quantity: int
    #: the side of the incoming order (the buyer goes long)
    taker_side: Side
    created_at: dt.datetime


class TradeList(WireModel):
    trades: list[TradePublic]


class ListFillsRequest(WireModel):
    """A trader's fills, newest first (all markets unless ``market``)."""

    trader_id: str = _TRADER
    market: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"
    )
    limit: StrictInt = Field(default=100, ge=1, le=500)


class TraderFill(WireModel):
    """One trade from one trader's side: their order, side, role, fee and margin."""

    trade_id: str
    market: str
    order_id: int
    side: Side
    price: int
    quantity: int
    liquidity: Literal["maker", "taker"]
    fee_sat: int
    margin_sat: int
    created_at: dt.datetime


class FillList(WireModel):
    fills: list[TraderFill]


class MarketPublic(WireModel):
    market: str
    expiry: dt.datetime
    status: Literal["open", "closed"]
    tick_size: int
    lot_size: int
    min_quantity: int
    max_quantity: int
    min_leverage: int
    max_leverage: int
    maker_fee_bps: int
    taker_fee_bps: int
    price_band_bps: int
    best_bid: int | None
    best_ask: int | None


class MarketList(WireModel):
    markets: list[MarketPublic]


class OrderAccepted(OrderPublic, Event):
    """A new order, as it stands after matching (it may already be filled)."""

    event_type = "order.accepted"
    source = "orderbook"


class OrderAmended(OrderPublic, Event):
    event_type = "order.amended"
    source = "orderbook"


class OrderPartiallyFilled(OrderPublic, Event):
    event_type = "order.partially_filled"
    source = "orderbook"


class OrderFilled(OrderPublic, Event):
    event_type = "order.filled"
    source = "orderbook"


class OrderCancelled(OrderPublic, Event):
    event_type = "order.cancelled"
    source = "orderbook"


class OrderRejected(Event):
    event_type = "order.rejected"
    source = "orderbook"

    market: str
    trader_id: str
    client_order_id: str | None
    #: the order an amend was for; None for a place
    order_id: int | None
    #: the reason code (the error's ``code``), e.g. ``insufficient_margin``
    reason: str
    message: str


class TradeMatched(Event):
    """One fill. ``market`` is the oracle event id of the expiry the DLC settles on.

    Sides are positions: the buyer goes ``long``, the seller ``short``.
    """

    event_type = "trade.matched"
    source = "orderbook"

    trade_id: str
    market: str
    price: int
    quantity: int
    taker_side: Literal["long", "short"]
    taker_trader_id: str
    taker_order_id: str
    taker_fee_sat: int
    taker_margin_sat: int
    taker_leverage: int
    maker_trader_id: str
    maker_order_id: str
    maker_fee_sat: int
    maker_margin_sat: int
    maker_leverage: int


class FillReleased(Event):
    """A trader's side of a fill undone: its DLC was not signed in time (``dlc.released``).

    The trader's position, committed margin and fee in the market no longer
    count the fill (nor does a house counterparty's); the order keeps its
    filled quantity, and ``reason`` says why that quantity did not become a
    position.
    """

    event_type = "fill.released"
    source = "orderbook"

    trade_id: str
    market: str
    trader_id: str
    order_id: str
    #: the position the fill would have given the trader
    side: Literal["long", "short"]
    quantity: int
    margin_sat: int
    fee_sat: int
    #: the DLC service's reason, e.g. ``dlc_sign_timeout``
    reason: str


class BookDeltaEvent(Event):
    event_type = "book.delta"
    source = "orderbook"

    market: str
    seq: int
    side: Side
    price: int
    #: open quantity at the level after the change; 0: the level is gone
    quantity: int
    orders: int


class BookSnapshotEvent(BookSnapshot, Event):
    event_type = "book.snapshot"
    source = "orderbook"


PLACE_ORDER = RpcMethod(
    "orderbook", "place_order", PlaceOrderRequest, PlaceOrderReply, "place an order"
)
CANCEL_ORDER = RpcMethod(
    "orderbook", "cancel_order", CancelOrderRequest, OrderPublic, "cancel an open order"
)
AMEND_ORDER = RpcMethod(
    "orderbook", "amend_order", AmendOrderRequest, OrderPublic, "change an open order"
)
GET_ORDER = RpcMethod("orderbook", "get_order", GetOrderRequest, OrderPublic, "one order")
LIST_ORDERS = RpcMethod(
    "orderbook", "list_orders", ListOrdersRequest, OrderList, "a trader's orders, newest first"
)
GET_BOOK = RpcMethod("orderbook", "get_book", BookRequest, BookSnapshot, "the book's top levels")
LIST_MARKETS = RpcMethod(
    "orderbook", "list_markets", ListMarketsRequest, MarketList, "markets open and recent"
)
LIST_TRADES = RpcMethod(
    "orderbook", "list_trades", ListTradesRequest, TradeList, "a market's recent trades"
)
LIST_FILLS = RpcMethod(
    "orderbook", "list_fills", ListFillsRequest, FillList, "a trader's fills, newest first"
)
