"""The trader's tables in the app's SQLite database (``tentenone.store``).

- ``trader_orders``: the orders the trader placed, a state machine each;
- ``trader_contracts``: one DLC per row, on the shared protocol's trader
  states (``tentenone.dlc.protocol.states``), with every protocol message it
  took part in (hex) and the chain facts; a rollover adds a row for the new
  contract that ``renews`` the old one;
- ``trader_outbox``: every message for the coordinator, stored in the
  transaction that moves the contract to the state it commits to, then sent
  (and sent again) until the gateway took it;
- ``trader_meta``: small counters and cursors (protocol seq, funding key
  numbers, backup version, the coordinator's state number);
- ``wallet_state``: the on-chain wallet (``tentenone.wallet.persist_db``).

Each state change is logged in the platform's transition log.
"""

from __future__ import annotations

import datetime as dt
from enum import IntEnum
from typing import ClassVar

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from tentenone.dlc.protocol.states import TRADER_INITIAL, TRADER_TRANSITIONS, TraderState
from tentenone.store import UtcDateTime, service_registry
from tentenone.store.statemachine import Stateful, StateMachine
from tentenone.wallet.persist_db import wallet_state_table

__all__ = [
    "CONTRACT",
    "ORDER",
    "WALLET_STATE",
    "MetaRow",
    "OrderRow",
    "OrderState",
    "OutboxRow",
    "TraderContract",
    "TraderTable",
]


class TraderTable(SQLModel, registry=service_registry()):
    pass


WALLET_STATE = wallet_state_table(TraderTable.metadata)


class OrderState(IntEnum):
    """An order as the trader's app knows it."""

    PLACING = 1  # saved, sent (or being sent) to the order book, no answer yet
    OPEN = 2  # resting in the book, nothing filled
    PARTIALLY_FILLED = 3  # resting, part filled (each fill is a contract)
    FILLED = 4  # fully matched (each fill is a contract)
    CANCELLING = 5  # cancel asked, no answer yet
    CANCELLED = 6  # cancelled (by the trader, or an IOC/market remainder)
    REJECTED = 7  # refused by the order book (reason recorded)


_O = OrderState
ORDER = StateMachine(
    "trader_order",
    OrderState,
    initial={_O.PLACING},
    transitions={
        _O.PLACING: {_O.OPEN, _O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELLED, _O.REJECTED},
        _O.OPEN: {_O.PARTIALLY_FILLED, _O.FILLED, _O.CANCELLING, _O.CANCELLED},
        _O.PARTIALLY_FILLED: {_O.FILLED, _O.CANCELLING, _O.CANCELLED},
        _O.CANCELLING: {_O.CANCELLED, _O.FILLED, _O.OPEN, _O.PARTIALLY_FILLED},
    },
)

CONTRACT = StateMachine(
    "trader_contract",
    TraderState,
    initial=set(TRADER_INITIAL),
    transitions={k: set(v) for k, v in TRADER_TRANSITIONS.items()},
)


def _text(*, nullable: bool = True) -> Column[str]:
    return Column(Text, nullable=nullable)


class OrderRow(TraderTable, Stateful, table=True):
    __tablename__ = "trader_orders"
    state_machine: ClassVar[StateMachine[OrderState]] = ORDER

    #: ours, and the order book's client order id (placing twice gives one order)
    id: str = Field(primary_key=True, max_length=64)
    remote_id: str | None = Field(default=None, index=True, max_length=64)
    market: str = Field(max_length=64)
    side: str = Field(max_length=4)  # buy | sell
    order_type: str = Field(max_length=8)  # limit | market
    time_in_force: str = Field(max_length=12)
    quantity: int
    #: limit price in US cents (None for a market order)
    price_cents: int | None = None
    leverage: int
    filled_quantity: int = 0
    note: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    updated_at: dt.datetime = Field(sa_type=UtcDateTime)


class TraderContract(TraderTable, Stateful, table=True):
    __tablename__ = "trader_contracts"
    state_machine: ClassVar[StateMachine[TraderState]] = CONTRACT

    #: the position id for an opening; ``<position id>~r<n>`` for its n-th renewal
    id: str = Field(primary_key=True, max_length=80)
    position_id: str = Field(index=True, max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    trade_id: str = Field(default="", max_length=64)
    market: str = Field(max_length=64)
    side: str = Field(max_length=5)  # long | short (the trader's)
    quantity: int
    price_cents: int
    leverage: int
    fee_sat: int = 0
    #: the contract this one renews (a rollover), and the one that renewed it
    renews: str | None = Field(default=None, max_length=80)
    renewed_by: str | None = Field(default=None, max_length=80)
    funding_key: int | None = None
    temporary_contract_id: str = Field(max_length=64)
    contract_id: str | None = Field(default=None, index=True, max_length=64)
    #: offer_dlc / renew_offer, accept_dlc / renew_accept, sign_dlc / renew_sign (hex)
    offer_hex: str = Field(sa_column=_text(nullable=False))
    accept_hex: str | None = Field(default=None, sa_column=_text())
    sign_hex: str | None = Field(default=None, sa_column=_text())
    #: the funding (or renewal) transaction, fully signed, and its id
    funding_tx_hex: str | None = Field(default=None, sa_column=_text())
    funding_txid: str | None = Field(default=None, max_length=64)
    #: our wallet coins in the funding transaction, "txid:vout" comma separated
    reserved: str = Field(default="", sa_column=_text(nullable=False))
    trader_margin_sat: int = 0
    total_collateral: int = 0
    maturity: dt.datetime = Field(sa_type=UtcDateTime)
    refund_locktime: int = 0
    close_offer_hex: str | None = Field(default=None, sa_column=_text())
    close_accept_hex: str | None = Field(default=None, sa_column=_text())
    #: the transaction that spends (or will spend) the funding output
    spend_tx_hex: str | None = Field(default=None, sa_column=_text())
    spend_txid: str | None = Field(default=None, max_length=64)
    realized_pnl_sat: int | None = None
    #: for a person: what is happening now and what the trader can do
    note: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    updated_at: dt.datetime = Field(sa_type=UtcDateTime)


class OutboxRow(TraderTable, table=True):
    """A message for the coordinator; ``delivered_at`` once the gateway took it."""

    __tablename__ = "trader_outbox"

    seq: int | None = Field(default=None, primary_key=True)
    contract: str = Field(index=True, max_length=80)
    position_id: str = Field(max_length=64)
    message_type: str = Field(max_length=40)
    payload_hex: str = Field(sa_column=_text(nullable=False))
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    delivered_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)


class MetaRow(TraderTable, table=True):
    __tablename__ = "trader_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=1000)
