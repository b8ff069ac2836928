"""The order book's tables: the writer, markets, orders, fills, accounts.

What the constraints guarantee, whatever the code above them does:

- ``orders.id`` (``<market>:<order id>``) is the primary key and
  ``(trader_id, client_order_id)`` is unique: a client order id names one
  order, ever.
- ``fills.id`` (``<market>:<trade id>``) is the primary key: a fill is
  recorded once; its ``trade.matched`` event is written in the same
  transaction.
- ``fill_releases`` has one row per ``(fill, trader)`` whose DLC was released:
  a release is applied to the accounts once, however often it is delivered.
- ``writer.epoch`` fences writers: every batch updates the row where the epoch
  is the writer's own, so a replica that lost leadership cannot commit.

Orders follow ``ORDER`` (the engine's status table), with their transitions
in the platform's ``state_transitions`` log.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import ClassVar

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from tentenone.store import UtcDateTime, service_registry
from tentenone.store.statemachine import Stateful, StateMachine
from tentenone_orderbook.orders import ORDER_TRANSITIONS, OrderStatus

__all__ = [
    "ORDER",
    "AccountRow",
    "FillReleaseRow",
    "FillRow",
    "MarketRow",
    "MarketStatus",
    "OrderRow",
    "OrderbookTable",
    "WriterRow",
]

_ID = 100
_MARKET = 64
_TEXT = 64


class OrderbookTable(SQLModel, registry=service_registry()):
    """The base of every order book table (its own MetaData, with the platform tables)."""


#: The engine's order statuses and their transitions, for the transition log.
ORDER = StateMachine(
    "order",
    OrderStatus,
    initial={OrderStatus.NEW},
    transitions=ORDER_TRANSITIONS,
)


class MarketStatus(enum.IntEnum):
    OPEN = 1
    CLOSED = 2


def _big(**kw: object) -> Column[int]:
    return Column(BigInteger, nullable=False, **kw)  # type: ignore[arg-type]


class WriterRow(OrderbookTable, table=True):
    """One row: the epoch of the replica allowed to write (see ``leader``)."""

    __tablename__ = "writer"

    id: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    epoch: int = Field(sa_column=_big())
    holder: str = Field(sa_column=Column(String(200), nullable=False))
    since: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class MarketRow(OrderbookTable, table=True):
    """A market (one expiry) and its engine's counters as of the last commit."""

    __tablename__ = "markets"

    market_id: str = Field(sa_column=Column(String(_MARKET), primary_key=True))
    expiry: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    status: int = Field(sa_column=Column(SmallInteger, nullable=False))
    seq: int = Field(sa_column=_big())
    next_order_id: int = Field(sa_column=_big())
    next_trade_id: int = Field(sa_column=_big())
    created_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class OrderRow(OrderbookTable, Stateful, table=True):
    """An order; ``state`` is its ``OrderStatus``, ``version`` counts its transitions."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("market_id", "order_id", name="uq_orders_market_order"),
        UniqueConstraint("trader_id", "client_order_id", name="uq_orders_trader_client_id"),
        Index("ix_orders_trader_market", "trader_id", "market_id", "order_id"),
    )
    state_machine: ClassVar[StateMachine[OrderStatus]] = ORDER

    id: str = Field(sa_column=Column(String(_ID), primary_key=True))
    market_id: str = Field(sa_column=Column(String(_MARKET), nullable=False))
    order_id: int = Field(sa_column=_big())
    trader_id: str = Field(sa_column=Column(String(_TEXT), nullable=False))
    client_order_id: str | None = Field(default=None, sa_column=Column(String(_TEXT)))
    side: str = Field(sa_column=Column(String(8), nullable=False))
    order_type: str = Field(sa_column=Column(String(8), nullable=False))
    time_in_force: str = Field(sa_column=Column(String(16), nullable=False))
    price: int | None = Field(default=None, sa_column=Column(BigInteger))
    quantity: int = Field(sa_column=_big())
    filled: int = Field(sa_column=_big())
    remaining: int = Field(sa_column=_big())
    leverage: int = Field(sa_column=Column(Integer, nullable=False))
    priority: int = Field(sa_column=_big())
    reserved_margin_sat: int = Field(sa_column=_big())
    cancel_reason: str | None = Field(default=None, sa_column=Column(String(32)))
    created_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class FillRow(OrderbookTable, table=True):
    __tablename__ = "fills"
    __table_args__ = (
        Index("ix_fills_market_trade", "market_id", "trade_id"),
        Index("ix_fills_taker_order", "market_id", "taker_order_id"),
        Index("ix_fills_maker_order", "market_id", "maker_order_id"),
    )

    id: str = Field(sa_column=Column(String(_ID), primary_key=True))
    market_id: str = Field(sa_column=Column(String(_MARKET), nullable=False))
    trade_id: int = Field(sa_column=_big())
    price: int = Field(sa_column=_big())
    quantity: int = Field(sa_column=_big())
    taker_side: str = Field(sa_column=Column(String(8), nullable=False))
    taker_order_id: int = Field(sa_column=_big())
    taker_trader_id: str = Field(sa_column=Column(String(_TEXT), nullable=False))
    taker_fee_sat: int = Field(sa_column=_big())
    taker_margin_sat: int = Field(sa_column=_big())
    maker_order_id: int = Field(sa_column=_big())
    maker_trader_id: str = Field(sa_column=Column(String(_TEXT), nullable=False))
    maker_fee_sat: int = Field(sa_column=_big())
    maker_margin_sat: int = Field(sa_column=_big())
    created_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class FillReleaseRow(OrderbookTable, table=True):
    """A trader's side of a fill undone because its DLC was released (``dlc.released``)."""

    __tablename__ = "fill_releases"

    fill_id: str = Field(sa_column=Column(String(_ID), primary_key=True))
    trader_id: str = Field(sa_column=Column(String(_TEXT), primary_key=True))
    market_id: str = Field(sa_column=Column(String(_MARKET), nullable=False))
    order_id: int = Field(sa_column=_big())
    reason: str = Field(sa_column=Column(String(500), nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class AccountRow(OrderbookTable, table=True):
    """A trader's balances in one market, as the engine holds them."""

    __tablename__ = "accounts"

    market_id: str = Field(sa_column=Column(String(_MARKET), primary_key=True))
    trader_id: str = Field(sa_column=Column(String(_TEXT), primary_key=True))
    declared_sat: int = Field(sa_column=_big())
    reserved_sat: int = Field(sa_column=_big())
    committed_sat: int = Field(sa_column=_big())
    position: int = Field(sa_column=_big())
    fees_sat: int = Field(sa_column=_big())
    updated_at: dt.datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
