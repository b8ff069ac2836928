"""Engine values to wire models and table rows, and rows back to engine values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tentenone.wire import orderbook as wire
from tentenone_orderbook.accounts import AccountView
from tentenone_orderbook.events import BookDelta, BookDepth, Fill
from tentenone_orderbook.orders import (
    CancelReason,
    OrderStatus,
    OrderType,
    OrderView,
    Side,
    TimeInForce,
)

__all__ = [
    "STATUS_NAMES",
    "account_row",
    "account_view",
    "book_snapshot",
    "delta_event",
    "fill_row",
    "order_id_text",
    "order_public",
    "order_row",
    "order_view",
    "trade_id_text",
    "trade_matched",
]

STATUS_NAMES: Mapping[OrderStatus, str] = {
    OrderStatus.OPEN: "open",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELLED: "cancelled",
}
_POSITION = {Side.BUY: "long", Side.SELL: "short"}


def order_id_text(market: str, order_id: int) -> str:
    """The order's id across markets (its primary key and transition-log entity id)."""
    return f"{market}:{order_id}"


def trade_id_text(market: str, trade_id: int) -> str:
    return f"{market}:{trade_id}"


def order_public(
    market: str, v: OrderView, created_at: dt.datetime, updated_at: dt.datetime
) -> wire.OrderPublic:
    return wire.OrderPublic(
        market=market,
        order_id=v.order_id,
        trader_id=v.trader_id,
        client_order_id=v.client_order_id,
        side=v.side.value,
        order_type=v.order_type.value,
        time_in_force=v.time_in_force.value,
        price=v.price,
        quantity=v.quantity,
        filled=v.filled,
        remaining=v.remaining,
        leverage=v.leverage,
        status=STATUS_NAMES[v.status],
        reserved_margin_sat=v.reserved_margin_sat,
        cancel_reason=v.cancel_reason.value if v.cancel_reason else None,
        created_at=created_at,
        updated_at=updated_at,
    )


def order_row(
    market: str, v: OrderView, version: int, created_at: dt.datetime, now: dt.datetime
) -> dict[str, Any]:
    return {
        "id": order_id_text(market, v.order_id),
        "market_id": market,
        "order_id": v.order_id,
        "trader_id": v.trader_id,
        "client_order_id": v.client_order_id,
        "side": v.side.value,
        "order_type": v.order_type.value,
        "time_in_force": v.time_in_force.value,
        "price": v.price,
        "quantity": v.quantity,
        "filled": v.filled,
        "remaining": v.remaining,
        "leverage": v.leverage,
        "state": int(v.status),
        "version": version,
        "priority": v.priority,
        "reserved_margin_sat": v.reserved_margin_sat,
        "cancel_reason": v.cancel_reason.value if v.cancel_reason else None,
        "created_at": created_at,
        "updated_at": now,
    }


def order_view(row: Mapping[str, Any]) -> OrderView:
    return OrderView(
        order_id=row["order_id"],
        trader_id=row["trader_id"],
        client_order_id=row["client_order_id"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        price=row["price"],
        quantity=row["quantity"],
        filled=row["filled"],
        remaining=row["remaining"],
        leverage=row["leverage"],
        status=OrderStatus(row["state"]),
        priority=row["priority"],
        reserved_margin_sat=row["reserved_margin_sat"],
        cancel_reason=CancelReason(row["cancel_reason"]) if row["cancel_reason"] else None,
    )


def account_row(market: str, a: AccountView, now: dt.datetime) -> dict[str, Any]:
    return {
        "market_id": market,
        "trader_id": a.trader_id,
        "declared_sat": a.declared_sat,
        "reserved_sat": a.reserved_sat,
        "committed_sat": a.committed_sat,
        "position": a.position,
        "fees_sat": a.fees_sat,
        "updated_at": now,
    }


def account_view(row: Mapping[str, Any], house: bool) -> AccountView:
    return AccountView(
        row["trader_id"],
        house,
        row["declared_sat"],
        row["reserved_sat"],
        row["committed_sat"],
        row["position"],
        row["fees_sat"],
    )


def fill_row(market: str, f: Fill, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": trade_id_text(market, f.trade_id),
        "market_id": market,
        "trade_id": f.trade_id,
        "price": f.price,
        "quantity": f.quantity,
        "taker_side": f.taker_side.value,
        "taker_order_id": f.taker_order_id,
        "taker_trader_id": f.taker_trader_id,
        "taker_fee_sat": f.taker_fee_sat,
        "taker_margin_sat": f.taker_margin_sat,
        "maker_order_id": f.maker_order_id,
        "maker_trader_id": f.maker_trader_id,
        "maker_fee_sat": f.maker_fee_sat,
        "maker_margin_sat": f.maker_margin_sat,
        "created_at": now,
    }


def trade_matched(
    market: str, f: Fill, taker_leverage: int, maker_leverage: int
) -> wire.TradeMatched:
    return wire.TradeMatched(
        trade_id=trade_id_text(market, f.trade_id),
        market=market,
        price=f.price,
        quantity=f.quantity,
        taker_side=_POSITION[f.taker_side],
        taker_trader_id=f.taker_trader_id,
        taker_order_id=order_id_text(market, f.taker_order_id),
        taker_fee_sat=f.taker_fee_sat,
        taker_margin_sat=f.taker_margin_sat,
        taker_leverage=taker_leverage,
        maker_trader_id=f.maker_trader_id,
        maker_order_id=order_id_text(market, f.maker_order_id),
        maker_fee_sat=f.maker_fee_sat,
        maker_margin_sat=f.maker_margin_sat,
        maker_leverage=maker_leverage,
    )


def delta_event(market: str, d: BookDelta) -> wire.BookDeltaEvent:
    return wire.BookDeltaEvent(
        market=market,
        seq=d.seq,
        side=d.side.value,
        price=d.price,
        quantity=d.quantity,
        orders=d.orders,
    )


def book_snapshot(market: str, depth: BookDepth) -> wire.BookSnapshot:
    return wire.BookSnapshot(
        market=market,
        seq=depth.seq,
        bids=[wire.BookLevel(price=p, quantity=q, orders=n) for p, q, n in depth.bids],
        asks=[wire.BookLevel(price=p, quantity=q, orders=n) for p, q, n in depth.asks],
    )
